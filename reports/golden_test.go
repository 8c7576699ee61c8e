package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden renders the fixture summary in every format and compares the output with
// testdata/<format>.golden. Rerun with -update and review `git diff testdata/`.
func TestGolden(t *testing.T) {
	s := fixtureSummary(0)
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			enc, err := EncoderFor[*Summary](format)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := enc.Encode(&buf, s); err != nil {
				t.Fatalf("encode: %v", err)
			}
			checkGolden(t, format+".golden", buf.Bytes())
		})
	}
}

// checkGolden compares got with testdata/name, which -update rewrites.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; rerun with -update and review:\n%s", golden, lineDiff(string(want), string(got)))
	}
}

// TestGoldenTop checks that Top cuts the long lists and says so in the text report.
func TestGoldenTop(t *testing.T) {
	s := fixtureSummary(2)
	if len(s.Talkers) != 2 || len(s.ServerPorts) != 2 || len(s.Services) != 2 || len(s.Ephemeral) != 2 {
		t.Errorf("top 2: talkers %d, server ports %d, services %d, ephemeral %d; want 2 each",
			len(s.Talkers), len(s.ServerPorts), len(s.Services), len(s.Ephemeral))
	}
	if len(s.Protocols) != 5 || len(s.Flows) != 16 {
		t.Errorf("top must not cut protocols (%d, want 5) or flows (%d, want 16)", len(s.Protocols), len(s.Flows))
	}
	var buf bytes.Buffer
	if err := (Text{}).Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Top talkers (top 2)\n") {
		t.Errorf("text report does not announce the cut:\n%s", buf.String())
	}
}

// lineDiff is a small line-by-line diff for failure messages: the first differing lines
// with a little context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  - " + wl + "\n  + " + gl + "\n")
			shown++
		}
	}
	return b.String()
}
