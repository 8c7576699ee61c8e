//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
)

// openFlowsCapture writes a generated capture of which tens of thousands of flows are
// still open at its end (the mix scenario over ten seconds, every timeout longer), cut
// to 96 bytes a packet, and returns its path.
func openFlowsCapture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "open-flows.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	s := synth.Scenario{Kind: synth.KindMix, Seed: 7, Packets: 200_000, Flows: 120_000}
	if err := synth.Write(w, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: capture.LinkEthernet, Snaplen: 96}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAnalyzeSpillDirFull: with the spill directory on a 64 KiB tmpfs, the first
// spill that does not fit ends the run at once: exit 2, a message naming the directory
// and the space the flows needed, no report; no retrying the spill on every flow
// (which took minutes at 100 % CPU and ignored SIGTERM).
func TestAnalyzeSpillDirFull(t *testing.T) {
	tiny := tinyFS(t, "size=64k")
	in := openFlowsCapture(t)
	out := filepath.Join(t.TempDir(), "report.json")
	start := time.Now()
	_, stderr, code := portclassProcess(t, nil, "analyze", "--spill-after", "1000", "--temp-dir", tiny, "-o", out, in)
	c := exitWithin(t, code, stderr, 30*time.Second)
	took := time.Since(start)
	if c != exitUsage {
		t.Fatalf("exit %d after %v, want 2: %s", c, took, stderr)
	}
	msg := stderr.String()
	for _, want := range []string{"cannot spill to " + tiny + ": no space left on device", "1000 flows needed", "--temp-dir"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message lacks %q: %s", want, msg)
		}
	}
	if took > 20*time.Second { // minutes before the fix; seconds even under -race on a busy machine
		t.Errorf("the run took %v to give up", took)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a report was written (%v)", err)
	}
	if ents, _ := os.ReadDir(tiny); len(ents) != 0 {
		t.Errorf("files left in --temp-dir: %v", ents)
	}
}

// TestAnalyzeSignalAfterReading: SIGTERM while the flows open at the end of the input
// are finished (spilled, here) stops the run promptly, exit 130, with no report: the
// inputs were all read, and what is left to do is only the report, which the signal
// cancels. (A signal while reading still gives the report of what was read.)
func TestAnalyzeSignalAfterReading(t *testing.T) {
	in := openFlowsCapture(t)
	// The flows that end while the capture is read: with --spill-after above their
	// number, the first spill happens while the open flows are emitted at the end.
	ref := loadSummaryOf(t, in)
	var ended int
	for _, f := range ref.Flows {
		if f.End != capture.EndInput {
			ended++
		}
	}
	if open := len(ref.Flows) - ended; open < 20_000 {
		t.Fatalf("only %d flows open at the end of the capture", open)
	}
	spill := ended + 500
	tmp := t.TempDir()
	out := filepath.Join(t.TempDir(), "report.json")
	cmd, stderr, code := portclassProcess(t, nil, "analyze", "--spill-after", strconv.Itoa(spill), "--temp-dir", tmp, "-o", out, in)
	if !spoolOpened(cmd.Process.Pid, tmp, 30*time.Second) {
		select {
		case c := <-code:
			t.Fatalf("exit %d before the first spill: %s", c, stderr)
		default:
			t.Fatalf("no spill file after 30 s: %s", stderr)
		}
	}
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c := exitWithin(t, code, stderr, 30*time.Second)
	if c != exitSignal {
		t.Fatalf("exit %d after SIGTERM while the open flows were finished, want %d: %s", c, exitSignal, stderr)
	}
	if d := time.Since(signalled); d > 3*time.Second {
		t.Errorf("exited %v after SIGTERM", d)
	}
	if !strings.Contains(stderr.String(), "no report written") {
		t.Errorf("the log does not say no report was written: %s", stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a report was written (%v)", err)
	}
}

// spoolOpened waits until process pid holds a spill file of dir open (the spool
// creates it at its first spill and unlinks it at once).
func spoolOpened(pid int, dir string, d time.Duration) bool {
	prefix := filepath.Join(dir, "portclass-spool-")
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			return false
		}
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, prefix) {
				return true
			}
		}
	}
	return false
}
