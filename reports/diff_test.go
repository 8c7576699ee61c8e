package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
)

// diffFixture returns the fixture summary and an "after" summary in which, compared
// with it, one conversation is blocked (tcp/6162: SF → REJ ×3), one opened
// (tcp/51515: REJ → SF), two changed (tcp/8080 unanswered → refused; tcp/2500 partly
// unanswered), one gone (udp/51515), one new (tcp/22), and the rest the same, one of
// them with another client port and twice the bytes.
func diffFixture() (before, after *Summary) {
	recs := fixtureRecords()
	var out []classify.Flow
	for i, r := range recs {
		switch i {
		case 0: // same conversation: other client port, more bytes
			r.Client, r.Flow.Bytes[capture.ToClient] = ap("192.0.2.10:50999"), r.Flow.Bytes[capture.ToClient]*2
		case 1: // blocked: refused three times
			r.State, r.Flow.Packets, r.Flow.Bytes = capture.REJ, [2]uint64{1, 1}, [2]uint64{60, 60}
			r.TCPFlags[capture.ToClient] = capture.FlagRST | capture.FlagACK
			for k := range 3 {
				c := r
				c.Client = ap("192.0.2.10:5013" + string(rune('0'+k)))
				out = append(out, outcome(c))
			}
			continue
		case 3: // partly unanswered: the answered flow and an unanswered one
			s0 := r
			s0.State, s0.Client, s0.Flow.Packets[capture.ToClient], s0.Flow.Bytes[capture.ToClient] = capture.S0, ap("192.0.2.21:41100"), 0, 0
			out = append(out, outcome(s0))
		case 4: // unanswered → refused
			r.State, r.Flow.Packets[capture.ToClient] = capture.REJ, 1
		case 5: // refused → open
			r.State, r.TCPFlags[capture.ToClient] = capture.SF, capture.FlagSYN|capture.FlagACK|capture.FlagFIN
		case 6: // gone
			continue
		}
		out = append(out, outcome(r))
	}
	ssh := recs[0]
	ssh.Client, ssh.Server, ssh.Service, ssh.PortClass, ssh.Veeam = ap("192.0.2.10:50400"), ap("192.0.2.30:22"), "ssh", ports.ClassWellKnown, nil
	out = append(out, ssh)
	agg := NewAggregator(Options{})
	for _, in := range fixtureInputs() {
		agg.AddInput(in)
	}
	for i := range out {
		agg.Add(&out[i])
	}
	return fixtureSummary(0), agg.Summary()
}

// outcome returns f with the outcome of its flow as it now is.
func outcome(f classify.Flow) classify.Flow {
	f.Outcome = capture.OutcomeOf(&f.Flow)
	return f
}

func TestCompare(t *testing.T) {
	before, after := diffFixture()
	d, err := Compare(before, after, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := DiffCounts{Blocked: 1, Opened: 1, Changed: 2, New: 1, Gone: 1, Same: 11, Differences: 6}
	if d.Counts != want {
		t.Errorf("counts %+v, want %+v", d.Counts, want)
	}
	if d.Before.Flows != 16 || d.Before.Conversations != 16 || d.After.Flows != 19 || d.After.Conversations != 16 {
		t.Errorf("sources: before %+v, after %+v", d.Before, d.After)
	}
	got := map[string]string{}
	for _, e := range d.Entries {
		got[PortLabel(e.Proto, e.Port)+" "+e.Client+" "+e.Server] = e.Change + ": " + e.Before.StatesString() + " → " + e.After.StatesString()
	}
	wantEntries := map[string]string{
		"tcp/6162 192.0.2.10 192.0.2.21":    "blocked: SF ×1 → REJ ×3",
		"tcp/51515 192.0.2.30 198.51.100.7": "opened: REJ ×1 → SF ×1",
		"tcp/8080 192.0.2.21 203.0.113.80":  "changed: S0 ×1 → REJ ×1",
		"tcp/2500 192.0.2.21 192.0.2.30":    "changed: RSTR ×1 → RSTR ×1, S0 ×1",
		"udp/51515 192.0.2.30 198.51.100.7": "gone: S0 ×1, icmp 3/3 from 198.51.100.7 ×2 → -",
		"tcp/22 192.0.2.10 192.0.2.30":      "new: - → SF ×1",
	}
	if len(got) != len(wantEntries) {
		t.Errorf("%d entries, want %d: %v", len(got), len(wantEntries), got)
	}
	for k, w := range wantEntries {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	// entries by protocol and port; reach of each side
	var order []string
	for _, e := range d.Entries {
		order = append(order, PortLabel(e.Proto, e.Port))
	}
	if want := []string{"tcp/22", "tcp/2500", "tcp/6162", "tcp/8080", "tcp/51515", "udp/51515"}; !slices.Equal(order, want) {
		t.Errorf("entry order %v, want %v", order, want)
	}
	for _, e := range d.Entries {
		if e.Port == 6162 && (e.Before.Reach != ReachEstablished || e.After.Reach != ReachRefused || e.After.Flows != 3 || e.Before.Bytes != 5872000) {
			t.Errorf("6162: before %+v after %+v", e.Before, e.After)
		}
		if e.Port == 2500 && (e.After.Reach != ReachMixed || e.After.ReachFlows[ReachUnanswered] != 1 || e.After.ReachFlows[ReachEstablished] != 1) {
			t.Errorf("2500 after: %+v", e.After)
		}
		if e.Proto == "udp" && (e.Before.Reach != ReachICMP || len(e.Before.ICMPErrors) != 1 || e.Before.ICMPErrors[0].Count != 2) {
			t.Errorf("udp/51515 before: %+v", e.Before)
		}
	}
	if len(d.Ports) != 6 {
		t.Errorf("%d ports with differences, want 6", len(d.Ports))
	}

	// --unchanged: every conversation and port; comparing a summary with itself: none
	all, _ := Compare(before, after, DiffOptions{Unchanged: true})
	if len(all.Entries) != 17 || all.Counts != d.Counts {
		t.Errorf("unchanged: %d entries (want 17), counts %+v", len(all.Entries), all.Counts)
	}
	self, _ := Compare(before, before, DiffOptions{})
	if self.Counts.Differences != 0 || len(self.Entries) != 0 || len(self.Ports) != 0 || self.Counts.Same != 16 {
		t.Errorf("self diff: %+v", self.Counts)
	}
	// reversed: the blocked conversation is opened, new and gone swap
	rev, _ := Compare(after, before, DiffOptions{})
	if rev.Counts.Opened != 1 || rev.Counts.Blocked != 1 || rev.Counts.New != 1 || rev.Counts.Gone != 1 || rev.Counts.Changed != 2 {
		t.Errorf("reversed: %+v", rev.Counts)
	}
}

// TestCompareStreamedAndNoRecords: a summary that streams its records (FlowIter)
// compares like one holding them; one without records is refused.
func TestCompareStreamedAndNoRecords(t *testing.T) {
	before, after := diffFixture()
	want, _ := Compare(before, after, DiffOptions{})
	recs := after.Flows
	after.SetFlowIter(func(yield func(*classify.Flow) error) error {
		for i := range recs {
			r := recs[i]
			if err := yield(&r); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := Compare(before, after, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := encodeDiff(t, "json", want), encodeDiff(t, "json", got); a != b {
		t.Errorf("streamed records compare differently:\n%s", lineDiff(a, b))
	}
	before.Flows = nil
	if _, err := Compare(before, after, DiffOptions{}); !errors.Is(err, ErrNoFlowRecords) || !strings.Contains(err.Error(), "before") {
		t.Errorf("summary without records: %v", err)
	}
	if _, err := Compare(after, nil, DiffOptions{}); err == nil {
		t.Error("nil summary accepted")
	}
}

func encodeDiff(t *testing.T, format string, d *Diff) string {
	t.Helper()
	return encodeWith(t, format, d)
}

// TestDiffGolden renders the fixture diff in every diff format and compares it with
// testdata/diff.<format>.golden (-update rewrites them).
func TestDiffGolden(t *testing.T) {
	before, after := diffFixture()
	d, err := Compare(before, after, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Before.Source, d.Before.Kind = "before.json", "summary"
	d.After.Source, d.After.Kind = "after.pcapng", "capture"
	for _, format := range FormatsFor[*Diff]() {
		t.Run(format, func(t *testing.T) {
			got := encodeDiff(t, format, d)
			golden := filepath.Join("testdata", "diff."+format+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("%s differs; rerun with -update and review:\n%s", golden, lineDiff(string(want), got))
			}
		})
	}
	if _, err := EncoderFor[*Diff]("html"); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "csv, json, md, ndjson, text") {
		t.Errorf("EncoderFor[*Diff](html): %v", err)
	}
	for _, f := range FormatsFor[*Diff]() {
		enc, _ := EncoderFor[*Diff](f)
		if err := enc.Encode(&bytes.Buffer{}, nil); err == nil {
			t.Errorf("%s: no error for a nil diff", f)
		}
	}
}

// TestDiffEscaping puts terminal escapes, bidi overrides, markup and formula
// characters in every string of a diff (the service names and the sources: the rest are
// values) and checks every diff format as TestEscaping checks the summary formats.
func TestDiffEscaping(t *testing.T) {
	bad := "x" + hostileClear + "y\rz\x00w\xff|`v\u009b\u202e<b>"
	r := fixtureRecords()[0]
	r.Service = "+" + bad
	agg := NewAggregator(Options{})
	agg.AddInput(fixtureInputs()[1])
	agg.Add(&r)
	after := agg.Summary()
	d, err := Compare(NewAggregator(Options{}).Summary(), after, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Before.Source, d.After.Source = bad, hostileFormula
	for _, format := range FormatsFor[*Diff]() {
		t.Run(format, func(t *testing.T) {
			out := encodeDiff(t, format, d)
			if !utf8.ValidString(out) {
				t.Errorf("output is not valid UTF-8")
			}
			for i, c := range out {
				if (c < 0x20 && c != '\n') || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == '\u202e' {
					t.Fatalf("raw %U at byte %d in:\n%s", c, i, out)
				}
			}
			switch format {
			case "text":
				mustContain(t, out, `x\x1b[2Jy\x0dz\x00w\xff|`+"`"+`v\xc2\x9b\u202e<b>`)
			case "md":
				mustContain(t, out, `x\\x1b\[2Jy\\x0dz\\x00w\\xff\|\`+"`"+`v\\xc2\\x9b\\u202e\<b\>`)
				checkMarkdownTables(t, out)
			case "csv":
				rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
				if err != nil || len(rows) != 2 {
					t.Fatalf("csv: %d rows, %v", len(rows), err)
				}
				for i, cell := range rows[1] {
					if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
						t.Errorf("column %s starts with a formula character: %q", diffCSVHeader[i], cell)
					}
				}
			case "json":
				var got Diff
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatal(err)
				}
				if got.Entries[0].Service != "+"+strings.ToValidUTF8(bad, "\ufffd") || got.Before.Source != strings.ToValidUTF8(bad, "\ufffd") {
					t.Errorf("json did not keep the strings: %q %q", got.Entries[0].Service, got.Before.Source)
				}
			case "ndjson":
				var e DiffEntry
				if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &e); err != nil {
					t.Fatal(err)
				}
				if e.Service != "+"+strings.ToValidUTF8(bad, "\ufffd") {
					t.Errorf("ndjson service %q", e.Service)
				}
			}
		})
	}
}

// FuzzDiff: for any summary LoadSummary accepts, a diff with itself finds no
// difference and counts every conversation as the same, and a diff with the fixture
// encodes in every diff format; the JSON diff reads back.
func FuzzDiff(f *testing.F) {
	fuzzSeeds(f)
	fixture := fixtureSummary(0)
	f.Fuzz(func(t *testing.T, in string) {
		s, err := LoadSummary(strings.NewReader(in))
		if err != nil {
			return
		}
		self, err := Compare(s, s, DiffOptions{})
		if err != nil {
			if errors.Is(err, ErrNoFlowRecords) {
				return
			}
			t.Fatal(err)
		}
		if self.Counts.Differences != 0 || self.Counts.Same != self.Before.Conversations || len(self.Entries) != 0 {
			t.Fatalf("self diff: %+v", self.Counts)
		}
		d, err := Compare(fixture, s, DiffOptions{Unchanged: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Entries) != d.Counts.Differences+d.Counts.Same {
			t.Fatalf("%d entries for counts %+v", len(d.Entries), d.Counts)
		}
		for _, format := range FormatsFor[*Diff]() {
			out := encodeDiff(t, format, d)
			if format == "json" {
				var back Diff
				if err := json.Unmarshal([]byte(out), &back); err != nil || back.Counts != d.Counts {
					t.Fatalf("json diff does not read back: %v", err)
				}
			}
		}
	})
}

// BenchmarkCompare compares two summaries of 100k records each.
func BenchmarkCompare(b *testing.B) {
	const n = 100_000
	before, after := benchSummary(n), benchSummary(n)
	for i := range after.Flows {
		if i%7 == 0 {
			after.Flows[i].State = capture.REJ
			after.Flows[i].Outcome = capture.OutcomeRefused
		}
	}
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		if _, err := Compare(before, after, DiffOptions{}); err != nil {
			b.Fatal(err)
		}
		records += 2 * n
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
}
