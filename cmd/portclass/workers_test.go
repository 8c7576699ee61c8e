package main

import (
	"path/filepath"
	"testing"
)

// TestAnalyzeWorkers: the report over several inputs (the project's captures and the
// directory of its format samples) is byte-identical whatever the number of workers:
// one, the default (every core, reading whole inputs side by side) and more workers
// than cores, in every format, with flows spilled to disk or not.
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
			if got != want {
				t.Errorf("%s %v: report differs from one worker's\n%s", format, extra, firstDiff(want, got))
			}
		}
	}
}
