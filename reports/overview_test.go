package reports

import (
	"strings"
	"testing"
)

// TestOverviewBytesAndFileSize: the header names the packets' original lengths "Bytes
// on the wire" (a capture cut to its snap length is smaller than that) and gives the
// input files' size as stored on its own line, saying for how many inputs it is known.
func TestOverviewBytesAndFileSize(t *testing.T) {
	in := func(size int64) Input { return Input{Size: size} }
	for _, tc := range []struct {
		inputs []Input
		want   string
	}{
		{[]Input{in(187164)}, "182.8 KiB (187164 bytes)"},
		{[]Input{in(100), in(924)}, "1.0 KiB (1024 bytes)"},
		{[]Input{in(-1)}, "unknown (standard input, a pipe or a live capture)"},
		{[]Input{in(812345), in(-1)}, "793.3 KiB (812345 bytes) for 1 of 2 inputs; 1 without a size (standard input, a pipe or a live capture)"},
	} {
		s := &Summary{Inputs: tc.inputs, Totals: Totals{Bytes: 974741}}
		got := map[string]string{}
		for _, kv := range overview(s) {
			got[kv[0]] = kv[1]
		}
		if _, ok := got["Bytes read"]; ok {
			t.Errorf("the header still says \"Bytes read\" for the wire lengths")
		}
		if w := got["Bytes on the wire"]; w != "951.9 KiB (974741 bytes)" {
			t.Errorf("Bytes on the wire: %q", w)
		}
		if got["File size"] != tc.want {
			t.Errorf("File size of %v: %q, want %q", tc.inputs, got["File size"], tc.want)
		}
	}
	var b strings.Builder
	if err := (Text{}).Encode(&b, fixtureSummary(0)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\n  File size:") {
		t.Errorf("the text report has no File size line:\n%s", b.String())
	}
}
