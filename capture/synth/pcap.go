package synth

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/portclass/portclass/capture/pcapng"
)

// DefaultSnaplen is the snapshot length written when an option leaves it zero; it is
// Linux's largest (262144), which tcpdump and dumpcap also use by default (and
// pcapng.DefaultSnaplen).
const DefaultSnaplen = 262144

// Link-layer header types (LINKTYPE_* values in the pcap and pcapng headers) that
// [Packet.Frame] can produce.
const (
	LinkNull     uint16 = 0   // BSD loopback: 4-byte address family in the writer's byte order (little-endian here)
	LinkEthernet uint16 = 1   // Ethernet II, optionally 802.1Q / 802.1ad tagged
	LinkPPP      uint16 = 9   // PPP in HDLC-like framing (0xff 0x03, then the PPP protocol)
	LinkRaw      uint16 = 101 // raw IP, version from the first nibble
	LinkLoop     uint16 = 108 // OpenBSD loopback: 4-byte address family, big-endian
	LinkSLL      uint16 = 113 // Linux "cooked" capture v1 (16-byte header)
	LinkIPv4     uint16 = 228 // raw IPv4 only
	LinkIPv6     uint16 = 229 // raw IPv6 only
	LinkSLL2     uint16 = 276 // Linux "cooked" capture v2 (20-byte header)
)

// linkNames maps the names pcapgen accepts to link types.
var linkNames = [...]struct {
	name string
	lt   uint16
}{
	{"ethernet", LinkEthernet}, {"sll", LinkSLL}, {"sll2", LinkSLL2}, {"raw", LinkRaw},
	{"null", LinkNull}, {"loop", LinkLoop}, {"ppp", LinkPPP}, {"ipv4", LinkIPv4}, {"ipv6", LinkIPv6},
}

// ParseLink returns the link type named name: ethernet, sll, sll2, raw, null, loop,
// ppp, ipv4 or ipv6.
func ParseLink(name string) (uint16, error) {
	for _, l := range linkNames {
		if l.name == name {
			return l.lt, nil
		}
	}
	return 0, fmt.Errorf("unknown link type %q (want ethernet, sll, sll2, raw, null, loop, ppp, ipv4 or ipv6)", name)
}

// LinkName is the inverse of ParseLink; unknown types give "linktype-N".
func LinkName(lt uint16) string {
	for _, l := range linkNames {
		if l.lt == lt {
			return l.name
		}
	}
	return fmt.Sprintf("linktype-%d", lt)
}

// FCSBitsLibpcap returns the upper bits of a pcap header's link-type field that say
// every frame ends with an FCS of fcsLen bytes, as libpcap encodes them
// (LT_FCS_DATALINK_EXT in pcap-common.h: length in 16-bit words in bits 28-31 and the
// "FCS length present" bit 0x04000000). OR it into [PcapOptions.LinkTypeExt].
func FCSBitsLibpcap(fcsLen int) uint32 {
	return uint32(fcsLen/2&0xF)<<28 | 0x04000000
}

// FCSBitsDraft is FCSBitsLibpcap as the IETF pcap draft (draft-ietf-opsawg-pcap)
// encodes it: the "f" bit 0x10000000 and the length in 16-bit words in bits 29-31.
// For a 4-byte FCS the draft gives 0x50000000 and libpcap 0x24000000; readers must
// mask the field to its low 16 bits (LT_LINKTYPE) whichever encoding a file uses.
func FCSBitsDraft(fcsLen int) uint32 {
	return uint32(fcsLen/2&0x7)<<29 | 0x10000000
}

// PcapOptions configures a [PcapWriter]. The zero value writes a little-endian,
// microsecond pcap of link type 0 (LinkNull): set LinkType.
type PcapOptions struct {
	BigEndian bool   // write every header field big-endian (magic 0xa1b2c3d4 read as bytes a1 b2 c3 d4)
	Nano      bool   // nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds
	LinkType  uint16 // LINKTYPE_* of every record
	Snaplen   uint32 // records longer than this are cut; 0 means DefaultSnaplen
	// LinkTypeExt is OR'ed into the upper 16 bits of the header's link-type field,
	// e.g. FCSBitsLibpcap(4). The frames passed to WritePacket must then carry the FCS.
	LinkTypeExt uint32
}

// PcapWriter writes a classic pcap file. It does not buffer: wrap files in a
// bufio.Writer. It is not safe for concurrent use.
type PcapWriter struct {
	w       io.Writer
	order   binary.ByteOrder
	nano    bool
	snaplen uint32
	hdr     [16]byte
	n       int   // records written
	off     int64 // bytes written
}

// NewPcapWriter writes the 24-byte file header to w and returns a writer for records.
func NewPcapWriter(w io.Writer, o PcapOptions) (*PcapWriter, error) {
	if o.LinkTypeExt&0xFFFF != 0 {
		return nil, fmt.Errorf("pcap header: link-type extension 0x%08x has bits in the low 16 (the link type)", o.LinkTypeExt)
	}
	pw := &PcapWriter{w: w, order: binary.LittleEndian, nano: o.Nano, snaplen: o.Snaplen}
	if o.BigEndian {
		pw.order = binary.BigEndian
	}
	if pw.snaplen == 0 {
		pw.snaplen = DefaultSnaplen
	}
	var h [24]byte
	magic := uint32(0xa1b2c3d4)
	if o.Nano {
		magic = 0xa1b23c4d
	}
	pw.order.PutUint32(h[0:], magic)
	pw.order.PutUint16(h[4:], 2)
	pw.order.PutUint16(h[6:], 4)
	// thiszone and sigfigs stay 0, as every modern writer leaves them.
	pw.order.PutUint32(h[16:], pw.snaplen)
	pw.order.PutUint32(h[20:], uint32(o.LinkType)|o.LinkTypeExt)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	pw.off = 24
	return pw, nil
}

// errTime is returned for timestamps a capture format cannot hold: the pcapng
// writer's.
var errTime = pcapng.ErrTime

// WritePacket appends one record. frame is the captured bytes (cut to the snaplen
// here if longer); origLen is the length on the wire, 0 meaning len(frame). The
// timestamp is truncated to the file's resolution. frame is not retained.
func (pw *PcapWriter) WritePacket(ts time.Time, frame []byte, origLen int) error {
	pw.n++
	if origLen == 0 {
		origLen = len(frame)
	}
	if origLen < len(frame) {
		return fmt.Errorf("pcap record %d at offset %d: original length %d shorter than the %d-byte frame", pw.n, pw.off, origLen, len(frame))
	}
	sec, nsec := ts.Unix(), ts.Nanosecond()
	if sec < 0 || sec > 0xFFFFFFFF {
		return fmt.Errorf("pcap record %d at offset %d: %w", pw.n, pw.off, errTime)
	}
	frac := uint32(nsec)
	if !pw.nano {
		frac = uint32(nsec / 1000)
	}
	if uint32(len(frame)) > pw.snaplen {
		frame = frame[:pw.snaplen]
	}
	pw.order.PutUint32(pw.hdr[0:], uint32(sec))
	pw.order.PutUint32(pw.hdr[4:], frac)
	pw.order.PutUint32(pw.hdr[8:], uint32(len(frame)))
	pw.order.PutUint32(pw.hdr[12:], uint32(origLen))
	if _, err := pw.w.Write(pw.hdr[:]); err != nil {
		return fmt.Errorf("pcap record %d at offset %d: %w", pw.n, pw.off, err)
	}
	if _, err := pw.w.Write(frame); err != nil {
		return fmt.Errorf("pcap record %d at offset %d: %w", pw.n, pw.off, err)
	}
	pw.off += 16 + int64(len(frame))
	return nil
}

// Packets returns the number of records written.
func (pw *PcapWriter) Packets() int { return pw.n }
