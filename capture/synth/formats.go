package synth

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// FormatFile is one small capture of the formats set, made to exercise readers.
type FormatFile struct {
	Name string // file name, e.g. "pcap-be-nsec.pcap"
	Data []byte
	// Packets is how many packet records a correct reader returns; for the
	// truncated files, how many come before the damage.
	Packets int
	// Flows counts bidirectional flows as portclass keys them: an ICMP error
	// belongs to the flow it quotes, fragments to their datagram's flow.
	Flows int
	Links string // link types, e.g. "ethernet" or "ethernet+raw"
	About string // one line: what the file contains and exercises
}

// The formats set's hosts.
var (
	fmtA  = netip.MustParseAddr("192.0.2.1")
	fmtB  = netip.MustParseAddr("198.51.100.2")
	fmtD  = netip.MustParseAddr("198.51.100.53")
	fmtA6 = netip.MustParseAddr("2001:db8::1")
	fmtB6 = netip.MustParseAddr("2001:db8::2")
	fmtD6 = netip.MustParseAddr("2001:db8::53")
)

// fmtTime is the time of packet i of a formats file: 1 ms apart with a nanosecond
// part, so microsecond files visibly truncate.
func fmtTime(i int) time.Time {
	return BaseTime().Add(time.Duration(i) * (time.Millisecond + 321*time.Nanosecond))
}

// dnsPayload returns a fresh copy of a DNS query or answer.
func dnsPayload(id uint16, name uint8, answer, aaaa bool) []byte {
	var e engine
	return bytes.Clone(e.dns(id, name, answer, aaaa))
}

// basicV4 is the IPv4 part of the basic set: a TCP connection A:50000 → B:80
// (9 packets), a DNS exchange A:50001 → D:53 (2), an ICMP echo A → B (2) and a
// datagram A:50002 → B:9999 answered by ICMP port unreachable (2).
func basicV4() []Packet {
	tcp := func(fromB bool, flags uint8, seq, ack uint32, n int) Packet {
		p := Packet{Src: fmtA, Dst: fmtB, Proto: ProtoTCP, SrcPort: 50000, DstPort: 80, TCPFlags: flags, Seq: seq, Ack: ack, PayloadLen: n, DontFrag: true}
		if fromB {
			p.Src, p.Dst, p.SrcPort, p.DstPort = fmtB, fmtA, 80, 50000
		}
		return p
	}
	ps := []Packet{
		tcp(false, SYN, 1000, 0, 0),
		tcp(true, SYN|ACK, 5000, 1001, 0),
		tcp(false, ACK, 1001, 5001, 0),
		tcp(false, PSH|ACK, 1001, 5001, 100),
		tcp(true, PSH|ACK, 5001, 1101, 300),
		tcp(false, ACK, 1101, 5301, 0),
		tcp(false, FIN|ACK, 1101, 5301, 0),
		tcp(true, FIN|ACK, 5301, 1102, 0),
		tcp(false, ACK, 1102, 5302, 0),
		{Src: fmtA, Dst: fmtD, Proto: ProtoUDP, SrcPort: 50001, DstPort: 53, Payload: dnsPayload(0x1234, 0, false, false)},
		{Src: fmtD, Dst: fmtA, Proto: ProtoUDP, SrcPort: 53, DstPort: 50001, Payload: dnsPayload(0x1234, 0, true, false)},
		{Src: fmtA, Dst: fmtB, Proto: ProtoICMP, ICMPType: ICMPEchoRequest, ICMPID: 0x77, ICMPSeq: 1, PayloadLen: 56},
		{Src: fmtB, Dst: fmtA, Proto: ProtoICMP, ICMPType: ICMPEchoReply, ICMPID: 0x77, ICMPSeq: 1, PayloadLen: 56},
	}
	closed := Packet{Src: fmtA, Dst: fmtB, Proto: ProtoUDP, SrcPort: 50002, DstPort: 9999, PayloadLen: 32, IPID: 7}
	ps = append(ps, closed, Packet{Src: fmtB, Dst: fmtA, Proto: ProtoICMP, ICMPType: ICMPUnreachable, ICMPCode: 3, Quote: &closed})
	for i := range ps {
		ps[i].IPID += uint32(100 + i)
	}
	return ps
}

// basicV6 is the IPv6 part: DNS A6:50003 → D6:53 (AAAA, 2), ICMPv6 echo A6 → B6 (2)
// and a datagram A6:50004 → B6:9999 answered by ICMPv6 port unreachable (2).
func basicV6() []Packet {
	closed := Packet{Src: fmtA6, Dst: fmtB6, Proto: ProtoUDP, SrcPort: 50004, DstPort: 9999, PayloadLen: 32}
	return []Packet{
		{Src: fmtA6, Dst: fmtD6, Proto: ProtoUDP, SrcPort: 50003, DstPort: 53, Payload: dnsPayload(0x4321, 1, false, true)},
		{Src: fmtD6, Dst: fmtA6, Proto: ProtoUDP, SrcPort: 53, DstPort: 50003, Payload: dnsPayload(0x4321, 1, true, true)},
		{Src: fmtA6, Dst: fmtB6, Proto: ProtoICMPv6, ICMPType: ICMPv6EchoRequest, ICMPID: 0x66, ICMPSeq: 1, PayloadLen: 56},
		{Src: fmtB6, Dst: fmtA6, Proto: ProtoICMPv6, ICMPType: ICMPv6EchoReply, ICMPID: 0x66, ICMPSeq: 1, PayloadLen: 56},
		closed,
		{Src: fmtB6, Dst: fmtA6, Proto: ProtoICMPv6, ICMPType: ICMPv6Unreachable, ICMPCode: 4, Quote: &closed},
	}
}

// stamp sets the packets' times to fmtTime(first), fmtTime(first+1), ...
func stamp(ps []Packet, first int) []Packet {
	for i := range ps {
		ps[i].Time = fmtTime(first + i)
	}
	return ps
}

// basicSet is basicV4 followed by basicV6: 21 packets, 7 flows.
func basicSet() []Packet { return stamp(append(basicV4(), basicV6()...), 0) }

const basicAbout = "TCP A:50000→B:80 handshake/data/FIN (9), DNS A:50001→D:53 (2), ICMP echo A→B (2), UDP A:50002→B:9999 + ICMP port unreachable (2), IPv6: DNS AAAA (2), ICMPv6 echo (2), UDP :9999 + ICMPv6 port unreachable (2)"

// pcapFile writes ps as a pcap file.
func pcapFile(o PcapOptions, ps []Packet, fcs bool) ([]byte, error) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, o)
	if err != nil {
		return nil, err
	}
	var fr []byte
	for i := range ps {
		fr = ps[i].Frame(o.LinkType, fr)
		if fcs {
			fr = AppendFCS(fr)
		}
		if err := w.WritePacket(ps[i].Time, fr, 0); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// Formats builds the formats set: small captures that exercise capture readers
// (byte orders, resolutions, FCS bits, pcapng sections, interfaces and block types,
// every supported link type, VLAN stacking, IPv6 extension headers, IPv4 fragments,
// compression, truncation, a non-capture file). Content is fixed; there is no seed.
// Addresses: A=192.0.2.1, B=198.51.100.2, D=198.51.100.53, A6=2001:db8::1,
// B6=2001:db8::2, D6=2001:db8::53.
func Formats() ([]FormatFile, error) {
	var files []FormatFile
	add := func(name string, data []byte, err error, n, flows int, links, about string) error {
		if err != nil {
			return fmt.Errorf("formats %s: %w", name, err)
		}
		files = append(files, FormatFile{Name: name, Data: data, Packets: n, Flows: flows, Links: links, About: about})
		return nil
	}
	basic := basicSet()
	for _, c := range []struct {
		name      string
		be, nano  bool
		endianess string
	}{
		{"pcap-le-usec.pcap", false, false, "little-endian, microseconds"},
		{"pcap-be-usec.pcap", true, false, "big-endian, microseconds"},
		{"pcap-le-nsec.pcap", false, true, "little-endian, nanoseconds"},
		{"pcap-be-nsec.pcap", true, true, "big-endian, nanoseconds"},
	} {
		data, err := pcapFile(PcapOptions{BigEndian: c.be, Nano: c.nano, LinkType: LinkEthernet}, basic, false)
		if err := add(c.name, data, err, len(basic), 7, "ethernet", "pcap "+c.endianess+"; "+basicAbout); err != nil {
			return nil, err
		}
	}
	plain := files[0].Data

	for _, c := range []struct{ name, enc string }{
		{"pcap-fcs-libpcap.pcap", "libpcap"}, {"pcap-fcs-draft.pcap", "draft"},
	} {
		ext := FCSBitsLibpcap(4)
		if c.enc == "draft" {
			ext = FCSBitsDraft(4)
		}
		data, err := pcapFile(PcapOptions{LinkType: LinkEthernet, LinkTypeExt: ext}, basic, true)
		about := fmt.Sprintf("pcap link-type field 0x%08x (%s encoding of a 4-byte FCS; mask to the low 16 bits): every frame ends with its Ethernet CRC-32; %s", ext|uint32(LinkEthernet), c.enc, basicAbout)
		if err := add(c.name, data, err, len(basic), 7, "ethernet+fcs", about); err != nil {
			return nil, err
		}
	}

	data, err := ngTwoSections(basic)
	if err := add("pcapng-2sections.pcapng", data, err, len(basic), 7, "ethernet", "pcapng, section 1 little-endian (TCP flow, 9 packets), section 2 big-endian (the other 12); each section has its own interface 0; "+basicAbout); err != nil {
		return nil, err
	}
	data, n, err := ngInterfaces(basic)
	if err := add("pcapng-ifaces.pcapng", data, err, n, 7, "ethernet+raw", "pcapng, 3 interfaces: 0 Ethernet if_tsresol 6 (option omitted: the default) with the TCP flow, 1 RAW if_tsresol 9 with DNS/ICMP/UDP, 2 Ethernet if_tsresol 0x94 (2^-20 s) with the IPv6 packets; blocks interleaved in time"); err != nil {
		return nil, err
	}
	data, err = ngSimple(basic)
	if err := add("pcapng-spb.pcapng", data, err, len(basic), 7, "ethernet", "pcapng, Enhanced Packet Blocks for the first 9 packets (TCP flow), then Simple Packet Blocks (no timestamp; captured length = min(original length, snaplen)); interface snaplen 100 cuts 2 EPBs and 4 SPBs; "+basicAbout); err != nil {
		return nil, err
	}

	for _, c := range []struct {
		lt    uint16
		ps    []Packet
		flows int
		what  string
	}{
		{LinkSLL, basic, 7, basicAbout},
		{LinkSLL2, basic, 7, basicAbout},
		{LinkNull, basic, 7, "AF_INET 2 / AF_INET6 24, little-endian; " + basicAbout},
		{LinkLoop, basic, 7, "AF_INET 2 / AF_INET6 24, big-endian; " + basicAbout},
		{LinkPPP, basic, 7, "HDLC-like framing ff 03 + protocol 0x0021/0x0057; " + basicAbout},
		{LinkRaw, basic, 7, basicAbout},
		{LinkIPv4, stamp(basicV4(), 0), 4, "the IPv4 packets of the basic set (15): TCP, DNS, ICMP echo, UDP + ICMP unreachable"},
		{LinkIPv6, stamp(basicV6(), 0), 3, "the IPv6 packets of the basic set (6): DNS AAAA, ICMPv6 echo, UDP + ICMPv6 unreachable"},
	} {
		name := "link-" + LinkName(c.lt) + ".pcap"
		data, err := pcapFile(PcapOptions{LinkType: c.lt}, c.ps, false)
		about := fmt.Sprintf("pcap, LINKTYPE %d (%s); %s", c.lt, LinkName(c.lt), c.what)
		if err := add(name, data, err, len(c.ps), c.flows, LinkName(c.lt), about); err != nil {
			return nil, err
		}
	}

	ps := vlanSet()
	data, err = pcapFile(PcapOptions{LinkType: LinkEthernet}, ps, false)
	if err := add("vlan-qinq.pcap", data, err, len(ps), 4, "ethernet", "802.1ad QinQ (outer 0x88a8 VLAN 100, inner 0x8100 VLAN 200) on the TCP flow (9), single 802.1Q VLAN 10 on DNS (2), untagged ICMP echo and unreachable (4)"); err != nil {
		return nil, err
	}
	ps = ipv6ExtSet()
	data, err = pcapFile(PcapOptions{LinkType: LinkEthernet}, ps, false)
	if err := add("ipv6-ext.pcap", data, err, len(ps), 2, "ethernet", "IPv6 TCP A6:50010→B6:443 with hop-by-hop + destination options headers on every packet (5: SYN, SYN-ACK, ACK, data, RST), a 3000-byte UDP datagram A6:50011→B6:5000 in 3 fragments (hop-by-hop, fragment header, destination options in the fragmentable part), its 100-byte answer unfragmented"); err != nil {
		return nil, err
	}
	ps = ipv4FragSet()
	data, err = pcapFile(PcapOptions{LinkType: LinkEthernet}, ps, false)
	if err := add("ipv4-frag.pcap", data, err, len(ps), 2, "ethernet", "IPv4 fragments: a 4000-byte UDP datagram A:50020→B:5000 in 3 fragments in order, a 3000-byte ICMP echo request A→B in 3 fragments sent last fragment first, and its reply in 3 fragments in order; non-first fragments carry no ports"); err != nil {
		return nil, err
	}
	ps = protoSet()
	data, err = pcapFile(PcapOptions{LinkType: LinkEthernet}, ps, false)
	if err := add("protos.pcap", data, err, len(ps), 4, "ethernet", "SCTP A:40000→B:42000 INIT + DATA and B→A DATA (3), GRE (47) A→B (1), ESP (50) B→A (1), IPv6 SCTP A6:40001→B6:42001 INIT (1)"); err != nil {
		return nil, err
	}

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(plain)
	if err == nil {
		err = zw.Close()
	}
	if err := add("gzip.pcap", gz.Bytes(), err, len(basic), 7, "ethernet", "gzip-compressed copy of pcap-le-usec.pcap, named .pcap: detect compression from the content"); err != nil {
		return nil, err
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("formats zstd.pcap: %w", err)
	}
	zdata := enc.EncodeAll(plain, nil)
	_ = enc.Close()
	if err := add("zstd.pcap", zdata, nil, len(basic), 7, "ethernet", "zstd-compressed copy of pcap-le-usec.pcap, named .pcap: detect compression from the content"); err != nil {
		return nil, err
	}

	// Cut in the middle of record 5's frame: 24-byte header, then 4 records.
	cut := 24
	var fr []byte
	for i := range 4 {
		fr = basic[i].Frame(LinkEthernet, fr)
		cut += 16 + len(fr)
	}
	cut += 16 + 20
	if err := add("truncated.pcap", bytes.Clone(plain[:cut]), nil, 4, 1, "ethernet", fmt.Sprintf("pcap-le-usec.pcap cut after %d bytes, 20 bytes into packet 5's frame: 4 whole packets, then an unexpected end of file", cut)); err != nil {
		return nil, err
	}
	var ng []byte
	for _, f := range files {
		if f.Name == "pcapng-2sections.pcapng" {
			ng = f.Data
		}
	}
	ngCut, ngN := ngCutPoint(ng)
	if err := add("truncated.pcapng", bytes.Clone(ng[:ngCut]), nil, ngN, 1, "ethernet", fmt.Sprintf("pcapng-2sections.pcapng cut after %d bytes, inside the Enhanced Packet Block of packet %d: %d whole packets first", ngCut, ngN+1, ngN)); err != nil {
		return nil, err
	}
	empty, err := pcapFile(PcapOptions{LinkType: LinkEthernet}, nil, false)
	if err := add("empty.pcap", empty, err, 0, 0, "ethernet", "a pcap file header and no packets"); err != nil {
		return nil, err
	}
	text := []byte("This is not a capture file. It is named .pcap so that readers must look at the content.\n")
	if err := add("not-a-capture.pcap", text, nil, 0, 0, "-", "plain text named .pcap: readers must reject it as not a capture (ErrNotCapture)"); err != nil {
		return nil, err
	}
	return files, nil
}

// ngTwoSections writes the TCP flow in a little-endian section and the rest in a
// big-endian one.
func ngTwoSections(ps []Packet) ([]byte, error) {
	var buf bytes.Buffer
	w, err := NewNgWriter(&buf, NgOptions{Application: "portclass pcapgen"})
	if err != nil {
		return nil, err
	}
	if _, err := w.AddInterface(LinkEthernet, "eth0", 9, 0); err != nil {
		return nil, err
	}
	var fr []byte
	for i := range ps {
		if i == 9 {
			if err := w.NewSectionWith(NgOptions{BigEndian: true, Application: "portclass pcapgen"}); err != nil {
				return nil, err
			}
			if _, err := w.AddInterface(LinkEthernet, "eth1", 9, 0); err != nil {
				return nil, err
			}
		}
		fr = ps[i].Frame(LinkEthernet, fr)
		if err := w.WritePacket(0, ps[i].Time, fr, 0); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// ngInterfaces spreads the basic set over three interfaces of different link
// types and resolutions.
func ngInterfaces(ps []Packet) ([]byte, int, error) {
	var buf bytes.Buffer
	w, err := NewNgWriter(&buf, NgOptions{})
	if err != nil {
		return nil, 0, err
	}
	ifs := []struct {
		lt  uint16
		res uint8
	}{{LinkEthernet, 6}, {LinkRaw, 9}, {LinkEthernet, 0x80 | 20}}
	for i, f := range ifs {
		if _, err := w.AddInterface(f.lt, fmt.Sprintf("if%d", i), f.res, 0); err != nil {
			return nil, 0, err
		}
	}
	var fr []byte
	for i := range ps {
		iface := 1
		switch {
		case i < 9:
			iface = 0
		case ps[i].Src.Is6():
			iface = 2
		}
		fr = ps[i].Frame(ifs[iface].lt, fr)
		if err := w.WritePacket(iface, ps[i].Time, fr, 0); err != nil {
			return nil, 0, err
		}
	}
	return buf.Bytes(), len(ps), nil
}

// ngSimple writes the TCP flow as EPBs and the rest as SPBs, snaplen 100.
func ngSimple(ps []Packet) ([]byte, error) {
	var buf bytes.Buffer
	w, err := NewNgWriter(&buf, NgOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := w.AddInterface(LinkEthernet, "", 6, 100); err != nil {
		return nil, err
	}
	var fr []byte
	for i := range ps {
		fr = ps[i].Frame(LinkEthernet, fr)
		if i < 9 {
			err = w.WritePacket(0, ps[i].Time, fr, 0)
		} else {
			err = w.WriteSimplePacket(fr[:min(len(fr), 100)], len(fr))
		}
		if err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// ngCutPoint returns an offset inside the fifth Enhanced Packet Block of a pcapng
// file written by this package, and the number of packets before it.
func ngCutPoint(data []byte) (int, int) {
	off, pkts := 0, 0
	for off+8 <= len(data) {
		typ := uint32(data[off]) | uint32(data[off+1])<<8 | uint32(data[off+2])<<16 | uint32(data[off+3])<<24
		n := int(data[off+4]) | int(data[off+5])<<8 | int(data[off+6])<<16 | int(data[off+7])<<24
		if typ == 6 { // Enhanced Packet Block
			if pkts == 4 {
				return off + n/2, pkts
			}
			pkts++
		}
		off += n
	}
	return len(data), pkts
}

// vlanSet is the basic IPv4 set with QinQ on the TCP flow and one tag on DNS.
func vlanSet() []Packet {
	ps := stamp(basicV4(), 0)
	for i := range ps {
		switch {
		case i < 9:
			ps[i].VLAN = [2]uint16{100, 200}
		case i < 11:
			ps[i].VLAN = [2]uint16{10}
		}
	}
	return ps
}

// ipv6ExtSet exercises IPv6 extension headers and IPv6 fragments.
func ipv6ExtSet() []Packet {
	ext := []uint8{ExtHopByHop, ExtDestOpts}
	tcp := func(fromB bool, flags uint8, seq, ack uint32, n int) Packet {
		p := Packet{Src: fmtA6, Dst: fmtB6, Proto: ProtoTCP, SrcPort: 50010, DstPort: 443, TCPFlags: flags, Seq: seq, Ack: ack, PayloadLen: n, V6Ext: ext}
		if fromB {
			p.Src, p.Dst, p.SrcPort, p.DstPort = fmtB6, fmtA6, 443, 50010
		}
		return p
	}
	ps := []Packet{
		tcp(false, SYN, 7000, 0, 0),
		tcp(true, SYN|ACK, 9000, 7001, 0),
		tcp(false, ACK, 7001, 9001, 0),
		tcp(false, PSH|ACK, 7001, 9001, 200),
		tcp(true, RST|ACK, 9001, 7201, 0),
	}
	big := Packet{Src: fmtA6, Dst: fmtB6, Proto: ProtoUDP, SrcPort: 50011, DstPort: 5000, PayloadLen: 3000,
		V6Ext: []uint8{ExtHopByHop, ExtFragment, ExtDestOpts}, IPID: 0xdb8f00d}
	// The fragmentable part is 8 (destination options) + 8 (UDP) + 3000 bytes.
	for off := 0; off < 3016; off += 1232 {
		f := big
		f.FragOffset, f.FragLen, f.MoreFrags = off, 1232, off+1232 < 3016
		ps = append(ps, f)
	}
	ps = append(ps, Packet{Src: fmtB6, Dst: fmtA6, Proto: ProtoUDP, SrcPort: 5000, DstPort: 50011, PayloadLen: 100})
	return stamp(ps, 0)
}

// ipv4FragSet exercises IPv4 fragmentation, including out-of-order fragments.
func ipv4FragSet() []Packet {
	var ps []Packet
	frags := func(p Packet, total, size int, reverse bool) {
		var fs []Packet
		for off := 0; off < total; off += size {
			f := p
			f.FragOffset, f.FragLen, f.MoreFrags = off, size, off+size < total
			fs = append(fs, f)
		}
		if reverse {
			for i, j := 0, len(fs)-1; i < j; i, j = i+1, j-1 {
				fs[i], fs[j] = fs[j], fs[i]
			}
		}
		ps = append(ps, fs...)
	}
	frags(Packet{Src: fmtA, Dst: fmtB, Proto: ProtoUDP, SrcPort: 50020, DstPort: 5000, PayloadLen: 4000, IPID: 0x4001}, 4008, 1480, false)
	frags(Packet{Src: fmtA, Dst: fmtB, Proto: ProtoICMP, ICMPType: ICMPEchoRequest, ICMPID: 9, ICMPSeq: 1, PayloadLen: 3000, IPID: 0x4002}, 3008, 1480, true)
	frags(Packet{Src: fmtB, Dst: fmtA, Proto: ProtoICMP, ICMPType: ICMPEchoReply, ICMPID: 9, ICMPSeq: 1, PayloadLen: 3000, IPID: 0x9001}, 3008, 1480, false)
	return stamp(ps, 0)
}

// protoSet carries SCTP and IP protocols without ports.
func protoSet() []Packet {
	return stamp([]Packet{
		{Src: fmtA, Dst: fmtB, Proto: ProtoSCTP, SrcPort: 40000, DstPort: 42000, Seq: 1},
		{Src: fmtA, Dst: fmtB, Proto: ProtoSCTP, SrcPort: 40000, DstPort: 42000, Seq: 1, PayloadLen: 50},
		{Src: fmtB, Dst: fmtA, Proto: ProtoSCTP, SrcPort: 42000, DstPort: 40000, Seq: 500, PayloadLen: 30},
		{Src: fmtA, Dst: fmtB, Proto: 47, PayloadLen: 60},
		{Src: fmtB, Dst: fmtA, Proto: 50, PayloadLen: 80},
		{Src: fmtA6, Dst: fmtB6, Proto: ProtoSCTP, SrcPort: 40001, DstPort: 42001, Seq: 1},
	}, 0)
}

// FormatsREADME renders the README.md that describes files.
func FormatsREADME(files []FormatFile) []byte {
	var b strings.Builder
	b.WriteString("# Reader test captures\n\n")
	b.WriteString("Generated by `go run ./cmd/pcapgen -scenario formats -o testdata/formats` (package\n")
	b.WriteString("`capture/synth`, function `Formats`); do not edit by hand. Every file is synthetic and uses\n")
	b.WriteString("documentation addresses: A=192.0.2.1, B=198.51.100.2, D=198.51.100.53, A6=2001:db8::1,\n")
	b.WriteString("B6=2001:db8::2, D6=2001:db8::53. Packets are 1.000321 ms apart from 2026-01-15T10:00:00Z.\n")
	b.WriteString("\"Packets\" is how many records a correct reader returns (for truncated files: before the damage);\n")
	b.WriteString("\"flows\" counts bidirectional flows, an ICMP error belonging to the flow it quotes and a fragment\n")
	b.WriteString("to its datagram's flow.\n\n")
	b.WriteString("| file | bytes | packets | flows | link types | contents |\n|---|---:|---:|---:|---|---|\n")
	for _, f := range files {
		fmt.Fprintf(&b, "| `%s` | %d | %d | %d | %s | %s |\n", f.Name, len(f.Data), f.Packets, f.Flows, f.Links, f.About)
	}
	return []byte(b.String())
}
