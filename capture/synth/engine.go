package synth

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"
)

// flowKind is the shape of a synthetic flow's packet exchange.
type flowKind uint8

const (
	kindUnknown        flowKind = iota
	kindTCP                     // handshake, request/response rounds, FIN close (Zeek SF)
	kindTCPRefused              // SYN answered by RST/ACK, repeated tries times (REJ)
	kindTCPUnanswered           // SYN and retransmits, tries in all, no answer (S0)
	kindUDP                     // request/response rounds
	kindUDPUnreachable          // datagram answered by ICMP port unreachable, tries times
	kindICMPEcho                // echo request/reply, tries pairs one second apart
	kindTCPProhibited           // SYN answered by an ICMP unreachable (a firewall's reject), tries times (S0 + icmp_errors)
)

// payloadShape says what UDP payloads look like.
type payloadShape uint8

const (
	shapeGeneric payloadShape = iota // pattern bytes of spec.reqLen / spec.respLen
	shapeDNS                         // DNS query for a name and its answer
	shapeNTP                         // 48-byte NTPv4 client and server messages
)

// spec describes one flow before it runs. Durations are offsets from the scenario's
// start; all are whole microseconds so pcap (µs) and pcapng (ns) files agree.
type spec struct {
	kind           flowKind
	client, server netip.AddrPort // port 0 for ICMP
	vlan           [2]uint16
	start          time.Duration
	rtt            time.Duration // request to answer, as seen at the capture point
	gap            time.Duration // between back-to-back segments of a burst
	think          time.Duration // pause between rounds
	rounds         int           // kindTCP, kindUDP
	req, resp      int           // kindTCP: segments per round from client / server (≥1)
	reqLen         int           // kindTCP: payload of the last segment of a client burst; kindUDP: request bytes
	respLen        int           // same for the server side
	tries          int           // refused, unanswered, unreachable, echo
	shape          payloadShape  // kindUDP only (unreachable datagrams are pattern bytes)
	name           uint8         // shapeDNS: index into dnsNames
	cttl, sttl     uint8         // TTL of client and server packets as captured
	closeByServer  bool          // kindTCP: the server sends the first FIN
	icmpCode       uint8         // kindUDPUnreachable, kindTCPProhibited: ICMP code (default port unreachable)
	icmpFrom       netip.Addr    // kindUDPUnreachable, kindTCPProhibited: sender of the error (default the server)
}

// packets returns how many packets s produces; the mix scenario budgets with it.
func (s *spec) packets() int {
	switch s.kind {
	case kindTCP:
		n := 6
		n += s.rounds * (s.req + s.req/2 + s.resp + s.resp/2)
		return n
	case kindTCPRefused, kindUDPUnreachable, kindICMPEcho, kindTCPProhibited:
		return 2 * s.tries
	case kindTCPUnanswered:
		return s.tries
	case kindUDP:
		return 2 * s.rounds
	}
	return 0
}

// tcpMSS is the payload of a full segment (1514-byte Ethernet frames for IPv4).
func tcpMSS(v6 bool) int {
	if v6 {
		return 1440
	}
	return 1460
}

// MSS bounds for Scenario.MSS: a full IPv6 segment keeps 20 bytes of payload at the
// least, and 1460 fills an Ethernet MTU of 1500 over IPv4.
const (
	minMSS = 40
	maxMSS = 1460
)

// segment is the payload of a full TCP segment: tcpMSS, or with Scenario.MSS set,
// that over IPv4 and 20 bytes less over IPv6 (its header is 20 bytes longer), as a
// path with a smaller MTU gives.
func (e *engine) segment(v6 bool) int {
	if e.mss == 0 {
		return tcpMSS(v6)
	}
	if v6 {
		return e.mss - 20
	}
	return e.mss
}

// flow phases.
const (
	phSYN uint8 = iota
	phSYNACK
	phACK
	phData    // a data segment of the current burst
	phDataAck // the receiver's ACK after every second segment
	phFin1
	phFin2
	phFin3
	phRST
	phRequest // UDP request, ICMP echo request, datagram to a closed port
	phAnswer  // UDP response, echo reply, ICMP error
)

// flow is a spec in progress. Flows are pooled by the engine.
type flow struct {
	s       spec
	id      uint64        // start order; breaks ties between equal times
	at      time.Duration // time of the next packet
	phase   uint8
	fromSrv bool // the current burst is sent by the server
	round   int
	i       int // segments sent in the burst, or tries done
	cseq    uint32
	sseq    uint32
	cid     uint16 // IPv4 identification counters
	sid     uint16
	echoID  uint16 // ICMP echo identifier
	quote   Packet // the datagram an ICMP error quotes
}

// engine interleaves flows by time and turns them into packets.
type engine struct {
	rng     *rand.Rand
	base    time.Time
	heap    []*flow
	free    []*flow
	nextID  uint64
	sink    func(Packet) error
	mss     int       // Scenario.MSS; 0: tcpMSS (see segment)
	scratch [512]byte // DNS payloads; valid until the next packet
}

func newEngine(seed uint64, base time.Time, sink func(Packet) error) *engine {
	return &engine{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), base: base, sink: sink}
}

// us returns a random duration of lo..hi microseconds.
func (e *engine) us(lo, hi int) time.Duration {
	return time.Duration(lo+e.rng.IntN(hi-lo+1)) * time.Microsecond
}

// run starts flows from next, which must return specs in start order, and emits
// packets in time order until every flow is done or limit packets were emitted
// (limit 0: no limit).
func (e *engine) run(next func() (spec, bool), limit int) error {
	pend, ok := next()
	emitted := 0
	for limit == 0 || emitted < limit {
		if ok && (len(e.heap) == 0 || pend.start <= e.heap[0].at) {
			e.start(pend)
			pend, ok = next()
			continue
		}
		if len(e.heap) == 0 {
			return nil
		}
		f := e.heap[0]
		var p Packet
		done := e.emit(f, &p)
		if err := e.sink(p); err != nil {
			return err
		}
		emitted++
		if done {
			e.pop()
			e.free = append(e.free, f)
		} else {
			e.down(0)
		}
	}
	return nil
}

func (e *engine) start(s spec) {
	var f *flow
	if n := len(e.free); n > 0 {
		f = e.free[n-1]
		e.free = e.free[:n-1]
		*f = flow{}
	} else {
		f = new(flow)
	}
	if s.cttl == 0 {
		s.cttl = 64
	}
	if s.sttl == 0 {
		s.sttl = 64
	}
	f.s = s
	f.id = e.nextID
	e.nextID++
	f.at = s.start
	f.cseq = e.rng.Uint32()
	f.sseq = e.rng.Uint32()
	f.cid = uint16(e.rng.Uint32())
	f.sid = uint16(e.rng.Uint32())
	f.echoID = uint16(e.rng.Uint32())
	switch s.kind {
	case kindTCP, kindTCPRefused, kindTCPUnanswered, kindTCPProhibited:
		f.phase = phSYN
	default:
		f.phase = phRequest
	}
	e.heap = append(e.heap, f)
	e.up(len(e.heap) - 1)
}

// base fills the addressing fields of p for a packet from the client (or server).
func (f *flow) base(p *Packet, fromServer bool) {
	s := &f.s
	p.VLAN = s.vlan
	if fromServer {
		p.Src, p.Dst = s.server.Addr(), s.client.Addr()
		p.SrcPort, p.DstPort = s.server.Port(), s.client.Port()
		p.TTL = s.sttl
		p.IPID = uint32(f.sid)
		f.sid++
	} else {
		p.Src, p.Dst = s.client.Addr(), s.server.Addr()
		p.SrcPort, p.DstPort = s.client.Port(), s.server.Port()
		p.TTL = s.cttl
		p.IPID = uint32(f.cid)
		f.cid++
	}
}

// tcp fills a TCP segment from one side, advancing that side's sequence number.
func (f *flow) tcp(p *Packet, fromServer bool, flags uint8, payload int) {
	f.base(p, fromServer)
	p.Proto = ProtoTCP
	p.TCPFlags = flags
	p.PayloadLen = payload
	p.DontFrag = true
	seq, ack := &f.cseq, &f.sseq
	if fromServer {
		seq, ack = ack, seq
	}
	p.Seq = *seq
	if flags&ACK != 0 {
		p.Ack = *ack
	}
	*seq += uint32(payload)
	if flags&(SYN|FIN) != 0 {
		*seq++
	}
}

// emit fills p with the next packet of f, advances f and reports whether f is done.
func (e *engine) emit(f *flow, p *Packet) bool {
	s := &f.s
	p.Time = e.base.Add(f.at)
	v6 := s.client.Addr().Is6()
	switch f.phase {
	case phSYN:
		f.tcp(p, false, SYN, 0)
		switch s.kind {
		case kindTCPRefused:
			f.phase = phRST
			f.at += s.rtt
		case kindTCPProhibited:
			f.quote = *p // the ICMP error quotes the SYN
			f.phase = phAnswer
			f.at += s.rtt
		case kindTCPUnanswered:
			f.i++
			f.cseq-- // a retransmitted SYN reuses the initial sequence number
			if f.i >= s.tries {
				return true
			}
			f.at += time.Second << (f.i - 1) // RFC 6298 backoff: 1 s, 2 s, 4 s ...
		default:
			f.phase = phSYNACK
			f.at += s.rtt
		}
	case phRST:
		f.tcp(p, true, RST|ACK, 0)
		p.Seq = 0
		f.i++
		if f.i >= s.tries {
			return true
		}
		f.cseq-- // the retry sends the same SYN again
		f.phase = phSYN
		f.at += 500 * time.Millisecond // Windows retries a refused connection twice, 0.5 s apart
	case phSYNACK:
		f.tcp(p, true, SYN|ACK, 0)
		p.Window = 65160
		f.phase = phACK
		f.at += e.us(20, 200)
	case phACK:
		f.tcp(p, false, ACK, 0)
		f.phase = phData
		f.fromSrv = false
		f.i = 0
		f.at += e.us(5, 100)
	case phData:
		n, last := s.req, s.reqLen
		if f.fromSrv {
			n, last = s.resp, s.respLen
		}
		size := e.segment(v6)
		flags := ACK
		f.i++
		if f.i == n {
			size = last
			flags |= PSH
		}
		f.tcp(p, f.fromSrv, flags, size)
		switch {
		case f.i%2 == 0:
			f.phase = phDataAck
			f.at += e.us(10, 80)
		case f.i == n:
			f.endBurst(e)
		default:
			f.at += s.gap
		}
	case phDataAck:
		f.tcp(p, !f.fromSrv, ACK, 0)
		n := s.req
		if f.fromSrv {
			n = s.resp
		}
		if f.i == n {
			f.endBurst(e)
		} else {
			f.phase = phData
			f.at += s.gap
		}
	case phFin1:
		f.tcp(p, s.closeByServer, FIN|ACK, 0)
		f.phase = phFin2
		f.at += s.rtt
	case phFin2:
		f.tcp(p, !s.closeByServer, FIN|ACK, 0)
		f.phase = phFin3
		f.at += e.us(20, 200)
	case phFin3:
		f.tcp(p, s.closeByServer, ACK, 0)
		return true
	case phRequest:
		f.request(e, p)
		f.phase = phAnswer
		f.at += s.rtt
	case phAnswer:
		f.answer(e, p)
		switch s.kind {
		case kindUDP:
			f.round++
			if f.round >= s.rounds {
				return true
			}
			f.at += s.think
		default:
			f.i++
			if f.i >= s.tries {
				return true
			}
			if s.kind == kindICMPEcho {
				f.at += time.Second - s.rtt
			} else {
				f.at += time.Second << (f.i - 1)
			}
		}
		f.phase = phRequest
		if s.kind == kindTCPProhibited {
			f.cseq-- // the retransmitted SYN reuses the initial sequence number
			f.phase = phSYN
		}
	}
	return false
}

// endBurst moves to the other side's burst, the next round or the close.
func (f *flow) endBurst(e *engine) {
	s := &f.s
	f.i = 0
	if !f.fromSrv {
		f.fromSrv = true
		f.phase = phData
		f.at += s.rtt
		return
	}
	f.round++
	f.fromSrv = false
	if f.round >= s.rounds {
		f.phase = phFin1
	} else {
		f.phase = phData
	}
	f.at += s.think
}

func (f *flow) request(e *engine, p *Packet) {
	s := &f.s
	f.base(p, false)
	switch s.kind {
	case kindICMPEcho:
		p.Proto, p.ICMPType = ProtoICMP, ICMPEchoRequest
		if s.client.Addr().Is6() {
			p.Proto, p.ICMPType = ProtoICMPv6, ICMPv6EchoRequest
		}
		p.ICMPID = f.echoID
		p.ICMPSeq = uint16(f.i + 1)
		p.PayloadLen = s.reqLen
		return
	}
	p.Proto = ProtoUDP
	switch s.shape {
	case shapeDNS:
		p.Payload = e.dns(uint16(f.cseq)+uint16(f.round), s.name, false, f.round%2 == 1)
	case shapeNTP:
		p.Payload = e.ntp(false)
	default:
		p.PayloadLen = s.reqLen
	}
	if s.kind == kindUDPUnreachable {
		// The error quotes this datagram; its specs use pattern payloads only, so the
		// copy does not alias the scratch buffer.
		f.quote = *p
	}
}

func (f *flow) answer(e *engine, p *Packet) {
	s := &f.s
	f.base(p, true)
	switch s.kind {
	case kindICMPEcho:
		p.Proto, p.ICMPType = ProtoICMP, ICMPEchoReply
		if s.client.Addr().Is6() {
			p.Proto, p.ICMPType = ProtoICMPv6, ICMPv6EchoReply
		}
		p.ICMPID = f.echoID
		p.ICMPSeq = uint16(f.i + 1)
		p.PayloadLen = s.reqLen
		return
	case kindUDPUnreachable, kindTCPProhibited:
		p.SrcPort, p.DstPort = 0, 0
		if s.icmpFrom.IsValid() {
			p.Src = s.icmpFrom
		}
		p.Quote = &f.quote
		if s.client.Addr().Is6() {
			p.Proto, p.ICMPType, p.ICMPCode = ProtoICMPv6, ICMPv6Unreachable, 4
			if s.icmpCode != 0 {
				p.ICMPCode = s.icmpCode
			}
		} else {
			p.Proto, p.ICMPType, p.ICMPCode = ProtoICMP, ICMPUnreachable, 3
			if s.icmpCode != 0 {
				p.ICMPCode = s.icmpCode
			}
		}
		return
	}
	p.Proto = ProtoUDP
	switch s.shape {
	case shapeDNS:
		p.Payload = e.dns(uint16(f.cseq)+uint16(f.round), s.name, true, f.round%2 == 1)
	case shapeNTP:
		p.Payload = e.ntp(true)
	default:
		p.PayloadLen = s.respLen
	}
}

// dnsNames are the names DNS flows ask for (RFC 2606 example domains).
var dnsNames = [...]string{
	"www.example.com", "mail.example.org", "portal.example.net", "backup.example.com",
	"vcenter.example.com", "update.example.org", "files.example.net", "time.example.com",
}

// dns builds a DNS query (or its answer) for dnsNames[name] in e.scratch. The
// question asks for AAAA when aaaa is set, else A.
func (e *engine) dns(id uint16, name uint8, answer, aaaa bool) []byte {
	b := e.scratch[:0]
	flags, an := uint16(0x0100), uint16(0)
	if answer {
		flags, an = 0x8180, 1
	}
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, an)
	b = append(b, 0, 0, 0, 0)
	n := dnsNames[int(name)%len(dnsNames)]
	for len(n) > 0 {
		i := 0
		for i < len(n) && n[i] != '.' {
			i++
		}
		b = append(b, byte(i))
		b = append(b, n[:i]...)
		if i < len(n) {
			i++
		}
		n = n[i:]
	}
	b = append(b, 0)
	qtype := uint16(1)
	if aaaa {
		qtype = 28
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1) // IN
	if !answer {
		return b
	}
	b = append(b, 0xc0, 12) // pointer to the question's name
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 300)
	if aaaa {
		b = binary.BigEndian.AppendUint16(b, 16)
		b = append(b, 0x20, 0x01, 0x0d, 0xb8, 0, 0x53, 0, 0, 0, 0, 0, 0, 0, 0, 0, name+1)
	} else {
		b = binary.BigEndian.AppendUint16(b, 4)
		b = append(b, 203, 0, 113, 100+name)
	}
	return b
}

// ntp builds a 48-byte NTPv4 client (mode 3) or server (mode 4) message.
func (e *engine) ntp(server bool) []byte {
	b := e.scratch[:48]
	clear(b)
	b[0] = 0x23 // LI 0, version 4, mode 3
	if server {
		b[0], b[1] = 0x24, 2 // mode 4, stratum 2
	}
	return b
}

// The heap orders flows by (at, id).
func (e *engine) less(i, j int) bool {
	a, b := e.heap[i], e.heap[j]
	return a.at < b.at || a.at == b.at && a.id < b.id
}

func (e *engine) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !e.less(i, p) {
			return
		}
		e.heap[i], e.heap[p] = e.heap[p], e.heap[i]
		i = p
	}
}

func (e *engine) down(i int) {
	n := len(e.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && e.less(r, l) {
			m = r
		}
		if !e.less(m, i) {
			return
		}
		e.heap[i], e.heap[m] = e.heap[m], e.heap[i]
		i = m
	}
}

func (e *engine) pop() {
	n := len(e.heap) - 1
	e.heap[0] = e.heap[n]
	e.heap[n] = nil
	e.heap = e.heap[:n]
	e.down(0)
}
