package reports

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portclass/portclass/classify/veeam"
)

func TestWrapText(t *testing.T) {
	for _, tc := range []struct {
		first, rest, text string
		width             int
		want              []string
	}{
		{"  a: ", "     ", "one two three", 0, []string{"  a: one two three"}},
		{"  a: ", "     ", "one two three", 18, []string{"  a: one two three"}},
		{"  a: ", "     ", "one two three", 14, []string{"  a: one two", "     three"}},
		{"  a: ", "     ", "one two three", 9, []string{"  a: one", "     two", "     three"}},
		// a word longer than a line is not broken: it gets a line of its own
		{"  source: ", "    ", "https://example.com/a/long/path", 40, []string{"  source:", "    https://example.com/a/long/path"}},
		{"  source: ", "    ", "https://example.com/a/long/path", 20, []string{"  source: https://example.com/a/long/path"}},
		{"", "  ", "https://example.com/a/long/path more", 20, []string{"https://example.com/a/long/path", "  more"}},
		{"x ", "  ", "ab  cd", 4, []string{"x ab", "  cd"}},
	} {
		if got := wrapText(tc.first, tc.rest, tc.text, tc.width); !slices.Equal(got, tc.want) {
			t.Errorf("wrapText(%q, %q, %q, %d) = %q, want %q", tc.first, tc.rest, tc.text, tc.width, got, tc.want)
		}
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		s        string
		w        int
		end, mid string
	}{
		{"backup-server-to-windows-deploy", 40, "backup-server-to-windows-deploy", "backup-server-to-windows-deploy"},
		{"backup-server-to-windows-deploy", 16, "backup-server-t…", "backup-s…-deploy"},
		{"ÄÖÜäöü", 4, "ÄÖÜ…", "ÄÖ…ü"},
	} {
		if got := cut(tc.s, tc.w); got != tc.end {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.s, tc.w, got, tc.end)
		}
		if got := cutMiddle(tc.s, tc.w); got != tc.mid {
			t.Errorf("cutMiddle(%q, %d) = %q, want %q", tc.s, tc.w, got, tc.mid)
		}
	}
}

// fitted checks a text report fitted to width: no line is longer, but for one long word
// (a URL) alone or after its label, and every address and port of full is still there.
func fitted(t *testing.T, name, full, got string, width int) {
	t.Helper()
	for _, l := range strings.Split(got, "\n") {
		if utf8.RuneCountInString(l) > width {
			if f := strings.Fields(l); len(f) > 2 || utf8.RuneCountInString(f[len(f)-1]) <= width/2 {
				t.Errorf("%s: a line of %d columns, wider than %d:\n%s", name, utf8.RuneCountInString(l), width, l)
			}
		}
	}
	for _, word := range strings.Fields(full) {
		word = strings.Trim(word, ",;()")
		if isIdentifier(word) && !strings.Contains(got, word) {
			t.Errorf("%s: %q is lost at width %d", name, word, width)
		}
	}
}

// TestTextWidth: the text reports (summary, verify, diff, ports) fitted to 80 and 120
// columns keep every line within the width and every address and port; width 0 writes
// what the goldens hold. The fixture summary at 80 columns is a golden of its own
// (testdata/text-80.golden), to review how a terminal shows it.
func TestTextWidth(t *testing.T) {
	before, after := diffFixture()
	d, err := Compare(before, after, DiffOptions{Unchanged: true})
	if err != nil {
		t.Fatal(err)
	}
	d.Before.Source, d.After.Source = "before.json", "after.pcapng"
	pi, err := veeam.DefaultMatrix().DescribePorts("6162", nil)
	if err != nil {
		t.Fatal(err)
	}
	role, err := veeam.DefaultMatrix().DescribeRole("backup-server")
	if err != nil {
		t.Fatal(err)
	}
	s, v := fixtureSummary(0), verifyFixture(t, "")
	render := func(width int) map[string]string {
		out := map[string]string{}
		var b bytes.Buffer
		must := func(name string, err error) {
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = b.String()
			b.Reset()
		}
		must("summary", WithWidth[*Summary](Text{}, width).Encode(&b, s))
		must("verify", WithWidth[*VerifyReport](VerifyText{}, width).Encode(&b, v))
		must("diff", WithWidth[*Diff](DiffText{}, width).Encode(&b, d))
		must("ports", WithWidth[*PortsReport](PortsText{}, width).Encode(&b, &PortsReport{Ports: []*veeam.PortInfo{pi}}))
		must("role", WithWidth[*PortsReport](PortsText{}, width).Encode(&b, &PortsReport{Role: role}))
		return out
	}
	full := render(0)
	for _, width := range []int{80, 120} {
		for name, got := range render(width) {
			if got == full[name] {
				t.Errorf("%s: nothing changed at width %d", name, width)
			}
			fitted(t, name, full[name], got, width)
		}
	}
	if !strings.Contains(render(80)["summary"], "\n      flags: dynamic-server-port,") {
		t.Errorf("the ephemeral-range flags are not under their row at 80 columns")
	}
	checkGolden(t, "text-80.golden", []byte(render(80)["summary"]))
}
