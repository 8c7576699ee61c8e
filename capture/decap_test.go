package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// Frame builders for the tunnel tests: documentation addresses, no checksums (the
// decoder reads none).

var (
	outerA = netip.MustParseAddr("192.0.2.1")
	outerB = netip.MustParseAddr("192.0.2.2")
	outerC = netip.MustParseAddr("192.0.2.3")
	innerA = netip.MustParseAddr("198.51.100.1")
	innerB = netip.MustParseAddr("198.51.100.2")
	in6A   = netip.MustParseAddr("2001:db8::a")
	in6B   = netip.MustParseAddr("2001:db8::b")
	teredo = netip.MustParseAddr("2001:0:4136:e378:8000:63bf:3fff:fdd2")
)

func bEth(et uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(b[12:], et)
	return append(b, payload...)
}

func bVLAN(id uint16, et uint16, payload []byte) []byte {
	b := []byte{byte(id >> 8), byte(id), byte(et >> 8), byte(et)}
	return append(b, payload...)
}

// bIP builds an IPv4 or IPv6 header (by the family of src) around payload.
func bIP(src, dst netip.Addr, proto byte, payload []byte) []byte {
	if src.Is4() {
		return bIP4frag(src, dst, proto, 0, 7, payload)
	}
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6], h[7] = proto, 64
	copy(h[8:], src.AsSlice())
	copy(h[24:], dst.AsSlice())
	return append(h, payload...)
}

func bIP4frag(src, dst netip.Addr, proto byte, frag, id uint16, payload []byte) []byte {
	h := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[4:], id)
	binary.BigEndian.PutUint16(h[6:], frag)
	h = append(h, src.AsSlice()...)
	h = append(h, dst.AsSlice()...)
	return append(h, payload...)
}

func bUDP(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

func bTCP(sport, dport uint16, flags byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	h[12], h[13] = 0x50, flags
	return h
}

// bInner is the inner packet most cases carry: TCP SYN 198.51.100.1:40000 → 198.51.100.2:443.
func bInner() []byte { return bIP(innerA, innerB, 6, bTCP(40000, 443, FlagSYN)) }

func bVXLAN(vni uint32, frame []byte) []byte {
	h := []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	return append(h, frame...)
}

func bGeneve(vni uint32, proto uint16, opts int, payload []byte) []byte {
	h := []byte{byte(opts), 0, byte(proto >> 8), byte(proto), byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	h = append(h, make([]byte, opts*4)...)
	return append(h, payload...)
}

// bGRE builds a version 0 GRE header with the optional fields flagged in f0.
func bGRE(f0 byte, key uint32, proto uint16, payload []byte) []byte {
	h := []byte{f0, 0, byte(proto >> 8), byte(proto)}
	if f0&0x80 != 0 {
		h = append(h, 0, 0, 0, 0)
	}
	if f0&0x20 != 0 {
		h = binary.BigEndian.AppendUint32(h, key)
	}
	if f0&0x10 != 0 {
		h = append(h, 0, 0, 0, 9)
	}
	return append(h, payload...)
}

// bGTP builds a G-PDU with TEID teid and the given extension headers (each a whole
// header: length byte, content, next type byte; the chain is linked here).
func bGTP(teid uint32, exts [][]byte, payload []byte) []byte {
	h := []byte{0x30, 0xff, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[4:], teid)
	if len(exts) > 0 {
		h[0] |= 0x04
		h = append(h, 0, 0, 0, exts[0][0]) // sequence, N-PDU, next type: the first extension's type
		for i, e := range exts {
			e = append([]byte(nil), e[1:]...) // drop the type placeholder
			if i+1 < len(exts) {
				e[len(e)-1] = exts[i+1][0]
			} else {
				e[len(e)-1] = 0
			}
			h = append(h, e...)
		}
	}
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)-8+len(payload)))
	return append(h, payload...)
}

func bMPLS(labels int, payload []byte) []byte {
	var h []byte
	for i := range labels {
		e := uint32(100+i)<<12 | 64
		if i == labels-1 {
			e |= 1 << 8
		}
		h = binary.BigEndian.AppendUint32(h, e)
	}
	return append(h, payload...)
}

// overVXLAN wraps an inner Ethernet frame in VXLAN VNI vni from a to b (port 4789).
func overVXLAN(a, b netip.Addr, vni uint32, inner []byte) []byte {
	return bEth(0x0800, bIP(a, b, 17, bUDP(50000, 4789, bVXLAN(vni, inner))))
}

type wantLayer struct {
	typ      TunnelType
	id       uint32
	hasID    bool
	src, dst netip.Addr
}

type decapCase struct {
	name  string
	frame []byte
	res   int
	// the flow the packet belongs to
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
	vlan         uint16
	layers       []wantLayer
	tooDeep      bool
}

func decapCases() []decapCase {
	tcp := bInner()
	inEth := bEth(0x0800, tcp)
	arp := bEth(0x0806, make([]byte, 28))
	vx := func(vni uint32) wantLayer { return wantLayer{TunnelVXLAN, vni, true, outerA, outerB} }
	flow := func(name string, frame []byte, layers ...wantLayer) decapCase {
		return decapCase{name: name, frame: frame, src: innerA, dst: innerB, proto: 6, sport: 40000, dport: 443, layers: layers}
	}
	outer := func(name string, frame []byte, proto uint8, sport, dport uint16) decapCase {
		return decapCase{name: name, frame: frame, src: outerA, dst: outerB, proto: proto, sport: sport, dport: dport}
	}
	udpTo := func(port uint16, payload []byte) []byte {
		return bEth(0x0800, bIP(outerA, outerB, 17, bUDP(50000, port, payload)))
	}
	gre := func(payload []byte) []byte { return bEth(0x0800, bIP(outerA, outerB, 47, payload)) }
	erspan2 := append([]byte{0x10, 0x64, 0x04, 0x2a, 0, 0, 0, 7}, inEth...) // version 1, VLAN 100, T, session 42
	erspan3 := append([]byte{0x20, 0x64, 0x00, 0x2b, 0, 0, 0, 1, 0, 0, 0x00, 0x00}, inEth...)
	erspan3IP := append([]byte{0x20, 0x64, 0x00, 0x2c, 0, 0, 0, 1, 0, 0, 0x08, 0x01}, append(make([]byte, 8), tcp...)...) // frame type IP, subheader
	teredoIn := bIP(teredo, in6B, 6, bTCP(40000, 443, FlagSYN))
	origin := []byte{0, 0, 0xfa, 0xce, 0x3f, 0x00, 0x00, 0x01}
	auth := []byte{0, 1, 2, 1, 'i', 'd', 'a', 1, 2, 3, 4, 5, 6, 7, 8, 0}
	gtpExt := [][]byte{{0x85, 1, 9, 0, 0}, {0xc0, 2, 0, 0, 0, 0, 0, 0, 0}} // type, then the header: a PDU session container of 4 bytes, another of 8
	ipipN := func(n int) []byte {
		b := tcp
		for range n {
			b = bIP(outerA, outerB, 4, b)
		}
		return bEth(0x0800, b)
	}
	cases := []decapCase{
		flow("vxlan", overVXLAN(outerA, outerB, 42, inEth), vx(42)),
		flow("vxlan on 8472", udpTo(8472, bVXLAN(7, inEth)), wantLayer{TunnelVXLAN, 7, true, outerA, outerB}),
		flow("vxlan with group policy", udpTo(4789, append([]byte{0x88, 0x40, 0x12, 0x34, 0, 0, 9, 0}, inEth...)), wantLayer{TunnelVXLAN, 9, true, outerA, outerB}),
		flow("vxlan over ipv6", bEth(0x86dd, bIP(netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::2"), 17,
			bUDP(50000, 4789, bVXLAN(5, bEth(0x0800, tcp))))),
			wantLayer{TunnelVXLAN, 5, true, netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::2")}),
		flow("vxlan-gpe ipv4", udpTo(4790, append([]byte{0x0c, 0, 0, 1, 0, 0, 3, 0}, tcp...)), wantLayer{TunnelVXLANGPE, 3, true, outerA, outerB}),
		flow("vxlan-gpe ethernet", udpTo(4790, append([]byte{0x0c, 0, 0, 3, 0, 0, 4, 0}, inEth...)), wantLayer{TunnelVXLANGPE, 4, true, outerA, outerB}),
		flow("geneve ethernet with options", udpTo(6081, bGeneve(77, 0x6558, 2, inEth)), wantLayer{TunnelGeneve, 77, true, outerA, outerB}),
		flow("geneve ipv4", udpTo(6081, bGeneve(78, 0x0800, 0, tcp)), wantLayer{TunnelGeneve, 78, true, outerA, outerB}),
		flow("gre ipv4", gre(bGRE(0, 0, 0x0800, tcp)), wantLayer{TunnelGRE, 0, false, outerA, outerB}),
		flow("gre checksum key sequence", gre(bGRE(0xb0, 1234, 0x0800, tcp)), wantLayer{TunnelGRE, 1234, true, outerA, outerB}),
		flow("gre transparent ethernet", gre(bGRE(0x20, 5, 0x6558, inEth)), wantLayer{TunnelGRE, 5, true, outerA, outerB}),
		flow("gre mpls", gre(bGRE(0, 0, 0x8847, bMPLS(2, tcp))), wantLayer{TunnelGRE, 0, false, outerA, outerB}),
		flow("pptp gre ppp", gre(append([]byte{0x30, 0x81, 0x88, 0x0b, 0, 40, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0x03, 0, 0x21}, tcp...)), wantLayer{TunnelGRE, 0, false, outerA, outerB}),
		flow("erspan type I", gre(bGRE(0, 0, 0x88be, inEth)), wantLayer{TunnelERSPAN, 0, false, outerA, outerB}),
		flow("erspan type II", gre(bGRE(0x10, 0, 0x88be, erspan2)), wantLayer{TunnelERSPAN, 42, true, outerA, outerB}),
		flow("erspan type III", gre(bGRE(0x10, 0, 0x22eb, erspan3)), wantLayer{TunnelERSPAN, 43, true, outerA, outerB}),
		flow("erspan type III ip frame with subheader", gre(bGRE(0x10, 0, 0x22eb, erspan3IP)), wantLayer{TunnelERSPAN, 44, true, outerA, outerB}),
		flow("4in4", bEth(0x0800, bIP(outerA, outerB, 4, tcp)), wantLayer{TunnelIPIP, 0, false, outerA, outerB}),
		{name: "6in4", frame: bEth(0x0800, bIP(outerA, outerB, 41, bIP(in6A, in6B, 17, bUDP(5353, 53, nil)))),
			src: in6A, dst: in6B, proto: 17, sport: 5353, dport: 53, layers: []wantLayer{{TunnelIPIP, 0, false, outerA, outerB}}},
		{name: "4in6", frame: bEth(0x86dd, bIP(in6A, in6B, 4, tcp)), src: innerA, dst: innerB, proto: 6, sport: 40000, dport: 443,
			layers: []wantLayer{{TunnelIPIP, 0, false, in6A, in6B}}},
		flow("gtp-u", udpTo(2152, bGTP(0x1234, nil, tcp)), wantLayer{TunnelGTPU, 0, false, outerA, outerB}),
		flow("gtp-u extension headers", udpTo(2152, bGTP(0x1234, gtpExt, tcp)), wantLayer{TunnelGTPU, 0, false, outerA, outerB}),
		flow("mpls over udp", udpTo(6635, bMPLS(3, tcp)), wantLayer{TunnelMPLSUDP, 0, false, outerA, outerB}),
		{name: "teredo", frame: udpTo(3544, teredoIn), src: teredo, dst: in6B, proto: 6, sport: 40000, dport: 443,
			layers: []wantLayer{{TunnelTeredo, 0, false, outerA, outerB}}},
		{name: "teredo from the relay's port, origin indication", frame: bEth(0x0800, bIP(outerA, outerB, 17, bUDP(3544, 50000, append(origin, teredoIn...)))),
			src: teredo, dst: in6B, proto: 6, sport: 40000, dport: 443, layers: []wantLayer{{TunnelTeredo, 0, false, outerA, outerB}}},
		{name: "teredo authentication and origin", frame: udpTo(3544, append(append(auth, origin...), teredoIn...)),
			src: teredo, dst: in6B, proto: 6, sport: 40000, dport: 443, layers: []wantLayer{{TunnelTeredo, 0, false, outerA, outerB}}},
		flow("vxlan in gre", gre(bGRE(0, 0, 0x0800, bIP(outerB, outerC, 17, bUDP(1, 4789, bVXLAN(3, inEth))))),
			wantLayer{TunnelGRE, 0, false, outerA, outerB}, wantLayer{TunnelVXLAN, 3, true, outerB, outerC}),
		func() decapCase {
			c := flow("four ipip", ipipN(4))
			for range 4 {
				c.layers = append(c.layers, wantLayer{TunnelIPIP, 0, false, outerA, outerB})
			}
			return c
		}(),
		// Not entered: the datagram stays what it is.
		outer("vxlan without the I flag", udpTo(4789, append([]byte{0, 0, 0, 0, 0, 0, 1, 0}, inEth...)), 17, 50000, 4789),
		outer("vxlan reserved bits", udpTo(4789, append([]byte{0x08, 0, 0, 1, 0, 0, 1, 0}, inEth...)), 17, 50000, 4789),
		outer("vxlan last byte", udpTo(4789, append([]byte{0x08, 0, 0, 0, 0, 0, 1, 1}, inEth...)), 17, 50000, 4789),
		outer("vxlan from port 4789 (source port only)", bEth(0x0800, bIP(outerA, outerB, 17, bUDP(4789, 53, bVXLAN(1, inEth)))), 17, 4789, 53),
		outer("vxlan carrying arp", udpTo(4789, bVXLAN(1, arp)), 17, 50000, 4789),
		outer("vxlan inner ip header cut", udpTo(4789, bVXLAN(1, inEth[:14+19])), 17, 50000, 4789),
		outer("vxlan-gpe oam", udpTo(4790, append([]byte{0x0d, 0, 0, 1, 0, 0, 3, 0}, tcp...)), 17, 50000, 4790),
		outer("vxlan-gpe nsh", udpTo(4790, append([]byte{0x0c, 0, 0, 4, 0, 0, 3, 0}, tcp...)), 17, 50000, 4790),
		outer("geneve version 1", udpTo(6081, append([]byte{0x40}, bGeneve(1, 0x6558, 0, inEth)[1:]...)), 17, 50000, 6081),
		outer("geneve control", udpTo(6081, append([]byte{0, 0x80}, bGeneve(1, 0x6558, 0, inEth)[2:]...)), 17, 50000, 6081),
		outer("geneve options past the end", udpTo(6081, bGeneve(1, 0x6558, 63, nil)[:20]), 17, 50000, 6081),
		outer("geneve unknown protocol", udpTo(6081, bGeneve(1, 0x894f, 0, tcp)), 17, 50000, 6081),
		outer("gtp echo request", udpTo(2152, append([]byte{0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0}, tcp[:0]...)), 17, 50000, 2152),
		outer("gtp version 2", udpTo(2152, append([]byte{0x50}, bGTP(1, nil, tcp)[1:]...)), 17, 50000, 2152),
		outer("gtp' (PT 0)", udpTo(2152, append([]byte{0x20}, bGTP(1, nil, tcp)[1:]...)), 17, 50000, 2152),
		outer("gtp extension of length 0", udpTo(2152, bGTP(1, [][]byte{{0x85, 0, 0, 0, 0}}, tcp)), 17, 50000, 2152),
		outer("gtp length past the datagram", udpTo(2152, bGTP(1, nil, tcp)[:30]), 17, 50000, 2152),
		outer("gtp carrying no ip", udpTo(2152, bGTP(1, nil, arp)), 17, 50000, 2152),
		outer("teredo without a teredo address", udpTo(3544, bIP(in6A, in6B, 6, bTCP(1, 2, FlagSYN))), 17, 50000, 3544),
		outer("teredo with trailing bytes", udpTo(3544, append(bIP(teredo, in6B, 59, nil), 1, 2)), 17, 50000, 3544),
		outer("teredo ipv4 inside", udpTo(3544, tcp), 17, 50000, 3544),
		outer("mpls over udp without bottom of stack", udpTo(6635, []byte{0, 0, 0, 64, 0, 0, 0, 64}), 17, 50000, 6635),
		outer("gre routing present", gre(bGRE(0x40, 0, 0x0800, tcp)), 47, 0, 0),
		outer("gre version 2", gre(append([]byte{0, 2, 8, 0}, tcp...)), 47, 0, 0),
		outer("gre keepalive", gre(bGRE(0, 0, 0, nil)), 47, 0, 0),
		outer("pptp ppp lcp", gre(append([]byte{0x30, 0x01, 0x88, 0x0b, 0, 8, 0, 9, 0, 0, 0, 1, 0xff, 0x03, 0xc0, 0x21}, 1, 1, 0, 4)), 47, 0, 0),
		outer("pptp without key", gre(append([]byte{0x10, 0x01, 0x88, 0x0b, 0, 0, 0, 1, 0x21}, tcp...)), 47, 0, 0),
		outer("erspan II version 2", gre(bGRE(0x10, 0, 0x88be, append([]byte{0x20}, erspan2[1:]...))), 47, 0, 0),
		outer("erspan III frame type 5", gre(bGRE(0x10, 0, 0x22eb, append(append([]byte(nil), erspan3[:10]...), append([]byte{0x14, 0}, inEth...)...))), 47, 0, 0),
		outer("ipip inner version 6", bEth(0x0800, bIP(outerA, outerB, 4, bIP(in6A, in6B, 6, bTCP(1, 2, 0)))), 4, 0, 0),
		outer("ipip inner header cut", bEth(0x0800, bIP(outerA, outerB, 4, tcp[:19])), 4, 0, 0),
	}
	// Entered, then the inner packet is as damaged as any: a decode error.
	cases = append(cases, decapCase{name: "vxlan inner tcp cut", frame: udpTo(4789, bVXLAN(1, inEth[:14+20+10])), res: decMalformed,
		src: innerA, dst: innerB, proto: 6, sport: 40000, dport: 443, layers: []wantLayer{vx(1)}})
	cases[len(cases)-1].layers[0].src, cases[len(cases)-1].layers[0].dst = outerA, outerB
	// Nested deeper than MaxTunnelDepth: four layers entered, the fifth packet kept as it is.
	deep := decapCase{name: "five ipip", frame: ipipN(5), src: outerA, dst: outerB, proto: 4, tooDeep: true}
	for range 4 {
		deep.layers = append(deep.layers, wantLayer{TunnelIPIP, 0, false, outerA, outerB})
	}
	cases = append(cases, deep)
	// The outer VLAN is kept; without one, the first tag inside.
	c := flow("vlan outside and inside", bEth(0x8100, bVLAN(10, 0x0800, bIP(outerA, outerB, 17, bUDP(1, 4789, bVXLAN(2, bEth(0x8100, bVLAN(20, 0x0800, tcp))))))), vx(2))
	c.vlan = 10
	cases = append(cases, c)
	c = flow("vlan inside only", udpTo(4789, bVXLAN(2, bEth(0x8100, bVLAN(20, 0x0800, tcp)))), vx(2))
	c.vlan = 20
	return append(cases, c)
}

func TestDecap(t *testing.T) {
	for _, c := range decapCases() {
		t.Run(c.name, func(t *testing.T) {
			var d decoder
			var p pkt
			res := d.decode(LinkEthernet, c.frame, &p)
			if res != c.res {
				t.Fatalf("result %d, want %d", res, c.res)
			}
			got := func(a [16]byte) netip.Addr { return addrFrom16(a) }
			if got(p.src) != c.src || got(p.dst) != c.dst || p.proto != c.proto || p.sport != c.sport || p.dport != c.dport || p.vlan != c.vlan {
				t.Errorf("flow %s %v:%d > %v:%d vlan %d, want %d %v:%d > %v:%d vlan %d", ProtoName(p.proto), got(p.src), p.sport, got(p.dst), p.dport, p.vlan,
					c.proto, c.src, c.sport, c.dst, c.dport, c.vlan)
			}
			if p.v6 != c.src.Is6() {
				t.Errorf("v6 %v for %v", p.v6, c.src)
			}
			if int(d.tun.depth) != len(c.layers) || d.tun.tooDeep != c.tooDeep {
				t.Fatalf("%d layers (too deep %v), want %d (%v)", d.tun.depth, d.tun.tooDeep, len(c.layers), c.tooDeep)
			}
			for i, w := range c.layers {
				l := d.layers[i]
				if l.typ != w.typ || l.id != w.id || l.hasID != w.hasID || got(l.src) != w.src || got(l.dst) != w.dst {
					t.Errorf("layer %d: %v id %d (%v) %v>%v, want %v id %d (%v) %v>%v", i, l.typ, l.id, l.hasID, got(l.src), got(l.dst), w.typ, w.id, w.hasID, w.src, w.dst)
				}
			}
			// Decapsulation off: the outermost packet, always.
			d = decoder{noDecap: true, ports: &tunnelPorts{}}
			d.decode(LinkEthernet, c.frame, &p)
			if d.tun.depth != 0 || p.proto == 6 && c.proto == 6 && len(c.layers) > 0 {
				t.Errorf("NoDecap: %d layers, proto %d", d.tun.depth, p.proto)
			}
		})
	}
}

// TestDecapPorts: Options.TunnelPorts replaces the default ports; a port not listed
// is not entered, a listed one is, with the type it names.
func TestDecapPorts(t *testing.T) {
	frame := bEth(0x0800, bIP(outerA, outerB, 17, bUDP(50000, 9999, bVXLAN(8, bEth(0x0800, bInner())))))
	std := overVXLAN(outerA, outerB, 8, bEth(0x0800, bInner()))
	for _, c := range []struct {
		ports        map[uint16]TunnelType
		custom, std4 int
	}{
		{nil, 0, 1},
		{map[uint16]TunnelType{9999: TunnelVXLAN}, 1, 0},
		{map[uint16]TunnelType{}, 0, 0},
		{map[uint16]TunnelType{4789: TunnelGeneve}, 0, 0}, // a VXLAN header is not a Geneve one
	} {
		var d decoder
		if c.ports != nil {
			d.ports = newTunnelPorts(c.ports)
		}
		var p pkt
		d.decode(LinkEthernet, frame, &p)
		got := int(d.tun.depth)
		d.decode(LinkEthernet, std, &p)
		if got != c.custom || int(d.tun.depth) != c.std4 {
			t.Errorf("ports %v: port 9999 entered %d, 4789 %d; want %d, %d", c.ports, got, d.tun.depth, c.custom, c.std4)
		}
	}
	if err := (&Options{TunnelPorts: map[uint16]TunnelType{4789: TunnelGRE}}).check(); err == nil {
		t.Error("GRE accepted as a UDP tunnel port")
	}
}

// TestDecapPartial: a GTP-U or Teredo header whose length runs past the bytes there
// is accepted in a datagram whose UDP length also does (a first fragment, a frame cut
// by the snap length), not in a complete one.
func TestDecapPartial(t *testing.T) {
	gtp := bUDP(2152, 2152, bGTP(1, nil, bIP(innerA, innerB, 17, bUDP(1, 2, make([]byte, 400)))))
	cut := gtp[:100] // its UDP length says more: a first fragment, or cut by the snap length
	short := append([]byte(nil), cut...)
	binary.BigEndian.PutUint16(short[4:], 100) // a complete datagram whose GTP-U length says more
	whole := bEth(0x0800, bIP4frag(outerA, outerB, 17, 0, 1, short))
	first := bEth(0x0800, bIP4frag(outerA, outerB, 17, 0x2000, 1, cut))
	var d decoder
	for _, c := range []struct {
		name  string
		frame []byte
		wire  uint32
		depth uint8
	}{
		{"complete datagram claiming more", whole, uint32(len(whole)), 0},
		{"first fragment", first, uint32(len(first)), 1},
		{"cut by the snap length", bEth(0x0800, bIP4frag(outerA, outerB, 17, 0, 1, cut)), uint32(len(whole)) + 400, 1},
	} {
		p := pkt{wire: c.wire}
		d.decode(LinkEthernet, c.frame, &p)
		if d.tun.depth != c.depth {
			t.Errorf("%s: %d layers, want %d", c.name, d.tun.depth, c.depth)
		}
	}
}

// TestDecapBoundedWork: a frame of thousands of nested IP-in-IP headers decodes four
// layers deep and no further, and a GTP-U chain of many extension headers is walked
// within the frame.
func TestDecapBoundedWork(t *testing.T) {
	b := bInner()
	for range 2000 {
		b = bIP(outerA, outerB, 4, b)
	}
	frame := bEth(0x0800, b)
	var d decoder
	var p pkt
	if n := testing.AllocsPerRun(10, func() { d.decode(LinkEthernet, frame, &p) }); n != 0 {
		t.Errorf("%.0f allocations", n)
	}
	if d.tun.depth != MaxTunnelDepth || !d.tun.tooDeep || p.proto != protoIPIP {
		t.Errorf("depth %d too deep %v proto %d; want %d, true, 4", d.tun.depth, d.tun.tooDeep, p.proto, MaxTunnelDepth)
	}
	var exts [][]byte
	for range 2000 {
		exts = append(exts, []byte{0x85, 1, 0, 0, 0})
	}
	frame = bEth(0x0800, bIP(outerA, outerB, 17, bUDP(1, 2152, bGTP(1, exts, bInner()))))
	d.decode(LinkEthernet, frame, &p)
	if d.tun.depth != 1 || p.sport != 40000 {
		t.Errorf("GTP-U with 2000 extension headers: depth %d port %d", d.tun.depth, p.sport)
	}
}

// TestDecapQuote: an ICMP error quoting a VXLAN datagram whose inner packet fits in
// the quote refers to the inner flow inside that tunnel; one inside the tunnel, to
// the inner flow in the same tunnel.
func TestDecapQuote(t *testing.T) {
	router := netip.MustParseAddr("192.0.2.254")
	inner := bInner()
	quoted := bIP(outerA, outerB, 17, bUDP(50000, 4789, bVXLAN(42, bEth(0x0800, inner))))
	icmp := append([]byte{3, 4, 0, 0, 0, 0, 5, 0xdc}, quoted...) // fragmentation needed
	frame := bEth(0x0800, bIP(router, outerA, 1, icmp))
	var d decoder
	var p pkt
	if r := d.decode(LinkEthernet, frame, &p); r != decOK || !p.hasQuote {
		t.Fatalf("result %d, quote %v", r, p.hasQuote)
	}
	if d.tun.depth != 0 || d.tun.qdepth != 1 || d.layers[0].typ != TunnelVXLAN || d.layers[0].id != 42 {
		t.Fatalf("own depth %d, quote depth %d, layer %+v", d.tun.depth, d.tun.qdepth, d.layers[0])
	}
	if addrFrom16(p.qsrc) != innerA || addrFrom16(p.qdst) != innerB || p.qproto != 6 || p.qsport != 40000 || p.qdport != 443 {
		t.Errorf("quote %v:%d > %v:%d proto %d", addrFrom16(p.qsrc), p.qsport, addrFrom16(p.qdst), p.qdport, p.qproto)
	}
	if addrFrom16(p.src) != router || p.proto != ProtoICMP {
		t.Errorf("the error itself: %v proto %d", addrFrom16(p.src), p.proto)
	}
	// Inside the tunnel: an inner host's port unreachable for inner UDP.
	innerErr := bIP(innerB, innerA, 1, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, bIP(innerA, innerB, 17, bUDP(5000, 53, nil))...))
	d.decode(LinkEthernet, overVXLAN(outerB, outerA, 42, bEth(0x0800, innerErr)), &p)
	if d.tun.depth != 1 || d.tun.qdepth != 1 || !p.hasQuote || p.qsport != 5000 {
		t.Errorf("error inside the tunnel: depth %d quote depth %d quote %v port %d", d.tun.depth, d.tun.qdepth, p.hasQuote, p.qsport)
	}
}

func TestDecapAllocs(t *testing.T) {
	var frames [][]byte
	for _, c := range decapCases() {
		frames = append(frames, c.frame)
	}
	var d decoder
	var p pkt
	if n := testing.AllocsPerRun(20, func() {
		for _, fr := range frames {
			d.decode(LinkEthernet, fr, &p)
		}
	}); n != 0 {
		t.Fatalf("decode allocates %.1f times per run", n)
	}
}
