package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAnalyzeSpill checks that a run whose flows do not fit in memory (--spill-after)
// writes exactly the report an in-memory run writes, in every format and with several
// workers, and leaves no temporary file behind.
func TestAnalyzeSpill(t *testing.T) {
	inputs := []string{testdata("sample.pcapng"), testdata("veeam.pcap")}
	for _, format := range []string{"json", "ndjson", "csv", "md", "text"} {
		args := append([]string{"analyze", "--quiet", "--format", format}, inputs...)
		code, want, stderr := runCLI(t, args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", format, code, stderr)
		}
		for _, extra := range [][]string{{"--spill-after", "1"}, {"--spill-after", "7"}, {"--spill-after", "7", "--workers", "3"}} {
			tmp := t.TempDir()
			a := append(append([]string{"analyze", "--quiet", "--format", format, "--temp-dir", tmp}, extra...), inputs...)
			code, got, stderr := runCLI(t, a...)
			if code != exitOK {
				t.Fatalf("%s %v: exit %d: %s", format, extra, code, stderr)
			}
			// The same report, but for the count of the spilled flows.
			if format != "ndjson" && format != "csv" && !spilledLine.MatchString(got) {
				t.Errorf("%s %v: the report does not count the spilled flows", format, extra)
			}
			if got = spilledLine.ReplaceAllString(got, ""); got != want {
				t.Errorf("%s %v: report differs from the in-memory run\n%s", format, extra, firstDiff(want, got))
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
				t.Errorf("%s %v: %d files left in --temp-dir", format, extra, len(ents))
			}
		}
	}
	// The spilled run is really spilled: it says so in the log.
	_, _, stderr := runCLI(t, "analyze", "--format", "json", "--spill-after", "5", "--temp-dir", t.TempDir(), inputs[0])
	if !strings.Contains(stderr, "flows spilled to a temporary file") {
		t.Errorf("no spill logged: %s", stderr)
	}
}

// TestAnalyzeSpillFails checks that a spill that cannot be written stops the run with
// an error naming the cause and writes no report.
func TestAnalyzeSpillFails(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.json")
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	code, _, stderr := runCLI(t, "analyze", "--quiet", "--spill-after", "1", "--temp-dir", missing, "-o", out, testdata("sample.pcapng"))
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "spool") || !strings.Contains(stderr, "no-such-dir") {
		t.Errorf("error does not name the spool directory: %s", stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a report was written despite the failure: %v", err)
	}
}

// spilledLine matches the line of a report that counts the spilled flows (JSON, text,
// Markdown, HTML), the only one a spilled run adds.
var spilledLine = regexp.MustCompile(`(?m)^.*(spilled_flows|Spilled flows).*\n`)

// firstDiff shows the first line where two reports differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			return fmt.Sprintf("line %d:\n want %s\n  got %s", i+1, w[i], g[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d vs %d lines", len(w), len(g))
}
