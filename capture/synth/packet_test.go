package synth_test

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/portclass/portclass/capture/synth"
)

var (
	a4 = netip.MustParseAddr("192.0.2.1")
	b4 = netip.MustParseAddr("198.51.100.2")
	a6 = netip.MustParseAddr("2001:db8::1")
	b6 = netip.MustParseAddr("2001:db8::2")
)

// want is what gopacket must decode from a frame.
type want struct {
	layers           []gopacket.LayerType // must all be present
	src, dst         netip.Addr
	srcPort, dstPort uint16
	flags            uint8 // TCP flags
	vlans            []uint16
	icmpType         uint8
	icmpCode         uint8
	quoted           netip.Addr // ICMP error: destination of the quoted packet
	payload          int        // transport payload bytes, -1: don't check
	frag             bool       // the IP packet is a fragment: no transport layer expected
}

var frameCases = []struct {
	name string
	link uint16
	p    synth.Packet
	want want
}{
	{
		name: "tcp-syn-ethernet",
		link: synth.LinkEthernet,
		p:    synth.Packet{Src: a4, Dst: b4, Proto: synth.ProtoTCP, SrcPort: 50000, DstPort: 443, TCPFlags: synth.SYN, Seq: 42, DontFrag: true},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeTCP},
			src: a4, dst: b4, srcPort: 50000, dstPort: 443, flags: synth.SYN},
	},
	{
		name: "tcp-data-ipv6-vlan",
		link: synth.LinkEthernet,
		p: synth.Packet{VLAN: [2]uint16{42}, Src: a6, Dst: b6, Proto: synth.ProtoTCP, SrcPort: 443, DstPort: 50001,
			TCPFlags: synth.PSH | synth.ACK, Seq: 1, Ack: 2, PayloadLen: 1440},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeDot1Q, layers.LayerTypeIPv6, layers.LayerTypeTCP},
			src: a6, dst: b6, srcPort: 443, dstPort: 50001, flags: synth.PSH | synth.ACK, vlans: []uint16{42}, payload: 1440},
	},
	{
		name: "udp-qinq",
		link: synth.LinkEthernet,
		p:    synth.Packet{VLAN: [2]uint16{100, 200}, Src: a4, Dst: b4, Proto: synth.ProtoUDP, SrcPort: 40000, DstPort: 5000, PayloadLen: 33},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeDot1Q, layers.LayerTypeIPv4, layers.LayerTypeUDP},
			src: a4, dst: b4, srcPort: 40000, dstPort: 5000, vlans: []uint16{100, 200}, payload: 33},
	},
	{
		name: "icmp-unreachable-quotes-udp",
		link: synth.LinkEthernet,
		p: synth.Packet{Src: b4, Dst: a4, Proto: synth.ProtoICMP, ICMPType: synth.ICMPUnreachable, ICMPCode: 3,
			Quote: &synth.Packet{Src: a4, Dst: b4, Proto: synth.ProtoUDP, SrcPort: 50002, DstPort: 161, PayloadLen: 40}},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeICMPv4},
			src: b4, dst: a4, icmpType: 3, icmpCode: 3, quoted: b4, payload: -1},
	},
	{
		name: "icmpv6-echo-sll",
		link: synth.LinkSLL,
		p:    synth.Packet{Src: a6, Dst: b6, Proto: synth.ProtoICMPv6, ICMPType: synth.ICMPv6EchoRequest, ICMPID: 1, ICMPSeq: 2, PayloadLen: 56},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeLinuxSLL, layers.LayerTypeIPv6, layers.LayerTypeICMPv6},
			src: a6, dst: b6, icmpType: 128, payload: -1},
	},
	{
		name: "icmpv6-unreachable-sll2",
		link: synth.LinkSLL2,
		p: synth.Packet{Src: b6, Dst: a6, Proto: synth.ProtoICMPv6, ICMPType: synth.ICMPv6Unreachable, ICMPCode: 4,
			Quote: &synth.Packet{Src: a6, Dst: b6, Proto: synth.ProtoUDP, SrcPort: 50003, DstPort: 9999, PayloadLen: 10}},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeLinuxSLL2, layers.LayerTypeIPv6, layers.LayerTypeICMPv6},
			src: b6, dst: a6, icmpType: 1, icmpCode: 4, quoted: b6, payload: -1},
	},
	{
		name: "sctp-init-raw",
		link: synth.LinkRaw,
		p:    synth.Packet{Src: a4, Dst: b4, Proto: synth.ProtoSCTP, SrcPort: 40000, DstPort: 38412, Seq: 9},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeSCTP, layers.LayerTypeSCTPInit},
			src: a4, dst: b4, srcPort: 40000, dstPort: 38412, payload: -1},
	},
	{
		name: "sctp-data-ipv6-loop",
		link: synth.LinkLoop,
		p:    synth.Packet{Src: a6, Dst: b6, Proto: synth.ProtoSCTP, SrcPort: 40001, DstPort: 9899, Seq: 9, PayloadLen: 13},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeLoopback, layers.LayerTypeIPv6, layers.LayerTypeSCTP, layers.LayerTypeSCTPData},
			src: a6, dst: b6, srcPort: 40001, dstPort: 9899, payload: -1},
	},
	{
		name: "udp-null",
		link: synth.LinkNull,
		p:    synth.Packet{Src: a4, Dst: b4, Proto: synth.ProtoUDP, SrcPort: 1, DstPort: 2, PayloadLen: 3},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeUDP},
			src: a4, dst: b4, srcPort: 1, dstPort: 2, payload: 3},
	},
	{
		name: "tcp-ppp-ipv6",
		link: synth.LinkPPP,
		p:    synth.Packet{Src: a6, Dst: b6, Proto: synth.ProtoTCP, SrcPort: 22, DstPort: 50004, TCPFlags: synth.RST | synth.ACK},
		want: want{layers: []gopacket.LayerType{layers.LayerTypePPP, layers.LayerTypeIPv6, layers.LayerTypeTCP},
			src: a6, dst: b6, srcPort: 22, dstPort: 50004, flags: synth.RST | synth.ACK},
	},
	{
		name: "tcp-ipv4-linktype",
		link: synth.LinkIPv4,
		p:    synth.Packet{Src: a4, Dst: b4, Proto: synth.ProtoTCP, SrcPort: 3389, DstPort: 50005, TCPFlags: synth.FIN | synth.ACK},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeTCP},
			src: a4, dst: b4, srcPort: 3389, dstPort: 50005, flags: synth.FIN | synth.ACK},
	},
	{
		name: "udp-ipv6-ext-headers",
		link: synth.LinkIPv6,
		p: synth.Packet{Src: a6, Dst: b6, Proto: synth.ProtoUDP, SrcPort: 7, DstPort: 8, PayloadLen: 20,
			V6Ext: []uint8{synth.ExtHopByHop, synth.ExtDestOpts}},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Destination, layers.LayerTypeUDP},
			src: a6, dst: b6, srcPort: 7, dstPort: 8, payload: 20},
	},
	{
		name: "ipv6-first-fragment",
		link: synth.LinkEthernet,
		p: synth.Packet{Src: a6, Dst: b6, Proto: synth.ProtoUDP, SrcPort: 7, DstPort: 8, PayloadLen: 3000,
			V6Ext: []uint8{synth.ExtFragment}, FragLen: 1232, MoreFrags: true, IPID: 99},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeIPv6Fragment}, src: a6, dst: b6, frag: true},
	},
	{
		name: "ipv4-later-fragment",
		link: synth.LinkEthernet,
		p: synth.Packet{Src: a4, Dst: b4, Proto: synth.ProtoUDP, SrcPort: 7, DstPort: 8, PayloadLen: 4000,
			FragOffset: 1480, FragLen: 1480, MoreFrags: true, IPID: 77},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeIPv4}, src: a4, dst: b4, frag: true},
	},
	{
		name: "gre-other-protocol",
		link: synth.LinkEthernet,
		p:    synth.Packet{Src: a4, Dst: b4, Proto: 50, PayloadLen: 24},
		want: want{layers: []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeIPSecESP}, src: a4, dst: b4, payload: -1},
	},
}

// TestFrameDecodes cross-checks Frame against gopacket's decoders: the layers,
// addresses, ports, flags, VLAN tags and checksums it finds.
func TestFrameDecodes(t *testing.T) {
	for _, tc := range frameCases {
		t.Run(tc.name, func(t *testing.T) {
			frame := tc.p.Frame(tc.link, nil)
			pkt := gopacket.NewPacket(frame, decoderFor(tc.link), gopacket.Default)
			if el := pkt.ErrorLayer(); el != nil {
				t.Fatalf("gopacket: %v\n%s", el.Error(), pkt.Dump())
			}
			for _, lt := range tc.want.layers {
				if pkt.Layer(lt) == nil {
					t.Errorf("no %v layer in\n%s", lt, pkt)
				}
			}
			checkFrame(t, pkt, tc.want)
			if tc.link == synth.LinkEthernet && len(frame) < 60 {
				t.Errorf("ethernet frame of %d bytes, want at least 60", len(frame))
			}
		})
	}
}

// decoderFor is gopacket's decoder for a link type; gopacket has none registered for
// LINKTYPE_IPV4 and LINKTYPE_IPV6.
func decoderFor(link uint16) gopacket.Decoder {
	switch link {
	case synth.LinkIPv4:
		return layers.LayerTypeIPv4
	case synth.LinkIPv6:
		return layers.LayerTypeIPv6
	}
	return layers.LinkType(link)
}

func checkFrame(t *testing.T, pkt gopacket.Packet, w want) {
	t.Helper()
	nl := pkt.NetworkLayer()
	if nl == nil {
		t.Fatal("no network layer")
	}
	src, _ := netip.AddrFromSlice(nl.NetworkFlow().Src().Raw())
	dst, _ := netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw())
	if src != w.src || dst != w.dst {
		t.Errorf("addresses %v → %v, want %v → %v", src, dst, w.src, w.dst)
	}
	if ip, ok := nl.(*layers.IPv4); ok {
		if err, r := ip.VerifyChecksum(); err != nil || !r.Valid {
			t.Errorf("IPv4 header checksum invalid: %v %+v", err, r)
		}
		if w.frag != (ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0) {
			t.Errorf("IPv4 fragment fields flags=%v offset=%d, want fragment=%v", ip.Flags, ip.FragOffset, w.frag)
		}
	}
	var vlans []uint16
	for _, l := range pkt.Layers() {
		if q, ok := l.(*layers.Dot1Q); ok {
			vlans = append(vlans, q.VLANIdentifier)
		}
	}
	if len(vlans) != len(w.vlans) || len(vlans) > 0 && (vlans[0] != w.vlans[0] || vlans[len(vlans)-1] != w.vlans[len(w.vlans)-1]) {
		t.Errorf("VLAN tags %v, want %v", vlans, w.vlans)
	}
	if w.frag {
		return
	}
	switch l := pkt.TransportLayer().(type) {
	case *layers.TCP:
		_ = l.SetNetworkLayerForChecksum(nl)
		if err, r := l.VerifyChecksum(); err != nil || !r.Valid {
			t.Errorf("TCP checksum invalid: %v %+v", err, r)
		}
		var flags uint8
		for bit, set := range map[uint8]bool{synth.FIN: l.FIN, synth.SYN: l.SYN, synth.RST: l.RST, synth.PSH: l.PSH, synth.ACK: l.ACK} {
			if set {
				flags |= bit
			}
		}
		if flags != w.flags {
			t.Errorf("TCP flags %#x, want %#x", flags, w.flags)
		}
		checkPorts(t, uint16(l.SrcPort), uint16(l.DstPort), w)
		checkPayload(t, len(l.Payload), w)
	case *layers.UDP:
		_ = l.SetNetworkLayerForChecksum(nl)
		if err, r := l.VerifyChecksum(); err != nil || !r.Valid {
			t.Errorf("UDP checksum invalid: %v %+v", err, r)
		}
		checkPorts(t, uint16(l.SrcPort), uint16(l.DstPort), w)
		checkPayload(t, len(l.Payload), w)
	case *layers.SCTP:
		checkPorts(t, uint16(l.SrcPort), uint16(l.DstPort), w)
		b := append([]byte(nil), l.Contents...)
		b = append(b, l.Payload...)
		binary.LittleEndian.PutUint32(b[8:], 0)
		if got := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)); got != l.Checksum && got != swap(l.Checksum) {
			t.Errorf("SCTP CRC-32C %#x, want %#x", l.Checksum, got)
		}
	}
	if ic, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		if err, r := ic.VerifyChecksum(); err != nil || !r.Valid {
			t.Errorf("ICMP checksum invalid: %v %+v", err, r)
		}
		if ic.TypeCode.Type() != w.icmpType || ic.TypeCode.Code() != w.icmpCode {
			t.Errorf("ICMP %v, want type %d code %d", ic.TypeCode, w.icmpType, w.icmpCode)
		}
		checkQuote(t, ic.Payload, layers.LayerTypeIPv4, w)
	}
	if ic, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		_ = ic.SetNetworkLayerForChecksum(nl)
		if err, r := ic.VerifyChecksum(); err != nil || !r.Valid {
			t.Errorf("ICMPv6 checksum invalid: %v %+v", err, r)
		}
		if ic.TypeCode.Type() != w.icmpType || ic.TypeCode.Code() != w.icmpCode {
			t.Errorf("ICMPv6 %v, want type %d code %d", ic.TypeCode, w.icmpType, w.icmpCode)
		}
		if w.quoted.IsValid() {
			checkQuote(t, ic.Payload[4:], layers.LayerTypeIPv6, w) // 4 unused bytes before the quote
		}
	}
}

func swap(v uint32) uint32 {
	return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24
}

func checkPorts(t *testing.T, sp, dp uint16, w want) {
	t.Helper()
	if sp != w.srcPort || dp != w.dstPort {
		t.Errorf("ports %d → %d, want %d → %d", sp, dp, w.srcPort, w.dstPort)
	}
}

func checkPayload(t *testing.T, n int, w want) {
	t.Helper()
	if w.payload >= 0 && n != w.payload {
		t.Errorf("payload %d bytes, want %d", n, w.payload)
	}
}

// checkQuote decodes the packet an ICMP error quotes: IP header + 8 bytes.
func checkQuote(t *testing.T, b []byte, first gopacket.LayerType, w want) {
	t.Helper()
	if !w.quoted.IsValid() {
		return
	}
	q := gopacket.NewPacket(b, first, gopacket.Default)
	nl := q.NetworkLayer()
	if nl == nil {
		t.Fatalf("quoted packet has no network layer:\n%s", q.Dump())
	}
	dst, _ := netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw())
	if dst != w.quoted {
		t.Errorf("quoted packet to %v, want %v", dst, w.quoted)
	}
	udp, ok := q.TransportLayer().(*layers.UDP)
	if !ok || len(udp.Contents) != 8 {
		t.Errorf("quoted packet lacks its 8-byte UDP header:\n%s", q.Dump())
	}
}

// TestFragmentsReassemble checks that the fragments of one datagram, as Frame cuts
// them, concatenate to the unfragmented datagram (same checksum, same bytes).
func TestFragmentsReassemble(t *testing.T) {
	for _, base := range []synth.Packet{
		{Src: a4, Dst: b4, Proto: synth.ProtoUDP, SrcPort: 1, DstPort: 2, PayloadLen: 4000, IPID: 5},
		{Src: a6, Dst: b6, Proto: synth.ProtoICMPv6, ICMPType: synth.ICMPv6EchoRequest, PayloadLen: 3000, V6Ext: []uint8{synth.ExtHopByHop, synth.ExtFragment}, IPID: 6},
	} {
		whole := base
		whole.V6Ext = nil
		ref := whole.Frame(synth.LinkRaw, nil)
		hdr := 20
		if base.Src.Is6() {
			hdr = 40
		}
		want := ref[hdr:]
		var got []byte
		for off := 0; off < len(want); off += 1480 {
			f := base
			f.FragOffset, f.FragLen, f.MoreFrags = off, 1480, off+1480 < len(want)
			if base.Src.Is4() && off == 0 {
				f.MoreFrags = true
			}
			fr := f.Frame(synth.LinkRaw, nil)
			pkt := gopacket.NewPacket(fr, layers.LayerTypeIPv4, gopacket.Default)
			if base.Src.Is6() {
				pkt = gopacket.NewPacket(fr, layers.LayerTypeIPv6, gopacket.Default)
				fl, ok := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
				if !ok {
					t.Fatalf("no fragment header:\n%s", pkt.Dump())
				}
				if int(fl.FragmentOffset)*8 != off || fl.MoreFragments != f.MoreFrags || fl.Identification != 6 {
					t.Errorf("fragment header %+v, want offset %d more %v", fl, off, f.MoreFrags)
				}
				got = append(got, fl.Payload...)
				continue
			}
			ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if int(ip.FragOffset)*8 != off || ip.Id != 5 {
				t.Errorf("IPv4 fragment offset %d id %d, want %d and 5", ip.FragOffset*8, ip.Id, off)
			}
			got = append(got, ip.Payload...)
		}
		if string(got) != string(want) {
			t.Errorf("%v: reassembled %d bytes differ from the %d-byte datagram", base.Src, len(got), len(want))
		}
	}
}

// TestFrameReusesBuffer checks that Frame writes into a large enough buffer.
func TestFrameReusesBuffer(t *testing.T) {
	p := synth.Packet{Src: a4, Dst: b4, Proto: synth.ProtoTCP, SrcPort: 1, DstPort: 2, PayloadLen: 1000}
	buf := make([]byte, 0, 2048)
	fr := p.Frame(synth.LinkEthernet, buf)
	if &fr[0] != &buf[:1][0] {
		t.Error("Frame did not reuse the buffer")
	}
	allocs := testing.AllocsPerRun(100, func() { fr = p.Frame(synth.LinkEthernet, fr) })
	if allocs != 0 {
		t.Errorf("Frame allocates %.1f times per call with a large enough buffer", allocs)
	}
}

func TestAppendFCS(t *testing.T) {
	p := synth.Packet{Src: a4, Dst: b4, Proto: synth.ProtoUDP, SrcPort: 1, DstPort: 2, PayloadLen: 10}
	fr := synth.AppendFCS(p.Frame(synth.LinkEthernet, nil))
	// The CRC-32 of a frame followed by its FCS is the constant residue 0x2144df1c.
	if got := crc32.ChecksumIEEE(fr); got != 0x2144df1c {
		t.Errorf("CRC over frame+FCS = %#x, want residue 0x2144df1c", got)
	}
}

func TestParseLink(t *testing.T) {
	for _, name := range []string{"ethernet", "sll", "sll2", "raw", "null", "loop", "ppp", "ipv4", "ipv6"} {
		lt, err := synth.ParseLink(name)
		if err != nil || synth.LinkName(lt) != name {
			t.Errorf("ParseLink(%q) = %d, %v; LinkName back = %q", name, lt, err, synth.LinkName(lt))
		}
	}
	if _, err := synth.ParseLink("token-ring"); err == nil {
		t.Error("ParseLink accepted token-ring")
	}
}

// FuzzFrame builds frames from arbitrary field values and checks that gopacket
// decodes the addresses and ports back and that the checksums hold.
func FuzzFrame(f *testing.F) {
	f.Add(uint8(6), false, uint16(1), uint16(2), uint8(2), 0, uint16(0), uint16(0), uint8(0))
	f.Add(uint8(17), true, uint16(53), uint16(50000), uint8(0), 100, uint16(10), uint16(20), uint8(1))
	f.Add(uint8(6), true, uint16(443), uint16(50000), uint8(0x18), 1440, uint16(0), uint16(0), uint8(2))
	f.Fuzz(func(t *testing.T, proto uint8, v6 bool, sp, dp uint16, flags uint8, n int, vlan0, vlan1 uint16, link uint8) {
		if proto != synth.ProtoTCP && proto != synth.ProtoUDP {
			proto = synth.ProtoUDP
		}
		n = max(0, n%2000)
		vlan0, vlan1 = vlan0%4095+1, vlan1%4096
		links := []uint16{synth.LinkEthernet, synth.LinkSLL2, synth.LinkRaw}
		lt := links[int(link)%len(links)]
		p := synth.Packet{Src: a4, Dst: b4, Proto: proto, SrcPort: sp, DstPort: dp, TCPFlags: flags &^ synth.SYN, PayloadLen: n, VLAN: [2]uint16{vlan0, vlan1}}
		if v6 {
			p.Src, p.Dst = a6, b6
		}
		pkt := gopacket.NewPacket(p.Frame(lt, nil), layers.LinkType(lt), gopacket.Default)
		// Pattern payloads on application ports (53, 179, ...) fail gopacket's
		// application decoders; only failures before the transport layer count.
		if el := pkt.ErrorLayer(); el != nil && pkt.TransportLayer() == nil {
			t.Fatalf("gopacket: %v", el.Error())
		}
		w := want{src: p.Src, dst: p.Dst, srcPort: sp, dstPort: dp, flags: flags & (synth.FIN | synth.RST | synth.PSH | synth.ACK), payload: n}
		if lt == synth.LinkEthernet {
			w.vlans = []uint16{vlan0}
			if vlan1 != 0 {
				w.vlans = append(w.vlans, vlan1)
			}
		}
		checkFrame(t, pkt, w)
	})
}
