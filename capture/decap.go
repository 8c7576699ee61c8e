package capture

// Decapsulation. A packet's flow is the innermost IP packet the decoder can reach:
// the decoder enters a tunnel only when its header passes the checks below (a
// datagram on a tunnel port that does not parse as the tunnel stays an ordinary
// datagram) and a complete IPv4 or IPv6 header follows it, possibly behind an
// Ethernet header, 802.1Q/802.1ad tags, MPLS labels, PPPoE or PPP. What a tunnel
// carries that is not IP (ARP inside VXLAN, PPP control inside PPTP's GRE, a tunnel
// keepalive) therefore counts on the flow of the IP packet that carries it, as tshark's
// innermost IP layer does. Once entered, the inner packet is decoded like any packet:
// a transport header cut short makes a decode error.
//
// What is entered, and the checks:
//
//   - UDP to a port of Options.TunnelPorts (the destination port; for Teredo either
//     port, since relays answer from 3544):
//     VXLAN: flags I set, no other flag but G (group-based policy), reserved bytes zero
//     (bytes 1-3 may carry the policy when G is set), Ethernet inside.
//     VXLAN-GPE: version 0, I set, O (OAM) clear, next protocol IPv4, IPv6, Ethernet or
//     MPLS (Ethernet when P is clear), reserved bytes zero.
//     Geneve: version 0, O (control) clear, reserved bits zero, protocol Ethernet
//     (0x6558), IPv4, IPv6 or MPLS; options skipped.
//     GTP-U: version 1, PT 1, message type 255 (G-PDU), length within the datagram,
//     sequence/N-PDU/extension fields and the chain of extension headers skipped; IPv4
//     or IPv6 inside. Other messages (echo, error indication, end marker) stay UDP.
//     Teredo: authentication and origin indications skipped, then an IPv6 packet that
//     fills the datagram exactly and has a Teredo address (2001::/32) on one side, or a
//     link-local source or destination (the qualification's router solicitations).
//     MPLS over UDP: a label stack, then IPv4 or IPv6.
//   - IP protocol 4 (IPv4) and 41 (IPv6) in IPv4 or IPv6: the inner header itself.
//   - GRE (IP protocol 47), version 0 with optional checksum, key and sequence number
//     (routing and the RFC 1701 flags rejected), or version 1 (PPTP: key set, no
//     checksum, protocol PPP). Protocols IPv4, IPv6, PPP, MPLS, transparent Ethernet
//     bridging (0x6558), ERSPAN type I and II (0x88BE: type II when the sequence
//     number is present, version 1 in its header) and type III (0x22EB, version 2,
//     frame type Ethernet or IP, optional subheader skipped). Other GRE payloads
//     (keepalives, WCCP, ...) stay a protocol 47 flow.
//
// At most MaxTunnelDepth layers are entered; a packet nested deeper is counted in
// tun.tooDeep and keeps the flow of the deepest packet reached.

// tunState is what decapsulation found in one packet, reset per packet.
type tunState struct {
	entered bool  // a tunnel was entered (in the packet or its quote): the one test for the others
	depth   uint8 // d.layers[:depth] are the packet's tunnels, outermost first
	qdepth  uint8 // d.layers[:qdepth] are the tunnels of the packet an ICMP error quotes (with p.hasQuote)
	tooDeep bool  // a tunnel beyond MaxTunnelDepth was not entered
	ofrag   bool  // an outer IP layer was the first fragment of a datagram: see d.ofrag
}

// outerFrag is an outer IP layer that is the first fragment of its datagram: its
// non-first fragments belong to the flow of the innermost packet (see fragTable).
type outerFrag struct {
	src, dst [16]byte
	id       uint32
	vlan     uint16 // the VLAN ID known at that layer
	proto    uint8
	depth    uint8 // tunnels around that IP layer: d.layers[:depth]
}

// IP protocols that carry tunnels.
const (
	protoIPIP uint8 = 4
	protoIPv6 uint8 = 41
	protoGRE  uint8 = 47
)

// What a tunnel header says follows it.
const (
	payEthernet = iota
	payIP       // IPv4 or IPv6, by the version nibble
	payIPv4
	payIPv6
	payMPLS
	payPPP
)

// udpTunnel enters the tunnel a UDP datagram (b: header and payload; p: the outer
// packet, ports set) carries, if tp names one of its ports. ok false leaves p as it was.
func (d *decoder) udpTunnel(tp *tunnelPorts, b []byte, p *pkt) (res int, ok bool) {
	typ := tp.lookup(p.dport)
	if typ == TunnelUnknown {
		if typ = tp.lookup(p.sport); typ != TunnelTeredo {
			return 0, false
		}
	}
	if len(b) < 8 {
		return 0, false
	}
	// The datagram may hold less than its headers declare when its UDP length says
	// more than there is (a first fragment, a frame cut by the snap length) or it is
	// quoted by an ICMP error.
	partial := d.quoting
	if ul := int(be.Uint16(b[4:])); ul >= 8 && ul < len(b) {
		b = b[:ul] // Ethernet padding after a short datagram
	} else if ul > len(b) {
		partial = true
	}
	b = b[8:]
	switch typ {
	case TunnelVXLAN:
		if len(b) < 8 || b[0]&0x08 == 0 || b[0]&^0x88 != 0 || b[7] != 0 {
			return 0, false
		}
		if b[0]&0x80 == 0 && b[1]|b[2]|b[3] != 0 || b[0]&0x80 != 0 && b[1]&^0x48 != 0 {
			return 0, false
		}
		return d.enter(p, TunnelVXLAN, vni(b[4:]), true, payEthernet, b[8:])
	case TunnelVXLANGPE:
		if len(b) < 8 || b[0]&0xf9 != 0x08 || b[1]|b[2]|b[7] != 0 {
			return 0, false // R R clear, version 0, I set, O clear (P and B free)
		}
		pay := payEthernet
		if b[0]&0x04 != 0 {
			switch b[3] {
			case 1:
				pay = payIPv4
			case 2:
				pay = payIPv6
			case 3:
				pay = payEthernet
			case 5:
				pay = payMPLS
			default:
				return 0, false
			}
		} else if b[3] != 0 {
			return 0, false
		}
		return d.enter(p, TunnelVXLANGPE, vni(b[4:]), true, pay, b[8:])
	case TunnelGeneve:
		if len(b) < 8 || b[0]>>6 != 0 || b[1]&0xbf != 0 || b[7] != 0 {
			return 0, false // version 0, O clear (C free), reserved zero
		}
		hl := 8 + int(b[0]&0x3f)*4
		if hl > len(b) {
			return 0, false
		}
		pay, ok := etherPayload(be.Uint16(b[2:]))
		if !ok {
			return 0, false
		}
		return d.enter(p, TunnelGeneve, vni(b[4:]), true, pay, b[hl:])
	case TunnelGTPU:
		if len(b) < 8 || b[0]&0xf0 != 0x30 || b[1] != 0xff {
			return 0, false // version 1, PT 1; G-PDU
		}
		if n := 8 + int(be.Uint16(b[2:])); n <= len(b) {
			b = b[:n]
		} else if !partial {
			return 0, false
		}
		off := 8
		if b[0]&0x07 != 0 { // sequence number, N-PDU number, next extension header type
			if len(b) < 12 {
				return 0, false
			}
			next := b[11]
			off = 12
			for next != 0 { // each extension header is 4·n bytes, its last byte the next type
				if off >= len(b) {
					return 0, false
				}
				l := int(b[off]) * 4
				if l == 0 || off+l > len(b) {
					return 0, false
				}
				next = b[off+l-1]
				off += l
			}
		}
		return d.enter(p, TunnelGTPU, 0, false, payIP, b[off:])
	case TunnelTeredo:
		if len(b) >= 4 && b[0] == 0 && b[1] == 1 { // authentication indication
			n := 4 + int(b[2]) + int(b[3]) + 9
			if n > len(b) {
				return 0, false
			}
			b = b[n:]
		}
		if len(b) >= 8 && b[0] == 0 && b[1] == 0 { // origin indication
			b = b[8:]
		}
		if len(b) < 40 || b[0]>>4 != 6 || !teredoAddr(b[8:24]) && !teredoAddr(b[24:40]) {
			return 0, false
		}
		if n := 40 + int(be.Uint16(b[4:])); n < len(b) || n > len(b) && !partial {
			return 0, false
		}
		return d.enter(p, TunnelTeredo, 0, false, payIPv6, b)
	case TunnelMPLSUDP:
		return d.enter(p, TunnelMPLSUDP, 0, false, payMPLS, b)
	}
	return 0, false
}

func vni(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

// teredoAddr reports whether a is a Teredo address (2001:0::/32) or link-local
// (fe80::/10), as Teredo qualification uses.
func teredoAddr(a []byte) bool {
	return a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0 || a[0] == 0xfe && a[1]&0xc0 == 0x80
}

// etherPayload maps an EtherType naming a tunnel's payload to a pay* kind.
func etherPayload(et uint16) (int, bool) {
	switch et {
	case 0x6558:
		return payEthernet, true
	case 0x0800:
		return payIPv4, true
	case 0x86dd:
		return payIPv6, true
	case 0x8847, 0x8848:
		return payMPLS, true
	}
	return 0, false
}

// ipTunnel enters IP-in-IP or GRE (p.proto 4, 41 or 47; b is the IP payload).
func (d *decoder) ipTunnel(b []byte, p *pkt) (res int, ok bool) {
	switch p.proto {
	case protoIPIP:
		return d.enter(p, TunnelIPIP, 0, false, payIPv4, b)
	case protoIPv6:
		return d.enter(p, TunnelIPIP, 0, false, payIPv6, b)
	}
	// GRE
	if len(b) < 4 {
		return 0, false
	}
	f0, f1, proto := b[0], b[1], be.Uint16(b[2:])
	var key uint32
	hasKey := false
	off := 4
	switch f1 & 0x07 { // version
	case 0:
		if f0&0x4f != 0 || f1&0xf8 != 0 { // routing, strict source route, recursion; flags
			return 0, false
		}
		if f0&0x80 != 0 { // checksum and reserved1
			off += 4
		}
		if f0&0x20 != 0 {
			if len(b) < off+4 {
				return 0, false
			}
			key, hasKey = be.Uint32(b[off:]), true
			off += 4
		}
		if f0&0x10 != 0 { // sequence number
			off += 4
		}
	case 1: // PPTP (RFC 2637): key (payload length, call ID) always, no checksum or routing
		if f0&0xef != 0x20 || f1&0x78 != 0 || proto != 0x880b {
			return 0, false
		}
		off = 8
		if f0&0x10 != 0 {
			off += 4
		}
		if f1&0x80 != 0 { // acknowledgment number
			off += 4
		}
	default:
		return 0, false
	}
	if len(b) < off {
		return 0, false
	}
	b = b[off:]
	switch proto {
	case 0x88be: // ERSPAN type II (with a sequence number) or type I (without)
		if f0&0x10 == 0 {
			return d.enter(p, TunnelERSPAN, 0, false, payEthernet, b)
		}
		if len(b) < 8 || b[0]>>4 != 1 {
			return 0, false
		}
		return d.enter(p, TunnelERSPAN, uint32(be.Uint16(b[2:])&0x3ff), true, payEthernet, b[8:])
	case 0x22eb: // ERSPAN type III
		if len(b) < 12 || b[0]>>4 != 2 {
			return 0, false
		}
		w := be.Uint16(b[10:])
		hl := 12
		if w&1 != 0 { // platform-specific subheader
			hl += 8
		}
		if len(b) < hl {
			return 0, false
		}
		pay := payEthernet
		switch w >> 10 & 0x1f { // frame type
		case 0:
		case 2:
			pay = payIP
		default:
			return 0, false
		}
		return d.enter(p, TunnelERSPAN, uint32(be.Uint16(b[2:])&0x3ff), true, pay, b[hl:])
	case 0x880b:
		return d.enter(p, TunnelGRE, key, hasKey, payPPP, b)
	}
	pay, ok := etherPayload(proto)
	if !ok {
		return 0, false
	}
	return d.enter(p, TunnelGRE, key, hasKey, pay, b)
}

// enter decodes the packet inside a tunnel of type typ whose header the caller
// checked: b holds what follows the header, of kind pay. p describes the outer packet
// (the tunnel's IP layer). If an IP header follows (findIP), the layer is recorded and
// p is refilled from the inner packet; else, or beyond MaxTunnelDepth, ok is false and
// p is untouched.
func (d *decoder) enter(p *pkt, typ TunnelType, id uint32, hasID bool, pay int, b []byte) (res int, ok bool) {
	ip, vlan, v6, ok := findIP(pay, b)
	if !ok {
		return 0, false
	}
	if int(d.tun.depth) == MaxTunnelDepth {
		if !d.quoting {
			d.tun.tooDeep = true
		}
		return 0, false
	}
	d.layers[d.tun.depth] = rawLayer{src: p.src, dst: p.dst, id: id, typ: typ, hasID: hasID}
	d.tun.entered = true
	if p.fragFirst && !d.quoting {
		d.tun.ofrag = true
		d.ofrag = outerFrag{src: p.src, dst: p.dst, id: p.fragID, vlan: p.vlan, proto: p.proto, depth: d.tun.depth}
	}
	d.tun.depth++
	if p.vlan != 0 {
		vlan = p.vlan
	}
	*p = pkt{ts: p.ts, wire: p.wire, vlan: vlan}
	if v6 {
		return d.ip6(ip, p), true
	}
	return d.ip4(ip, p), true
}

// findIP walks from a tunnel's payload of kind pay to an IP header and checks it is
// complete: an IPv4 header of at least 20 bytes with its options, or the 40 bytes of
// IPv6. It returns the IP packet, the first VLAN ID met (0 if none) and its version.
// Every loop consumes at least 4 bytes.
func findIP(pay int, b []byte) (ip []byte, vlan uint16, v6, ok bool) {
	et := uint16(0)
	switch pay {
	case payEthernet:
		if len(b) < 14 {
			return nil, 0, false, false
		}
		et, b = be.Uint16(b[12:]), b[14:]
	case payIPv4:
		et = 0x0800
	case payIPv6:
		et = 0x86dd
	case payMPLS:
		et = 0x8847
	case payPPP:
		et = 0x880b // not an EtherType: PPP, as PPTP's GRE names it
	case payIP:
		et = 0xffff
	}
	for range 16 {
		switch et {
		case 0x8100, 0x88a8, 0x9100, 0x9200:
			if len(b) < 4 {
				return nil, 0, false, false
			}
			if vlan == 0 {
				vlan = be.Uint16(b) & 0x0fff
			}
			et, b = be.Uint16(b[2:]), b[4:]
		case 0x8847, 0x8848:
			for {
				if len(b) < 4 {
					return nil, 0, false, false
				}
				bos := b[2]&1 == 1
				b = b[4:]
				if bos {
					break
				}
			}
			et = 0xffff
		case 0x8864: // PPPoE session
			if len(b) < 6 {
				return nil, 0, false, false
			}
			b = b[6:]
			et = 0x880b
		case 0x880b:
			if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
				b = b[2:]
			}
			if len(b) < 1 {
				return nil, 0, false, false
			}
			var proto uint16
			if b[0]&1 == 1 {
				proto, b = uint16(b[0]), b[1:]
			} else {
				if len(b) < 2 {
					return nil, 0, false, false
				}
				proto, b = be.Uint16(b), b[2:]
			}
			switch proto {
			case 0x21:
				et = 0x0800
			case 0x57:
				et = 0x86dd
			default:
				return nil, 0, false, false
			}
		case 0xffff: // IP by version
			if len(b) < 1 {
				return nil, 0, false, false
			}
			switch b[0] >> 4 {
			case 4:
				et = 0x0800
			case 6:
				et = 0x86dd
			default:
				return nil, 0, false, false
			}
		case 0x0800:
			if len(b) < 20 || b[0]>>4 != 4 || b[0]&0x0f < 5 || len(b) < int(b[0]&0x0f)*4 {
				return nil, 0, false, false
			}
			return b, vlan, false, true
		case 0x86dd:
			if len(b) < 40 || b[0]>>4 != 6 {
				return nil, 0, false, false
			}
			return b, vlan, true, true
		default:
			return nil, 0, false, false
		}
	}
	return nil, 0, false, false
}
