//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Live is a live capture on one or more interfaces: an AF_PACKET socket with a
// TPACKET_V3 ring per interface, through gopacket's pure-Go afpacket (no cgo, no
// libpcap). OpenLive opens the sockets (the part that needs privileges); Run feeds
// their packets through the same pipeline as files. A Live is used by one goroutine,
// except Stats and Interfaces, which are safe for concurrent use.
//
// What the kernel does for portclass, as libpcap does for tcpdump:
//   - the --filter program (filter.Compile) runs in the kernel, and also cuts packets
//     to the snaplen (its accept value is the snaplen), so rejected packets never
//     reach the ring and the kernel's counters count only accepted ones;
//   - on loopback interfaces the kernel shows every packet twice, once leaving
//     (PACKET_OUTGOING) and once arriving; libpcap drops the outgoing copy, and so does
//     a two-instruction prefix of the kernel program (ld #type; jeq #4 → reject);
//   - interfaces whose frames are not Ethernet (tun, WireGuard, PPP, IP tunnels, ...)
//     are captured "cooked" (SOCK_DGRAM) from the IP header on (link type RAW), with
//     a prefix that keeps IPv4 and IPv6 only.
type Live struct {
	o    LiveOptions
	ifs  []*liveIface // appended to by the goroutine running the pipeline, under mu
	name string
	any  bool // -i any: interfaces that come up later are opened too (see watch)

	mu     sync.RWMutex // guards closed and ifs against Stats, Interfaces and Close
	closed bool

	// reader goroutines → pipeline
	batches chan *liveBatch
	free    chan *liveBatch
	warnCh  chan string
	added   chan *liveIface // watch → the pipeline's goroutine (nil without -i any)
	stop    chan struct{}
	stopAt  atomic.Int64 // Unix ns after which readers stop; 0 while running
	wg      sync.WaitGroup
	running bool

	// owned by the goroutine running the pipeline
	cur   *liveBatch
	pos   int
	drain bool // stopping: the batches left, then io.EOF
	count uint64
	done  <-chan struct{}
	tick  *time.Ticker
	mark  *time.Timer
	markC <-chan time.Time
	endC  <-chan time.Time
	w     *pcapngWriter
	warns []string
}

type liveIface struct {
	LiveInterface
	tp       *afpacket.TPacket
	attached int64 // Unix ns when the filter was in place; packets stamped before are dropped
	packets  atomic.Uint64
	bytes    atomic.Uint64
	recv     atomic.Uint64 // kernel counters since open, as last read
	drop     atomic.Uint64
	lastRecv uint64 // at the last kernelStats call
	lastDrop uint64
}

// liveRec is one packet in a batch: its bytes are batch.data[off:off+n].
type liveRec struct {
	off, n uint32
	wire   uint32
	iface  uint16
	ts     int64
}

// liveBatch carries copied packets from an interface's reader goroutine to the
// pipeline, so that the ring's blocks go back to the kernel at once.
type liveBatch struct {
	data []byte
	recs []liveRec
}

const (
	liveBatchRecs   = 256
	liveBatchesPer  = 8                     // batches in flight per interface
	livePollTimeout = 50 * time.Millisecond // readers notice a stop within this
	liveMaxHold     = int64(100 * time.Millisecond)
	liveBlockSize   = 256 << 10
	// liveMaxIfaces bounds the interfaces of one capture (-i any adds those that come
	// up while it runs).
	liveMaxIfaces = 256
	// liveDrain is how long readers go on reading after a stop: longer than the
	// kernel's block timeout (afpacket's 64 ms), so that the packets of the block being
	// filled when the stop came are handed over and read too.
	liveDrain = 150 * time.Millisecond
)

// OpenLive opens a packet socket on each interface of o, attaches the kernel filter
// and, with o.Promisc, sets promiscuous mode. It fails with *UnknownInterfaceError
// for an interface that does not exist and with *PermissionError when the process
// lacks CAP_NET_RAW (or CAP_NET_ADMIN for promiscuous mode); nothing stays open then.
func OpenLive(o LiveOptions) (*Live, error) {
	o.defaults()
	if len(o.Interfaces) == 0 {
		return nil, errors.New("capture: no interface given (-i IFACE, or -i any)")
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("capture: list interfaces: %w", err)
	}
	var want []net.Interface
	seen := map[int]bool{}
	for _, name := range o.Interfaces {
		found := false
		for _, ni := range all {
			if (name == "any" && ni.Flags&net.FlagUp != 0) || ni.Name == name {
				found = true
				if !seen[ni.Index] {
					seen[ni.Index] = true
					want = append(want, ni)
				}
			}
		}
		if !found && name != "any" {
			have := make([]string, len(all))
			for i, ni := range all {
				have[i] = ni.Name
			}
			return nil, &UnknownInterfaceError{Name: name, Have: have}
		}
	}
	if len(want) == 0 {
		return nil, errors.New("capture: -i any: no interface is up")
	}
	l := &Live{o: o, name: liveInputName(o.Interfaces), any: slices.Contains(o.Interfaces, "any")}
	for _, ni := range want {
		ifc, err := l.openIface(ni)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.ifs = append(l.ifs, ifc)
		o.Log.Debug().Str("interface", ni.Name).Int("ifindex", ni.Index).Str("link_type", LinkTypeName(ifc.LinkType)).
			Bool("kernel_filter", ifc.KernelFilter).Msg("interface opened")
	}
	return l, nil
}

// liveWatchEvery is how often -i any looks for interfaces that came up (a variable
// for tests).
var liveWatchEvery = time.Second

// Kernel program prefixes (see Live).
var (
	rejectOutgoing = []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
	}
	onlyIP = []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtProto},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IP, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IPV6, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}
)

func (l *Live) openIface(ni net.Interface) (*liveIface, error) {
	o := &l.o
	hatype, err := hardwareType(ni.Name)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", ni.Name, err)
	}
	ifc := &liveIface{LiveInterface: LiveInterface{Name: ni.Name, Index: ni.Index, LinkType: LinkEthernet, Loopback: ni.Flags&net.FlagLoopback != 0}}
	sock := afpacket.SocketRaw
	var prog []bpf.Instruction
	if hatype != unix.ARPHRD_ETHER && hatype != unix.ARPHRD_LOOPBACK {
		sock, ifc.LinkType = afpacket.SocketDgram, LinkRaw
		prog = append(prog, onlyIP...)
	}
	if ifc.Loopback {
		prog = append(prog, rejectOutgoing...)
	}
	snap := uint32(o.Snaplen)
	user := []bpf.Instruction{bpf.RetConstant{Val: snap}}
	if o.KernelFilter != nil {
		p, err := o.KernelFilter(ifc.LinkType, snap)
		if err != nil {
			o.Log.Warn().Str("interface", ni.Name).Err(err).Msg("the filter cannot run in the kernel here; portclass applies it to every packet instead")
		} else {
			user, ifc.KernelFilter = p, true
		}
	}
	raw, err := bpf.Assemble(append(prog, user...))
	if err != nil {
		return nil, fmt.Errorf("capture on %s: assemble filter: %w", ni.Name, err)
	}
	block := liveBlockSize
	for block < o.Snaplen+4096 { // a packet must fit in a block
		block *= 2
	}
	blocks := max(2, o.BufferSize/block)
	tp, err := afpacket.NewTPacket(afpacket.OptInterface(ni.Name), sock, afpacket.TPacketVersion3,
		afpacket.OptBlockSize(block), afpacket.OptNumBlocks(blocks), afpacket.OptFrameSize(4096),
		afpacket.OptPollTimeout(livePollTimeout), afpacket.OptAddVLANHeader(true))
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, &PermissionError{Interface: ni.Name, Err: err}
		}
		return nil, fmt.Errorf("capture on %s: %w", ni.Name, err)
	}
	ifc.tp = tp
	// afpacket binds the socket before the filter can be attached: packets that came
	// in between are in the ring unfiltered. They are older than the filter, so they
	// are recognised by time and dropped; the kernel counters restart here too.
	if err := tp.SetBPF(raw); err != nil {
		tp.Close()
		return nil, fmt.Errorf("capture on %s: attach filter (%d instructions): %w", ni.Name, len(raw), err)
	}
	ifc.attached = time.Now().UnixNano()
	if err := tp.InitSocketStats(); err != nil {
		tp.Close()
		return nil, fmt.Errorf("capture on %s: statistics: %w", ni.Name, err)
	}
	if o.Promisc {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			if errors.Is(err, os.ErrPermission) {
				return nil, &PermissionError{Interface: ni.Name, Promisc: true, Err: err}
			}
			return nil, fmt.Errorf("capture on %s: promiscuous mode: %w", ni.Name, err)
		}
	}
	return ifc, nil
}

// hardwareType returns the ARPHRD_* type of an interface (SIOCGIFHWADDR).
func hardwareType(name string) (uint16, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("hardware type: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("hardware type: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("hardware type: %w", err)
	}
	return ifr.Uint16(), nil // sa_family of ifr_hwaddr
}

// Interfaces describes the interfaces opened, in the order of their pcapng interface ids.
func (l *Live) Interfaces() []LiveInterface {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]LiveInterface, len(l.ifs))
	for i, ifc := range l.ifs {
		out[i] = ifc.LiveInterface
	}
	return out
}

// Stats returns the counters of every interface since the capture was opened.
func (l *Live) Stats() []InterfaceStats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]InterfaceStats, 0, len(l.ifs))
	for _, ifc := range l.ifs {
		if !l.closed {
			ifc.readKernel()
		}
		s := InterfaceStats{Name: ifc.Name, Packets: ifc.packets.Load(), Bytes: ifc.bytes.Load(),
			KernelReceived: ifc.recv.Load(), KernelDropped: ifc.drop.Load()}
		// An interface that went away and came back (-i any) is one entry.
		if i := slices.IndexFunc(out, func(o InterfaceStats) bool { return o.Name == s.Name }); i >= 0 {
			out[i].Packets += s.Packets
			out[i].Bytes += s.Bytes
			out[i].KernelReceived += s.KernelReceived
			out[i].KernelDropped += s.KernelDropped
			continue
		}
		out = append(out, s)
	}
	return out
}

// readKernel updates the interface's kernel counters (afpacket accumulates them:
// reading the socket's counters resets them in the kernel).
func (ifc *liveIface) readKernel() {
	if _, s, err := ifc.tp.SocketStats(); err == nil {
		ifc.recv.Store(uint64(s.Packets()))
		ifc.drop.Store(uint64(s.Drops()))
	}
}

// Run captures until ctx is cancelled, o.Duration passes or o.Count packets were read,
// passing the packets through the pipeline of Run (decode, filter, sharded flow
// tables) and emitting flows as Run does. Options.Interval receives the statistics of
// every interval (LiveOptions.Every) and of the whole capture's last part; its input
// is named after the interfaces ("eth0,lo"). When a kernel filter is attached,
// Options.Filter is only used for link types whose filter could not run in the kernel.
// Run returns nil when the capture stopped for any of those reasons.
func (l *Live) Run(ctx context.Context, o Options, emit func(*Flow)) error {
	if l.running {
		return errors.New("capture: Live.Run called twice")
	}
	if err := o.check(); err != nil {
		return err
	}
	l.running = true
	if l.o.Write != "" {
		w, err := newPcapngWriter(l.o.Write, l.o.WriteMaxSize, l.o.WriteMaxFiles, l.Interfaces(), l.o.Snaplen, l.o.FilterExpr)
		if err != nil {
			return err
		}
		l.w = w
	}
	if o.Filter != nil {
		user, inKernel := o.Filter, map[uint16]bool{}
		for _, ifc := range l.ifs {
			inKernel[ifc.LinkType] = ifc.KernelFilter
		}
		o.Filter = func(lt uint16) (MatchFunc, error) {
			if inKernel[lt] {
				return func([]byte, int) bool { return true }, nil
			}
			return user(lt)
		}
	}
	l.start(ctx)
	o.defaults()
	st := InputStats{Path: l.name, Format: "live", Size: -1, LinkTypes: map[string]uint64{}}
	// ctx ends the capture through next, which first passes on the packets already
	// read from the rings, so the pipeline itself runs to the end.
	_, _, _, err := runSource(context.Background(), l, st, l.name, &o, emit)
	l.stopReaders()
	if l.w != nil {
		if cerr := l.w.closeFile(); cerr != nil && err == nil {
			err = cerr
		}
		l.w = nil
	}
	return err
}

func (l *Live) start(ctx context.Context) {
	// Room in both channels for every batch there may ever be (see addIface).
	n := max(len(l.ifs), liveMaxIfaces) * liveBatchesPer
	l.batches = make(chan *liveBatch, n)
	l.free = make(chan *liveBatch, n)
	for range len(l.ifs) * liveBatchesPer {
		l.free <- l.newBatch()
	}
	l.warnCh = make(chan string, 16)
	l.stop = make(chan struct{})
	l.done = ctx.Done()
	l.tick = time.NewTicker(l.o.Tick)
	if l.o.Every > 0 {
		now := time.Now()
		l.mark = time.NewTimer(now.Truncate(l.o.Every).Add(l.o.Every).Sub(now))
		l.markC = l.mark.C
	}
	if l.o.Duration > 0 {
		l.endC = time.After(l.o.Duration)
	}
	for i, ifc := range l.ifs {
		l.wg.Add(1)
		go l.reader(i, ifc)
	}
	if l.any {
		l.added = make(chan *liveIface)
		known := map[int]bool{}
		for _, ifc := range l.ifs {
			known[ifc.Index] = true
		}
		l.wg.Add(1)
		go l.watch(known)
	}
}

func (l *Live) newBatch() *liveBatch {
	return &liveBatch{data: make([]byte, 0, max(64<<10, 16*l.o.Snaplen)), recs: make([]liveRec, 0, liveBatchRecs)}
}

// watch opens, for -i any, every interface that comes up after the capture started
// (checked every liveWatchEvery) and hands it to the pipeline's goroutine (addIface).
// known holds the indexes of the interfaces opened; an interface that failed to open
// is tried again at the next checks, and reported once.
func (l *Live) watch(known map[int]bool) {
	defer l.wg.Done()
	t := time.NewTicker(liveWatchEvery)
	defer t.Stop()
	failed := map[int]bool{}
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		all, err := net.Interfaces()
		if err != nil {
			continue
		}
		for _, ni := range all {
			if ni.Flags&net.FlagUp == 0 || known[ni.Index] {
				continue
			}
			ifc, err := l.openIface(ni)
			if err != nil {
				if !failed[ni.Index] {
					failed[ni.Index] = true
					l.warnAsync(fmt.Sprintf("-i any: interface %s came up but cannot be captured: %v", ni.Name, err))
				}
				continue
			}
			known[ni.Index] = true
			select {
			case l.added <- ifc:
			case <-l.stop:
				ifc.tp.Close()
				return
			}
		}
	}
}

// addIface starts capturing on ifc, which watch opened. It runs on the pipeline's
// goroutine, the only one that appends to l.ifs.
func (l *Live) addIface(ifc *liveIface) {
	if len(l.ifs) >= liveMaxIfaces {
		ifc.tp.Close()
		l.warn(fmt.Sprintf("-i any: interface %s came up, but %d interfaces are captured already: not captured", ifc.Name, liveMaxIfaces))
		return
	}
	l.mu.Lock()
	l.ifs = append(l.ifs, ifc)
	l.mu.Unlock()
	for range liveBatchesPer {
		l.free <- l.newBatch() // never blocks: free has room for liveMaxIfaces interfaces
	}
	if l.w != nil {
		if err := l.w.addInterface(ifc.LiveInterface); err != nil {
			l.warn(err.Error() + "; packets are no longer written")
			_ = l.w.closeFile()
			l.w = nil
		}
	}
	l.wg.Add(1)
	go l.reader(len(l.ifs)-1, ifc)
	l.o.Log.Info().Str("interface", ifc.Name).Int("ifindex", ifc.Index).Str("link_type", LinkTypeName(ifc.LinkType)).
		Bool("kernel_filter", ifc.KernelFilter).Msg("interface came up: capturing on it too")
}

// warnAsync passes a warning from a goroutine other than the pipeline's.
func (l *Live) warnAsync(msg string) {
	select {
	case l.warnCh <- msg:
	default:
		l.o.Log.Warn().Str("input", l.name).Msg(msg)
	}
}

func (l *Live) stopReaders() {
	if !l.stopAt.CompareAndSwap(0, time.Now().Add(liveDrain).UnixNano()) {
		return
	}
	close(l.stop) // releases readers waiting for a free batch
	l.wg.Wait()
	l.tick.Stop()
	if l.mark != nil {
		l.mark.Stop()
	}
}

// reader copies the packets of interface ifc, number ix, from its ring into batches.
func (l *Live) reader(ix int, ifc *liveIface) {
	defer l.wg.Done()
	var b *liveBatch
	var first int64 // time of the batch's first packet
	send := func() bool {
		l.batches <- b // never blocks: batches has room for every batch
		b = nil
		return true
	}
	defer func() { // a stop passes on what was read
		if b != nil && len(b.recs) > 0 {
			send()
		}
	}()
	for {
		if at := l.stopAt.Load(); at != 0 && time.Now().UnixNano() > at {
			return
		}
		data, ci, err := ifc.tp.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, afpacket.ErrTimeout) {
				if b != nil && len(b.recs) > 0 && !send() {
					return
				}
				continue
			}
			l.warnAsync(fmt.Sprintf("interface %s: read error: %v; capture on it stopped", ifc.Name, err))
			return
		}
		ts := ci.Timestamp.UnixNano()
		if ts < ifc.attached {
			continue
		}
		ifc.packets.Add(1)
		ifc.bytes.Add(uint64(ci.Length))
		if b != nil && (len(b.recs) == cap(b.recs) || len(b.data)+len(data) > cap(b.data)) && !send() {
			return
		}
		if b == nil {
			select {
			case b = <-l.free:
			case <-l.stop:
				return
			}
			b.recs, b.data, first = b.recs[:0], b.data[:0], ts
		}
		b.recs = append(b.recs, liveRec{off: uint32(len(b.data)), n: uint32(len(data)), wire: uint32(ci.Length), iface: uint16(ix), ts: ts})
		b.data = append(b.data, data...)
		// A batch waits for more packets at most liveMaxHold (by packet time).
		if (len(b.recs) == cap(b.recs) || ts-first > liveMaxHold) && !send() {
			return
		}
	}
}

// next implements packetReader: the next packet of any interface, or a tick or
// interval mark; io.EOF when the capture ends.
func (l *Live) next() (record, error) {
	for {
		if l.o.Count > 0 && l.count >= l.o.Count {
			return record{}, io.EOF
		}
		if l.cur != nil {
			if l.pos < len(l.cur.recs) {
				r := &l.cur.recs[l.pos]
				l.pos++
				l.count++
				ifc := l.ifs[r.iface]
				rec := record{Data: l.cur.data[r.off : r.off+r.n], TS: r.ts, WireLen: int(r.wire), LinkType: ifc.LinkType}
				if l.w != nil {
					if err := l.w.write(rec, int(r.iface)); err != nil {
						l.warn(err.Error() + "; packets are no longer written")
						_ = l.w.closeFile()
						l.w = nil
					}
				}
				return rec, nil
			}
			l.free <- l.cur // never blocks: free has room for every batch
			l.cur = nil
		}
		if l.drain {
			select {
			case b := <-l.batches:
				l.cur, l.pos = b, 0
				continue
			default:
				return record{}, io.EOF
			}
		}
		select {
		case b := <-l.batches:
			l.cur, l.pos = b, 0
		case now := <-l.tick.C:
			return record{Tick: kindTick, TS: now.UnixNano()}, nil
		case now := <-l.markC:
			l.mark.Reset(now.Truncate(l.o.Every).Add(l.o.Every).Sub(time.Now()))
			return record{Tick: kindMark, TS: now.UnixNano()}, nil
		case <-l.endC:
			l.stopReaders()
			l.drain = true
		case <-l.done:
			l.stopReaders()
			l.drain = true
		case msg := <-l.warnCh:
			l.warn(msg)
		case ifc := <-l.added:
			l.addIface(ifc)
		}
	}
}

func (l *Live) warn(msg string) {
	l.warns = append(l.warns, msg)
	l.o.Log.Warn().Str("input", l.name).Msg(msg)
}

func (l *Live) format() string { return "live" }

// warnings returns the warnings since the previous call (one interval's).
func (l *Live) warnings() []string {
	w := l.warns
	l.warns = nil
	return w
}

// kernelStats implements kernelCounter: the kernel's counters over all interfaces
// since the previous call.
func (l *Live) kernelStats() (received, dropped uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, ifc := range l.ifs {
		if !l.closed {
			ifc.readKernel()
		}
		r, d := ifc.recv.Load(), ifc.drop.Load()
		received += r - ifc.lastRecv
		dropped += d - ifc.lastDrop
		ifc.lastRecv, ifc.lastDrop = r, d
	}
	return received, dropped
}

// Close stops the capture and closes the sockets. It is safe to call more than once.
func (l *Live) Close() error {
	if l.running {
		l.stopReaders()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for _, ifc := range l.ifs {
		ifc.tp.Close()
	}
	return nil
}
