// Package pcapng writes pcapng files: Section Header Blocks, Interface Description
// Blocks, Enhanced and Simple Packet Blocks (draft-ietf-opsawg-pcapng). It is the
// writer of both the synthetic captures (package synth) and live capture's --write.
//
// It is hand-written, with no dependency beyond the standard library, because
// gopacket's pcapgo writers cannot produce big-endian files, several sections or
// arbitrary timestamp resolutions, and because importing pcapgo links gopacket/layers
// into portclass: its package initialiser and 5 MB of pointer-holding tables cost
// every invocation ~2.5 ms of start-up (75 page faults), for a writer of 250 lines.
package pcapng

import (
	"encoding/binary"
	"errors"
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
	ngOptHardware uint16 = 2  // shb_hardware
	ngOptOS       uint16 = 3  // shb_os
	ngOptUserAppl uint16 = 4  // shb_userappl
	ngOptIfName   uint16 = 2  // if_name
	ngOptIfDesc   uint16 = 3  // if_description
	ngOptTsresol  uint16 = 9  // if_tsresol
	ngOptIfFilter uint16 = 11 // if_filter
	ngOptIfOS     uint16 = 12 // if_os
)

// DefaultSnaplen is the snapshot length of an interface added with snaplen 0: 262144,
// tcpdump's default.
const DefaultSnaplen = 262144

// ErrTime is returned for timestamps a capture format cannot hold.
var ErrTime = errors.New("timestamp outside 1970-01-01..2106-02-07")

// Options configures a pcapng section. Empty strings are not written.
type Options struct {
	BigEndian   bool   // write the section's blocks big-endian
	Application string // shb_userappl
	Hardware    string // shb_hardware
	OS          string // shb_os
}

// Interface describes an interface: its Interface Description Block. Empty strings are
// not written.
type Interface struct {
	LinkType uint16 // LINKTYPE_ value
	// TSResol is the if_tsresol option byte: 6 is microseconds (written by leaving the
	// option out, the pcapng default), 9 nanoseconds, 0x80|n units of 2^-n seconds (n
	// at most 32).
	TSResol     uint8
	Snaplen     uint32 // 0 means DefaultSnaplen
	Name        string // if_name
	Description string // if_description
	Filter      string // if_filter, as a libpcap filter string
	OS          string // if_os
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

// Writer writes a pcapng file: Section Header Blocks, Interface Description Blocks,
// Enhanced and Simple Packet Blocks. It does not buffer: wrap files in a bufio.Writer.
// It is not safe for concurrent use.
type Writer struct {
	w      io.Writer
	order  byteOrder
	ifaces []ngIface
	buf    []byte // block being assembled; reused
	n      int    // packet blocks written
	off    int64  // bytes written
}

// NewWriter writes a Section Header Block to w. Add interfaces before packets.
func NewWriter(w io.Writer, o Options) (*Writer, error) {
	nw := &Writer{w: w}
	if err := nw.NewSectionWith(o); err != nil {
		return nil, err
	}
	return nw, nil
}

// NewSection starts a new section in the same byte order, without shb_userappl.
// Interfaces restart at 0: those of the previous section may no longer be used.
func (nw *Writer) NewSection() error {
	return nw.NewSectionWith(Options{BigEndian: nw.order == binary.BigEndian})
}

// NewSectionWith starts a new section with its own byte order and options.
func (nw *Writer) NewSectionWith(o Options) error {
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
	b = nw.appendOpts(b, []option{{ngOptUserAppl, o.Application}, {ngOptHardware, o.Hardware}, {ngOptOS, o.OS}})
	nw.buf = b
	return nw.finish("section header block")
}

// AddInterface writes an Interface Description Block with only if_name (when not
// empty) and if_tsresol; see Interface.
func (nw *Writer) AddInterface(linkType uint16, name string, tsresol uint8, snaplen uint32) (int, error) {
	return nw.AddInterfaceWith(Interface{LinkType: linkType, Name: name, TSResol: tsresol, Snaplen: snaplen})
}

// AddInterfaceWith writes the Interface Description Block of ifc and returns the
// interface's index in the current section.
func (nw *Writer) AddInterfaceWith(ifc Interface) (int, error) {
	tsresol := ifc.TSResol
	it := ngIface{snaplen: ifc.Snaplen, binary: tsresol&0x80 != 0, exp: tsresol & 0x7F}
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
	b = nw.order.AppendUint16(b, ifc.LinkType)
	b = nw.order.AppendUint16(b, 0)
	b = nw.order.AppendUint32(b, it.snaplen)
	filter := ""
	if ifc.Filter != "" {
		filter = "\x00" + ifc.Filter // filter type 0: a libpcap filter string
	}
	opts := []option{{ngOptIfName, ifc.Name}, {ngOptIfDesc, ifc.Description}, {ngOptIfFilter, filter}, {ngOptIfOS, ifc.OS}, {ngOptTsresol, ""}}
	if tsresol != 6 {
		opts[len(opts)-1].val = string([]byte{tsresol})
	}
	b = nw.appendOpts(b, opts)
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
		return 0, ErrTime
	}
	if it.binary {
		if it.exp > 0 && uint64(sec) >= 1<<(64-it.exp) {
			return 0, ErrTime
		}
		return uint64(sec)<<it.exp | nsec<<it.exp/1e9, nil
	}
	div := uint64(1e9) / it.unit
	return uint64(sec)*it.unit + nsec/div, nil
}

// WritePacket writes an Enhanced Packet Block on interface iface of the current
// section. frame is cut to the interface's snaplen; origLen 0 means len(frame); the
// timestamp is truncated to the interface's resolution. frame is not retained.
func (nw *Writer) WritePacket(iface int, ts time.Time, frame []byte, origLen int) error {
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
func (nw *Writer) WriteSimplePacket(frame []byte, origLen int) error {
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
func (nw *Writer) Packets() int { return nw.n }

// begin starts a block in nw.buf: type and a placeholder total length.
func (nw *Writer) begin(typ uint32) []byte {
	b := nw.order.AppendUint32(nw.buf[:0], typ)
	return nw.order.AppendUint32(b, 0)
}

// finish fills in both total-length fields of the block in nw.buf and writes it.
// what names the block in errors; "" means the current packet.
func (nw *Writer) finish(what string) error {
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

// option is one option of a block; an empty val is not written.
type option struct {
	code uint16
	val  string
}

// appendOpts appends the options with a value, then opt_endofopt if there was one.
func (nw *Writer) appendOpts(b []byte, opts []option) []byte {
	n := 0
	for _, o := range opts {
		if o.val != "" {
			b = nw.appendOpt(b, o.code, []byte(o.val))
			n++
		}
	}
	if n > 0 {
		b = nw.appendOpt(b, ngOptEnd, nil)
	}
	return b
}

func (nw *Writer) appendOpt(b []byte, code uint16, val []byte) []byte {
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
