//go:build linux

package main

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// onTerminal runs this test binary as portclass with args, its standard output on a
// pseudo-terminal cols columns wide, and returns what the terminal showed (newlines
// without the terminal's carriage returns) and the exit code.
func onTerminal(t *testing.T, cols uint16, args ...string) (string, int) {
	t.Helper()
	master, slave := openPty(t)
	defer master.Close()
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: cols}); err != nil {
		t.Skipf("set the terminal's size: %v", err)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PORTCLASS_TEST_MAIN=1")
	cmd.Stdout = slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	screen := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // EIO once the process has closed the terminal
		screen <- string(b)
	}()
	code := 0
	if err := cmd.Wait(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	select {
	case s := <-screen:
		return strings.ReplaceAll(s, "\r\n", "\n"), code
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal was not closed")
		return "", -1
	}
}

// overlong lists the lines of s longer than width columns, but for a line that is one
// long word (a URL) after its indentation and label: those are not broken.
func overlong(s string, width int) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if utf8.RuneCountInString(l) <= width {
			continue
		}
		if f := strings.Fields(l); len(f) <= 2 && utf8.RuneCountInString(f[len(f)-1]) > width/2 {
			continue
		}
		out = append(out, l)
	}
	return out
}

// TestTextFitsTheTerminal (issue 17, item 5): text written to a terminal fits its
// width (analyze, verify, diff, ports), with the evidence under its row; to a pipe, or
// with --width 0, every line is whole, byte for byte what it was; --width N chooses.
func TestTextFitsTheTerminal(t *testing.T) {
	cmds := [][]string{
		{"analyze", "-q", testdata("veeam.pcap")},
		{"verify", "-q", "--policy", testdata("veeam-firewall.policy.yaml"), testdata("veeam-firewall.pcap")},
		{"diff", "-q", testdata("veeam.pcap"), testdata("veeam-after.pcap")},
		{"ports", "6162"},
		{"ports", "--role", "backup-server"},
	}
	for _, args := range cmds {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			_, piped, _ := runCLI(t, append(append([]string{}, args...), "--format", "text")...)
			if len(overlong(piped, 80)) == 0 {
				t.Fatalf("the full report has no line over 80 columns: nothing to fit")
			}
			screen, code := onTerminal(t, 80, args...)
			if code != exitOK && code != exitFindings {
				t.Fatalf("exit %d: %s", code, screen)
			}
			if long := overlong(screen, 80); len(long) > 0 {
				t.Errorf("%d lines longer than the terminal's 80 columns, such as:\n%s", len(long), long[0])
			}
			if args[0] == "analyze" && !strings.Contains(screen, "\n      evidence: ") {
				t.Errorf("the Veeam hosts' evidence is not under its row:\n%s", screen)
			}
			wide, _ := onTerminal(t, 80, append(append([]string{}, args...), "--width", "0")...)
			if wide != piped {
				t.Errorf("--width 0 on a terminal is not the full report a pipe gets")
			}
			w100, _ := onTerminal(t, 80, append(append([]string{}, args...), "--width", "100")...)
			if long := overlong(w100, 100); len(long) > 0 || w100 == wide || w100 == screen {
				t.Errorf("--width 100: %d lines longer than 100 (%q)", len(long), long)
			}
		})
	}
	code, _, stderr := runCLI(t, "analyze", "--width", "-1", testdata("veeam.pcap"))
	if code != exitUsage || !strings.Contains(stderr, "--width -1: want 0 (no limit) or more") {
		t.Errorf("--width -1: exit %d: %s", code, stderr)
	}
}
