//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPty returns the two ends of a new pseudo-terminal.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open the pty's terminal: %v", err)
	}
	return m, s
}

// startWithTerminal starts this test binary as portclass (see TestMain) with stdin and
// its stderr on the terminal tty.
func startWithTerminal(t *testing.T, stdin, tty *os.File, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PORTCLASS_TEST_MAIN=1")
	cmd.Stdin, cmd.Stderr = stdin, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd
}

// TestProgressFirstRate runs analyze with its stderr on a terminal, reading a capture
// from a pipe: the progress bar's rates must be about what went through the pipe, not
// the bytes of the first tick divided by the microseconds since the bar's first
// drawing ("4.5 TB/s").
func TestProgressFirstRate(t *testing.T) {
	data, err := os.ReadFile(testdata("veeam.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	master, slave := openPty(t)
	defer master.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report.json")
	c := startWithTerminal(t, r, slave, "analyze", "-o", out, "-")
	r.Close()
	slave.Close()
	screen := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // EIO once the process has closed the terminal
		screen <- string(b)
	}()
	start := time.Now()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	time.Sleep(450 * time.Millisecond) // ticks of the bar, with everything read
	w.Close()
	if err := c.Wait(); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	elapsed := time.Since(start)
	var s string
	select {
	case s = <-screen:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal was not closed")
	}
	units := map[string]float64{"B": 1, "kB": 1e3, "KB": 1e3, "KiB": 1 << 10, "MB": 1e6, "MiB": 1 << 20, "GB": 1e9, "GiB": 1 << 30, "TB": 1e12, "TiB": 1 << 40, "PB": 1e15, "PiB": 1 << 50}
	rates := regexp.MustCompile(`([0-9.]+) ([kKMGTPE]?i?B)/s`).FindAllStringSubmatch(s, -1)
	if len(rates) == 0 {
		t.Fatalf("no rate on the terminal after %v: %q", elapsed, s)
	}
	// Everything was in the pipe after a few milliseconds: no honest rate is above
	// the whole capture in 10 ms.
	limit := float64(len(data)) / 0.010
	for _, m := range rates {
		v, _ := strconv.ParseFloat(m[1], 64)
		if rate := v * units[m[2]]; rate > limit {
			t.Errorf("progress shows %s %s/s for %d bytes in all (limit %.0f B/s): %q", m[1], m[2], len(data), limit, strings.TrimSpace(s))
			break
		}
	}
}
