//go:build linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/portclass/portclass/internal/ipfixread"
	"github.com/portclass/portclass/reports"
)

// parquetFile opens a Parquet file and returns its rows and key/value metadata; a
// file that does not parse fails the test.
func parquetFile(t *testing.T, path string) (int64, map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("%s: not a valid Parquet file: %v", path, err)
	}
	meta := map[string]string{}
	for _, kv := range pf.Metadata().KeyValueMetadata {
		meta[kv.Key] = kv.Value
	}
	return pf.NumRows(), meta
}

// TestParquetCommandLine: -o *.parquet selects the format; the file holds one row per
// record of the JSON report and is marked not interrupted.
func TestParquetCommandLine(t *testing.T) {
	dir := t.TempDir()
	in := testdata("veeam.pcap")
	out := filepath.Join(dir, "flows.parquet")
	if code, stderr := runProcess(t, "analyze", "--quiet", "-o", out, in); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows, meta := parquetFile(t, out)
	want := loadSummaryOf(t, in)
	if rows != int64(want.Totals.Flows) || meta[reports.ParquetInterruptedKey] != "false" || meta[reports.ParquetSchemaVersionKey] != "1" {
		t.Errorf("%d rows (want %d), metadata %v", rows, want.Totals.Flows, meta)
	}
}

// TestParquetOnePass: analyze writes the Parquet file in the pass that aggregates the
// summary (reports.FlowEncoder); the file is byte for byte the one merge writes of
// analyze's JSON summary of the same capture, from its records, with --workers 1 and
// with every core, on every bundled capture.
func TestParquetOnePass(t *testing.T) {
	dir := t.TempDir()
	ents, err := os.ReadDir(filepath.Join("..", "..", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if ext := filepath.Ext(e.Name()); ext != ".pcap" && ext != ".pcapng" {
			continue
		}
		n++
		in := testdata(e.Name())
		js := filepath.Join(dir, e.Name()+".json")
		merged := filepath.Join(dir, e.Name()+".merged.parquet")
		for _, args := range [][]string{{"analyze", "--quiet", "-o", js, in}, {"merge", "--quiet", "--format", "parquet", "-o", merged, js}} {
			if code, stderr := runProcess(t, args...); code != exitOK {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
		}
		want, err := os.ReadFile(merged)
		if err != nil {
			t.Fatal(err)
		}
		for _, workers := range []string{"1", "0"} {
			out := filepath.Join(dir, e.Name()+".w"+workers+".parquet")
			if code, stderr := runProcess(t, "analyze", "--quiet", "--workers", workers, "-o", out, in); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || string(got) != string(want) {
				t.Errorf("%s, --workers %s: analyze wrote %d bytes, merge of its summary %d, or not the same", e.Name(), workers, len(got), len(want))
			}
		}
	}
	if n < 3 {
		t.Fatalf("only %d bundled captures", n)
	}
}

// TestParquetInterrupted: analyze of a FIFO stopped by SIGINT still writes a valid
// Parquet file of what it read, marked interrupted in its metadata (exit 130).
func TestParquetInterrupted(t *testing.T) {
	data, err := os.ReadFile(testdata("veeam.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	want := loadSummaryOf(t, testdata("veeam.pcap"))
	dir := t.TempDir()
	fifo := filepath.Join(dir, "capture.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	out := filepath.Join(dir, "flows.parquet")
	cmd, stderr, code := portclassProcess(t, nil, "analyze", fifo, "-o", out)
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	drained(t, w)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if c := exitWithin(t, code, stderr, 10*time.Second); c != exitSignal {
		t.Fatalf("exit %d after SIGINT, want %d: %s", c, exitSignal, stderr)
	}
	rows, meta := parquetFile(t, out)
	if rows != int64(want.Totals.Flows) || meta[reports.ParquetInterruptedKey] != "true" {
		t.Errorf("after SIGINT: %d rows (the capture has %d flows), metadata %v", rows, want.Totals.Flows, meta)
	}
}

// TestParquetDiskFull writes -o x.parquet into a file system too small for it (a
// 16 KiB tmpfs, as root): the run fails with "no space left on device", the file that
// was there is untouched and no temporary file is left half-written.
func TestParquetDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	out := filepath.Join(mnt, "flows.parquet")
	old := []byte("the previous report\n")
	if err := os.WriteFile(out, old, 0o644); err != nil {
		t.Fatal(err)
	}
	// All the bundled captures: a Parquet file of about 25 KiB.
	code, stderr := runProcess(t, "analyze", "--quiet", "-o", out, filepath.Join("..", "..", "testdata"))
	if code == exitOK || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("exit %d, want a failure naming the full disk: %s", code, stderr)
	}
	if got, _ := os.ReadFile(out); string(got) != string(old) {
		t.Errorf("the previous file was changed: %q", got)
	}
	ents, _ := os.ReadDir(mnt)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files left in the full file system: %v, want only flows.parquet", names)
	}
}

// TestBinaryFormatsRefused: the binary formats are the flow records alone, so they are
// refused (exit 2, before anything is read) with --no-flows, and on a terminal, where
// they would only garble the screen; --ipfix cannot go with --no-flows either.
func TestBinaryFormatsRefused(t *testing.T) {
	in := testdata("sample.pcapng")
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "parquet", "--no-flows", "-o", filepath.Join(dir, "x.parquet")}, "cannot go with --no-flows"},
		{[]string{"--no-flows", "-o", filepath.Join(dir, "x.ipfix")}, "cannot go with --no-flows"},
		{[]string{"--no-flows", "--ipfix", "127.0.0.1:4739", "-o", filepath.Join(dir, "x.json")}, "cannot go with --no-flows"},
	} {
		if code, stderr := runProcess(t, append(append([]string{"analyze"}, tt.args...), in)...); code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, want %d and %q: %s", tt.args, code, exitUsage, tt.want, stderr)
		}
	}
	master, slave := openPty(t)
	defer master.Close()
	for _, format := range []string{"parquet", "ipfix"} {
		cmd := exec.Command(os.Args[0], "analyze", "--quiet", "--format", format, in)
		cmd.Env = append(os.Environ(), "PORTCLASS_TEST_MAIN=1")
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = slave, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(stderr.String(), "is binary") {
			t.Errorf("--format %s to a terminal: %v, %s; want exit %d saying it is binary", format, err, stderr.String(), exitUsage)
		}
	}
	slave.Close()
}

// TestParquetWithIPFIX: with -o *.parquet and --ipfix, the file is written in the
// summary's pass and every record is then exported too: as many IPFIX data records as
// Parquet rows.
func TestParquetWithIPFIX(t *testing.T) {
	col := newUDPCollector(t)
	out := filepath.Join(t.TempDir(), "flows.parquet")
	if code, stderr := runProcess(t, "analyze", "--quiet", "-o", out, "--ipfix", col.addr(), testdata("veeam.pcap")); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows, _ := parquetFile(t, out)
	st := ipfixread.NewStream()
	n := 0
	for _, d := range col.datagrams() {
		m, err := st.Decode(d)
		if err != nil {
			t.Fatal(err)
		}
		n += len(m.Records)
	}
	if rows == 0 || int64(n) != rows {
		t.Errorf("%d records exported, %d rows in the file", n, rows)
	}
}
