package synth

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
)

// The tunnels scenario (KindTunnels) is the veeam scenario's packets, every one
// encapsulated as the capture of a cloud or overlay network delivers it. Each inner
// flow (its 5-tuple, either direction) travels in one encapsulation, chosen by a hash
// of the 5-tuple:
//
//	half      VXLAN, VNI 7: a traffic-mirror session (AWS VPC Traffic Mirroring), both
//	          directions from the mirror source 203.0.113.10 to the collector
//	          203.0.113.99, UDP to 4789
//	a quarter Geneve, VNI 5001, between two VTEPs 198.51.100.1 and 198.51.100.2, UDP
//	          to 6081: the lower inner address behind .1
//	an eighth GRE with key 1000 between 198.51.100.11 and .12, the inner IP packet
//	          without its Ethernet header
//	an eighth VXLAN, VNI 9, between 198.51.100.21 and .22, inside GRE (no key) over
//	          IPv6 between 2001:db8:ffff::1 and ::2: two layers
//
// So the flows inside are the veeam scenario's (VLAN tags aside: the GRE-carried
// packets lose theirs), and their bytes are the inner frames' plus each layer's
// headers. Outer UDP source ports are a hash of the inner flow, as VTEPs choose them.
// Write it with a snap length that keeps the inner headers (pcapgen uses
// TunnelsSnaplen).

// TunnelsSnaplen is the snap length of the committed tunnels capture: the outer
// headers of the deepest encapsulation (Ethernet, IPv6, GRE, IPv4, UDP, VXLAN: 94
// bytes) and the veeam job's inner headers (Ethernet, 802.1Q, IPv4, TCP with the MSS
// option: 62) fit, and the file stays under 200 KB.
const TunnelsSnaplen = 160

// Addresses of the tunnels scenario's outer headers.
var (
	tunMirrorSrc = netip.MustParseAddr("203.0.113.10")
	tunMirrorDst = netip.MustParseAddr("203.0.113.99")
	tunGeneve    = [2]netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")}
	tunGRE       = [2]netip.Addr{netip.MustParseAddr("198.51.100.11"), netip.MustParseAddr("198.51.100.12")}
	tunNestedVX  = [2]netip.Addr{netip.MustParseAddr("198.51.100.21"), netip.MustParseAddr("198.51.100.22")}
	tunNestedGRE = [2]netip.Addr{netip.MustParseAddr("2001:db8:ffff::1"), netip.MustParseAddr("2001:db8:ffff::2")}
)

// The VNIs and GRE key of the tunnels scenario.
const (
	TunnelsMirrorVNI = 7
	TunnelsGeneveVNI = 5001
	TunnelsGREKey    = 1000
	TunnelsNestedVNI = 9
)

// tunneler wraps the packets of a scenario; its buffers are reused from packet to
// packet (a sink gets a Packet valid only during the call).
type tunneler struct {
	sink        func(Packet) error
	inner, wrap []byte
	ipid        uint32
}

// flowHash is a hash of p's 5-tuple that both directions share, and whether p goes
// from the lower address (then port) to the higher.
func flowHash(p *Packet) (uint32, bool) {
	a, b := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	up := a.Compare(b) <= 0
	if !up {
		a, b = b, a
	}
	h := fnv.New32a()
	ab, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	h.Write(ab)
	h.Write(bb)
	h.Write([]byte{p.Proto})
	return h.Sum32(), up
}

func (t *tunneler) packet(p Packet) error {
	h, up := flowHash(&p)
	// from is the outer source of this packet between a pair of tunnel endpoints.
	from := func(pair [2]netip.Addr) (netip.Addr, netip.Addr) {
		if up {
			return pair[0], pair[1]
		}
		return pair[1], pair[0]
	}
	sport := uint16(49152 + (h>>8)%16384)
	switch h % 8 {
	case 0, 1, 2, 3:
		t.inner = p.Frame(LinkEthernet, t.inner)
		return t.emit(p, vxlanPacket(tunMirrorSrc, tunMirrorDst, sport, TunnelsMirrorVNI, t.inner))
	case 4, 5:
		t.inner = p.Frame(LinkEthernet, t.inner)
		src, dst := from(tunGeneve)
		hdr := binary.BigEndian.AppendUint32([]byte{0, 0, 0x65, 0x58}, TunnelsGeneveVNI<<8) // version 0, no options, Ethernet
		t.wrap = append(append(t.wrap[:0], hdr...), t.inner...)
		return t.emit(p, Packet{Src: src, Dst: dst, Proto: ProtoUDP, SrcPort: sport, DstPort: 6081, Payload: t.wrap})
	case 6:
		t.inner = p.Frame(linkRawOf(&p), t.inner)
		src, dst := from(tunGRE)
		t.wrap = append(greHeader(t.wrap[:0], &p, true, TunnelsGREKey), t.inner...)
		return t.emit(p, Packet{Src: src, Dst: dst, Proto: protoGRE, Payload: t.wrap})
	default:
		t.inner = p.Frame(LinkEthernet, t.inner)
		src, dst := from(tunNestedVX)
		vx := vxlanPacket(src, dst, sport, TunnelsNestedVNI, t.inner)
		t.ipid++
		vx.IPID = t.ipid
		t.wrap = vx.Frame(LinkIPv4, t.wrap)
		gsrc, gdst := from(tunNestedGRE)
		outer := greHeader(nil, &vx, false, 0)
		return t.emit(p, Packet{Src: gsrc, Dst: gdst, Proto: protoGRE, Payload: append(outer, t.wrap...)})
	}
}

// emit sends the outer packet o of inner packet p, at p's time.
func (t *tunneler) emit(p Packet, o Packet) error {
	o.Time = p.Time
	if o.IPID == 0 {
		t.ipid++
		o.IPID = t.ipid
	}
	return t.sink(o)
}

const protoGRE uint8 = 47

// vxlanPacket is the UDP datagram from src to dst carrying frame in VXLAN with vni.
func vxlanPacket(src, dst netip.Addr, sport uint16, vni uint32, frame []byte) Packet {
	pay := make([]byte, 8, 8+len(frame))
	pay[0] = 0x08 // I: the VNI is valid
	binary.BigEndian.PutUint32(pay[4:], vni<<8)
	return Packet{Src: src, Dst: dst, Proto: ProtoUDP, SrcPort: sport, DstPort: 4789, Payload: append(pay, frame...)}
}

// greHeader appends the GRE header of a tunnel carrying p's IP packet, with a key
// when withKey.
func greHeader(b []byte, p *Packet, withKey bool, key uint32) []byte {
	flags := uint16(0)
	if withKey {
		flags = 0x2000
	}
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, etherType(p.Src.Is4()))
	if withKey {
		b = binary.BigEndian.AppendUint32(b, key)
	}
	return b
}

// linkRawOf is the raw link type of p's address family.
func linkRawOf(p *Packet) uint16 {
	if p.Src.Is4() {
		return LinkIPv4
	}
	return LinkIPv6
}
