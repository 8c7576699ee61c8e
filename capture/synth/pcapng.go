package synth

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
const (
	ngBlockSHB uint32 = 0x0A0D0D0A
	ngBlockIDB uint32 = 0x00000001
	ngBlockSPB uint32 = 0x00000003
	ngBlockEPB uint32 = 0x00000006

	ngOptEnd      uint16 = 0
	ngOptUserAppl uint16 = 4 // shb_userappl
	ngOptIfName   uint16 = 2 // if_name
	ngOptTsresol  uint16 = 9 // if_tsresol
)

// NgOptions configures a pcapng section.
type NgOptions struct {
	BigEndian bool // write the section's blocks big-endian
	// Application, when not empty, is written as the section's shb_userappl option.
	Application string
}

// ngIface is what the writer remembers of one interface of the current section.
type ngIface struct {
	snaplen uint32
	binary  bool   // tsresol is a power of 2
	exp     uint8  // its exponent
	unit    uint64 // decimal: units per second
}

// byteOrder is what binary.LittleEndian and binary.BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// NgWriter writes a pcapng file: Section Header Blocks, Interface Description Blocks,
// Enhanced and Simple Packet Blocks. It does not buffer: wrap files in a bufio.Writer.
// It is not safe for concurrent use.
type NgWriter struct {
	w      io.Writer
	order  byteOrder
	ifaces []ngIface
	buf    []byte // block being assembled; reused
	n      int    // packet blocks written
	off    int64  // bytes written
}

// NewNgWriter writes a Section Header Block to w. Add interfaces before packets.
func NewNgWriter(w io.Writer, o NgOptions) (*NgWriter, error) {
	nw := &NgWriter{w: w}
	if err := nw.NewSectionWith(o); err != nil {
		return nil, err
	}
	return nw, nil
}

// NewSection starts a new section in the same byte order, without shb_userappl.
// Interfaces restart at 0: those of the previous section may no longer be used.
func (nw *NgWriter) NewSection() error {
	return nw.NewSectionWith(NgOptions{BigEndian: nw.order == binary.BigEndian})
}

// NewSectionWith starts a new section with its own byte order and options.
func (nw *NgWriter) NewSectionWith(o NgOptions) error {
	nw.order = byteOrder(binary.LittleEndian)
	if o.BigEndian {
		nw.order = binary.BigEndian
	}
	nw.ifaces = nw.ifaces[:0]
	b := nw.begin(ngBlockSHB)
	b = nw.order.AppendUint32(b, 0x1A2B3C4D) // byte-order magic
	b = nw.order.AppendUint16(b, 1)
	b = nw.order.AppendUint16(b, 0)
	b = nw.order.AppendUint64(b, 0xFFFFFFFFFFFFFFFF) // section length not specified
	if o.Application != "" {
		b = nw.appendOpt(b, ngOptUserAppl, []byte(o.Application))
		b = nw.appendOpt(b, ngOptEnd, nil)
	}
	nw.buf = b
	return nw.finish("section header block")
}

// AddInterface writes an Interface Description Block and returns the interface's
// index in the current section. tsresol is the if_tsresol option byte: 6 is
// microseconds (written by leaving the option out, the pcapng default), 9
// nanoseconds, 0x80|n units of 2^-n seconds (n at most 32). name, when not empty, is
// written as if_name. snaplen 0 means DefaultSnaplen.
func (nw *NgWriter) AddInterface(linkType uint16, name string, tsresol uint8, snaplen uint32) (int, error) {
	it := ngIface{snaplen: snaplen, binary: tsresol&0x80 != 0, exp: tsresol & 0x7F}
	if it.snaplen == 0 {
		it.snaplen = DefaultSnaplen
	}
	switch {
	case it.binary && it.exp > 32:
		return 0, fmt.Errorf("interface %d: if_tsresol 0x%02x: at most 2^-32 s is supported", len(nw.ifaces), tsresol)
	case !it.binary && it.exp > 9:
		return 0, fmt.Errorf("interface %d: if_tsresol %d: at most 10^-9 s is supported", len(nw.ifaces), tsresol)
	}
	if !it.binary {
		it.unit = 1
		for range it.exp {
			it.unit *= 10
		}
	}
	b := nw.begin(ngBlockIDB)
	b = nw.order.AppendUint16(b, linkType)
	b = nw.order.AppendUint16(b, 0)
	b = nw.order.AppendUint32(b, it.snaplen)
	opts := false
	if name != "" {
		b = nw.appendOpt(b, ngOptIfName, []byte(name))
		opts = true
	}
	if tsresol != 6 {
		b = nw.appendOpt(b, ngOptTsresol, []byte{tsresol})
		opts = true
	}
	if opts {
		b = nw.appendOpt(b, ngOptEnd, nil)
	}
	nw.buf = b
	if err := nw.finish("interface description block"); err != nil {
		return 0, err
	}
	nw.ifaces = append(nw.ifaces, it)
	return len(nw.ifaces) - 1, nil
}

// units converts ts to the interface's timestamp units, truncating.
func (it *ngIface) units(ts time.Time) (uint64, error) {
	sec, nsec := ts.Unix(), uint64(ts.Nanosecond())
	if sec < 0 {
		return 0, errTime
	}
	if it.binary {
		if it.exp > 0 && uint64(sec) >= 1<<(64-it.exp) {
			return 0, errTime
		}
		return uint64(sec)<<it.exp | nsec<<it.exp/1e9, nil
	}
	div := uint64(1e9) / it.unit
	return uint64(sec)*it.unit + nsec/div, nil
}

// WritePacket writes an Enhanced Packet Block on interface iface of the current
// section. frame is cut to the interface's snaplen; origLen 0 means len(frame); the
// timestamp is truncated to the interface's resolution. frame is not retained.
func (nw *NgWriter) WritePacket(iface int, ts time.Time, frame []byte, origLen int) error {
	nw.n++
	if iface < 0 || iface >= len(nw.ifaces) {
		return fmt.Errorf("packet %d at offset %d: interface %d not defined in this section (%d interfaces)", nw.n, nw.off, iface, len(nw.ifaces))
	}
	it := &nw.ifaces[iface]
	if origLen == 0 {
		origLen = len(frame)
	}
	if origLen < len(frame) {
		return fmt.Errorf("packet %d at offset %d: original length %d shorter than the %d-byte frame", nw.n, nw.off, origLen, len(frame))
	}
	u, err := it.units(ts)
	if err != nil {
		return fmt.Errorf("packet %d at offset %d: %w", nw.n, nw.off, err)
	}
	if uint32(len(frame)) > it.snaplen {
		frame = frame[:it.snaplen]
	}
	b := nw.begin(ngBlockEPB)
	b = nw.order.AppendUint32(b, uint32(iface))
	b = nw.order.AppendUint32(b, uint32(u>>32))
	b = nw.order.AppendUint32(b, uint32(u))
	b = nw.order.AppendUint32(b, uint32(len(frame)))
	b = nw.order.AppendUint32(b, uint32(origLen))
	b = appendPadded(b, frame)
	nw.buf = b
	return nw.finish("")
}

// WriteSimplePacket writes a Simple Packet Block: no timestamp, interface 0 of the
// current section, captured length min(origLen, snaplen of interface 0).
func (nw *NgWriter) WriteSimplePacket(frame []byte, origLen int) error {
	nw.n++
	if len(nw.ifaces) == 0 {
		return fmt.Errorf("packet %d at offset %d: simple packet block needs interface 0", nw.n, nw.off)
	}
	if origLen == 0 {
		origLen = len(frame)
	}
	if origLen < len(frame) {
		return fmt.Errorf("packet %d at offset %d: original length %d shorter than the %d-byte frame", nw.n, nw.off, origLen, len(frame))
	}
	// A reader derives the captured length from the snaplen and origLen, so the
	// frame must hold exactly that many bytes.
	want := min(uint32(origLen), nw.ifaces[0].snaplen)
	if uint32(len(frame)) < want {
		return fmt.Errorf("packet %d at offset %d: simple packet block needs %d captured bytes, have %d", nw.n, nw.off, want, len(frame))
	}
	b := nw.begin(ngBlockSPB)
	b = nw.order.AppendUint32(b, uint32(origLen))
	b = appendPadded(b, frame[:want])
	nw.buf = b
	return nw.finish("")
}

// Packets returns the number of packet blocks written.
func (nw *NgWriter) Packets() int { return nw.n }

// begin starts a block in nw.buf: type and a placeholder total length.
func (nw *NgWriter) begin(typ uint32) []byte {
	b := nw.order.AppendUint32(nw.buf[:0], typ)
	return nw.order.AppendUint32(b, 0)
}

// finish fills in both total-length fields of the block in nw.buf and writes it.
// what names the block in errors; "" means the current packet.
func (nw *NgWriter) finish(what string) error {
	n := len(nw.buf) + 4
	nw.order.PutUint32(nw.buf[4:], uint32(n))
	nw.buf = nw.order.AppendUint32(nw.buf, uint32(n))
	if _, err := nw.w.Write(nw.buf); err != nil {
		if what == "" {
			return fmt.Errorf("pcapng packet %d at offset %d: %w", nw.n, nw.off, err)
		}
		return fmt.Errorf("pcapng %s at offset %d: %w", what, nw.off, err)
	}
	nw.off += int64(n)
	return nil
}

func (nw *NgWriter) appendOpt(b []byte, code uint16, val []byte) []byte {
	b = nw.order.AppendUint16(b, code)
	b = nw.order.AppendUint16(b, uint16(len(val)))
	return appendPadded(b, val)
}

// appendPadded appends v and zero bytes up to a multiple of 4.
func appendPadded(b, v []byte) []byte {
	b = append(b, v...)
	var zero [3]byte
	return append(b, zero[:(4-len(v)%4)%4]...)
}
