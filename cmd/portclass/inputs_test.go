package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnalyzeDirectoryStrayFiles: in a directory argument, files that are not captures
// (a manifest, an empty file) are skipped with one warning each and listed in the
// report; the run's own report from an earlier run is not read; --strict makes a stray
// file an error again, as a file named on the command line always is.
func TestAnalyzeDirectoryStrayFiles(t *testing.T) {
	caps := t.TempDir()
	put := func(name string, data []byte) string {
		p := filepath.Join(caps, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(testdata(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put("a.pcapng", read("sample.pcapng"))
	put("sub/b.pcap", read("veeam.pcap"))
	manifest := put("MANIFEST.tsv", []byte("a.pcapng\t187164\nsub/b.pcap\t122165\n"))
	empty := put("sub/empty.pcap", nil)
	report := filepath.Join(caps, "report.json")

	for run := 1; run <= 2; run++ { // the second run finds the first one's report in caps/
		code, _, stderr := runCLI(t, "analyze", "-o", report, caps)
		if code != exitOK {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr)
		}
		var s struct { // decoded by hand, so that this test also runs against older builds
			Totals       struct{ Inputs int }
			SkippedFiles []struct{ Path, Reason string } `json:"skipped_files"`
		}
		if b, err := os.ReadFile(report); err != nil || json.Unmarshal(b, &s) != nil {
			t.Fatalf("run %d: report: %v", run, err)
		}
		if s.Totals.Inputs != 2 || len(s.SkippedFiles) != 2 {
			t.Fatalf("run %d: %d inputs, skipped %v; want 2 inputs and 2 files skipped", run, s.Totals.Inputs, s.SkippedFiles)
		}
		want := map[string]string{manifest: "not a pcap or pcapng file (first bytes 0x", empty: "empty file"}
		for _, f := range s.SkippedFiles {
			if !strings.HasPrefix(f.Reason, want[f.Path]) || want[f.Path] == "" {
				t.Errorf("run %d: skipped %s: %q", run, f.Path, f.Reason)
			}
			if strings.Count(stderr, f.Path) != 1 || !strings.Contains(stderr, "not a capture: skipped") {
				t.Errorf("run %d: want one warning naming %s: %s", run, f.Path, stderr)
			}
		}
		if strings.Contains(stderr, `"file":"`+report+`"`+`,"reason"`) {
			t.Errorf("run %d: the run's own report was taken for a stray file: %s", run, stderr)
		}
	}
	code, out, _ := runCLI(t, "analyze", "--format", "text", caps)
	if code != exitOK || !strings.Contains(out, "Skipped files:") || !strings.Contains(out, "! skipped "+empty+": empty file") {
		t.Errorf("text report: exit %d, no skipped files in:\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"analyze", "--strict", "-o", report, caps}, manifest + ": not a pcap or pcapng file (first bytes 0x"},
		{[]string{"analyze", "-o", report, manifest}, manifest + ": not a pcap or pcapng file (first bytes 0x"},
		{[]string{"analyze", "-o", report, empty}, empty + ": empty file"},
		{[]string{"analyze", "-o", report, filepath.Join(caps, "sub"), manifest}, manifest + ": not a pcap"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// A directory with nothing but stray files is an error, not an empty report.
	only := t.TempDir()
	if err := os.WriteFile(filepath.Join(only, "notes.txt"), []byte("notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "analyze", only); code != exitUsage || !strings.Contains(stderr, "no capture files found (1 file skipped") {
		t.Errorf("a directory without captures: exit %d, %q", code, stderr)
	}
}
