//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// interruptedRun runs portclass with args, in which "FIFO" names a named pipe that gets
// the whole of testdata/veeam.pcap and stays open, and interrupts it with SIGINT once
// everything was read: it must exit 130 having written its report. It returns stderr.
func interruptedRun(t *testing.T, args ...string) string {
	t.Helper()
	data, err := os.ReadFile(testdata("veeam.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "capture.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for i, a := range args {
		if a == "FIFO" {
			args[i] = fifo
		}
	}
	cmd, stderr, code := portclassProcess(t, nil, args...)
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // waits for the reader
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sendAndInterrupt(t, w, data, cmd, stderr, code)
	return stderr.String()
}

// lastLine is the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestInterruptedReportsSayIncomplete (issue 17, item 2): SIGINT while analyze reads a
// FIFO writes a report that says it is incomplete, in every format: JSON top-level
// "interrupted": true with the reason (the signal), the first line of text and
// Markdown, the first element of the HTML page, and for CSV and NDJSON, which have no
// room for it, the last line on stderr (a warning, for the other formats too). merge
// of that report is marked, and so is a diff with it as a side; verify and policy learn
// of an interrupted run say it as well.
func TestInterruptedReportsSayIncomplete(t *testing.T) {
	dir := t.TempDir()
	const reason = "interrupted by SIGINT while the inputs were read"
	checkStderr := func(t *testing.T, stderr, out string) {
		t.Helper()
		last := lastLine(stderr)
		if !strings.Contains(last, `"level":"warn"`) || !strings.Contains(last, out+" is incomplete: ") || !strings.Contains(last, reason) {
			t.Errorf("the last line on stderr is not a warning that %s is incomplete: %s", out, last)
		}
	}
	firstLines := map[string]string{
		"txt":  "! Incomplete report: " + reason,
		"md":   "> **Incomplete report:** " + reason,
		"html": "<!DOCTYPE html>",
	}
	for _, ext := range []string{"json", "txt", "md", "html", "csv", "ndjson"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(dir, "int."+ext)
			stderr := interruptedRun(t, "analyze", "-o", out, "FIFO")
			checkStderr(t, stderr, out)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			report := string(b)
			switch ext {
			case "json":
				var head struct {
					Interrupted       *bool   `json:"interrupted"`
					InterruptedReason *string `json:"interrupted_reason"`
				}
				if err := json.Unmarshal(b, &head); err != nil {
					t.Fatal(err)
				}
				if head.Interrupted == nil || !*head.Interrupted || head.InterruptedReason == nil || !strings.HasPrefix(*head.InterruptedReason, reason) {
					t.Errorf("JSON report: interrupted %v, reason %v", head.Interrupted, head.InterruptedReason)
				}
			case "txt", "md":
				if first := strings.SplitN(report, "\n", 2)[0]; !strings.HasPrefix(first, firstLines[ext]) {
					t.Errorf("first line %q, want it to start %q", first, firstLines[ext])
				}
			case "html":
				body := report[strings.Index(report, "<body>")+len("<body>"):]
				if !strings.HasPrefix(body, "\n<p class=\"notice incomplete\" role=\"alert\"><strong>Incomplete report:</strong> "+reason) {
					t.Errorf("the page's body does not start with the notice: %.200s", body)
				}
			}
		})
	}
	t.Run("merge-diff", func(t *testing.T) {
		t.Parallel()
		in := filepath.Join(dir, "merge-in.json")
		interruptedRun(t, "analyze", "-o", in, "FIFO")
		out := filepath.Join(dir, "merged.json")
		code, _, stderr := runCLI(t, "merge", "-o", out, in, in)
		if code != exitOK {
			t.Fatalf("merge: exit %d: %s", code, stderr)
		}
		if m := loadFile(t, out); !m.Interrupted || !strings.Contains(m.InterruptedReason, in+": "+reason) {
			t.Errorf("merge of an interrupted report: interrupted %v, reason %q", m.Interrupted, m.InterruptedReason)
		}
		csv := filepath.Join(dir, "merged.csv")
		code, _, stderr = runCLI(t, "merge", "-o", csv, in)
		if code != exitOK || !strings.Contains(lastLine(stderr), csv+" is incomplete") {
			t.Errorf("merge to csv: exit %d, the last line on stderr does not warn: %s", code, stderr)
		}
		code, text, stderr := runCLI(t, "diff", "--format", "text", in, testdata("veeam-after.pcap"))
		if code != exitFindings {
			t.Fatalf("diff: exit %d: %s", code, stderr)
		}
		if first := strings.SplitN(text, "\n", 2)[0]; !strings.HasPrefix(first, "! Incomplete diff: BEFORE ("+in+") is the report of an interrupted run, "+reason) {
			t.Errorf("diff text starts %q", first)
		}
		if !strings.Contains(stderr, "the diff on standard output is incomplete") {
			t.Errorf("diff: stderr does not say the diff is incomplete: %s", stderr)
		}
		code, js, _ := runCLI(t, "diff", "--format", "json", in, testdata("veeam-after.pcap"))
		var d struct {
			Interrupted bool `json:"interrupted"`
			Before      struct {
				Interrupted bool `json:"interrupted"`
			} `json:"before"`
		}
		if err := json.Unmarshal([]byte(js), &d); err != nil || code != exitFindings || !d.Interrupted || !d.Before.Interrupted {
			t.Errorf("diff json: exit %d, %v, interrupted %v, before %v", code, err, d.Interrupted, d.Before.Interrupted)
		}
	})
	t.Run("verify", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(dir, "verify.txt")
		stderr := interruptedRun(t, "verify", "--policy", testdata("veeam-firewall.policy.yaml"), "-o", out, "FIFO")
		checkStderr(t, stderr, out)
		b, _ := os.ReadFile(out)
		if first := strings.SplitN(string(b), "\n", 2)[0]; !strings.HasPrefix(first, "! Incomplete verification: "+reason) {
			t.Errorf("verify: first line %q", first)
		}
	})
	t.Run("learn", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(dir, "policy.yaml")
		stderr := interruptedRun(t, "policy", "learn", "-o", out, "FIFO")
		checkStderr(t, stderr, out)
		b, _ := os.ReadFile(out)
		if first := strings.SplitN(string(b), "\n", 2)[0]; !strings.HasPrefix(first, "# INCOMPLETE: "+reason) {
			t.Errorf("policy learn: first line %q", first)
		}
	})
}
