//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports"
)

// runMeasured runs portclass (plainBinary) with args and returns its exit code,
// standard error and peak resident set size in bytes: the kernel's ru_maxrss of the
// process, from wait4. A child started by a Go program shares its parent's memory
// until it execs (os/exec uses vfork), and exec folds the parent's peak into the
// child's ru_maxrss; so portclass is started by a small helper (measureHelper), whose
// peak is a few MB, not by this test process, whose tests hold much more.
func runMeasured(t *testing.T, args ...string) (int, string, int64) {
	t.Helper()
	cmd := exec.Command(measureHelper(t), append([]string{plainBinary(t)}, args...)...)
	cmd.Env = append(os.Environ(), "PORTCLASS_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("portclass %v: %v", args, err)
	}
	out, last, _ := strings.Cut(stderr.String(), "\n"+measureMark)
	kib, err := strconv.ParseInt(strings.TrimSpace(last), 10, 64)
	if err != nil {
		t.Fatalf("portclass %v: no peak RSS reported: %s", args, stderr.String())
	}
	rss := kib << 10
	t.Logf("portclass %s: exit %d, peak RSS %.1f MB", args[0], cmd.ProcessState.ExitCode(), float64(rss)/1e6)
	return cmd.ProcessState.ExitCode(), out, rss
}

// measureMark precedes the peak RSS in KiB that the helper writes on standard error.
const measureMark = "portclass-test-peak-rss-kib "

// measureSource is the helper: it runs its arguments as a command and reports the
// command's peak RSS.
const measureSource = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
	fmt.Fprintf(os.Stderr, "\n` + measureMark + `%d\n", cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	os.Exit(cmd.ProcessState.ExitCode())
}
`

var helper onceBuilt

// measureHelper builds the helper of runMeasured once per test binary.
func measureHelper(t *testing.T) string {
	t.Helper()
	return helper.get(t, "the helper that measures a process's memory", func(dir string) error {
		return os.WriteFile(filepath.Join(dir, "main.go"), []byte(measureSource), 0o644)
	}, "main.go")
}

// writeStreaming creates path and lets fill write it through a buffer, so that a
// large input is never held in memory.
func writeStreaming(t *testing.T, path string, fill func(w *bufio.Writer)) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fill(w)
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// writeBigSummary writes a summary of one input and n TCP flow records among 65,536
// clients and 256 servers, in report order, with the totals they add up to (the
// breakdowns are left empty: merge rebuilds them from the records).
func writeBigSummary(t *testing.T, path string, n int) int64 {
	t0 := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	stamp := func(d time.Duration) string { return t0.Add(d).Format(reports.TimeLayout) }
	first, last := stamp(0), stamp(time.Duration(n-1)*time.Millisecond+50*time.Millisecond)
	duration, _ := json.Marshal((time.Duration(n-1)*time.Millisecond + 50*time.Millisecond).Seconds())
	packets, bytes := uint64(n)*18, uint64(n)*(1158+7377)
	return writeStreaming(t, path, func(w *bufio.Writer) {
		fmt.Fprintf(w, `{"schema_version":1,"generator":"portclass","top":10,"totals":{"inputs":1,"packets":%d,"bytes":%d,"flows":%d,`+
			`"decoded":%d,"non_ip":0,"decode_errors":0,"filtered":0,"unsupported":0,"evicted_flows":0,"first":%q,"last":%q,"duration_seconds":%s},`,
			packets, bytes, n, packets, first, last, duration)
		fmt.Fprintf(w, `"inputs":[{"path":"big.pcap","format":"pcap","compression":"","size":1,"link_types":{"EN10MB":%d},"packets":%d,"bytes":%d,`+
			`"decoded":%d,"non_ip":0,"unsupported":{},"decode_errors":0,"filtered":0,"fragments":0,"truncated":false,"warnings":[],"first":%q,"last":%q}],`,
			packets, packets, bytes, packets, first, last)
		w.WriteString(`"flows":[`)
		for i := range n {
			if i > 0 {
				w.WriteString(",\n")
			}
			at := time.Duration(i) * time.Millisecond
			fmt.Fprintf(w, `{"proto":"tcp","client":"10.%d.%d.1:%d","server":"192.0.2.%d:443","vlan":0,"direction":"syn","state":"SF",`+
				`"first":%q,"last":%q,"packets_to_server":10,"packets_to_client":8,"bytes_to_server":1158,"bytes_to_client":7377,`+
				`"tcp_flags_to_server":"SAFP","tcp_flags_to_client":"SAFP","port_class":"well-known","service":"https","flags":[],"veeam":[],`+
				`"icmp_errors":[],"input":"big.pcap","end":"end-of-input"}`,
				i>>8&0xff, i&0xff, 32768+i%28000, i%256, stamp(at), stamp(at+50*time.Millisecond))
		}
		w.WriteString("]}\n")
	})
}

// TestMergeMemory: merge reads saved summaries as streams and holds no record. A
// 150 MB summary (330,000 records) merges in under 100 MB of peak RSS (55 MB measured
// for bin/portclass; 530-560 MB before, when every record was held decoded), and its records
// all reach the report; a summary holding a 1 GiB string is refused once the string
// passes 64 KiB, naming the offset and the field, in under 50 MB (28 MB measured; 6.8
// GB and 39 s before).
func TestMergeMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 150 MB and a 1 GiB file")
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	size := writeBigSummary(t, big, 330_000)
	if size < 150e6 {
		t.Fatalf("the big summary has %d bytes, want 150 MB", size)
	}
	out := filepath.Join(dir, "merged.json")
	code, errs, rss := runMeasured(t, "merge", "--quiet", "--format", "json", "-o", out, big)
	if code != exitOK {
		t.Fatalf("merge of a %d-byte summary: exit %d: %s", size, code, errs)
	}
	if rss >= 100e6 {
		t.Errorf("merge of a %.0f MB summary: peak RSS %.0f MB, want under 100 MB", float64(size)/1e6, float64(rss)/1e6)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records := 0
	s, err := reports.ReadSummary(bufio.NewReader(f), func(*classify.Flow) error { records++; return nil })
	if err != nil || records != 330_000 || s.Totals.Flows != 330_000 || len(s.Talkers) != 10 {
		t.Errorf("merged: %d records, err %v", records, err)
	}

	huge := filepath.Join(dir, "huge.json")
	head := `{"schema_version":1,"generator":"portclass","inputs":[{"path":"`
	writeStreaming(t, huge, func(w *bufio.Writer) {
		w.WriteString(head)
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for range 1 << 10 {
			w.Write(chunk)
		}
		w.WriteString(`"}]}`)
	})
	code, errs, rss = runMeasured(t, "merge", "--quiet", "--format", "json", "-o", out, huge)
	want := fmt.Sprintf("%s: read summary: at offset %d, inputs[0].path: a string longer than %d bytes", huge, len(head)-1, reports.MaxSummaryString)
	if code != exitUsage || !strings.Contains(errs, want) {
		t.Errorf("a 1 GiB string: exit %d, %s; want %d and %q", code, errs, exitUsage, want)
	}
	if rss >= 50e6 {
		t.Errorf("a 1 GiB string: peak RSS %.0f MB, want under 50 MB", float64(rss)/1e6)
	}
}
