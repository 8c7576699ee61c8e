package synth

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/netip"
	"time"
)

// IP protocol numbers a Packet can carry with a real transport header; any other
// number gets PayloadLen bytes right after the IP header.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// IPv6 extension header types Packet.V6Ext may list.
const (
	ExtHopByHop uint8 = 0
	ExtFragment uint8 = 44
	ExtDestOpts uint8 = 60
)

// TCP flag bits (the same values as in the TCP header's flags byte).
const (
	FIN uint8 = 0x01
	SYN uint8 = 0x02
	RST uint8 = 0x04
	PSH uint8 = 0x08
	ACK uint8 = 0x10
)

// ICMP and ICMPv6 message types the scenarios use.
const (
	ICMPEchoReply     uint8 = 0
	ICMPUnreachable   uint8 = 3 // code 3: port unreachable, 13: administratively prohibited
	ICMPEchoRequest   uint8 = 8
	ICMPTimeExceeded  uint8 = 11
	ICMPv6Unreachable uint8 = 1 // code 4: port unreachable, 1: administratively prohibited
	ICMPv6EchoRequest uint8 = 128
	ICMPv6EchoReply   uint8 = 129
)

// Packet describes one IP packet and how it is framed. The zero value is not useful:
// set at least Src, Dst (both IPv4 or both IPv6) and Proto. Slices and Quote are read,
// never modified or retained, by Frame.
type Packet struct {
	Time time.Time // capture timestamp

	// VLAN holds 802.1Q VLAN IDs, outermost first. VLAN[0] == 0 means untagged; with
	// both set the frame is QinQ (outer tag TPID 0x88a8, inner 0x8100). Only Ethernet
	// frames carry tags; other link types drop them.
	VLAN           [2]uint16
	SrcMAC, DstMAC [6]byte // zero: 02:00 followed by the last 4 bytes of the IP address

	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16 // TCP, UDP and SCTP

	TCPFlags uint8
	Seq, Ack uint32 // TCP sequence and acknowledgment numbers; SCTP: Seq is the DATA chunk's TSN
	Window   uint16 // TCP window; 0 means 64240

	ICMPType, ICMPCode uint8
	ICMPID, ICMPSeq    uint16 // echo request/reply identifier and sequence number
	// Quote makes an ICMP or ICMPv6 message an error: it carries Quote's IP header
	// (with IPv6 extension headers) and the first 8 bytes after it, as RFC 792 asks.
	Quote *Packet

	// Payload is the transport payload; when nil, PayloadLen bytes of a fixed
	// pattern are used. SCTP without payload sends an INIT chunk, with payload a
	// DATA chunk.
	Payload    []byte
	PayloadLen int

	TTL  uint8  // IPv4 TTL or IPv6 hop limit; 0 means 64
	IPID uint32 // IPv4 identification (low 16 bits); IPv6 fragment header identification

	// V6Ext lists IPv6 extension headers in wire order (ExtHopByHop, ExtDestOpts,
	// ExtFragment). Headers after ExtFragment belong to the fragmentable part.
	V6Ext []uint8

	// Fragmentation of the transport datagram (transport header plus payload, plus
	// any IPv6 extension headers listed after ExtFragment): this packet carries
	// FragLen bytes (0: all remaining) starting FragOffset bytes in (a multiple of 8).
	// An IPv4 packet is a fragment when FragOffset > 0 or MoreFrags; an IPv6 packet
	// when V6Ext contains ExtFragment. Checksums are those of the whole datagram, so
	// the fragments of one datagram are the same Packet with different offsets.
	FragOffset int
	FragLen    int
	MoreFrags  bool
	DontFrag   bool // IPv4 DF bit
}

// payloadPattern is the read-only filler for payloads given only by length.
var payloadPattern = func() (p [4096]byte) {
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}()

// Immutable CRC tables: SCTP uses CRC-32C, the Ethernet FCS CRC-32 (IEEE).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendFCS appends the 4-byte Ethernet frame check sequence of frame to it.
func AppendFCS(frame []byte) []byte {
	return binary.LittleEndian.AppendUint32(frame, crc32.ChecksumIEEE(frame))
}

// Frame serializes p for the link type (one of the Link constants) into buf, which it
// reuses when large enough, and returns the frame. Checksums (IPv4 header, TCP, UDP,
// ICMP, ICMPv6, SCTP CRC-32C) are valid. Ethernet frames are padded to the 60-byte
// minimum; no FCS is added (see AppendFCS). LinkIPv4 and LinkIPv6 expect a packet of
// that version. Frame panics on a link type it does not know, or on a Packet whose
// addresses are invalid or of different families: both are programming errors.
func (p *Packet) Frame(linkType uint16, buf []byte) []byte {
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
		panic(fmt.Sprintf("synth: packet addresses %v and %v are not both IPv4 or both IPv6", p.Src, p.Dst))
	}
	v4 := p.Src.Is4()
	b := buf[:0]
	switch linkType {
	case LinkEthernet:
		dst, src := p.DstMAC, p.SrcMAC
		if dst == ([6]byte{}) {
			dst = macOf(p.Dst)
		}
		if src == ([6]byte{}) {
			src = macOf(p.Src)
		}
		b = append(b, dst[:]...)
		b = append(b, src[:]...)
		switch {
		case p.VLAN[0] != 0 && p.VLAN[1] != 0:
			b = binary.BigEndian.AppendUint16(b, 0x88a8)
			b = binary.BigEndian.AppendUint16(b, p.VLAN[0]&0x0FFF)
			b = binary.BigEndian.AppendUint16(b, 0x8100)
			b = binary.BigEndian.AppendUint16(b, p.VLAN[1]&0x0FFF)
		case p.VLAN[0] != 0:
			b = binary.BigEndian.AppendUint16(b, 0x8100)
			b = binary.BigEndian.AppendUint16(b, p.VLAN[0]&0x0FFF)
		}
		b = binary.BigEndian.AppendUint16(b, etherType(v4))
	case LinkSLL:
		src := p.SrcMAC
		if src == ([6]byte{}) {
			src = macOf(p.Src)
		}
		b = binary.BigEndian.AppendUint16(b, 0) // packet type: to us
		b = binary.BigEndian.AppendUint16(b, 1) // ARPHRD_ETHER
		b = binary.BigEndian.AppendUint16(b, 6)
		b = append(b, src[:]...)
		b = append(b, 0, 0)
		b = binary.BigEndian.AppendUint16(b, etherType(v4))
	case LinkSLL2:
		src := p.SrcMAC
		if src == ([6]byte{}) {
			src = macOf(p.Src)
		}
		b = binary.BigEndian.AppendUint16(b, etherType(v4))
		b = append(b, 0, 0)                     // reserved
		b = binary.BigEndian.AppendUint32(b, 2) // interface index
		b = binary.BigEndian.AppendUint16(b, 1) // ARPHRD_ETHER
		b = append(b, 0, 6)                     // packet type, address length
		b = append(b, src[:]...)
		b = append(b, 0, 0)
	case LinkNull:
		b = binary.LittleEndian.AppendUint32(b, afOf(v4))
	case LinkLoop:
		b = binary.BigEndian.AppendUint32(b, afOf(v4))
	case LinkPPP:
		proto := uint16(0x0021)
		if !v4 {
			proto = 0x0057
		}
		b = append(b, 0xff, 0x03)
		b = binary.BigEndian.AppendUint16(b, proto)
	case LinkRaw, LinkIPv4, LinkIPv6:
	default:
		panic(fmt.Sprintf("synth: link type %d not supported", linkType))
	}
	b, _ = p.appendIP(b)
	if linkType == LinkEthernet {
		for len(b) < 60 {
			b = append(b, 0)
		}
	}
	return b
}

func etherType(v4 bool) uint16 {
	if v4 {
		return 0x0800
	}
	return 0x86DD
}

// afOf is the loopback address family: AF_INET 2 everywhere, AF_INET6 24 (NetBSD and
// OpenBSD; the value libpcap's LINKTYPE_LOOP documentation uses).
func afOf(v4 bool) uint32 {
	if v4 {
		return 2
	}
	return 24
}

func macOf(a netip.Addr) [6]byte {
	s := a.As16()
	return [6]byte{0x02, 0x00, s[12], s[13], s[14], s[15]}
}

// appendIP appends the IP packet (header, extension headers, transport datagram or
// the fragment of it) and returns the offset of the transport header from the start
// of the IP header (for fragments, of the fragmentable part).
func (p *Packet) appendIP(b []byte) ([]byte, int) {
	ipStart := len(b)
	v4 := p.Src.Is4()
	ttl := p.TTL
	if ttl == 0 {
		ttl = 64
	}
	src, dst := p.Src.AsSlice(), p.Dst.AsSlice()
	var (
		pre, post []uint8 // extension headers before / after the fragment header
		frag6     bool
	)
	if !v4 {
		pre = p.V6Ext
		for i, e := range p.V6Ext {
			if e == ExtFragment {
				pre, post, frag6 = p.V6Ext[:i], p.V6Ext[i+1:], true
				break
			}
		}
	}
	hdrLen := 20
	if !v4 {
		hdrLen = 40 + 8*len(pre)
		if frag6 {
			hdrLen += 8
		}
	}
	b = append(b, make([]byte, hdrLen)...)
	fragStart := len(b)
	// Extension headers after the fragment header are part of the fragmentable data.
	next := func(i int) uint8 { // type of the header after post[i]
		if i+1 < len(post) {
			return post[i+1]
		}
		return p.Proto
	}
	for i := range post {
		b = appendExt(b, next(i))
	}
	l4Start := len(b)
	b = p.appendL4(b)
	l4 := b[l4Start:]
	p.checksumL4(l4, src, dst)

	fragment := v4 && (p.FragOffset > 0 || p.MoreFrags) || frag6
	if fragment {
		data := b[fragStart:]
		off := min(p.FragOffset, len(data))
		end := len(data)
		if p.FragLen > 0 {
			end = min(off+p.FragLen, len(data))
		}
		n := copy(b[fragStart:], data[off:end])
		b = b[:fragStart+n]
	}
	h := b[ipStart:]
	if v4 {
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(len(h)))
		binary.BigEndian.PutUint16(h[4:], uint16(p.IPID))
		var ff uint16
		if p.DontFrag {
			ff |= 0x4000
		}
		if fragment {
			if p.MoreFrags {
				ff |= 0x2000
			}
			ff |= uint16(p.FragOffset/8) & 0x1FFF
		}
		binary.BigEndian.PutUint16(h[6:], ff)
		h[8] = ttl
		h[9] = p.Proto
		copy(h[12:16], src)
		copy(h[16:20], dst)
		binary.BigEndian.PutUint16(h[10:], ^fold(sum(0, h[:20])))
		return b, l4Start - ipStart
	}
	binary.BigEndian.PutUint32(h[0:], 6<<28)
	binary.BigEndian.PutUint16(h[4:], uint16(len(h)-40))
	h[7] = ttl
	copy(h[8:24], src)
	copy(h[24:40], dst)
	// Fill the next-header chain: IPv6 header → pre... → fragment → post... → Proto.
	off := 40
	cur := &h[6]
	for _, e := range pre {
		*cur = e
		ext := h[off : off+8]
		ext[1] = 0            // length in 8-octet units beyond the first
		ext[2], ext[3] = 1, 4 // PadN option, 4 bytes of padding
		cur = &ext[0]
		off += 8
	}
	if frag6 {
		*cur = ExtFragment
		fh := h[off : off+8]
		fh[1] = 0
		fo := uint16(p.FragOffset/8) << 3
		if p.MoreFrags {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], p.IPID)
		cur = &fh[0]
		if len(post) > 0 {
			*cur = post[0]
		} else {
			*cur = p.Proto
		}
	} else {
		*cur = p.Proto
	}
	return b, l4Start - ipStart
}

// appendExt appends an 8-byte hop-by-hop or destination options header holding one
// PadN option, whose next-header byte is next.
func appendExt(b []byte, next uint8) []byte {
	return append(b, next, 0, 1, 4, 0, 0, 0, 0)
}

// appendL4 appends the transport datagram with its checksum field zero.
func (p *Packet) appendL4(b []byte) []byte {
	switch p.Proto {
	case ProtoTCP:
		doff := uint8(5)
		if p.TCPFlags&SYN != 0 {
			doff = 6 // MSS option
		}
		b = binary.BigEndian.AppendUint16(b, p.SrcPort)
		b = binary.BigEndian.AppendUint16(b, p.DstPort)
		b = binary.BigEndian.AppendUint32(b, p.Seq)
		b = binary.BigEndian.AppendUint32(b, p.Ack)
		b = append(b, doff<<4, p.TCPFlags)
		win := p.Window
		if win == 0 {
			win = 64240
		}
		b = binary.BigEndian.AppendUint16(b, win)
		b = append(b, 0, 0, 0, 0) // checksum, urgent pointer
		if doff == 6 {
			mss := uint16(1460)
			if p.Src.Is6() {
				mss = 1440
			}
			b = append(b, 2, 4)
			b = binary.BigEndian.AppendUint16(b, mss)
		}
		return p.appendPayload(b)
	case ProtoUDP:
		n := 8 + p.payloadLen()
		b = binary.BigEndian.AppendUint16(b, p.SrcPort)
		b = binary.BigEndian.AppendUint16(b, p.DstPort)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		b = append(b, 0, 0)
		return p.appendPayload(b)
	case ProtoICMP, ProtoICMPv6:
		b = append(b, p.ICMPType, p.ICMPCode, 0, 0)
		if p.Quote != nil {
			b = append(b, 0, 0, 0, 0) // unused (or MTU for "fragmentation needed")
			qStart := len(b)
			var l4off int
			b, l4off = p.Quote.appendIP(b)
			if keep := l4off + 8; len(b)-qStart > keep {
				b = b[:qStart+keep]
			}
			return b
		}
		b = binary.BigEndian.AppendUint16(b, p.ICMPID)
		b = binary.BigEndian.AppendUint16(b, p.ICMPSeq)
		return p.appendPayload(b)
	case ProtoSCTP:
		vtag := uint32(p.SrcPort)<<16 | uint32(p.DstPort)
		n := p.payloadLen()
		b = binary.BigEndian.AppendUint16(b, p.SrcPort)
		b = binary.BigEndian.AppendUint16(b, p.DstPort)
		if n == 0 {
			b = binary.BigEndian.AppendUint32(b, 0) // INIT carries verification tag 0
			b = append(b, 0, 0, 0, 0)
			b = append(b, 1, 0) // INIT chunk
			b = binary.BigEndian.AppendUint16(b, 20)
			b = binary.BigEndian.AppendUint32(b, vtag) // initiate tag
			b = binary.BigEndian.AppendUint32(b, 65535)
			b = binary.BigEndian.AppendUint16(b, 10)
			b = binary.BigEndian.AppendUint16(b, 10)
			return binary.BigEndian.AppendUint32(b, p.Seq) // initial TSN
		}
		b = binary.BigEndian.AppendUint32(b, vtag)
		b = append(b, 0, 0, 0, 0)
		b = append(b, 0, 0x03) // DATA chunk, beginning and end of a message
		b = binary.BigEndian.AppendUint16(b, uint16(16+n))
		b = binary.BigEndian.AppendUint32(b, p.Seq)
		b = append(b, 0, 0, 0, 0) // stream identifier, stream sequence number
		b = append(b, 0, 0, 0, 0) // payload protocol identifier
		b = p.appendPayload(b)
		var zero [3]byte
		return append(b, zero[:(4-n%4)%4]...)
	}
	return p.appendPayload(b)
}

func (p *Packet) payloadLen() int {
	if p.Payload != nil {
		return len(p.Payload)
	}
	return p.PayloadLen
}

func (p *Packet) appendPayload(b []byte) []byte {
	if p.Payload != nil {
		return append(b, p.Payload...)
	}
	for n := p.PayloadLen; n > 0; {
		k := min(n, len(payloadPattern))
		b = append(b, payloadPattern[:k]...)
		n -= k
	}
	return b
}

// checksumL4 fills in the transport checksum of the whole datagram l4.
func (p *Packet) checksumL4(l4 []byte, src, dst []byte) {
	pseudo := func(proto uint8) uint64 {
		s := sum(0, src)
		s = sum(s, dst)
		return s + uint64(proto) + uint64(len(l4))
	}
	switch p.Proto {
	case ProtoTCP:
		binary.BigEndian.PutUint16(l4[16:], ^fold(sum(pseudo(ProtoTCP), l4)))
	case ProtoUDP:
		c := ^fold(sum(pseudo(ProtoUDP), l4))
		if c == 0 {
			c = 0xFFFF // 0 means "no checksum" in UDP
		}
		binary.BigEndian.PutUint16(l4[6:], c)
	case ProtoICMP:
		if len(src) == 4 {
			binary.BigEndian.PutUint16(l4[2:], ^fold(sum(0, l4)))
		} else {
			binary.BigEndian.PutUint16(l4[2:], ^fold(sum(pseudo(ProtoICMP), l4)))
		}
	case ProtoICMPv6:
		binary.BigEndian.PutUint16(l4[2:], ^fold(sum(pseudo(ProtoICMPv6), l4)))
	case ProtoSCTP:
		binary.LittleEndian.PutUint32(l4[8:], crc32.Checksum(l4, castagnoli))
	}
}

// sum adds b to the one's-complement accumulator s as big-endian 16-bit words
// (an odd final byte is padded with zero), 4 bytes at a time: the accumulator is
// 64 bits wide so carries are folded only once, at the end.
func sum(s uint64, b []byte) uint64 {
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	if len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fold(s uint64) uint16 {
	for s > 0xFFFF {
		s = s>>16 + s&0xFFFF
	}
	return uint16(s)
}
