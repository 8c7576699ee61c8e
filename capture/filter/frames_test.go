package filter

import (
	"encoding/binary"
	"net/netip"
)

// Hand-built packets for tests that need no capture files, all on documentation
// addresses. Each is a network-layer packet; the link wrappers below put it in a frame.

type l3 struct {
	name  string
	etype uint16 // EtherType of the packet
	data  []byte
}

func ip4(src, dst string, proto byte, fragOff uint16, options int, payload []byte) []byte {
	ihl := 5 + options
	b := make([]byte, 4*ihl, 4*ihl+len(payload))
	b[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)+len(payload)))
	binary.BigEndian.PutUint16(b[6:], fragOff)
	b[8] = 64
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	for i := 20; i < len(b); i++ {
		b[i] = 1 // NOP options
	}
	return append(b, payload...)
}

func ip6(src, dst string, next byte, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = next
	b[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

func tcpHdr(sport, dport uint16, flags byte) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 5 << 4
	b[13] = flags
	return b
}

func udpHdr(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func arpPkt(op uint16, spa, tpa string) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], 0x0800)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	s, t := netip.MustParseAddr(spa).As4(), netip.MustParseAddr(tpa).As4()
	copy(b[14:], s[:])
	copy(b[24:], t[:])
	return b
}

// craftedPackets are the network-layer packets of the hand-built tests.
func craftedPackets() []l3 {
	fragUDP := append([]byte{17, 0, 0, 0, 0, 0, 0, 1}, udpHdr(5353, 53, []byte("query"))...)
	// A non-first fragment whose data happens to look like ports 443 -> 443.
	frag := ip4("192.0.2.1", "198.51.100.2", 6, 100, 0, []byte{0x01, 0xbb, 0x01, 0xbb, 0, 0, 0, 0})
	return []l3{
		{"tcp4-syn-443", 0x0800, ip4("192.0.2.1", "198.51.100.2", 6, 0, 0, tcpHdr(49152, 443, 0x02))},
		{"tcp4-synack-443", 0x0800, ip4("198.51.100.2", "192.0.2.1", 6, 0, 0, tcpHdr(443, 49152, 0x12))},
		{"tcp4-frag-443", 0x0800, frag},
		{"tcp4-opts-22", 0x0800, ip4("203.0.113.7", "192.0.2.1", 6, 0x4000, 3, tcpHdr(22, 60000, 0x18))},
		{"udp4-dns", 0x0800, ip4("192.0.2.1", "203.0.113.9", 17, 0, 0, udpHdr(5353, 53, []byte("query")))},
		{"icmp4-echo", 0x0800, ip4("192.0.2.1", "198.51.100.2", 1, 0, 0, []byte{8, 0, 0, 0, 0, 1, 0, 1})},
		{"sctp4", 0x0800, ip4("192.0.2.5", "198.51.100.5", 132, 0, 0, []byte{0x8e, 0x3c, 0x8e, 0x3c, 0, 0, 0, 0, 0, 0, 0, 0})},
		{"gre4", 0x0800, ip4("192.0.2.5", "198.51.100.5", 47, 0, 0, []byte{0, 0, 0x08, 0x00})},
		{"tcp6-80", 0x86dd, ip6("2001:db8::1", "2001:db8:1::2", 6, tcpHdr(40000, 80, 0x02))},
		{"udp6-frag-dns", 0x86dd, ip6("2001:db8::1", "2001:db8::53", 44, fragUDP)},
		{"icmp6-echo", 0x86dd, ip6("2001:db8::1", "2001:db8::2", 58, []byte{128, 0, 0, 0, 0, 1, 0, 1})},
		{"icmp6-ns", 0x86dd, ip6("fe80::1", "ff02::1:ff00:2", 58, append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 16)...))},
		{"arp-who-has", 0x0806, arpPkt(1, "192.0.2.1", "192.0.2.254")},
	}
}

// Link-layer wrappers, keyed by link type.
func wrap(lt uint16, etype uint16, pkt []byte) []byte {
	var h []byte
	switch lt {
	case linkEthernet:
		h = make([]byte, 14)
		copy(h, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(h[12:], etype)
	case linkSLL:
		h = make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 0) // to us
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], etype)
	case linkSLL2:
		h = make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], etype)
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
	case linkNull:
		h = make([]byte, 4)
		binary.LittleEndian.PutUint32(h, afFor(etype))
	case linkLoop:
		h = make([]byte, 4)
		binary.BigEndian.PutUint32(h, afFor(etype))
	case linkPPP:
		h = []byte{0xff, 0x03, 0, 0}
		p := etype
		switch etype {
		case 0x0800:
			p = 0x21
		case 0x86dd:
			p = 0x57
		}
		binary.BigEndian.PutUint16(h[2:], p)
	}
	return append(h, pkt...)
}

func afFor(etype uint16) uint32 {
	switch etype {
	case 0x0800:
		return 2
	case 0x86dd:
		return 30 // Darwin's AF_INET6
	}
	return 99
}

// vlanTag inserts an 802.1Q tag with the given VLAN ID after the MAC addresses.
func vlanTag(frame []byte, tpid, id uint16) []byte {
	out := append([]byte{}, frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, id)
	return append(out, frame[12:]...)
}

// linkCarries reports whether link type lt can carry a packet of EtherType etype.
func linkCarries(lt uint16, etype uint16) bool {
	switch lt {
	case linkRaw:
		return etype == 0x0800 || etype == 0x86dd
	case linkIPv4:
		return etype == 0x0800
	case linkIPv6:
		return etype == 0x86dd
	case linkNull, linkLoop, linkPPP:
		return etype == 0x0800 || etype == 0x86dd
	}
	return true
}

type craftedFrame struct {
	name string
	data []byte
}

// craftedFrames wraps every crafted packet the link type can carry; on Ethernet it adds
// VLAN-tagged copies (VLAN 100, and 802.1ad 200 outside 100) of the TCP/UDP ones.
func craftedFrames(lt uint16) []craftedFrame {
	var out []craftedFrame
	for _, p := range craftedPackets() {
		if !linkCarries(lt, p.etype) {
			continue
		}
		fr := wrap(lt, p.etype, p.data)
		out = append(out, craftedFrame{p.name, fr})
		if lt == linkEthernet && (p.name == "tcp4-syn-443" || p.name == "tcp6-80" || p.name == "udp4-dns") {
			tagged := vlanTag(fr, 0x8100, 100)
			out = append(out, craftedFrame{"vlan100-" + p.name, tagged})
			out = append(out, craftedFrame{"qinq200-100-" + p.name, vlanTag(tagged, 0x88a8, 200)})
		}
	}
	return out
}

var craftedLinkTypes = []uint16{linkEthernet, linkSLL, linkSLL2, linkRaw, linkIPv4, linkIPv6, linkNull, linkLoop, linkPPP}
