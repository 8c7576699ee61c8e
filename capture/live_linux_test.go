//go:build linux

package capture_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/filter"
	"github.com/portclass/portclass/internal/livetest"
)

// liveRun is a live capture running in the background, collecting what it emits.
type liveRun struct {
	l         *capture.Live
	cancel    context.CancelFunc
	done      chan error
	mu        sync.Mutex
	flows     []capture.Flow
	intervals []capture.Result
}

func startLive(t *testing.T, lo capture.LiveOptions, o capture.Options) *liveRun {
	t.Helper()
	l, err := capture.OpenLive(lo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	r := &liveRun{l: l, cancel: cancel, done: make(chan error, 1)}
	o.Interval = func(res capture.Result) {
		r.mu.Lock()
		r.intervals = append(r.intervals, res)
		r.mu.Unlock()
	}
	go func() {
		r.done <- l.Run(ctx, o, func(f *capture.Flow) {
			r.mu.Lock()
			r.flows = append(r.flows, *f)
			r.mu.Unlock()
		})
	}()
	return r
}

// packets is the number of packets read so far over all interfaces.
func (r *liveRun) packets() (n uint64) {
	for _, s := range r.l.Stats() {
		n += s.Packets
	}
	return n
}

// stop cancels the capture once it has read want packets and returns its error.
func (r *liveRun) stop(t *testing.T, want uint64) {
	t.Helper()
	livetest.WaitFor(t, "the capture to read every packet", func() bool { return r.packets() >= want })
	time.Sleep(50 * time.Millisecond) // a duplicate would show up now
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func total(fs []capture.Flow) (n uint64) {
	for _, f := range fs {
		n += f.Packets[0] + f.Packets[1]
	}
	return n
}

// TestLiveLoopback captures known TCP and UDP traffic on lo in a network namespace of
// its own and checks that every packet is seen exactly once (lo shows each packet to
// a packet socket twice, leaving and arriving), and the flows' ends, states and counts.
func TestLiveLoopback(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	before := livetest.RxPackets(t)
	r := startLive(t, capture.LiveOptions{Interfaces: []string{"lo"}, Log: zerolog.Nop()}, capture.Options{Workers: 2, Log: zerolog.Nop()})
	tr := livetest.Send(t, 3, 4, 5)
	sent := livetest.RxPackets(t) - before
	r.stop(t, sent)

	if got := r.packets(); got != sent {
		t.Errorf("capture read %d packets, lo received %d: duplicates or losses", got, sent)
	}
	if got := total(r.flows); got != sent {
		t.Errorf("flows hold %d packets, lo received %d", got, sent)
	}
	if len(r.intervals) != 1 {
		t.Fatalf("%d interval results, want 1 (no --every)", len(r.intervals))
	}
	in := r.intervals[0].Inputs[0]
	if in.Path != "lo" || in.Format != "live" || in.Packets != sent || in.Decoded != sent || in.KernelReceived != sent || in.KernelDropped != 0 {
		t.Errorf("input stats %+v; want path lo, format live, %d packets decoded, received by the kernel, none dropped", in, sent)
	}
	if r.intervals[0].Flows != uint64(len(r.flows)) {
		t.Errorf("interval says %d flows, %d emitted", r.intervals[0].Flows, len(r.flows))
	}
	byClient := map[netip.AddrPort]capture.Flow{}
	for _, f := range r.flows {
		byClient[f.Client] = f
	}
	for _, c := range tr.TCP {
		f, ok := byClient[c.Client]
		if !ok {
			t.Errorf("no flow from TCP client %s", c.Client)
			continue
		}
		if f.Server != c.Server || f.State != capture.SF || f.Direction != capture.DirSYN || f.End != capture.EndInput {
			t.Errorf("TCP flow %s → %s state %s direction %s end %s; want → %s SF syn end-of-input", f.Client, f.Server, f.State, f.Direction, f.End, c.Server)
		}
		// SYN, 4 requests, FIN, and ACKs: at least 6 packets each way, 4×100 bytes of data.
		if f.Packets[0] < 6 || f.Packets[1] < 6 || f.Bytes[0] < 400+6*54 {
			t.Errorf("TCP flow %s: packets %v bytes %v, too few", c.Client, f.Packets, f.Bytes)
		}
	}
	u, ok := byClient[tr.UDPClient]
	if !ok {
		t.Fatalf("no flow from UDP client %s", tr.UDPClient)
	}
	if u.Server != tr.UDPServer || u.Proto != capture.ProtoUDP || u.State != capture.SF || u.Packets != [2]uint64{5, 5} {
		t.Errorf("UDP flow %s → %s state %s packets %v; want → %s SF [5 5]", u.Client, u.Server, u.State, u.Packets, tr.UDPServer)
	}
	// 14 (Ethernet) + 40 (IPv6) + 8 (UDP) + 50 bytes of data per datagram.
	if u.Bytes != [2]uint64{5 * 112, 5 * 112} {
		t.Errorf("UDP flow bytes %v, want [560 560]", u.Bytes)
	}
	if len(r.flows) != len(tr.TCP)+1 {
		t.Errorf("%d flows, want %d", len(r.flows), len(tr.TCP)+1)
	}
}

// TestLiveKernelFilter checks that the compiled filter runs in the kernel: only the
// UDP packets reach the ring and the kernel's own counter counts only them. It also
// opens "any" in promiscuous mode.
func TestLiveKernelFilter(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	f, err := filter.Parse("udp")
	if err != nil {
		t.Fatal(err)
	}
	// "any" is every interface that is up: only lo in this namespace. Promiscuous mode
	// changes nothing on loopback but must be accepted.
	lo := capture.LiveOptions{Interfaces: []string{"any"}, Promisc: true, Log: zerolog.Nop(), FilterExpr: "udp",
		KernelFilter: func(lt uint16, snap uint32) ([]bpf.Instruction, error) { return f.Compile(lt, snap) }}
	r := startLive(t, lo, capture.Options{Workers: 1, Log: zerolog.Nop()})
	if ifs := r.l.Interfaces(); len(ifs) != 1 || ifs[0].Name != "lo" || !ifs[0].KernelFilter || !ifs[0].Loopback || ifs[0].LinkType != capture.LinkEthernet {
		t.Fatalf("interfaces %+v; want lo, Ethernet, loopback, filter in the kernel", ifs)
	}
	livetest.Send(t, 2, 3, 7)
	r.stop(t, 14)
	if got := r.packets(); got != 14 {
		t.Errorf("read %d packets, want the 14 UDP datagrams", got)
	}
	in := r.intervals[0].Inputs[0]
	if in.Path != "any" || in.KernelReceived != 14 || in.Filtered != 0 {
		t.Errorf("input %q: kernel received %d, filtered in portclass %d; want any, 14 and 0", in.Path, in.KernelReceived, in.Filtered)
	}
	if len(r.flows) != 1 || r.flows[0].Proto != capture.ProtoUDP {
		t.Errorf("flows %+v, want the one UDP flow", r.flows)
	}
}

// TestLiveIntervals checks interval marks, status records and wall-clock expiry: a TCP
// connection that stays open across intervals gets "active" records whose counts add
// up with its final record to what was sent; a UDP flow idle past its timeout is
// emitted while no packet arrives; the intervals' packets add up to the capture's.
func TestLiveIntervals(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	dir := t.TempDir()
	pcapng := filepath.Join(dir, "live.pcapng")
	before := livetest.RxPackets(t)
	lo := capture.LiveOptions{Interfaces: []string{"lo"}, Log: zerolog.Nop(), Every: 300 * time.Millisecond, Tick: 50 * time.Millisecond, Write: pcapng}
	r := startLive(t, lo, capture.Options{Workers: 2, UDPTimeout: 200 * time.Millisecond, Log: zerolog.Nop()})

	conn := livetest.Open(t)
	livetest.Send(t, 0, 0, 2)
	// The UDP flow times out by the wall clock while only the TCP connection talks.
	// Tables sweep for expired flows once a second.
	for range 15 {
		conn.Exchange(t)
		time.Sleep(100 * time.Millisecond)
	}
	conn.Close(t)
	sent := livetest.RxPackets(t) - before
	r.stop(t, sent)

	r.mu.Lock()
	defer r.mu.Unlock()
	var tcp []capture.Flow
	var udpEnd capture.EndReason
	for _, f := range r.flows {
		switch f.Proto {
		case capture.ProtoTCP:
			tcp = append(tcp, f)
		case capture.ProtoUDP:
			udpEnd = f.End
		}
	}
	if udpEnd != capture.EndTimeout {
		t.Errorf("UDP flow ended by %q, want timeout (by the wall clock, while only TCP packets came)", udpEnd)
	}
	var active int
	var pk [2]uint64
	for i, f := range tcp {
		if f.Client != conn.Client || f.Server != conn.Server {
			t.Fatalf("TCP record %d is %s → %s, want %s → %s", i, f.Client, f.Server, conn.Client, conn.Server)
		}
		if f.End == capture.EndActive {
			active++
			if i == len(tcp)-1 {
				t.Error("the last TCP record is a status record")
			}
		}
		if i > 0 && f.First.Before(tcp[i-1].Last) {
			t.Errorf("record %d starts at %v, before the previous one ends (%v)", i, f.First, tcp[i-1].Last)
		}
		pk[0] += f.Packets[0]
		pk[1] += f.Packets[1]
	}
	if active < 3 {
		t.Errorf("%d status records over 1.5 s with 300 ms intervals, want at least 3", active)
	}
	if last := tcp[len(tcp)-1]; last.State != capture.SF || last.End != capture.EndInput {
		t.Errorf("last TCP record state %s end %s, want SF end-of-input", last.State, last.End)
	}
	if pk[0] < 15+3 || pk[1] < 15+2 {
		t.Errorf("TCP records add up to %v packets, want at least 15 requests and responses plus the handshake", pk)
	}
	if len(r.intervals) < 3 {
		t.Fatalf("%d intervals, want at least 3", len(r.intervals))
	}
	var inPk, flows uint64
	for _, res := range r.intervals {
		inPk += res.Inputs[0].Packets
		flows += res.Flows
	}
	if inPk != sent || total(r.flows) != sent || flows != uint64(len(r.flows)) {
		t.Errorf("intervals hold %d packets and %d records, flows %d packets; want %d packets and %d records", inPk, flows, total(r.flows), sent, len(r.flows))
	}

	// The pcapng file holds the same packets: analysing it gives the same totals.
	var fromFile []capture.Flow
	res, err := capture.Run(context.Background(), []string{pcapng}, capture.Options{Workers: 1, Log: zerolog.Nop()},
		func(f *capture.Flow) { fromFile = append(fromFile, *f) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Inputs[0].Packets != sent || res.Inputs[0].Format != "pcapng" || total(fromFile) != sent {
		t.Errorf("--write file: %d packets (%s), flows %d; want %d", res.Inputs[0].Packets, res.Inputs[0].Format, total(fromFile), sent)
	}
}

// TestLiveErrors checks the errors that come before any capture.
func TestLiveErrors(t *testing.T) {
	_, err := capture.OpenLive(capture.LiveOptions{Interfaces: []string{"no-such-if0"}})
	var ue *capture.UnknownInterfaceError
	if !errors.As(err, &ue) || len(ue.Have) == 0 {
		t.Fatalf("unknown interface: %v, want an UnknownInterfaceError listing the interfaces", err)
	}
	t.Log(err)
	pe := &capture.PermissionError{Interface: "eth0", Err: os.ErrPermission}
	exe, _ := os.Executable()
	for _, want := range []string{"CAP_NET_RAW", "CAP_NET_ADMIN", "setcap cap_net_raw,cap_net_admin=eip " + exe} {
		if !strings.Contains(pe.Error(), want) {
			t.Errorf("permission error %q does not name %q", pe.Error(), want)
		}
	}
}

// TestLiveAnyNewInterface brings an interface up while -i any captures: the capture
// opens it too, its packets are counted, kept by --write (a second interface
// description in the middle of the file) and make their flow.
func TestLiveAnyNewInterface(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	defer func(d time.Duration) { *capture.LiveWatchEvery = d }(*capture.LiveWatchEvery)
	*capture.LiveWatchEvery = 50 * time.Millisecond
	pcapng := filepath.Join(t.TempDir(), "any.pcapng")
	lo := capture.LiveOptions{Interfaces: []string{"any"}, Log: zerolog.Nop(), Write: pcapng}
	r := startLive(t, lo, capture.Options{Workers: 1, Log: zerolog.Nop()})
	if ifs := r.l.Interfaces(); len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Fatalf("interfaces at start %+v, want lo", ifs)
	}
	// A tun interface: what is sent to 198.51.100.2 leaves through it (packet sockets
	// see it, "cooked": link type RAW) and waits, unread, on the descriptor that holds
	// the interface; nothing reaches any other namespace. No IPv6 on it, to keep the
	// kernel's own traffic (DAD, MLD) out.
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no tun device: %v", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("pc0")
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		t.Skipf("TUNSETIFF: %v", err)
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/pc0/disable_ipv6", []byte("1"), 0)
	for _, args := range [][]string{
		{"addr", "add", "198.51.100.1/24", "dev", "pc0"},
		{"link", "set", "pc0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	livetest.WaitFor(t, "the capture to open pc0", func() bool {
		ifs := r.l.Interfaces()
		return len(ifs) == 2 && ifs[1].Name == "pc0"
	})
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(198, 51, 100, 2), Port: 4000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 5
	for range n {
		if _, err := c.Write(make([]byte, 40)); err != nil {
			t.Fatal(err)
		}
	}
	pc0 := func() (s capture.InterfaceStats) {
		for _, s = range r.l.Stats() {
			if s.Name == "pc0" {
				return s
			}
		}
		return capture.InterfaceStats{}
	}
	livetest.WaitFor(t, "the capture to read pc0's packets", func() bool { return pc0().Packets >= n })
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	server := netip.MustParseAddrPort("198.51.100.2:4000")
	find := func(fs []capture.Flow) *capture.Flow {
		for i := range fs {
			if fs[i].Proto == capture.ProtoUDP && (fs[i].Server == server || fs[i].Client == server) {
				return &fs[i]
			}
		}
		return nil
	}
	if f := find(r.flows); f == nil || f.Packets[0]+f.Packets[1] != n {
		t.Errorf("the UDP flow to %v: %+v, want %d packets", server, f, n)
	}
	// The file holds both interfaces' packets: read it back.
	var written []capture.Flow
	res, err := capture.Run(context.Background(), []string{pcapng}, capture.Options{Workers: 1, Log: zerolog.Nop()},
		func(f *capture.Flow) { written = append(written, *f) })
	if err != nil {
		t.Fatalf("reading back --write: %v", err)
	}
	if f := find(written); f == nil || f.Packets[0]+f.Packets[1] != n {
		t.Errorf("--write: the UDP flow to %v: %+v, want %d packets (inputs %+v)", server, f, n, res.Inputs)
	}
	if lt := res.Inputs[0].LinkTypes; lt["RAW"] < n {
		t.Errorf("--write: link types %v", lt)
	}
}
