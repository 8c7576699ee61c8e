package capture

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Classic pcap magic numbers as they appear in the first four bytes of a file.
var (
	pcapMicroLE = [4]byte{0xd4, 0xc3, 0xb2, 0xa1}
	pcapMicroBE = [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	pcapNanoLE  = [4]byte{0x4d, 0x3c, 0xb2, 0xa1}
	pcapNanoBE  = [4]byte{0xa1, 0xb2, 0x3c, 0x4d}
)

func isPcapMagic(b []byte) bool {
	m := [4]byte(b[:4])
	return m == pcapMicroLE || m == pcapMicroBE || m == pcapNanoLE || m == pcapNanoBE
}

// The network field of a pcap header: the low 16 bits are the link type; bits 16-25
// are reserved and must be zero; the upper bits carry the FCS length (libpcap's
// LT_LINKTYPE, LT_RESERVED1 and LT_FCS_LENGTH macros).
const (
	linkTypeMask     = 0x0000ffff
	linkReservedMask = 0x03ff0000
)

// pcapReader reads classic libpcap files of either byte order and timestamp resolution.
type pcapReader struct {
	br       byteReader
	order    binary.ByteOrder
	le       bool // order is little-endian
	nano     bool
	linkType uint16
	snaplen  uint32
	off      int64
	badTS    int      // records with an out-of-range timestamp fraction
	probs    problems // problems that did not stop reading
}

func (r *pcapReader) warnings() []string {
	out := r.probs.all()
	if r.badTS > 1 {
		out = append(out, fmt.Sprintf("%d records in all have an out-of-range timestamp fraction", r.badTS))
	}
	return out
}

func newPcapReader(br byteReader) (*pcapReader, error) {
	h, err := br.Peek(24)
	if err != nil {
		return nil, fmt.Errorf("pcap file header: %w", errShort(err))
	}
	r := &pcapReader{br: br}
	switch [4]byte(h[:4]) {
	case pcapMicroLE:
		r.order = binary.LittleEndian
	case pcapMicroBE:
		r.order = binary.BigEndian
	case pcapNanoLE:
		r.order, r.nano = binary.LittleEndian, true
	case pcapNanoBE:
		r.order, r.nano = binary.BigEndian, true
	}
	r.le = r.order == binary.LittleEndian
	if major := r.order.Uint16(h[4:]); major != 2 {
		return nil, fmt.Errorf("pcap file header: offset 4: version %d.%d is not 2.x", major, r.order.Uint16(h[6:]))
	}
	r.snaplen = r.order.Uint32(h[16:])
	network := r.order.Uint32(h[20:])
	if network&linkReservedMask != 0 {
		return nil, fmt.Errorf("pcap file header: offset 20: link type field 0x%08x has reserved bits set (0x%08x)", network, network&linkReservedMask)
	}
	r.linkType = uint16(network & linkTypeMask)
	br.Discard(24)
	r.off = 24
	return r, nil
}

func (r *pcapReader) format() string { return "pcap" }

// u32 is r.order.Uint32 without the interface call, for the record headers.
func (r *pcapReader) u32(b []byte) uint32 {
	if r.le {
		return binary.LittleEndian.Uint32(b)
	}
	return binary.BigEndian.Uint32(b)
}

func errShort(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *pcapReader) next() (record, error) {
	h, err := r.br.Peek(16)
	if len(h) < 16 {
		if len(h) == 0 && err == io.EOF {
			return record{}, io.EOF
		}
		if err == io.EOF || err == nil {
			return record{}, &CorruptError{Offset: r.off, Field: "record header", Msg: fmt.Sprintf("file ends after %d of 16 bytes", len(h))}
		}
		return record{}, readErr(r.off, "record header", err)
	}
	sec, frac, capLen, origLen := r.u32(h[0:]), r.u32(h[4:]), r.u32(h[8:]), r.u32(h[12:])
	if capLen > MaxCapLen {
		return record{}, &CorruptError{Offset: r.off + 8, Field: "record caplen", Msg: fmt.Sprintf("%d exceeds the %d-byte limit", capLen, MaxCapLen)}
	}
	if (r.nano && frac >= 1e9) || (!r.nano && frac >= 1e6) {
		// Wireshark and tcpdump show such records; so does portclass, with a warning.
		r.badTS++
		if r.badTS == 1 {
			r.probs.add("offset %d: record timestamp: fraction %d is out of range (used as is)", r.off+4, frac)
		}
	}
	total := 16 + int(capLen)
	buf, err := r.br.Peek(total)
	if len(buf) < total {
		if err == io.EOF || err == nil {
			return record{}, &CorruptError{Offset: r.off, Field: "record data", Msg: fmt.Sprintf("file ends after %d of %d bytes", len(buf), total)}
		}
		return record{}, readErr(r.off, "record data", err)
	}
	ns := int64(frac)
	if !r.nano {
		ns *= 1000
	}
	wire := int(origLen)
	if wire < int(capLen) {
		wire = int(capLen)
	}
	rec := record{Data: buf[16:total], TS: int64(sec)*1e9 + ns, WireLen: wire, LinkType: r.linkType, Offset: r.off}
	r.br.Discard(total)
	r.off += int64(total)
	return rec, nil
}
