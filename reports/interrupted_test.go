package reports

import (
	"bytes"
	"strings"
	"testing"
)

const testReason = "interrupted by SIGINT while the inputs were read: only the packets read before it are counted"

// encodeWith is report r in format.
func encodeWith[R any](t *testing.T, format string, r R) string {
	t.Helper()
	enc, err := EncoderFor[R](format)
	if err != nil {
		t.Fatal(err)
	}
	return encode(t, enc, r)
}

// encode is report r as enc writes it.
func encode[R any](t *testing.T, enc Encoder[R], r R) string {
	t.Helper()
	var b bytes.Buffer
	if err := enc.Encode(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestInterruptedSummary: a summary marked interrupted says so in the first line of the
// text and Markdown reports, first thing in the HTML page's body and at the top of the
// JSON ("interrupted": true with the reason), which LoadSummary reads back. An
// unmarked summary has none of it (the goldens hold its exact bytes).
func TestInterruptedSummary(t *testing.T) {
	s := fixtureSummary(0)
	for _, format := range []string{"json", "text", "md", "html"} {
		if out := encodeWith(t, format, s); strings.Contains(out, "Incomplete") || strings.Contains(out, "(incomplete)") || strings.Contains(out, `"interrupted"`) {
			t.Errorf("%s: a complete report says it is incomplete", format)
		}
	}
	s.MarkInterrupted(testReason)
	want := map[string]string{
		"text": "! Incomplete report: " + testReason + "\n\nportclass report\n",
		"md":   "> **Incomplete report:** " + testReason + "\n\n# portclass report\n",
	}
	for format, prefix := range want {
		if out := encodeWith(t, format, s); !strings.HasPrefix(out, prefix) {
			t.Errorf("%s report starts %q, want %q", format, out[:min(len(out), 200)], prefix)
		}
	}
	page := encodeWith(t, "html", s)
	body := page[strings.Index(page, "<body>")+len("<body>"):]
	if wantP := "\n<p class=\"notice incomplete\" role=\"alert\"><strong>Incomplete report:</strong> " + testReason + "</p>\n"; !strings.HasPrefix(body, wantP) {
		t.Errorf("html body starts %q, want %q", body[:min(len(body), 200)], wantP)
	}
	if !strings.Contains(page, "<title>portclass report (incomplete)</title>") {
		t.Errorf("the page's title does not say it is incomplete")
	}
	js := encodeWith(t, "json", s)
	if !strings.Contains(js, "\"generator\": \"portclass\",\n  \"interrupted\": true,\n  \"interrupted_reason\": \""+testReason+"\",\n  \"totals\"") {
		t.Errorf("json head:\n%s", js[:min(len(js), 300)])
	}
	back, err := LoadSummary(strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Interrupted || back.InterruptedReason != testReason {
		t.Errorf("loaded back: interrupted %v, reason %q", back.Interrupted, back.InterruptedReason)
	}
	if again := encodeWith(t, "json", back); again != js {
		t.Errorf("the loaded summary does not encode as it was read")
	}
}

// TestInterruptedMergeAndDiff: a merge that takes in an interrupted summary is
// interrupted, with its reason; a diff with an interrupted side says which, in JSON
// and on the first line of its text and Markdown reports.
func TestInterruptedMergeAndDiff(t *testing.T) {
	a, b := fixtureSummary(0), fixtureSummary(0)
	b.MarkInterrupted("b.json: " + testReason)
	m, err := MergeAll(Options{}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Interrupted || !strings.Contains(m.InterruptedReason, "b.json: "+testReason) {
		t.Errorf("merge with an interrupted summary: interrupted %v, reason %q", m.Interrupted, m.InterruptedReason)
	}
	if m, _ := MergeAll(Options{}, a, fixtureSummary(0)); m.Interrupted || m.InterruptedReason != "" {
		t.Errorf("merge of complete summaries is marked: %q", m.InterruptedReason)
	}

	d, err := Compare(a, b, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Before.Source, d.After.Source = "a.json", "b.json"
	if !d.Interrupted || d.Before.Interrupted || !d.After.Interrupted || d.After.InterruptedReason != "b.json: "+testReason {
		t.Errorf("diff: interrupted %v, before %v, after %v %q", d.Interrupted, d.Before.Interrupted, d.After.Interrupted, d.After.InterruptedReason)
	}
	if out := encodeWith(t, "text", d); !strings.HasPrefix(out, "! Incomplete diff: AFTER (b.json) is the report of an interrupted run, b.json: "+testReason+"\n\nportclass diff\n") {
		t.Errorf("diff text starts:\n%s", out[:min(len(out), 300)])
	}
	if out := encodeWith(t, "md", d); !strings.HasPrefix(out, "> **Incomplete diff:** AFTER (b.json)") {
		t.Errorf("diff markdown starts:\n%s", out[:min(len(out), 300)])
	}
	if out := encodeWith(t, "json", d); !strings.Contains(out, "\"interrupted\": true") {
		t.Errorf("diff json lacks the mark")
	}
	if d, _ := Compare(a, a, DiffOptions{}); d.Interrupted || strings.Contains(encodeWith(t, "json", d), "interrupted") {
		t.Errorf("a diff of complete summaries is marked")
	}
}
