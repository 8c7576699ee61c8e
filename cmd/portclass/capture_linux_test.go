//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/internal/livetest"
	"github.com/portclass/portclass/reports"
)

// syncBuf is a bytes.Buffer safe for a command writing and a test reading.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli is a portclass command running in-process in the background.
type cli struct {
	cancel context.CancelFunc
	code   chan int
	stderr *syncBuf
}

// startCLI runs a capture command line and returns once it is capturing.
func startCLI(t *testing.T, args ...string) *cli {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &cli{cancel: cancel, code: make(chan int, 1), stderr: &syncBuf{}}
	a := newApp(strings.NewReader(""), io.Discard, c.stderr)
	root := a.rootCmd()
	root.SetArgs(args)
	go func() {
		err := root.ExecuteContext(ctx)
		code := exitOK
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			code = exitUsage
			var ee *exitError
			if asExit(err, &ee) {
				code = ee.code
			}
		}
		c.code <- code
	}()
	livetest.WaitFor(t, "the capture to start", func() bool {
		select {
		case code := <-c.code:
			t.Fatalf("capture exited with %d: %s", code, c.stderr)
		default:
		}
		return strings.Contains(c.stderr.String(), `"capturing"`)
	})
	return c
}

// stop interrupts the capture as SIGINT does and checks that it ends cleanly.
func (c *cli) stop(t *testing.T) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // the kernel hands a ring block over within 64 ms
	c.cancel()
	if code := <-c.code; code != exitOK {
		t.Fatalf("capture exited with %d after an interrupt: %s", code, c.stderr)
	}
}

// scrape reads the Prometheus text exposition at addr: series ("name{labels}") → value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// sumOf adds the series of metric name whose labels contain every one of labels.
func sumOf(m map[string]float64, name string, labels ...string) (n float64) {
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			n += v
		}
	}
	return n
}

func recordPackets(s *reports.Summary) (n uint64) {
	for i := range s.Flows {
		n += s.Flows[i].Packets()
	}
	return n
}

// TestCaptureLive runs `portclass capture` on lo in a network namespace while known
// TCP and UDP traffic flows, with a filter that leaves out the metrics scrapes,
// reports every second, metrics and --write; it checks the scraped counters, the
// interval reports (merged, they hold every packet once) and the pcapng file.
func TestCaptureLive(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	dir := livetest.Dir(t)
	const addr = "127.0.0.1:9187"
	c := startCLI(t, "capture", "-i", "lo", "--filter", "not tcp port 9187", "--every", "1s", "--metrics", addr, "--metrics-every", "1s",
		"--tcp-timeout", "1s", "--udp-timeout", "1s", "-o", filepath.Join(dir, "report-%Y%m%dT%H%M%S.json"), "--write", filepath.Join(dir, "live.pcapng"))
	before := livetest.RxPackets(t)
	livetest.Send(t, 2, 3, 4)
	veeam := livetest.OpenAt(t, "127.0.0.1:9392")
	veeam.Exchange(t)
	veeam.Close(t)
	// Both ports dynamic: the first packet's sender is the client.
	livetest.UDP(t, "127.0.0.1:61000", "127.0.0.1:55555", 3)
	sent := float64(livetest.RxPackets(t) - before)

	// The flows end by the wall clock (1 s timeouts) and reach the metrics at the next
	// interval. A scrape can fall between the updates of one interval (the flow
	// counters before the per-port ones), so the checks are retried until they all
	// hold or the time is up, when what differed is reported.
	type check struct {
		what      string
		got, want float64
	}
	var (
		m      map[string]float64
		checks []check
	)
	measure := func() bool {
		m = scrape(t, addr)
		checks = []check{
			{"packets_total", sumOf(m, "portclass_packets_total"), sent},
			{"flows", sumOf(m, "portclass_flows_total"), 5},
			{"tcp flows", sumOf(m, "portclass_flows_total", `proto="tcp"`), 3},
			{"udp flows", sumOf(m, "portclass_flows_total", `proto="udp"`), 2},
			{"interface packets", sumOf(m, "portclass_interface_packets_total", `interface="lo"`), sent},
			{"kernel received", sumOf(m, "portclass_kernel_received_packets_total", `interface="lo"`), sent},
			{"kernel dropped", sumOf(m, "portclass_kernel_dropped_packets_total", `interface="lo"`), 0},
			{"decoded", sumOf(m, "portclass_input_packets_total", `outcome="decoded"`), sent},
			{"veeam 9392", sumOf(m, "portclass_veeam_flows_total", `rule="console-to-backup-server-9392"`), 1},
			{"dynamic port 55555", sumOf(m, "portclass_dynamic_server_port_flows_total", `port="55555"`, `proto="udp"`, `unexplained="true"`), 1},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !measure(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			for _, ch := range checks {
				if ch.got != ch.want {
					t.Errorf("metrics: %s = %v, want %v", ch.what, ch.got, ch.want)
				}
			}
			t.Logf("scrape: %v", m)
			break
		}
	}
	c.stop(t)

	files, _ := filepath.Glob(filepath.Join(dir, "report-*.json"))
	if len(files) < 2 {
		t.Fatalf("%d interval reports, want at least 2: %s", len(files), c.stderr)
	}
	var merged *reports.Summary
	for _, f := range files {
		s := loadFile(t, f)
		type flowKey struct {
			proto          uint8
			client, server netip.AddrPort
		}
		seen := map[flowKey]bool{}
		for _, r := range s.Flows {
			k := flowKey{r.Proto, r.Client, r.Server}
			if seen[k] {
				t.Errorf("%s: two records of flow %s %s → %s", f, capture.ProtoName(r.Proto), r.Client, r.Server)
			}
			seen[k] = true
		}
		if merged == nil {
			merged = s
		} else if merged, _ = reports.Merge(merged, s); merged == nil {
			t.Fatal("merge failed")
		}
	}
	var ended, recv uint64
	for _, r := range merged.Flows {
		if r.End != capture.EndActive {
			ended++
		}
	}
	for _, in := range merged.Inputs {
		recv += in.KernelReceived
	}
	if float64(merged.Totals.Packets) != sent || float64(recordPackets(merged)) != sent || ended != 5 || float64(recv) != sent {
		t.Errorf("merged reports: %d packets, records hold %d, %d flows ended, kernel received %d; want %v packets, 5 flows", merged.Totals.Packets, recordPackets(merged), ended, recv, sent)
	}

	code, out, errs := runCLI(t, "analyze", "--format", "json", filepath.Join(dir, "live.pcapng"))
	if code != 0 {
		t.Fatalf("analyze the --write file: exit %d: %s", code, errs)
	}
	s, err := reports.LoadSummary(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if float64(s.Totals.Packets) != sent || len(s.Flows) != 5 || s.Inputs[0].Format != "pcapng" {
		t.Errorf("--write file: %d packets, %d flows; want %v and 5", s.Totals.Packets, len(s.Flows), sent)
	}
}

// TestCaptureFilterEquivalence captures the same traffic without a filter (written
// with --write) and with several filters that run in the kernel; each filtered live
// report must equal analyze --filter of the unfiltered file.
func TestCaptureFilterEquivalence(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	dir := livetest.Dir(t)
	exprs := []string{"udp", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "ip6 or greater 150", "host 127.0.0.1 and not portrange 1-1023"}
	all := filepath.Join(dir, "all.pcapng")
	caps := []*cli{startCLI(t, "capture", "-i", "lo", "--write", all, "-o", filepath.Join(dir, "all.json"))}
	for i, e := range exprs {
		caps = append(caps, startCLI(t, "capture", "-i", "lo", "--filter", e, "-o", filepath.Join(dir, fmt.Sprintf("live%d.json", i))))
	}
	before := livetest.RxPackets(t)
	livetest.Send(t, 3, 2, 4)
	sent := livetest.RxPackets(t) - before
	for _, c := range caps {
		c.stop(t)
	}
	if got := loadFile(t, filepath.Join(dir, "all.json")).Totals.Packets; got != sent {
		t.Fatalf("unfiltered capture: %d packets, lo received %d", got, sent)
	}
	for i, e := range exprs {
		live := loadFile(t, filepath.Join(dir, fmt.Sprintf("live%d.json", i)))
		code, out, errs := runCLI(t, "analyze", "--format", "json", "--filter", e, all)
		if code != 0 {
			t.Fatalf("analyze --filter %q: exit %d: %s", e, code, errs)
		}
		file, err := reports.LoadSummary(strings.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if live.Totals.Packets == 0 || live.Totals.Packets != file.Totals.Decoded || recordPackets(live) != recordPackets(file) || len(live.Flows) != len(file.Flows) {
			t.Errorf("filter %q: live %d packets in %d flows; analyze of the file keeps %d packets in %d flows", e, live.Totals.Packets, len(live.Flows), file.Totals.Decoded, len(file.Flows))
			continue
		}
		for j := range live.Flows {
			l, f := live.Flows[j], file.Flows[j]
			if l.Proto != f.Proto || l.Client != f.Client || l.Server != f.Server || l.State != f.State || l.Packets() != f.Packets() || l.Bytes() != f.Bytes() {
				t.Errorf("filter %q: flow %d: live %s %s→%s %s %d/%d, file %s %s→%s %s %d/%d", e, j, capture.ProtoName(l.Proto), l.Client, l.Server, l.State, l.Packets(), l.Bytes(), capture.ProtoName(f.Proto), f.Client, f.Server, f.State, f.Packets(), f.Bytes())
			}
		}
	}
}

// TestCaptureErrors: a bad filter is reported with its column before any interface is
// looked at; an unknown interface lists those that exist; other bad flags.
func TestCaptureErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--filter", "tcp port", "-i", "no-such0"}, "column"},
		{[]string{"-i", "no-such0"}, `no interface "no-such0"; interfaces: lo`},
		{nil, "give at least one interface"},
		{[]string{"-i", "lo", "-o", "r-%Q.json"}, "unknown strftime verb"},
		{[]string{"-i", "lo", "--buffer-size", "8XB"}, "unknown unit"},
		{[]string{"-i", "lo", "--user", "no-such-user-x"}, "no-such-user-x"},
	} {
		code, _, errs := runCLI(t, append([]string{"capture"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("capture %q: exit %d, %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// TestCapturePermission takes CAP_NET_RAW away from one thread and runs the capture
// command on it: the error must name the capability and show the setcap line.
func TestCapturePermission(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to take CAP_NET_RAW away from a thread that has it")
	}
	type result struct {
		code int
		errs string
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			ch <- result{-1, err.Error()}
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			ch <- result{-1, err.Error()}
			return
		}
		code, _, errs := runCLI(t, "capture", "-i", "lo", "--duration", "1s")
		ch <- result{code, errs}
	}()
	r := <-ch
	if r.code == -1 {
		t.Skipf("cannot drop a capability here: %s", r.errs)
	}
	for _, want := range []string{"CAP_NET_RAW", "setcap cap_net_raw,cap_net_admin=eip "} {
		if r.code != exitUsage || !strings.Contains(r.errs, want) {
			t.Errorf("without CAP_NET_RAW: exit %d, %q; want exit 2 naming %q", r.code, r.errs, want)
		}
	}
}

// TestCaptureUser drops root for nobody once the socket is open: the capture goes on,
// the report belongs to nobody, and so does the process.
func TestCaptureUser(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	out := filepath.Join(livetest.Dir(t), "user.json")
	c := startCLI(t, "capture", "-i", "lo", "--user", "nobody", "--count", "10", "-o", out)
	conn := livetest.Open(t) // nothing privileged: the whole test process is nobody now
	for range 3 {
		conn.Exchange(t)
	}
	conn.Close(t)
	if code := <-c.code; code != exitOK {
		t.Fatalf("exit %d: %s", code, c.stderr)
	}
	if os.Geteuid() != uid {
		t.Errorf("euid %d after --user nobody, want %d", os.Geteuid(), uid)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if owner := st.Sys().(*syscall.Stat_t).Uid; int(owner) != uid {
		t.Errorf("report owned by uid %d, want nobody (%d)", owner, uid)
	}
	if s := loadFile(t, out); s.Totals.Packets != 10 {
		t.Errorf("--count 10: report holds %d packets", s.Totals.Packets)
	}
}

// TestCaptureSignal runs portclass as a process and interrupts it with SIGINT: it
// exits 0 and writes the report of what it captured.
func TestCaptureSignal(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	out := filepath.Join(livetest.Dir(t), "signal.json")
	cmd := exec.Command(os.Args[0], "capture", "-i", "lo", "-o", out)
	cmd.Env = append(os.Environ(), "PORTCLASS_TEST_MAIN=1")
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	livetest.WaitFor(t, "the capture to start", func() bool { return strings.Contains(stderr.String(), `"capturing"`) })
	before := livetest.RxPackets(t)
	livetest.Send(t, 1, 2, 3)
	sent := livetest.RxPackets(t) - before
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v: %s", err, stderr)
	}
	if s := loadFile(t, out); s.Totals.Packets != sent {
		t.Errorf("report after SIGINT holds %d packets, want %d", s.Totals.Packets, sent)
	}
	if !strings.Contains(stderr.String(), `"why":"interrupted"`) {
		t.Errorf("log does not say the capture was interrupted: %s", stderr)
	}
}
