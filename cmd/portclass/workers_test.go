package main

import (
	"path/filepath"
	"testing"
)

// TestAnalyzeWorkers: the report over several inputs (the project's captures and the
// directory of its format samples) is byte-identical whatever the number of workers:
// one, the default (every core, reading whole inputs side by side) and more workers
// than cores, in every format, with flows spilled to disk or not; and so is the
// report over one input.
func TestAnalyzeWorkers(t *testing.T) {
	inputs := []string{testdata("sample.pcapng"), testdata("veeam.pcap"), testdata("veeam-firewall.pcap"), testdata("veeam-after.pcap")}
	samples, err := filepath.Glob(testdata("formats/*.pcap*"))
	if err != nil || len(samples) < 10 {
		t.Fatalf("format samples: %v, %d files", err, len(samples))
	}
	for _, s := range samples {
		if filepath.Base(s) != "not-a-capture.pcap" {
			inputs = append(inputs, s)
		}
	}
	t.Run("inputs", func(t *testing.T) { sameReports(t, inputs) })
	// One input: one capture worker with the spool and the report on other
	// goroutines (the default), or sharded.
	t.Run("one-input", func(t *testing.T) { sameReports(t, inputs[1:2]) })
}

func sameReports(t *testing.T, inputs []string) {
	for _, format := range []string{"json", "csv", "text"} {
		base := append([]string{"analyze", "--quiet", "--format", format, "--workers", "1"}, inputs...)
		code, want, stderr := runCLI(t, base...)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", format, code, stderr)
		}
		for _, extra := range [][]string{{"--workers", "0"}, {"--workers", "2"}, {"--workers", "5"}, {"--workers", "3", "--spill-after", "9", "--temp-dir", t.TempDir()}} {
			args := append(append([]string{"analyze", "--quiet", "--format", format}, extra...), inputs...)
			code, got, stderr := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("%s %v: exit %d: %s", format, extra, code, stderr)
			}
			if got = spilledLine.ReplaceAllString(got, ""); got != want { // a spilled run counts the spilled flows
				t.Errorf("%s %v: report differs from one worker's\n%s", format, extra, firstDiff(want, got))
			}
		}
	}
}
