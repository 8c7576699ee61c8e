//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/pcapng"
	"github.com/portclass/portclass/internal/corpus"
	"github.com/portclass/portclass/internal/ipfixread"
	"github.com/portclass/portclass/internal/livetest"
	"github.com/portclass/portclass/reports"
)

// runProcess runs this test binary as portclass (see TestMain) to its end and returns
// its exit code and stderr.
func runProcess(t *testing.T, args ...string) (int, string) {
	t.Helper()
	_, stderr, code := portclassProcess(t, nil, args...)
	select {
	case c := <-code:
		return c, stderr.String()
	case <-time.After(2 * time.Minute):
		t.Fatalf("portclass %v still running after 2 minutes: %s", args, stderr)
		return -1, ""
	}
}

// freeUDPPort returns a UDP port of 127.0.0.1 that nothing listens on (just now).
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// nfcapd runs nfdump's collector on a free UDP port of 127.0.0.1 into dir; stop ends
// it with SIGINT, which writes the last file. The test is skipped without nfdump.
func nfcapd(t *testing.T, dir string) (port int, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("nfcapd")
	if err != nil {
		t.Skip("nfcapd not installed (apt-get install nfdump): the IPFIX export is not checked against nfdump's collector")
	}
	if _, err := exec.LookPath("nfdump"); err != nil {
		t.Skip("nfdump not installed (apt-get install nfdump)")
	}
	port = freeUDPPort(t)
	// A 4 MiB socket buffer: a burst of thousands of datagrams on loopback overruns
	// the default one before nfcapd reads them (docs/scale.md says so for sensors).
	cmd := exec.Command(bin, "-p", strconv.Itoa(port), "-b", "127.0.0.1", "-B", "4194304", "-w", dir, "-t", "3600")
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	livetest.WaitFor(t, "nfcapd to start", func() bool {
		select {
		case err := <-done:
			t.Fatalf("nfcapd exited: %v: %s", err, out)
		default:
		}
		return strings.Contains(out.String(), "Startup")
	})
	return port, func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("nfcapd did not stop: %s", out)
		}
	}
}

// nfdumpLines lists the flows nfdump reads from the files in dir, one line per flow
// record: first and last packet (UTC, milliseconds), protocol, client, client port, server, server port (ICMP: type.code),
// packets, bytes, reverse packets, reverse bytes, TCP flags as nfdump prints them;
// and the sequence failures nfdump counted.
func nfdumpLines(t *testing.T, dir string) (lines []string, seqFailures int) {
	t.Helper()
	// %ts and %te in UTC: nfdump 1.7.1's raw %ter drops a digit of the milliseconds.
	cmd := exec.Command("nfdump", "-R", dir, "-q", "-N", "-6", "-o", "fmt:%ts|%te|%pr|%sa|%sp|%da|%dp|%pkt|%byt|%opkt|%obyt|%flg")
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nfdump -R %s: %v", dir, err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		fs := strings.Split(l, "|")
		for i := range fs {
			fs[i] = strings.TrimSpace(fs[i])
		}
		lines = append(lines, strings.Join(fs, "|"))
	}
	stat, err := exec.Command("nfdump", "-R", dir, "-I").Output()
	if err != nil {
		t.Fatalf("nfdump -I: %v", err)
	}
	for _, l := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(l, "Sequence failures: "); ok {
			seqFailures, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return lines, seqFailures
}

// nfdumpLine is how nfdumpLines shows flow record f.
func nfdumpLine(f *reports.Summary, i int) string {
	r := &f.Flows[i]
	// nfdump 1.7.1 keeps the destination port of TCP and UDP flows only (ICMP: type
	// and code; SCTP and other protocols: 0, whatever the record says).
	dport := "0"
	switch r.Proto {
	case capture.ProtoTCP, capture.ProtoUDP:
		dport = strconv.Itoa(int(r.Server.Port()))
	case capture.ProtoICMP, capture.ProtoICMPv6:
		dport = fmt.Sprintf("%d.%d", r.ICMPType, r.ICMPCode)
	}
	// nfdump prints the forward direction's flags (see reports/ipfix.go), as
	// "UAPRSF" with dots for flags not set.
	const letters = "CEUAPRSF"
	flg := []byte("........")
	if r.Proto == capture.ProtoTCP {
		for i := range 8 {
			if r.TCPFlags[capture.ToServer]&(0x80>>i) != 0 {
				flg[i] = letters[i]
			}
		}
	}
	ms := func(t time.Time) string { return t.UTC().Truncate(time.Millisecond).Format("2006-01-02 15:04:05.000") }
	return strings.Join([]string{ms(r.First), ms(r.Last), strconv.Itoa(int(r.Proto)), r.Client.Addr().String(), strconv.Itoa(int(r.Client.Port())),
		r.Server.Addr().String(), dport,
		strconv.FormatUint(r.Flow.Packets[0], 10), strconv.FormatUint(r.Flow.Bytes[0], 10),
		strconv.FormatUint(r.Flow.Packets[1], 10), strconv.FormatUint(r.Flow.Bytes[1], 10), string(flg)}, "|")
}

// TestIPFIXNfdump exports the records of the bundled captures (and of the shared
// corpus, when present) with the built command line to nfdump's collector: nfdump
// reads back one flow per record, each with the record's addresses, ports, packets
// and bytes in both directions and TCP flags, so its packet and byte totals equal the
// report's exactly, and it counts no sequence failure.
func TestIPFIXNfdump(t *testing.T) {
	sets := map[string]func(t *testing.T) string{
		"testdata": func(t *testing.T) string { return filepath.Join("..", "..", "testdata") },
		"corpus":   func(t *testing.T) string { return corpus.Pcaps(t) },
	}
	for _, name := range []string{"testdata", "corpus"} {
		t.Run(name, func(t *testing.T) {
			in := sets[name](t)
			dir := t.TempDir()
			flows := filepath.Join(dir, "flows")
			if err := os.Mkdir(flows, 0o755); err != nil {
				t.Fatal(err)
			}
			port, stop := nfcapd(t, flows)
			report := filepath.Join(dir, "report.json")
			code, stderr := runProcess(t, "analyze", "--quiet", "--ipfix", fmt.Sprintf("127.0.0.1:%d", port),
				"--ipfix-pen", "99999", "-o", report, in)
			stop()
			if code != exitOK {
				t.Fatalf("analyze --ipfix: exit %d: %s", code, stderr)
			}
			s := loadFile(t, report)
			got, seqFail := nfdumpLines(t, flows)
			want := make([]string, len(s.Flows))
			var packets, bytes uint64
			for i := range s.Flows {
				want[i] = nfdumpLine(s, i)
				packets += s.Flows[i].Packets()
				bytes += s.Flows[i].Bytes()
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("nfdump read %d flows, the report has %d records; first differences:\n%s", len(got), len(want), lineSetDiff(want, got, 10))
			}
			var np, nb uint64
			for _, l := range got {
				f := strings.Split(l, "|")
				for _, i := range []int{7, 9} {
					n, _ := strconv.ParseUint(f[i], 10, 64)
					np += n
					n, _ = strconv.ParseUint(f[i+1], 10, 64)
					nb += n
				}
			}
			if np != packets || nb != bytes {
				t.Errorf("nfdump totals: %d packets, %d bytes; the report's records: %d, %d", np, nb, packets, bytes)
			}
			if seqFail != 0 {
				t.Errorf("nfdump counted %d sequence failures", seqFail)
			}
			t.Logf("%s: %d flow records, %d packets, %d bytes in nfdump as in the report", name, len(got), np, nb)
		})
	}
}

// lineSetDiff lists up to n lines of want missing from got and of got not in want
// (both sorted).
func lineSetDiff(want, got []string, n int) string {
	var b strings.Builder
	i, j, shown := 0, 0, 0
	for (i < len(want) || j < len(got)) && shown < n {
		switch {
		case j == len(got) || (i < len(want) && want[i] < got[j]):
			fmt.Fprintf(&b, "  report only: %s\n", want[i])
			i++
			shown++
		case i == len(want) || got[j] < want[i]:
			fmt.Fprintf(&b, "  nfdump only: %s\n", got[j])
			j++
			shown++
		default:
			i, j = i+1, j+1
		}
	}
	return b.String()
}

// udpCollector listens on a free UDP port of 127.0.0.1 and keeps every datagram.
type udpCollector struct {
	conn *net.UDPConn
	got  chan []byte
}

func newUDPCollector(t *testing.T) *udpCollector {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	u := &udpCollector{conn: c, got: make(chan []byte, 1<<16)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(u.got)
				return
			}
			u.got <- append([]byte(nil), buf[:n]...)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return u
}

func (u *udpCollector) addr() string { return u.conn.LocalAddr().String() }

// datagrams returns what came until nothing more came for 200 ms.
func (u *udpCollector) datagrams() [][]byte {
	var out [][]byte
	for {
		select {
		case d := <-u.got:
			out = append(out, d)
		case <-time.After(200 * time.Millisecond):
			return out
		}
	}
}

// TestIPFIXTshark exports the bundled captures (and the shared corpus, when present)
// to a UDP socket of the test and has tshark decode every datagram as IPFIX (cflow):
// no malformed packet, no expert warning, every template and every data record
// decoded. The test's own reader checks the same datagrams: message sizes, templates
// first and sequence numbers.
func TestIPFIXTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark): IPFIX messages not checked against Wireshark's dissector")
	}
	sets := map[string]func(t *testing.T) string{
		"testdata": func(t *testing.T) string { return filepath.Join("..", "..", "testdata") },
		"corpus":   func(t *testing.T) string { return corpus.Pcaps(t) },
	}
	for _, name := range []string{"testdata", "corpus"} {
		t.Run(name, func(t *testing.T) { checkTshark(t, tshark, sets[name](t)) })
	}
}

func checkTshark(t *testing.T, tshark, in string) {
	col := newUDPCollector(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "report.json")
	code, stderr := runProcess(t, "analyze", "--quiet", "--ipfix", col.addr(), "--ipfix-pen", "99999", "-o", report, in)
	if code != exitOK {
		t.Fatalf("analyze --ipfix: exit %d: %s", code, stderr)
	}
	dgrams := col.datagrams()
	s := loadFile(t, report)
	st := ipfixread.NewStream()
	records := 0
	for i, d := range dgrams {
		if len(d) > reports.DefaultIPFIXMessageSize {
			t.Errorf("datagram %d: %d bytes, more than %d", i, len(d), reports.DefaultIPFIXMessageSize)
		}
		m, err := st.Decode(d)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		records += len(m.Records)
	}
	if records != len(s.Flows) {
		t.Fatalf("%d records in %d datagrams, the report has %d", records, len(dgrams), len(s.Flows))
	}
	pcap := filepath.Join(dir, "export.pcapng")
	writeUDPCapture(t, pcap, dgrams, 4739)
	out, err := exec.Command(tshark, "-r", pcap, "-d", "udp.port==4739,cflow", "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, out)
	}
	text := string(out)
	for _, bad := range []string{"Malformed", "Expert Info (Warning", "Expert Info (Error", "Dissector bug", "[Unknown Template"} {
		if strings.Contains(text, bad) {
			i := strings.Index(text, bad)
			t.Errorf("tshark: %q in its decode: ...%s...", bad, text[max(0, i-300):min(len(text), i+200)])
		}
	}
	flows, templates := 0, 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "Flow ") {
			if _, err := strconv.Atoi(strings.TrimPrefix(l, "Flow ")); err == nil {
				flows++
			}
		}
		if strings.HasPrefix(l, "Template (Id = ") {
			templates++
		}
	}
	if flows != len(s.Flows) || templates < 2 {
		t.Errorf("tshark decoded %d flows and %d templates; want %d flows and the templates", flows, templates, len(s.Flows))
	}
}

// writeUDPCapture writes datagrams as IPv4/UDP packets from 127.0.0.1:40000 to
// 127.0.0.1:port into a pcapng file (link type RAW).
func writeUDPCapture(t *testing.T, path string, dgrams [][]byte, port uint16) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapng.NewWriter(f, pcapng.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ifc, err := w.AddInterface(101, "lo", 9, 65535) // LINKTYPE_RAW
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1767225600, 0)
	for _, d := range dgrams {
		p := make([]byte, 28, 28+len(d))
		p[0], p[8], p[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(p[2:], uint16(28+len(d)))
		copy(p[12:], []byte{127, 0, 0, 1, 127, 0, 0, 1})
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(p[i:]))
		}
		sum = sum>>16 + sum&0xffff
		binary.BigEndian.PutUint16(p[10:], ^uint16(sum+sum>>16))
		binary.BigEndian.PutUint16(p[20:], 40000)
		binary.BigEndian.PutUint16(p[22:], port)
		binary.BigEndian.PutUint16(p[24:], uint16(8+len(d)))
		p = append(p, d...)
		if err := w.WritePacket(ifc, ts, p, len(p)); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(time.Millisecond)
	}
}

// TestIPFIXCollectorDown: a UDP collector port where nobody listens (ICMP port
// unreachable) and a TCP collector that refuses cost nothing in the report: the run
// exits 0 and writes the same report as without --ipfix, and warns.
func TestIPFIXCollectorDown(t *testing.T) {
	in := testdata("sample.pcapng")
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.ndjson")
	if code, stderr := runProcess(t, "analyze", "--quiet", "-o", ref, in); code != exitOK {
		t.Fatalf("analyze: exit %d: %s", code, stderr)
	}
	want, _ := os.ReadFile(ref)
	port := freeUDPPort(t)
	for _, target := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("tcp://127.0.0.1:%d", port)} {
		out := filepath.Join(dir, "out.ndjson")
		code, stderr := runProcess(t, "analyze", "--ipfix", target, "-o", out, in)
		if code != exitOK {
			t.Fatalf("--ipfix %s: exit %d: %s", target, code, stderr)
		}
		got, _ := os.ReadFile(out)
		if string(got) != string(want) {
			t.Errorf("--ipfix %s: the report differs from the one without export", target)
		}
		if !strings.Contains(stderr, "connection refused") || !strings.Contains(stderr, `"level":"warn"`) {
			t.Errorf("--ipfix %s: no warning of the refusal: %s", target, stderr)
		}
	}
	// A target that is no HOST:PORT is a usage error before anything is read.
	for _, bad := range []string{"collector", "sctp://h:4739", "h:port-that-is-no-port"} {
		if code, stderr := runProcess(t, "analyze", "--ipfix", bad, "-o", filepath.Join(dir, "x.json"), in); code != exitUsage || !strings.Contains(stderr, "--ipfix") {
			t.Errorf("--ipfix %s: exit %d, want %d with a message naming --ipfix: %s", bad, code, exitUsage, stderr)
		}
	}
	if code, _ := runProcess(t, "analyze", "--ipfix-message-size", "100", "--format", "ipfix", "-o", filepath.Join(dir, "x.ipfix"), in); code != exitUsage {
		t.Errorf("--ipfix-message-size 100: exit %d, want %d", code, exitUsage)
	}
}

// TestIPFIXEnvironment: the collector can come from PORTCLASS_IPFIX (viper sees the
// variable because the key has a default).
func TestIPFIXEnvironment(t *testing.T) {
	col := newUDPCollector(t)
	cmd := exec.Command(os.Args[0], "analyze", "--quiet", "-o", filepath.Join(t.TempDir(), "r.json"), testdata("veeam.pcap"))
	cmd.Env = append(os.Environ(), "PORTCLASS_TEST_MAIN=1", "PORTCLASS_IPFIX="+col.addr(), "PORTCLASS_IPFIX_PEN=99999")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	st := ipfixread.NewStream()
	n := 0
	for _, d := range col.datagrams() {
		m, err := st.Decode(d)
		if err != nil {
			t.Fatal(err)
		}
		n += len(m.Records)
	}
	if n == 0 {
		t.Fatal("nothing exported to PORTCLASS_IPFIX")
	}
	if fs := st.Template(reports.DefaultIPFIXDomain, 256); len(fs) == 0 || fs[len(fs)-1].PEN != 99999 {
		t.Errorf("PORTCLASS_IPFIX_PEN not applied: template 256 is %v", fs)
	}
}

// TestCaptureIPFIX exports a live capture's reports (every second) to a collector:
// the collector gets exactly the records of the interval reports, status records of
// a connection open across intervals (flowEndReason 2, active timeout) included, so
// its sums equal the reports'.
func TestCaptureIPFIX(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	dir := livetest.Dir(t)
	col := newUDPCollector(t)
	port := col.conn.LocalAddr().(*net.UDPAddr).Port
	c := startCLI(t, "capture", "-i", "lo", "--filter", fmt.Sprintf("not udp port %d", port), "--every", "1s",
		"--tcp-timeout", "1s", "--udp-timeout", "1s", "-o", filepath.Join(dir, "r-%Y%m%dT%H%M%S.json"),
		"--ipfix", col.addr(), "--ipfix-pen", "99999")
	long := livetest.Open(t)
	long.Exchange(t)
	livetest.Send(t, 2, 3, 4)
	time.Sleep(1500 * time.Millisecond) // the long connection crosses an interval
	long.Exchange(t)
	long.Close(t)
	c.stop(t)

	key := func(proto uint8, client, server string, p0, p1, b0, b1 uint64, end uint8) string {
		return fmt.Sprintf("%d %s %s %d/%d %d/%d end=%d", proto, client, server, p0, p1, b0, b1, end)
	}
	var want []string
	files, _ := filepath.Glob(filepath.Join(dir, "r-*.json"))
	for _, f := range files {
		s := loadFile(t, f)
		for i := range s.Flows {
			r := &s.Flows[i]
			reason := map[capture.EndReason]uint8{capture.EndTimeout: 1, capture.EndActive: 2, capture.EndReused: 3, capture.EndInput: 4, capture.EndEvicted: 5}[r.End]
			want = append(want, key(r.Proto, r.Client.Addr().String(), r.Server.Addr().String(), r.Flow.Packets[0], r.Flow.Packets[1], r.Flow.Bytes[0], r.Flow.Bytes[1], reason))
		}
	}
	st := ipfixread.NewStream()
	var got []string
	active := 0
	for _, d := range col.datagrams() {
		m, err := st.Decode(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range m.Records {
			src, dst := r.Values["8"], r.Values["12"]
			if r.Template == 257 {
				src, dst = r.Values["27"], r.Values["28"]
			}
			sa, _ := netip.AddrFromSlice(src)
			da, _ := netip.AddrFromSlice(dst)
			end := uint8(r.Uint("136"))
			if end == 2 {
				active++
			}
			got = append(got, key(uint8(r.Uint("4")), sa.String(), da.String(), r.Uint("2"), r.Uint("29305/2"), r.Uint("1"), r.Uint("29305/1"), end))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("collector got %d records, the %d reports hold %d:\n%s", len(got), len(files), len(want), lineSetDiff(want, got, 10))
	}
	if active == 0 {
		t.Errorf("no status record (flowEndReason 2) exported for the connection open across intervals: %v", got)
	}
}

// TestCaptureIPFIXDown: a live capture whose collector port is closed writes every
// report and counts the messages that failed in portclass_ipfix_messages_total.
func TestCaptureIPFIXDown(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	dir := livetest.Dir(t)
	port := freeUDPPort(t)
	const metrics = "127.0.0.1:9188"
	c := startCLI(t, "capture", "-i", "lo", "--filter", fmt.Sprintf("not udp port %d and not tcp port 9188", port), "--every", "1s",
		"--tcp-timeout", "1s", "--udp-timeout", "1s", "--metrics", metrics, "--metrics-every", "1s",
		"-o", filepath.Join(dir, "r-%Y%m%dT%H%M%S.json"), "--ipfix", fmt.Sprintf("127.0.0.1:%d", port))
	livetest.Send(t, 3, 2, 3)
	var failed, sent float64
	livetest.WaitFor(t, "a failed IPFIX message in the metrics", func() bool {
		m := scrape(t, metrics)
		failed = sumOf(m, "portclass_ipfix_messages_total", `result="failed"`)
		sent = sumOf(m, "portclass_ipfix_records_total")
		return failed > 0
	})
	c.stop(t)
	files, _ := filepath.Glob(filepath.Join(dir, "r-*.json"))
	var records int
	for _, f := range files {
		records += len(loadFile(t, f).Flows)
	}
	if records < 4 {
		t.Errorf("the reports hold %d records, want the 4 flows at least", records)
	}
	if !strings.Contains(c.stderr.String(), "connection refused") {
		t.Errorf("no warning of the refused export: %s", c.stderr)
	}
	t.Logf("%d reports, %d records; metrics: %v records exported or failed, %v messages failed", len(files), records, sent, failed)
}
