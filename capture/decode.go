package capture

import "encoding/binary"

// Packet kinds the decoder produces.
const (
	kindNone      uint8 = iota // not decoded (see the decode result)
	kindFlow                   // a packet of a flow (ports filled for TCP/UDP/SCTP)
	kindFragment               // a non-first IP fragment: ports unknown until matched with its first fragment
	kindICMPQuote              // annotation: an ICMP error quoted the flow in q*; sent to the quoted flow's shard
	kindTick                   // control: the wall clock advanced to ts (live capture), sent to every shard
	kindMark                   // control: an interval ends at ts; every shard emits status records
)

// Results of decoding one frame.
const (
	decOK          = iota
	decNonIP       // a valid frame without IPv4/IPv6 (ARP, LLDP, STP, ...)
	decUnsupported // link type portclass cannot decode
	decMalformed   // truncated or inconsistent headers
)

// pkt is the small record decoding produces: everything the flow table needs and
// nothing more. Addresses are in 16-byte form (IPv4 mapped into IPv6). Its one
// pointer, payload, is a view of the frame, valid only while the frame is: the stage
// hands a packet to its table at once, and the fragment table, which holds packets
// for later, holds only non-first fragments, which have none.
type pkt struct {
	ts           int64
	wire         uint32
	src, dst     [16]byte
	sport, dport uint16
	vlan         uint16
	proto        uint8
	tcpFlags     uint8
	tcpPayload   bool // the TCP segment carries data
	kind         uint8
	v6           bool
	icmpType     uint8
	icmpCode     uint8
	fragFirst    bool   // first fragment of a fragmented datagram (offset 0, more fragments)
	fragID       uint32 // IPv4 identification or IPv6 fragment identification
	// the flow an ICMP error quotes (valid when hasQuote)
	hasQuote       bool
	qsrc, qdst     [16]byte
	qsport, qdport uint16
	qproto         uint8
	// tunnels (filled by the stage from the decoder's layers, see stage.tunnels): the
	// packet's tunnel path handle in its table's pathTable, its orientation in the path
	// (see makePathKey) and the path handle of the packet an ICMP error quotes
	tun     uint16
	tunSwap uint8
	qtun    uint16
	qvlan   uint16 // the VLAN ID of the quoted flow: vlan, or if 0 the first tag inside the quote's tunnels
	// payload is the transport payload of a TCP segment or UDP datagram (the
	// innermost one, inside tunnels), as much of it as the frame holds: for the
	// flow table's application identification (capture/appid). nil for other
	// packets and non-first fragments.
	payload []byte
}

var be = binary.BigEndian

// decoder turns frames into pkt records. It keeps no state between packets (but the
// tunnels of the last one, read by the stage) and never allocates; a decoder is not
// safe for concurrent use (callers keep one per goroutine). The zero value decodes
// with DefaultTunnelPorts.
//
// Every loop of the decoder consumes bytes (an IPv6 extension header at least 8, an
// MPLS label 4, an NFLOG TLV 4, a GTP-U extension header 4), so a frame of n bytes is
// decoded in O(n) steps whatever it claims. Nesting is bounded too: a PPI or PKTAP
// header may wrap any link type but PPI and PKTAP, at most MaxTunnelDepth tunnels are
// entered (see decap.go), and the packet an ICMP error quotes is parsed only one level
// deep (an ICMP error quoting an ICMP error quoting ... is read as one error quoting
// an ICMP packet, which is all the flow table needs).
type decoder struct {
	quoting bool         // inside the quote of an ICMP error
	noDecap bool         // Options.NoDecap (ports is then empty)
	ports   *tunnelPorts // UDP tunnel ports; nil means DefaultTunnelPorts
	tun     tunState     // what decapsulation found in the last packet; reset per packet
	ofrag   outerFrag    // valid when tun.ofrag
	layers  [MaxTunnelDepth]rawLayer
}

// decode fills p from frame. It returns decOK when p describes an IP packet.
func (d *decoder) decode(lt uint16, frame []byte, p *pkt) int {
	*p = pkt{ts: p.ts, wire: p.wire}
	d.tun = tunState{}
	switch lt {
	case LinkEthernet:
		return d.ether(frame, p)
	case LinkRaw, LinkRawOld, LinkRawOld2:
		return d.ipByVersion(frame, p)
	case LinkIPv4:
		return d.ip4(frame, p)
	case LinkIPv6:
		return d.ip6(frame, p)
	case LinkLinuxSLL:
		if len(frame) < 16 {
			return decMalformed
		}
		return d.ethertype(be.Uint16(frame[14:]), frame[16:], p)
	case LinkLinuxSLL2:
		if len(frame) < 20 {
			return decMalformed
		}
		return d.ethertype(be.Uint16(frame[0:]), frame[20:], p)
	case LinkNull, LinkLoop:
		if len(frame) < 4 {
			return decMalformed
		}
		af := binary.LittleEndian.Uint32(frame)
		if lt == LinkLoop || af > 0xffff {
			af = be.Uint32(frame)
		}
		switch af {
		case 2:
			return d.ip4(frame[4:], p)
		case 10, 24, 28, 30:
			return d.ip6(frame[4:], p)
		}
		return decNonIP
	case LinkPPP, LinkPPPHDLC:
		return d.ppp(frame, p)
	case LinkPPPEther:
		if len(frame) < 6 {
			return decMalformed
		}
		return d.ppp(frame[6:], p)
	case LinkNFLog:
		return d.nflog(frame, p)
	case LinkRadiotap:
		if len(frame) < 4 {
			return decMalformed
		}
		hl := int(binary.LittleEndian.Uint16(frame[2:]))
		if hl < 4 || hl > len(frame) {
			return decMalformed
		}
		return d.wifi(frame[hl:], p)
	case LinkIEEE80211:
		return d.wifi(frame, p)
	case LinkPPI:
		if len(frame) < 8 {
			return decMalformed
		}
		hl := int(binary.LittleEndian.Uint16(frame[2:]))
		inner := binary.LittleEndian.Uint32(frame[4:])
		if hl < 8 || hl > len(frame) || wrapper(inner) {
			return decMalformed
		}
		return d.decode(uint16(inner), frame[hl:], p)
	case LinkPKTAP:
		if len(frame) < 8 {
			return decMalformed
		}
		hl := int(binary.LittleEndian.Uint32(frame))
		inner := binary.LittleEndian.Uint32(frame[4:])
		if hl < 8 || hl > len(frame) || wrapper(inner) {
			return decMalformed
		}
		return d.decode(uint16(inner), frame[hl:], p)
	}
	return decUnsupported
}

// wrapper reports whether the link type a PPI or PKTAP header names for its payload
// is out of range or itself a wrapper (which would let a frame nest headers).
func wrapper(inner uint32) bool {
	return inner > 0xffff || inner == uint32(LinkPPI) || inner == uint32(LinkPKTAP)
}

func (d *decoder) ether(b []byte, p *pkt) int {
	if len(b) < 14 {
		return decMalformed
	}
	return d.ethertype(be.Uint16(b[12:]), b[14:], p)
}

// ethertype decodes the payload of an Ethernet-like header with type et, peeling
// 802.1Q/802.1ad tags (the outermost VLAN ID is kept), MPLS and PPPoE sessions.
func (d *decoder) ethertype(et uint16, b []byte, p *pkt) int {
	for range 8 {
		switch et {
		case 0x0800:
			return d.ip4(b, p)
		case 0x86dd:
			return d.ip6(b, p)
		case 0x8100, 0x88a8, 0x9100, 0x9200:
			if len(b) < 4 {
				return decMalformed
			}
			if p.vlan == 0 {
				p.vlan = be.Uint16(b) & 0x0fff
			}
			et, b = be.Uint16(b[2:]), b[4:]
		case 0x8847, 0x8848: // MPLS: skip labels to the bottom of the stack
			for {
				if len(b) < 4 {
					return decMalformed
				}
				bos := b[2]&1 == 1
				b = b[4:]
				if bos {
					break
				}
			}
			return d.ipByVersion(b, p)
		case 0x8864: // PPPoE session
			if len(b) < 6 {
				return decMalformed
			}
			return d.ppp(b[6:], p)
		default:
			return decNonIP
		}
	}
	return decMalformed
}

// wifi decodes an IEEE 802.11 data frame carrying LLC/SNAP. Management and control
// frames, and protected (encrypted) data, are not IP as far as portclass can see.
func (d *decoder) wifi(b []byte, p *pkt) int {
	if len(b) < 24 {
		return decMalformed
	}
	fc0, fc1 := b[0], b[1]
	if (fc0>>2)&3 != 2 { // not a data frame
		return decNonIP
	}
	if fc1&0x40 != 0 { // protected
		return decNonIP
	}
	subtype := fc0 >> 4
	if subtype&4 != 0 { // null function: no payload
		return decNonIP
	}
	hl := 24
	if fc1&3 == 3 { // ToDS and FromDS: a fourth address
		hl += 6
	}
	if subtype&8 != 0 { // QoS data
		hl += 2
		if fc1&0x80 != 0 { // HT control present with order bit on QoS frames
			hl += 4
		}
	}
	if len(b) < hl+8 {
		return decMalformed
	}
	llc := b[hl:]
	if llc[0] != 0xaa || llc[1] != 0xaa || llc[2] != 0x03 {
		return decNonIP
	}
	return d.ethertype(be.Uint16(llc[6:]), llc[8:], p)
}

func (d *decoder) ppp(b []byte, p *pkt) int {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b = b[2:]
	}
	if len(b) < 1 {
		return decMalformed
	}
	var proto uint16
	if b[0]&1 == 1 { // protocol field compressed to one byte
		proto, b = uint16(b[0]), b[1:]
	} else {
		if len(b) < 2 {
			return decMalformed
		}
		proto, b = be.Uint16(b), b[2:]
	}
	switch proto {
	case 0x21:
		return d.ip4(b, p)
	case 0x57:
		return d.ip6(b, p)
	}
	return decNonIP
}

// nflog decodes Linux NFLOG frames: a 4-byte header, then TLVs in host byte order
// (little-endian on every platform that writes them in practice); type 9 is the payload.
func (d *decoder) nflog(b []byte, p *pkt) int {
	if len(b) < 4 {
		return decMalformed
	}
	family := b[0]
	b = b[4:]
	for len(b) >= 4 {
		l := int(binary.LittleEndian.Uint16(b))
		t := binary.LittleEndian.Uint16(b[2:]) & 0x7fff
		if l < 4 || l > len(b) {
			return decMalformed
		}
		if t == 9 {
			v := b[4:l]
			switch family {
			case 2:
				return d.ip4(v, p)
			case 10:
				return d.ip6(v, p)
			}
			return d.ipByVersion(v, p)
		}
		l = (l + 3) &^ 3
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return decNonIP
}

func (d *decoder) ipByVersion(b []byte, p *pkt) int {
	if len(b) < 1 {
		return decMalformed
	}
	switch b[0] >> 4 {
	case 4:
		return d.ip4(b, p)
	case 6:
		return d.ip6(b, p)
	}
	return decMalformed
}

func mapped4(dst *[16]byte, b []byte) {
	*dst = [16]byte{10: 0xff, 11: 0xff, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}
}

func (d *decoder) ip4(b []byte, p *pkt) int {
	if len(b) < 20 || b[0]>>4 != 4 {
		return decMalformed
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(be.Uint16(b[2:]))
	if ihl < 20 || len(b) < ihl {
		return decMalformed
	}
	// Tolerate total lengths of 0 (TSO) and frames cut by the snaplen; trim Ethernet padding.
	if total >= ihl && total < len(b) {
		b = b[:total]
	}
	mapped4(&p.src, b[12:16])
	mapped4(&p.dst, b[16:20])
	p.proto = b[9]
	frag := be.Uint16(b[6:])
	off, more := frag&0x1fff, frag&0x2000 != 0
	p.kind = kindFlow
	if off != 0 {
		p.kind = kindFragment
		p.fragID = uint32(be.Uint16(b[4:]))
		return decOK
	}
	if more {
		p.fragFirst = true
		p.fragID = uint32(be.Uint16(b[4:]))
	}
	return d.transport(b[ihl:], p)
}

func (d *decoder) ip6(b []byte, p *pkt) int {
	if len(b) < 40 || b[0]>>4 != 6 {
		return decMalformed
	}
	plen := int(be.Uint16(b[4:]))
	if plen > 0 && 40+plen < len(b) {
		b = b[:40+plen]
	}
	p.v6 = true
	p.src = [16]byte(b[8:24])
	p.dst = [16]byte(b[24:40])
	next := b[6]
	b = b[40:]
	p.kind = kindFlow
	// The chain has no fixed bound (test captures carry a hundred headers), but every
	// header consumes at least 8 bytes, so the walk ends within len(b)/8 steps.
	for {
		switch next {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(b) < 8 {
				return decMalformed
			}
			l := (int(b[1]) + 1) * 8
			if l > len(b) {
				return decMalformed
			}
			next, b = b[0], b[l:]
		case 51: // AH: length in 4-octet units minus 2
			if len(b) < 8 {
				return decMalformed
			}
			l := (int(b[1]) + 2) * 4
			if l > len(b) {
				return decMalformed
			}
			next, b = b[0], b[l:]
		case 44: // fragment
			if len(b) < 8 {
				return decMalformed
			}
			off, more := be.Uint16(b[2:])>>3, b[3]&1 == 1
			id := be.Uint32(b[4:])
			next, b = b[0], b[8:]
			if off != 0 {
				p.proto = next
				p.kind = kindFragment
				p.fragID = id
				return decOK
			}
			if more {
				p.fragFirst = true
				p.fragID = id
			}
		default:
			p.proto = next
			return d.transport(b, p)
		}
	}
}

// transport decodes the transport header of a first (or only) fragment.
func (d *decoder) transport(b []byte, p *pkt) int {
	switch p.proto {
	case ProtoTCP:
		if len(b) < 4 {
			return decMalformed
		}
		p.sport, p.dport = be.Uint16(b), be.Uint16(b[2:])
		if len(b) < 14 {
			return decMalformed // ports are set: an ICMP quote needs only those
		}
		p.tcpFlags = b[13]
		if off := int(b[12]>>4) * 4; len(b) > off {
			p.tcpPayload = true
			if off >= 20 {
				p.payload = b[off:]
			}
		}
	case ProtoUDP:
		if len(b) < 4 {
			return decMalformed
		}
		p.sport, p.dport = be.Uint16(b), be.Uint16(b[2:])
		// One load and test for ordinary UDP: the filter on the ports' low bytes.
		tp := d.ports
		if tp == nil {
			tp = defaultPorts
		}
		if (tp.hint[p.dport>>6&3]>>(p.dport&63)|tp.hint[p.sport>>6&3]>>(p.sport&63))&1 != 0 {
			if r, ok := d.udpTunnel(tp, b, p); ok {
				return r
			}
		}
		if len(b) >= 8 {
			pay := b[8:]
			if ul := int(be.Uint16(b[4:])); ul >= 8 && ul-8 < len(pay) {
				pay = pay[:ul-8] // Ethernet padding after a short datagram
			}
			p.payload = pay
		}
	case ProtoSCTP:
		if len(b) < 4 {
			return decMalformed
		}
		p.sport, p.dport = be.Uint16(b), be.Uint16(b[2:])
	case protoIPIP, protoIPv6, protoGRE:
		if !d.noDecap {
			if r, ok := d.ipTunnel(b, p); ok {
				return r
			}
		}
	case ProtoICMP, ProtoICMPv6:
		if (p.proto == ProtoICMP) == p.v6 {
			// ICMP over IPv6 or ICMPv6 over IPv4: keep it as an opaque protocol flow
			return decOK
		}
		if len(b) < 4 {
			return decMalformed
		}
		p.icmpType, p.icmpCode = b[0], b[1]
		if isICMPError(p.proto, p.icmpType) && len(b) >= 8 && !d.quoting {
			d.quote(b[8:], p)
		}
	}
	return decOK
}

func isICMPError(proto, typ uint8) bool {
	if proto == ProtoICMP {
		return typ == 3 || typ == 4 || typ == 5 || typ == 11 || typ == 12
	}
	return typ >= 1 && typ <= 4
}

// quote parses the IP header (and the first 8 bytes of its payload) that an ICMP
// error carries. Quotes too short or malformed leave hasQuote false; the ICMP
// packet itself is still a valid flow packet.
//
// The quote may be of an encapsulated packet (an ICMP error from a router of the
// underlay, quoting a VXLAN datagram whose inner packet fits in the quote): the
// tunnels are entered as for any packet, after the ICMP packet's own, and
// d.tun.qdepth says where the quoted packet's path ends.
//
// When the quoted packet's tunnel holds nothing usable (an inner non-first fragment,
// an inner header cut short), the quote is parsed again without entering tunnels: the
// error is then of the outer datagram, as when its tunnel header does not parse.
func (d *decoder) quote(b []byte, p *pkt) {
	var q pkt
	own, entered := d.tun.depth, d.tun.entered
	quoted, ok := d.quoted(b, p.v6, &q)
	if !ok && quoted != own {
		noDecap, ports := d.noDecap, d.ports
		d.noDecap, d.ports, d.tun.entered = true, &noTunnelPorts, entered
		q = pkt{}
		quoted, ok = d.quoted(b, p.v6, &q)
		d.noDecap, d.ports = noDecap, ports
	}
	if !ok {
		return
	}
	d.tun.qdepth = quoted
	p.qvlan = p.vlan
	if p.qvlan == 0 {
		p.qvlan = q.vlan
	}
	p.hasQuote = true
	p.qsrc, p.qdst, p.qproto = q.src, q.dst, q.proto
	p.qsport, p.qdport = q.sport, q.dport
}

// noTunnelPorts names no UDP tunnel port: quote's second parse.
var noTunnelPorts tunnelPorts

// quoted parses the quoted packet b into q and reports the depth its path ends at
// and whether q is a usable quote: the quoted header's addresses, protocol and, for
// protocols with ports, ports (a transport header cut short is fine when its ports are
// there), not a non-first fragment, of the outer packet's IP version unless tunnelled.
func (d *decoder) quoted(b []byte, v6 bool, q *pkt) (depth uint8, ok bool) {
	own := d.tun.depth
	var r int
	d.quoting = true
	if v6 {
		r = d.ip6(b, q)
	} else {
		r = d.ip4(b, q)
	}
	d.quoting = false
	depth, d.tun.depth = d.tun.depth, own
	if r != decOK && !(r == decMalformed && q.proto != 0 && q.sport|q.dport != 0) {
		return depth, false
	}
	return depth, !(q.v6 != v6 && depth == own) && q.kind != kindFragment
}
