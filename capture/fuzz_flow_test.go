package capture

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/internal/corpus"
)

// FuzzDecodeLinks decodes frames of any link type (FuzzDecode covers Ethernet
// against gopacket). Invariants: an unsupported link type is reported as such; a
// decoded packet has a plausible kind and address form; ports only for protocols that
// have them; a quote only on ICMP errors; decoding is deterministic. Seeds: the first
// records of the testdata/formats captures, one file per link type, plus PPI and
// PKTAP wrappers.
func FuzzDecodeLinks(f *testing.F) {
	for _, n := range []string{"pcap-le-usec.pcap", "link-sll.pcap", "link-sll2.pcap", "link-null.pcap", "link-loop.pcap",
		"link-ppp.pcap", "link-raw.pcap", "link-ipv4.pcap", "link-ipv6.pcap", "vlan-qinq.pcap", "ipv6-ext.pcap"} {
		data, err := os.ReadFile(corpus.Testdata(f, "formats", n))
		if err != nil {
			f.Fatal(err)
		}
		src, err := open("-", nil, bytes.NewReader(data))
		if err != nil {
			f.Fatal(err)
		}
		for range 3 {
			rec, err := src.rd.next()
			if err != nil {
				break
			}
			f.Add(rec.LinkType, append([]byte(nil), rec.Data...))
		}
		src.close()
	}
	eth := seedFrames()[0]
	ppi := append([]byte{0, 0, 8, 0, 1, 0, 0, 0}, eth...)
	f.Add(LinkPPI, ppi)
	f.Add(LinkPKTAP, append([]byte{8, 0, 0, 0, 1, 0, 0, 0}, eth...))
	f.Add(LinkPKTAP, append([]byte{8, 0, 0, 0, 192, 0, 0, 0}, ppi...)) // a wrapper in a wrapper: refused
	f.Add(LinkRadiotap, append([]byte{0, 0, 8, 0, 0, 0, 0, 0, 0x08, 0x01}, make([]byte, 40)...))
	f.Fuzz(func(t *testing.T, lt uint16, frame []byte) {
		var d decoder
		var p, again pkt
		r := d.decode(lt, frame, &p)
		if d.decode(lt, frame, &again) != r || !samePkt(&again, &p) {
			t.Fatalf("decoding twice differs: %+v / %+v", p, again)
		}
		if !Supported(lt) && r != decUnsupported {
			t.Fatalf("link type %d is not supported but decode gave %d", lt, r)
		}
		if r != decOK {
			return
		}
		if p.kind != kindFlow && p.kind != kindFragment {
			t.Fatalf("decoded packet of kind %d", p.kind)
		}
		if !p.v6 && (p.src[10] != 0xff || p.src[11] != 0xff || p.dst[10] != 0xff || p.dst[11] != 0xff) {
			t.Fatalf("IPv4 packet with unmapped addresses: %x %x", p.src, p.dst)
		}
		if !HasPorts(p.proto) && p.sport|p.dport != 0 {
			t.Fatalf("protocol %d with ports %d>%d", p.proto, p.sport, p.dport)
		}
		if p.hasQuote && (p.kind != kindFlow || !isICMPError(p.proto, p.icmpType)) {
			t.Fatalf("quote on a packet that is no ICMP error: %+v", p)
		}
	})
}

// icmpErrorPacket wraps quote in an IPv4 ICMP or an IPv6 ICMPv6 message of type typ
// from 192.0.2.9 (2001:db8::9) to 198.51.100.2 (2001:db8::2).
func icmpErrorPacket(v6 bool, typ, code uint8, quote []byte) []byte {
	msg := append([]byte{typ, code, 0, 0, 0, 0, 0, 0}, quote...)
	if v6 {
		h := make([]byte, 40)
		h[0], h[6], h[7] = 0x60, ProtoICMPv6, 64
		binary.BigEndian.PutUint16(h[4:], uint16(len(msg)))
		copy(h[8:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 9})
		copy(h[24:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2})
		return append(h, msg...)
	}
	h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, ProtoICMP, 0, 0, 192, 0, 2, 9, 198, 51, 100, 2}
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(msg)))
	return append(h, msg...)
}

// FuzzICMPQuote fuzzes the parser of the packet an ICMP error quotes. The outer
// packet is always valid, so it must decode as an ICMP flow whatever the quote holds;
// a quote is taken only from an error message, and what it reports must be the quoted
// header's own addresses, protocol and ports. A well-formed quoted IPv4 UDP or TCP
// header must always be recognised.
func FuzzICMPQuote(f *testing.F) {
	udp4 := []byte{0x45, 0, 0, 40, 0, 7, 0, 0, 64, 17, 0, 0, 198, 51, 100, 2, 192, 0, 2, 1, 0x9c, 0x40, 0, 53, 0, 20, 0, 0}
	tcp4 := []byte{0x45, 0, 0, 40, 0, 7, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 2, 192, 0, 2, 1, 0xc3, 0x50, 1, 187, 0, 0, 0, 1}
	udp6 := make([]byte, 48)
	udp6[0], udp6[6] = 0x60, 17
	copy(udp6[8:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2})
	copy(udp6[24:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
	copy(udp6[40:], []byte{0x9c, 0x41, 0, 53, 0, 8, 0, 0})
	f.Add(false, uint8(3), uint8(3), udp4)
	f.Add(false, uint8(11), uint8(0), tcp4)
	f.Add(false, uint8(3), uint8(3), udp4[:22])
	f.Add(false, uint8(3), uint8(1), icmpErrorPacket(false, 3, 3, udp4)) // an error quoting an error
	f.Add(true, uint8(1), uint8(4), udp6)
	f.Add(true, uint8(3), uint8(0), append(append([]byte(nil), udp6[:6]...), append([]byte{0, 64}, udp6[8:]...)...))
	// IPv6 UDP to MPLS over UDP (6635) whose inner IPv4 packet is a non-first
	// fragment: the error is the outer datagram's.
	mplsFrag := append(append([]byte(nil), udp6[:40]...), 0x9c, 0x42, 0x19, 0xeb, 0, 40, 0, 0,
		0, 0, 1, 64, // label 0, bottom of stack
		0x45, 0, 0, 20, 0, 9, 0, 8, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
	mplsFrag[6] = 17
	f.Add(true, uint8(1), uint8(4), mplsFrag)
	f.Fuzz(func(t *testing.T, v6 bool, typ, code uint8, quote []byte) {
		if len(quote) > 60000 {
			return
		}
		frame := icmpErrorPacket(v6, typ, code, quote)
		lt, proto := LinkIPv4, uint8(ProtoICMP)
		if v6 {
			lt, proto = LinkIPv6, ProtoICMPv6
		}
		var d decoder
		var p pkt
		if r := d.decode(lt, frame, &p); r != decOK || p.proto != proto || p.icmpType != typ || p.icmpCode != code || p.kind != kindFlow {
			t.Fatalf("valid ICMP packet decoded as %d: %+v", r, p)
		}
		if !p.hasQuote {
			if isICMPError(proto, typ) && portsQuoted(v6, quote) {
				t.Fatalf("ICMP error quoting a well-formed IP header (v6 %v) with ports not recognised: % x", v6, quote)
			}
			return
		}
		if !isICMPError(proto, typ) {
			t.Fatalf("type %d is no error but a quote was parsed", typ)
		}
		if d.tun.qdepth != d.tun.depth {
			// The quote is of an encapsulated packet (IP in IP, GRE, a UDP tunnel):
			// the decoder enters its tunnels and reports the innermost header, whose
			// decapsulation FuzzDecap checks.
			return
		}
		var src, dst []byte
		hl, proto := int(quote[0]&0xf)*4, quote[9]
		if v6 {
			src, dst = quote[8:24], quote[24:40]
			hl, proto = 40, quote[6]
		} else {
			src, dst = quote[12:16], quote[16:20]
		}
		if !v6 || !ipv6ExtHeader(proto) {
			if p.qproto != proto {
				t.Fatalf("quoted protocol %d, header says %d", p.qproto, proto)
			}
			if HasPorts(p.qproto) && (p.qsport != binary.BigEndian.Uint16(quote[hl:]) || p.qdport != binary.BigEndian.Uint16(quote[hl+2:])) {
				t.Fatalf("quoted ports %d>%d differ from the quoted header", p.qsport, p.qdport)
			}
		}
		// The decoder keeps addresses in 16 bytes, IPv4 mapped (the flow table
		// unmaps them, so an IPv4-mapped IPv6 address is the IPv4 address there):
		// an IPv6 quote's addresses are its header's bytes as they are.
		gs, gd := addrFrom16(p.qsrc).AsSlice(), addrFrom16(p.qdst).AsSlice()
		if v6 {
			gs, gd = p.qsrc[:], p.qdst[:]
		}
		if !bytes.Equal(gs, src) {
			t.Fatalf("quoted source %x, header says %x", gs, src)
		}
		if !bytes.Equal(gd, dst) {
			t.Fatalf("quoted destination %x, header says %x", gd, dst)
		}
	})
}

// portsQuoted reports whether quote starts with an IPv4 header of 20 bytes, not a
// non-first fragment (v6: an IPv6 header without extension headers), followed by the
// ports of UDP or TCP (for TCP, either the 14 bytes up to the flags or non-zero ports,
// which is what the quote parser accepts). The quoted header's total length (v6: its
// payload length), when set, bounds what belongs to the quoted datagram: bytes after
// it are ICMP extensions (RFC 4884), not ports.
func portsQuoted(v6 bool, quote []byte) bool {
	hl, proto, n := 20, uint8(0), len(quote)
	if v6 {
		if n < 44 || quote[0]>>4 != 6 {
			return false
		}
		hl, proto = 40, quote[6]
		if pl := int(binary.BigEndian.Uint16(quote[4:])); pl > 0 && 40+pl < n {
			n = 40 + pl
		}
	} else {
		if n < 24 || quote[0] != 0x45 || binary.BigEndian.Uint16(quote[6:])&0x1fff != 0 {
			return false
		}
		proto = quote[9]
		if tl := int(binary.BigEndian.Uint16(quote[2:])); tl >= 20 && tl < n {
			n = tl
		}
	}
	switch proto {
	case ProtoUDP:
		return n >= hl+4
	case ProtoTCP:
		return n >= hl+14 || (n >= hl+4 && binary.BigEndian.Uint32(quote[hl:]) != 0)
	}
	return false
}

// ipv6ExtHeader reports whether next header h is one the decoder walks past.
func ipv6ExtHeader(h uint8) bool {
	switch h {
	case 0, 43, 44, 51, 60, 135, 139, 140:
		return true
	}
	return false
}

// fuzzPackets turns bytes into decoded packet records, 8 bytes each, over a small
// space of hosts, ports and protocols so that packets meet in flows: protocol, hosts
// (4 of each family), ports (8), TCP flags, a signed time step of up to ±10 minutes
// (timeouts fire, time goes backwards), kind (flow, first fragment, non-first
// fragment, ICMP error quoting another packet), VLAN, length and ICMP type.
func fuzzPackets(data []byte) []pkt {
	var hosts [8][16]byte
	for i := range 4 {
		mapped4(&hosts[i], []byte{192, 0, 2, byte(i + 1)})
		hosts[4+i] = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}
	}
	protos := [...]uint8{ProtoTCP, ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6, ProtoSCTP, 47, ProtoUDP}
	ports := [...]uint16{0, 22, 53, 443, 6162, 33000, 49667, 65535}
	ts := int64(1768471200) * 1e9
	var out []pkt
	for ; len(data) >= 8; data = data[8:] {
		b := data[:8]
		fam := int(b[0]>>7) * 4
		p := pkt{
			proto:    protos[b[0]&7],
			src:      hosts[fam+int(b[1]&3)],
			dst:      hosts[fam+int(b[1]>>2&3)],
			tcpFlags: b[3],
			v6:       fam == 4,
			vlan:     uint16(b[5] >> 6),
			wire:     40 + uint32(b[6]),
			kind:     kindFlow,
		}
		ts += int64(int8(b[4])) * int64(5*time.Second)
		p.ts = ts
		if HasPorts(p.proto) {
			p.sport, p.dport = ports[b[2]&7], ports[b[2]>>3&7]
		}
		if p.proto == ProtoICMP || p.proto == ProtoICMPv6 {
			p.icmpType, p.icmpCode = b[7], b[2]
		}
		p.tcpPayload = b[5]&8 != 0
		if (p.tcpPayload && p.proto == ProtoTCP || p.proto == ProtoUDP) && b[7]&3 != 0 {
			p.payload = fuzzPayloads[b[7]&3]
		}
		switch b[5] & 3 {
		case 2:
			p.kind, p.fragID, p.sport, p.dport, p.payload = kindFragment, uint32(b[6]&3), 0, 0, nil
		case 3:
			p.fragFirst, p.fragID = true, uint32(b[6]&3)
		}
		if b[5]&4 != 0 && p.kind == kindFlow && (p.proto == ProtoICMP || p.proto == ProtoICMPv6) {
			p.icmpType = 3
			if p.proto == ProtoICMPv6 {
				p.icmpType = 1
			}
			p.hasQuote = true
			p.qproto = protos[b[7]&7]
			p.qsrc, p.qdst = hosts[fam+int(b[7]>>3&3)], hosts[fam+int(b[7]>>5&3)]
			if HasPorts(p.qproto) {
				p.qsport, p.qdport = ports[b[2]&7], ports[b[6]&7]
			}
		}
		out = append(out, p)
	}
	return out
}

// fuzzPayloads are the payloads fuzzPackets gives TCP segments and UDP datagrams:
// ones the application identification recognises (with metadata) and one it does not.
var fuzzPayloads = [4][]byte{1: []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 2: []byte("SSH-2.0-x\r\n"), 3: bytes.Repeat([]byte{0x17}, 40)}

// checkTable verifies the flow table's internal structure: every flow of the map is
// on exactly the LRU list of its protocol, lists are well linked, and free slots are
// not in use.
func checkTable(t *testing.T, tb *table) {
	seen := 0
	for l := range tb.lists {
		prev := int32(-1)
		for i := tb.lists[l].head; i >= 0; i = tb.at(i).next {
			e := tb.at(i)
			if j, ok := tb.index.find(tb, &e.key, tb.index.hash(&e.key)); !e.inUse || e.prev != prev || lruOf(e.key.proto) != l || !ok || j != i {
				t.Fatalf("flow table list %d broken at entry %d: %+v", l, i, e)
			}
			if seen++; seen > tb.index.len() {
				t.Fatalf("flow table lists hold more entries than the index's %d", tb.index.len())
			}
			prev = i
		}
		if tb.lists[l].tail != prev {
			t.Fatalf("flow table list %d: tail %d, last entry %d", l, tb.lists[l].tail, prev)
		}
	}
	if seen != tb.index.len() {
		t.Fatalf("flow table: %d flows on lists, %d in the index", seen, tb.index.len())
	}
	checkIndex(t, tb)
	for _, i := range tb.free {
		if tb.at(i).inUse {
			t.Fatalf("free slot %d is in use", i)
		}
	}
}

// FuzzFlowTable feeds arbitrary packet records, through the reading stage's fragment
// and ICMP-quote handling, to one flow table (with --max-flows 0, 1, 3 or 16), and
// checks after every packet that the table is consistent and within its bound, and at
// the end that every packet that reached the table is counted in exactly one flow and
// every flow is well formed.
func FuzzFlowTable(f *testing.F) {
	f.Add([]byte{0, 0x04, 0x1b, S, 0, 0, 20, 0, 0, 0x01, 0x1b, SA, 1, 0, 20, 0, 0, 0x04, 0x1b, A, 1, 8, 20, 0,
		0, 0x04, 0x1b, FA, 1, 0, 20, 0, 0, 0x01, 0x1b, FA, 1, 0, 20, 0, 0, 0x04, 0x1b, S, 100, 0, 20, 0})
	f.Add([]byte{2, 0x04, 0x12, 0, 0, 3, 1, 0, 2, 0x04, 0, 0, 1, 2, 1, 0, 3, 0x01, 0x12, 0, 1, 4, 1, 0x42})
	// payloads the identification reads: an HTTP request, an SSH banner over UDP
	f.Add([]byte{0, 0x04, 0x1b, S, 0, 0, 20, 0, 0, 0x01, 0x1b, SA, 1, 0, 20, 0, 0, 0x04, 0x1b, A, 1, 8, 20, 1,
		0, 0x01, 0x1b, A, 1, 8, 20, 3, 1, 0x04, 0x12, 0, 1, 0, 20, 2})
	f.Add([]byte{0x84, 0x06, 0x2a, S, 0, 0, 0, 0, 0x84, 0x09, 0x2a, RA, 0x80, 0, 0, 0, 0x84, 0x06, 0x2a, S, 0x7f, 0, 0, 0})
	f.Add([]byte{0, 0x04, 0x1b, S, 0, 0, 20, 0, 0, 0x08, 0x1b, S, 0, 0, 20, 0, 0, 0x0c, 0x1b, S, 0, 0, 20, 0, 2, 0x04, 0x09, 0, 0, 0, 0, 0})
	// a TCP connection and a UDP flow on the same 4-tuples in two tunnels and outside
	f.Add([]byte{0, 0x04, 0x1b, S, 0, 0x10, 20, 0, 0, 0x01, 0x1b, SA, 1, 0x10, 21, 0, 0, 0x04, 0x1b, S, 1, 0x20, 20, 0,
		0, 0x04, 0x1b, S, 1, 0, 20, 0, 2, 0x04, 0x12, 0, 1, 0x30, 1, 0, 2, 0x01, 0x12, 0, 1, 0x30, 2, 0, 3, 0x01, 0x12, 0, 1, 0x24, 1, 0x42})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		// 256 packets meet in every way the small address space allows; longer inputs
		// only make the per-packet structure check quadratic
		data = data[:min(len(data), 1+256*8)]
		maxFlows := [...]int{0, 1, 3, 16}[data[0]&3]
		o := Options{MaxFlows: maxFlows}
		o.defaults()
		var (
			reached, reachedBytes, quotes uint64
			flows                         []Flow
		)
		tb := newTable(&o, maxFlows, func(fl *Flow) {
			c := *fl
			c.ICMPErrors = append([]ICMPError(nil), fl.ICMPErrors...)
			flows = append(flows, c)
		})
		st := InputStats{}
		s := &stage{o: &o, st: &st}
		s.frags.init()
		s.frags.paths = &tb.paths
		// three tunnel paths, for packets whose byte 5 selects one (bits 4-5)
		var paths [3]uint16
		for i := range paths {
			var k pathKey
			a := [16]byte{15: byte(i)}
			makePathKey(&k, []rawLayer{{src: a, dst: [16]byte{15: 9}, typ: TunnelGRE, id: uint32(i), hasID: true}})
			paths[i] = tb.paths.intern(&k)
		}
		s.sink = func(p *pkt) {
			if p.kind == kindICMPQuote {
				quotes++
			} else {
				reached++
				reachedBytes += uint64(p.wire)
			}
			tb.add(p)
			if maxFlows > 0 && tb.index.len() > maxFlows {
				t.Fatalf("%d flows held, --max-flows %d", tb.index.len(), maxFlows)
			}
		}
		for i, p := range fuzzPackets(data[1:]) {
			if sel := data[1+8*i+5] >> 4 & 3; sel > 0 {
				p.tun, p.tunSwap = paths[sel-1], data[1+8*i+6]&1
				p.qtun = p.tun
			}
			s.dispatch(&p)
			checkTable(t, tb)
			checkPathRefs(t, tb)
		}
		s.drainFrags()
		tb.flush(EndInput)
		if tb.index.len() != 0 {
			t.Fatalf("%d flows left after flush", tb.index.len())
		}
		var pk, by, errs uint64
		for _, fl := range flows {
			n := fl.Packets[0] + fl.Packets[1]
			if n == 0 || fl.Last.Before(fl.First) || fl.State == StateUnknown || fl.State > OTH || fl.Direction == DirUnknown || fl.Direction > DirFirstPacket || len(fl.ICMPErrors) > 8 {
				t.Fatalf("malformed flow: %+v", fl)
			}
			if !HasPorts(fl.Proto) && (fl.Client.Port() != 0 || fl.Server.Port() != 0) {
				t.Fatalf("flow of protocol %d with ports: %+v", fl.Proto, fl)
			}
			// TCP and UDP keep their identification where ICMP flows keep type and code
			icmp, tcpUDP := fl.Proto == ProtoICMP || fl.Proto == ProtoICMPv6, fl.Proto == ProtoTCP || fl.Proto == ProtoUDP
			if !icmp && (fl.ICMPType != 0 || fl.ICMPCode != 0) || !tcpUDP && (fl.App != appid.Unknown || fl.AppMeta != nil) {
				t.Fatalf("flow of protocol %d with ICMP type %d/%d, application %q %v", fl.Proto, fl.ICMPType, fl.ICMPCode, fl.App, fl.AppMeta)
			}
			if fl.AppMeta != nil && fl.AppMeta.IsZero() {
				t.Fatalf("empty application metadata: %+v", fl)
			}
			pk += n
			by += fl.Bytes[0] + fl.Bytes[1]
			for _, e := range fl.ICMPErrors {
				errs += uint64(e.Count)
			}
		}
		if pk != reached || by != reachedBytes {
			t.Fatalf("%d packets (%d bytes) reached the table, flows count %d (%d)", reached, reachedBytes, pk, by)
		}
		if errs > quotes {
			t.Fatalf("%d ICMP errors recorded on flows from %d quotes", errs, quotes)
		}
	})
}

// checkPathRefs checks that every tunnel path of the table is held by as many flows
// as use it, and that the table's idle count is right.
func checkPathRefs(t *testing.T, tb *table) {
	holders := map[uint16]int32{}
	for l := range tb.lists {
		for i := tb.lists[l].head; i >= 0; i = tb.at(i).next {
			holders[tb.at(i).key.tun]++
		}
	}
	idle := 0
	for h := 1; h < len(tb.paths.paths); h++ {
		e := &tb.paths.paths[h]
		if !e.inUse {
			continue
		}
		if e.refs != holders[uint16(h)] {
			t.Fatalf("path %d: %d references, %d flows", h, e.refs, holders[uint16(h)])
		}
		if e.refs == 0 {
			idle++
		}
	}
	if idle != tb.paths.idle {
		t.Fatalf("%d idle paths, the table counts %d", idle, tb.paths.idle)
	}
}

// checkIndex checks the flow index against the entries: every used slot holds an entry
// in use, with its key's hash, that find reaches; the count is right.
func checkIndex(t *testing.T, tb *table) {
	used := 0
	for i, s := range tb.index.slots {
		if s.idx < 0 {
			continue
		}
		used++
		e := tb.at(s.idx)
		h := tb.index.hash(&e.key)
		if !e.inUse || uint32(h>>32) != s.h {
			t.Fatalf("index slot %d: entry %d in use %v, hash %#x, slot's %#x", i, s.idx, e.inUse, uint32(h>>32), s.h)
		}
		if j, ok := tb.index.find(tb, &e.key, h); !ok || j != s.idx {
			t.Fatalf("index slot %d (entry %d) not found from its key: %d, %v", i, s.idx, j, ok)
		}
	}
	if used != tb.index.len() {
		t.Fatalf("index: %d slots used, count %d", used, tb.index.len())
	}
}
