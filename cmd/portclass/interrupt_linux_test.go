//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portclass/portclass/reports"
)

// portclassProcess starts this test binary as portclass (see TestMain) with args and
// returns it with its stderr and a channel that gets its exit code.
func portclassProcess(t *testing.T, stdin *os.File, args ...string) (*exec.Cmd, *syncBuf, <-chan int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PORTCLASS_TEST_MAIN=1")
	if stdin != nil {
		cmd.Stdin = stdin
	}
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	code := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			code <- 0
		case errors.As(err, &ee):
			code <- ee.ExitCode()
		default:
			code <- -1
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, stderr, code
}

// drained waits until the pipe or FIFO that w writes holds no more unread bytes: the
// reader has taken everything written.
func drained(t *testing.T, w *os.File) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := unix.IoctlGetInt(int(w.Fd()), unix.TIOCINQ) // FIONREAD
		if err != nil {
			t.Skipf("FIONREAD (TIOCINQ) on a pipe: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader left %d bytes in the pipe", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sendAndInterrupt writes data to w, the pipe or FIFO that portclass process cmd
// reads, waits until it has read everything and sends SIGINT: cmd must exit 130
// within 20 s (code and stderr from portclassProcess).
func sendAndInterrupt(t *testing.T, w *os.File, data []byte, cmd *exec.Cmd, stderr *syncBuf, code <-chan int) {
	t.Helper()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	drained(t, w)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if c := exitWithin(t, code, stderr, 20*time.Second); c != exitSignal {
		t.Fatalf("%v: exit %d after SIGINT, want %d: %s", cmd.Args[1:], c, exitSignal, stderr)
	}
}

func exitWithin(t *testing.T, code <-chan int, stderr *syncBuf, d time.Duration) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(d):
		t.Fatalf("still running %v after the signal: %s", d, stderr)
		return -1
	}
}

// TestAnalyzeInterruptPipe feeds a capture to analyze through a pipe (standard input)
// and through a FIFO given by name, keeps the writing end open with nothing more to
// send, and interrupts: the first SIGINT must end the run with the report of every
// packet written (exit 130), not wait for the producer.
func TestAnalyzeInterruptPipe(t *testing.T) {
	// More than 1024 packets: on other inputs the pipeline also stops at its own
	// checks, every 1024 records; on a pipe it must read on to the interrupted read,
	// whenever the signal comes.
	const capture = "veeam.pcap" // 1238 packets
	data, err := os.ReadFile(testdata(capture))
	if err != nil {
		t.Fatal(err)
	}
	want := loadSummaryOf(t, testdata(capture))
	if want.Totals.Packets <= 1024 {
		t.Fatalf("%s holds %d packets: pick a capture of more than 1024", capture, want.Totals.Packets)
	}
	for _, mode := range []string{"stdin", "fifo"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "report.json")
			var w *os.File
			var code <-chan int
			var cmd *exec.Cmd
			var stderr *syncBuf
			if mode == "stdin" {
				r, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				w = pw
				cmd, stderr, code = portclassProcess(t, r, "analyze", "-", "-o", out)
			} else {
				fifo := filepath.Join(dir, "capture.fifo")
				if err := syscall.Mkfifo(fifo, 0o600); err != nil {
					t.Skipf("mkfifo: %v", err)
				}
				cmd, stderr, code = portclassProcess(t, nil, "analyze", fifo, "-o", out)
				if w, err = os.OpenFile(fifo, os.O_WRONLY, 0); err != nil { // waits for the reader
					t.Fatal(err)
				}
			}
			defer w.Close()
			sendAndInterrupt(t, w, data, cmd, stderr, code)
			s := loadFile(t, out)
			if s.Totals.Packets != want.Totals.Packets || s.Totals.Flows != want.Totals.Flows {
				t.Errorf("report after SIGINT: %d packets, %d flows; the capture holds %d, %d",
					s.Totals.Packets, s.Totals.Flows, want.Totals.Packets, want.Totals.Flows)
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("the log does not say the run was interrupted: %s", stderr)
			}
		})
	}
}

// TestAnalyzeSecondSignal: opening a FIFO that no one writes waits in the kernel,
// where the first signal cannot reach; the second exits at once, with 130 and no
// report.
func TestAnalyzeSecondSignal(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "capture.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	out := filepath.Join(dir, "report.json")
	cmd, stderr, code := portclassProcess(t, nil, "analyze", fifo, "-o", out)
	inOpen(t, cmd.Process.Pid)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		t.Fatalf("exit %d at the first signal, while opening a FIFO without writer: %s", c, stderr)
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if c := exitWithin(t, code, stderr, 10*time.Second); c != exitSignal {
		t.Fatalf("exit %d after the second SIGINT, want %d: %s", c, exitSignal, stderr)
	}
	if !strings.Contains(stderr.String(), "second signal") {
		t.Errorf("stderr does not mention the second signal: %s", stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a report was written (%v)", err)
	}
}

// inOpen waits until a thread of process pid is in openat(2) (/proc/PID/task/*/syscall),
// or a second where that cannot be read.
func inOpen(t *testing.T, pid int) {
	t.Helper()
	want := fmt.Sprintf("%d ", unix.SYS_OPENAT)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
		if err != nil || len(tasks) == 0 {
			break
		}
		readable := false
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			readable = true
			if strings.HasPrefix(string(b), want) {
				return
			}
		}
		if !readable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Second)
}

// loadSummaryOf analyses path in-process and returns its report.
func loadSummaryOf(t *testing.T, path string) *reports.Summary {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ref.json")
	if code, _, stderr := runCLI(t, "analyze", "--quiet", path, "-o", out); code != exitOK {
		t.Fatalf("analyze %s: exit %d: %s", path, code, stderr)
	}
	return loadFile(t, out)
}
