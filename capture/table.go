package capture

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/portclass/portclass/capture/appid"
)

// key identifies a flow in both directions; lo is the (address, port) that sorts
// first. tun is the handle of the flow's tunnel path in its table's pathTable (0: no
// tunnel): the same inner 5-tuple in two tunnels is two flows. The table finds entries
// by key through its flowIndex.
type key struct {
	lo, hi         [16]byte
	loPort, hiPort uint16
	vlan           uint16
	tun            uint16
	proto          uint8
}

func less(a [16]byte, ap uint16, b [16]byte, bp uint16) bool {
	ah, bh := be.Uint64(a[:8]), be.Uint64(b[:8])
	if ah != bh {
		return ah < bh
	}
	al, bl := be.Uint64(a[8:]), be.Uint64(b[8:])
	if al != bl {
		return al < bl
	}
	return ap < bp
}

// makeKey returns the flow key of a packet and the side (0 = lo, 1 = hi) that sent it.
func makeKey(proto uint8, src, dst [16]byte, sport, dport, vlan, tun uint16) (key, uint8) {
	if less(dst, dport, src, sport) {
		return key{lo: dst, hi: src, loPort: dport, hiPort: sport, vlan: vlan, tun: tun, proto: proto}, 1
	}
	return key{lo: src, hi: dst, loPort: sport, hiPort: dport, vlan: vlan, tun: tun, proto: proto}, 0
}

// equal is k == o, compared as words: == on the struct calls memequal for its two
// 16-byte arrays, which showed in profiles of captures with many flows.
func (k *key) equal(o *key) bool {
	ne := binary.NativeEndian
	return ne.Uint64(k.lo[:8]) == ne.Uint64(o.lo[:8]) && ne.Uint64(k.lo[8:]) == ne.Uint64(o.lo[8:]) &&
		ne.Uint64(k.hi[:8]) == ne.Uint64(o.hi[:8]) && ne.Uint64(k.hi[8:]) == ne.Uint64(o.hi[8:]) &&
		k.loPort == o.loPort && k.hiPort == o.hiPort && k.vlan == o.vlan && k.tun == o.tun && k.proto == o.proto
}

// hash is a cheap, well-mixed hash of a key, used to pick a worker; it is symmetric
// because keys are. It leaves the tunnel out: path handles are per table, and a flow
// must go to the same worker whatever table looks at it.
func (k *key) hash() uint64 {
	h := be.Uint64(k.lo[8:])*0x9e3779b97f4a7c15 ^ be.Uint64(k.hi[8:])*0xc2b2ae3d27d4eb4f
	h ^= be.Uint64(k.lo[:8]) ^ be.Uint64(k.hi[:8])<<1
	h ^= uint64(k.loPort)<<48 | uint64(k.hiPort)<<32 | uint64(k.vlan)<<16 | uint64(k.proto)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 29
	return h
}

func addrFrom16(b [16]byte) netip.Addr { return netip.AddrFrom16(b).Unmap() }

// TCP endpoint states, after Zeek's TCP_Endpoint states.
const (
	epInactive uint8 = iota
	epSynSent
	epSynAckSent
	epPartial
	epEstablished
	epClosed
	epReset
)

// Per-side event bits of a TCP flow.
const (
	evFirstSYN uint8 = 1 << iota // the side's first packet was a pure SYN
	evACK                        // sent an ACK without SYN
	evFIN
	evSYNACK
	evData
)

// timeout classes: one LRU list each.
const (
	lruTCP = iota
	lruUDP
	lruICMP
	lruOther
	nLRU
)

func lruOf(proto uint8) int {
	switch proto {
	case ProtoTCP:
		return lruTCP
	case ProtoUDP:
		return lruUDP
	case ProtoICMP, ProtoICMPv6:
		return lruICMP
	}
	return lruOther
}

// entry is a flow in the table. Per-side arrays are indexed by key side (0 = lo).
// The small fields follow the key (42 bytes) to fill the padding before first: an
// entry is 128 bytes.
type entry struct {
	key    key
	flags  [2]uint8
	ep     [2]uint8
	ev     [2]uint8
	client uint8
	dir    Direction
	// icmpType and icmpCode are the type and code of an ICMP flow's first message.
	// TCP and UDP flows have none and keep the state of their application
	// identification there instead: icmpCode appStop bits, icmpType the
	// appid.Protocol once done (see app.go).
	icmpType uint8
	icmpCode uint8
	inUse    bool
	sent     uint8 // bit s: side s sent packets counted in an earlier status record
	// tunSrc[s], for a flow in a tunnel: tunSeen and the orientation in the path
	// (pkt.tunSwap) of the first packet side s sent, which gives the outer client and
	// server of every layer (see record)
	tunSrc      [2]uint8
	first, last int64
	pkts, bytes [2]uint64
	x           *extra // rare parts (ICMP errors, application identification), nil for most flows
	prev, next  int32
	seq         uint64 // tag.at of the packet that set last: with last, the flow's place in its list
}

// tunSeen marks entry.tunSrc[s] as set.
const tunSeen = 0x80

type lru struct{ head, tail int32 }

// Defaults for TableOptions, as in Zeek: TCP idle 5 minutes, UDP and ICMP 1 minute.
const (
	DefaultTCPTimeout   = 5 * time.Minute
	DefaultUDPTimeout   = time.Minute
	DefaultICMPTimeout  = time.Minute
	DefaultOtherTimeout = time.Minute
)

// table is one flow table (one per worker). It is not safe for concurrent use.
type table struct {
	index     flowIndex // key → entry
	paths     pathTable // the tunnel paths of the keys
	chunks    [][]entry // the entries, 1<<entryChunkBits a chunk (see at)
	n         int32     // entries ever allocated (free ones included)
	free      []int32
	lists     [nLRU]lru
	timeout   [nLRU]int64
	maxFlows  int
	now       int64
	lastSweep int64
	input     string
	server    func(proto uint8, port uint16) bool
	emit      func(*Flow)
	evicted   uint64
	orphanErr uint64   // ICMP errors quoting a flow not in the table
	flow      Flow     // reused for emission
	extras    []*extra // pools (see app.go)
	metas     []*appid.Meta
	seq       uint64 // tag.at of the packet being added (see tag)
	tag       tag    // the emission order of the flow being emitted, valid during emit
}

// tag orders flow emissions so that several workers, each with a part of the flows,
// together emit them in exactly the order one table would (see runParallel). A table
// emits flows at three moments, and the tag says which:
//
//   - sweeping before record r: at = r<<8, then the flow's place in its list (list,
//     last, seq: see place);
//   - adding the k-th packet record r gives the table (a record gives several with
//     ICMP quotes and IP fragments): at = r<<8 | (1+k), seq 0 for the flow the packet
//     ends (timeout, port reuse) and 1 for the one it evicts;
//   - at the end of the input (n records): at = n<<8 for the final sweep and
//     n<<8 | 255 for the flush, then as for sweeps.
//
// Record indexes stay below 2^56, so at never overflows.
type tag struct {
	at   uint64
	list uint8
	last int64
	seq  uint64
}

func (a tag) less(b tag) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.list != b.list {
		return a.list < b.list
	}
	if a.last != b.last {
		return a.last < b.last
	}
	return a.seq < b.seq
}

// atFlush is the phase of the final flush in tag.at.
const atFlush = 255

func newTable(o *Options, maxFlows int, emit func(*Flow)) *table {
	t := &table{maxFlows: maxFlows, server: o.ServerPort, emit: emit}
	t.timeout = [nLRU]int64{int64(o.TCPTimeout), int64(o.UDPTimeout), int64(o.ICMPTimeout), int64(o.OtherTimeout)}
	for i := range t.lists {
		t.lists[i] = lru{-1, -1}
	}
	return t
}

// entryChunkBits sizes the chunks the entries live in: the table grows by chunks
// instead of doubling one slice, so a table of many flows never copies its entries
// into fresh memory (whose page faults cost more than the copy on the VM of
// docs/performance.md), and no chunk moves.
const entryChunkBits = 10

// at returns entry i.
func (t *table) at(i int32) *entry {
	return &t.chunks[i>>entryChunkBits][i&(1<<entryChunkBits-1)]
}

func (t *table) unlink(i int32) {
	e := t.at(i)
	l := &t.lists[lruOf(e.key.proto)]
	if e.prev >= 0 {
		t.at(e.prev).next = e.next
	} else {
		l.head = e.next
	}
	if e.next >= 0 {
		t.at(e.next).prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

// maxPlaceWalk bounds how far place walks back from the tail of a list.
const maxPlaceWalk = 64

// place links unlinked entry i into its list, which is kept in order of last
// activity (e.last, then e.seq): after the entries active no later than it. That is
// the tail unless packet times went backwards, so the walk back from the tail is
// short; it stops after maxPlaceWalk entries, leaving the order approximate only for
// captures whose times jump back and forth among many flows.
//
// The order makes sweeps exact (a sweep stops at the first flow not idle long
// enough: every flow after it is more recent) and lets several workers, each with
// some of the flows, emit them in the order one table would.
func (t *table) place(i int32) {
	e := t.at(i)
	l := &t.lists[lruOf(e.key.proto)]
	after := l.tail
	for n := 0; after >= 0 && t.at(after).last > e.last && n < maxPlaceWalk; n++ {
		after = t.at(after).prev
	}
	e.prev = after
	if after >= 0 {
		e.next = t.at(after).next
		t.at(after).next = i
	} else {
		e.next = l.head
		l.head = i
	}
	if e.next >= 0 {
		t.at(e.next).prev = i
	} else {
		l.tail = i
	}
}

// add advances the table's clock to p's time, then adds p (a test helper: the
// pipeline advances the clock per record, see advance).
func (t *table) add(p *pkt) {
	t.advance(p.ts, t.seq>>8)
	t.addPkt(p)
}

// advance moves the table's clock to ts, the time of record rec, and sweeps when it
// moved by a second or more since the last sweep. The pipeline calls it for every
// record read, decoded or not, so that every worker sweeps at the same records.
func (t *table) advance(ts int64, rec uint64) {
	if ts > t.now {
		t.now = ts
		if t.now-t.lastSweep >= int64(time.Second) {
			t.sweep(rec << 8)
			t.lastSweep = t.now
		}
	}
}

// addPkt updates the table with one decoded packet; t.seq is its tag.at. Control
// records (kindTick, kindMark) are the stage's business: it advances the clock and
// calls status.
func (t *table) addPkt(p *pkt) {
	switch p.kind {
	case kindICMPQuote:
		t.annotate(p)
		return
	case kindTick, kindMark:
		return
	}
	k, side := makeKey(p.proto, p.src, p.dst, p.sport, p.dport, p.vlan, p.tun)
	t.addKey(p, k, side)
}

// addKey is addPkt for a flow packet whose key and side are known.
func (t *table) addKey(p *pkt, k key, side uint8) {
	h := t.index.hash(&k)
	idx, ok := t.index.find(t, &k, h)
	if ok {
		e := t.at(idx)
		switch {
		case p.ts-e.last > t.timeout[lruOf(k.proto)]:
			t.finish(idx, EndTimeout, tag{at: t.seq})
			ok = false
		case p.proto == ProtoTCP && p.tcpFlags&(FlagSYN|FlagACK|FlagRST) == FlagSYN && closed(e):
			t.finish(idx, EndReused, tag{at: t.seq})
			ok = false
		}
	}
	if !ok {
		if t.maxFlows > 0 && t.index.len() >= t.maxFlows {
			t.evictOldest()
		}
		idx = t.alloc(k, h, p, side)
	} else if e := t.at(idx); p.ts >= e.last {
		e.last, e.seq = p.ts, t.seq
		if t.lists[lruOf(k.proto)].tail != idx {
			t.unlink(idx)
			t.place(idx)
		}
	}
	e := t.at(idx)
	if p.ts < e.first {
		e.first = p.ts
	}
	if k.tun != pathNone && e.tunSrc[side] == 0 {
		e.tunSrc[side] = tunSeen | p.tunSwap
	}
	e.pkts[side]++
	e.bytes[side] += uint64(p.wire)
	switch p.proto {
	case ProtoTCP:
		if p.kind == kindFlow {
			e.tcp(side, p.tcpFlags, p.tcpPayload)
		}
		if len(p.payload) > 0 && e.icmpCode>>side&appStop == 0 && !p.fragFirst {
			t.identify(e, side, p.payload)
		}
	case ProtoUDP:
		if len(p.payload) > 0 && e.icmpCode>>side&appStop == 0 && !p.fragFirst {
			t.identify(e, side, p.payload)
		}
	case ProtoICMP, ProtoICMPv6:
		if e.dir != DirICMP {
			if req, rep := icmpRole(p.proto, p.icmpType); req {
				e.client, e.dir = side, DirICMP
			} else if rep {
				e.client, e.dir = 1-side, DirICMP
			}
		}
	}
}

// closed reports whether a TCP connection has ended (FIN both ways, or a RST), so
// that a new SYN on its 4-tuple starts a new connection.
func closed(e *entry) bool {
	return (e.ep[0] == epClosed && e.ep[1] == epClosed) || e.ep[0] == epReset || e.ep[1] == epReset
}

// icmpRole says whether an ICMP/ICMPv6 type is a request (its sender is the client)
// or a reply (its receiver is the client).
func icmpRole(proto, typ uint8) (request, reply bool) {
	if proto == ProtoICMP {
		switch typ {
		case 8, 13, 15, 17, 10: // echo, timestamp, information, address mask, router solicitation
			return true, false
		case 0, 14, 16, 18, 9:
			return false, true
		}
		return false, false
	}
	switch typ {
	case 128, 130, 133, 135, 139: // echo, MLD query, router/neighbour solicitation, node info query
		return true, false
	case 129, 131, 134, 136, 140:
		return false, true
	}
	return false, false
}

// tcp advances the endpoint state machine of side s for a segment with flags f.
func (e *entry) tcp(s uint8, f uint8, payload bool) {
	peer := 1 - s
	first := e.flags[s] == 0 && e.ev[s] == 0 && e.ep[s] == epInactive
	e.flags[s] |= f
	syn, ack := f&FlagSYN != 0, f&FlagACK != 0
	if payload {
		e.ev[s] |= evData
	}
	switch {
	case f&FlagRST != 0:
		e.ep[s] = epReset
	case syn && !ack:
		if first {
			e.ev[s] |= evFirstSYN
		}
		if e.dir != DirSYN {
			e.client, e.dir = s, DirSYN
		}
		switch e.ep[peer] {
		case epSynSent, epSynAckSent: // simultaneous open
			e.ep[s], e.ep[peer] = epEstablished, epEstablished
		default:
			if e.ep[s] == epInactive {
				e.ep[s] = epSynSent
			}
		}
	case syn && ack:
		e.ev[s] |= evSYNACK
		if e.dir != DirSYN && e.dir != DirSYNACK {
			e.client, e.dir = peer, DirSYNACK
		}
		if e.ep[peer] == epSynSent {
			e.ep[peer] = epEstablished
			e.ep[s] = epEstablished
		} else if e.ep[s] == epInactive {
			e.ep[s] = epSynAckSent
		}
	}
	if f&FlagFIN != 0 {
		e.ev[s] |= evFIN
		if e.ep[s] != epReset {
			e.ep[s] = epClosed
		}
	}
	if ack && !syn {
		e.ev[s] |= evACK
	}
	if e.ep[s] == epInactive {
		e.ep[s] = epPartial
	}
}

// state computes Zeek's conn_state for the flow, with the client as originator
// (Zeek's conn/main.zeek, function conn_state).
func (e *entry) state() State {
	c, r := e.client, 1-e.client
	if e.key.proto != ProtoTCP {
		switch {
		case e.sentBy(c) && e.sentBy(r):
			return SF
		case e.sentBy(c):
			return S0
		case e.sentBy(r):
			return SHR
		}
		return OTH
	}
	os, rs := e.ep[c], e.ep[r]
	oInactive := os == epInactive || os == epPartial
	rInactive := rs == epInactive || rs == epPartial
	switch {
	case rs == epReset:
		if os == epSynSent || os == epSynAckSent || (os == epReset && e.ev[c]&evData == 0 && e.ev[r]&evData == 0) {
			return REJ
		}
		if oInactive {
			return RSTRH
		}
		return RSTR
	case os == epReset:
		if rInactive {
			if e.ev[c]&evFirstSYN != 0 && e.ev[c]&(evACK|evFIN|evSYNACK) == 0 {
				return RSTOS0
			}
			return OTH
		}
		return RSTO
	case rs == epClosed && os == epClosed:
		return SF
	case os == epClosed:
		if rInactive {
			return SH
		}
		return S2
	case rs == epClosed:
		if oInactive {
			return SHR
		}
		return S3
	case os == epSynSent && rs == epInactive:
		return S0
	case os == epEstablished && rs == epEstablished:
		return S1
	}
	return OTH
}

func (t *table) alloc(k key, h uint64, p *pkt, side uint8) int32 {
	var idx int32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if int(t.n) == len(t.chunks)<<entryChunkBits {
			t.chunks = append(t.chunks, make([]entry, 1<<entryChunkBits))
		}
		idx = t.n
		t.n++
	}
	e := t.at(idx)
	*e = entry{key: k, first: p.ts, last: p.ts, inUse: true, prev: -1, next: -1}
	e.client, e.dir = t.guessClient(p, side)
	if p.proto == ProtoICMP || p.proto == ProtoICMPv6 {
		e.icmpType, e.icmpCode = p.icmpType, p.icmpCode
	}
	e.seq = t.seq
	t.index.insert(h, idx)
	t.paths.ref(k.tun)
	t.place(idx)
	return idx
}

// guessClient decides the client of a new flow from its first packet when no
// handshake or ICMP request says it (those are applied by add): a side that uses a
// known service port (as ServerPort says) and whose peer does not is the server;
// else the side with the lower IANA port class is the server; else the sender of
// the first packet is the client.
func (t *table) guessClient(p *pkt, side uint8) (uint8, Direction) {
	if !HasPorts(p.proto) {
		return side, DirFirstPacket
	}
	if t.server != nil {
		s, d := t.server(p.proto, p.sport), t.server(p.proto, p.dport)
		if d && !s {
			return side, DirServicePort
		}
		if s && !d {
			return 1 - side, DirServicePort
		}
	}
	cs, cd := portClass(p.sport), portClass(p.dport)
	if cd < cs {
		return side, DirPortClass
	}
	if cs < cd {
		return 1 - side, DirPortClass
	}
	return side, DirFirstPacket
}

func portClass(p uint16) int {
	switch {
	case p < 1024:
		return 0
	case p < 49152:
		return 1
	}
	return 2
}

// annotate records an ICMP error on the flow it quotes. The quoted packet was sent
// by qsrc, so the key is built the same way as for that packet.
func (t *table) annotate(p *pkt) {
	k, _ := makeKey(p.qproto, p.qsrc, p.qdst, p.qsport, p.qdport, p.qvlan, p.qtun)
	idx, ok := t.index.find(t, &k, t.index.hash(&k))
	if !ok {
		t.orphanErr++
		return
	}
	e := t.at(idx)
	if e.x == nil {
		e.x = t.newExtra()
	}
	errs := &e.x.errs
	v6 := p.proto == ProtoICMPv6
	for i := range *errs {
		x := &(*errs)[i]
		if x.V6 == v6 && x.Type == p.icmpType && x.Code == p.icmpCode {
			x.Count++
			return
		}
	}
	if len(*errs) < 8 {
		*errs = append(*errs, ICMPError{V6: v6, Type: p.icmpType, Code: p.icmpCode, From: addrFrom16(p.src), Count: 1})
	}
}

// lruTag is the tag of entry idx in a sweep or flush at at.
func (t *table) lruTag(idx int32, at uint64) tag {
	e := t.at(idx)
	return tag{at, uint8(lruOf(e.key.proto)), e.last, e.seq}
}

// sentBy reports whether side s of the flow ever sent a packet, counting the packets
// of status records already emitted.
func (e *entry) sentBy(s uint8) bool { return e.pkts[s] > 0 || e.sent&(1<<s) != 0 }

// noFirst marks an entry whose packets were all reported in a status record: the next
// packet sets first again (add keeps the minimum).
const noFirst = int64(^uint64(0) >> 1)

// finish emits flow idx with tag tg and frees it.
func (t *table) finish(idx int32, why EndReason, tg tag) {
	t.index.remove(t.index.hash(&t.at(idx).key), idx)
	t.end1(idx, why, tg)
}

// end1 is finish but for the index, which the caller updates: a flush that ends
// every flow clears it at once instead of removing each one, a probe into a table of
// every open flow (4 % of a run of the burst capture, 500k flows open at its end).
func (t *table) end1(idx int32, why EndReason, tg tag) {
	e := t.at(idx)
	t.unlink(idx)
	t.tag = tg
	t.emit(t.record(e, why))
	t.paths.unref(e.key.tun)
	t.release(e)
	*e = entry{}
	t.free = append(t.free, idx)
}

// status emits a status record (EndActive) for every open flow that saw packets or
// ICMP errors since its previous record, then starts its counts afresh, so that the
// records of one flow add up to the flow: counts, ICMP errors, First and Last cover
// the time since the previous record, while direction, state and TCP flags describe
// the connection so far (Argus's status records). Flows stay in the table. at is the
// tag.at of the interval mark; status records sort after the mark's sweep.
func (t *table) status(at uint64) {
	for i := range t.lists {
		for h := t.lists[i].head; h >= 0; h = t.at(h).next {
			e := t.at(h)
			if e.pkts[0]+e.pkts[1] == 0 && (e.x == nil || e.x.errs == nil) {
				continue
			}
			tg := t.lruTag(h, at)
			tg.list += nLRU
			t.tag = tg
			t.emit(t.record(e, EndActive))
			for s := range uint8(2) {
				if e.pkts[s] > 0 {
					e.sent |= 1 << s
				}
			}
			e.pkts, e.bytes, e.first = [2]uint64{}, [2]uint64{}, noFirst
			if x := e.x; x != nil {
				x.errs = nil // the record's now
				if !x.busy && x.meta == nil {
					e.x = nil
					t.extras = append(t.extras, x)
				}
			}
		}
	}
}

// record fills the table's reusable Flow from entry e.
func (t *table) record(e *entry, why EndReason) *Flow {
	f := &t.flow
	c := e.client
	k := &e.key
	lo := netip.AddrPortFrom(addrFrom16(k.lo), k.loPort)
	hi := netip.AddrPortFrom(addrFrom16(k.hi), k.hiPort)
	if c == 0 {
		f.Client, f.Server = lo, hi
	} else {
		f.Client, f.Server = hi, lo
	}
	f.Proto, f.VLAN, f.Direction, f.State = k.proto, k.vlan, e.dir, e.state()
	f.Tunnel = TunnelPath{}
	if k.tun != pathNone {
		// the client's orientation: that of its packets, or for a flow whose client
		// sent nothing, the reverse of the server's
		swap := e.tunSrc[c] &^ tunSeen
		if e.tunSrc[c] == 0 {
			swap = ^e.tunSrc[1-c]
		}
		f.Tunnel = t.paths.view(k.tun, swap)
	}
	first := e.first
	if first == noFirst { // nothing since the last status record
		first = e.last
	}
	f.First, f.Last = time.Unix(0, first).UTC(), time.Unix(0, e.last).UTC()
	f.Packets = [2]uint64{e.pkts[c], e.pkts[1-c]}
	f.Bytes = [2]uint64{e.bytes[c], e.bytes[1-c]}
	f.TCPFlags = [2]uint8{e.flags[c], e.flags[1-c]}
	f.ICMPType, f.ICMPCode, f.App, f.AppMeta = 0, 0, appid.Unknown, nil
	switch k.proto {
	case ProtoICMP, ProtoICMPv6:
		f.ICMPType, f.ICMPCode = e.icmpType, e.icmpCode
	case ProtoTCP, ProtoUDP:
		f.App, f.AppMeta = e.appOf()
	}
	f.ICMPErrors = nil
	if e.x != nil {
		f.ICMPErrors = e.x.errs
	}
	f.Input, f.End = t.input, why
	return f
}

// sweep emits flows idle longer than their timeout at the table's packet time; at is
// the sweep's tag.at.
func (t *table) sweep(at uint64) {
	for i := range t.lists {
		for h := t.lists[i].head; h >= 0; h = t.lists[i].head {
			if t.now-t.at(h).last <= t.timeout[i] {
				break
			}
			t.finish(h, EndTimeout, t.lruTag(h, at))
		}
	}
}

// evictOldest emits the flow idle the longest, to make room under MaxFlows.
func (t *table) evictOldest() {
	best := int32(-1)
	for i := range t.lists {
		h := t.lists[i].head
		if h >= 0 && (best < 0 || t.at(h).last < t.at(best).last) {
			best = h
		}
	}
	if best >= 0 {
		t.evicted++
		t.finish(best, EndEvicted, tag{at: t.seq, seq: 1})
	}
}

// end emits every flow still open when an input ends: those idle longer than their
// timeout at the input's last packet time (lastTS, Unix ns) as EndTimeout, the others
// as EndInput. The final sweep makes the end reasons independent of the number of
// workers (a worker's clock only advances with its own packets) and of the one-second
// sweep interval.
//
// records is the number of records of the input, for the tags. stop, when not nil, is
// asked every 1024 flows whether to give up: end then returns false, and the flows
// not emitted are dropped with the table.
func (t *table) end(lastTS int64, records uint64, stop func() bool) bool {
	if lastTS > t.now {
		t.now = lastTS
	}
	t.sweep(records << 8)
	return t.flushAt(EndInput, records<<8|atFlush, stop)
}

// reindex rebuilds the index from the flows still in the lists.
func (t *table) reindex() {
	t.index.clear()
	for i := range t.lists {
		for h := t.lists[i].head; h >= 0; h = t.at(h).next {
			t.index.insert(t.index.hash(&t.at(h).key), h)
		}
	}
}

// flush emits every flow still open, in order of last activity.
func (t *table) flush(why EndReason) { t.flushAt(why, t.seq|atFlush, nil) }

func (t *table) flushAt(why EndReason, at uint64, stop func() bool) bool {
	n := 0
	for i := range t.lists {
		for h := t.lists[i].head; h >= 0; h = t.lists[i].head {
			if n++; stop != nil && n&1023 == 0 && stop() {
				t.reindex() // the flows ended so far are still in the index
				return false
			}
			t.end1(h, why, t.lruTag(h, at))
		}
	}
	t.index.clear()
	t.n = 0
	t.free = t.free[:0]
	return true
}
