package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// pcapng block types portclass reads; every other block is skipped by its length.
const (
	ngSHB = 0x0a0d0d0a // section header
	ngIDB = 0x00000001 // interface description
	ngOPB = 0x00000002 // obsolete packet block
	ngSPB = 0x00000003 // simple packet block
	ngISB = 0x00000005 // interface statistics
	ngEPB = 0x00000006 // enhanced packet block
)

// maxInterfaces bounds the interfaces of one section; a section that declares more is
// corrupt (each costs a few bytes, but a hostile file could declare millions).
const maxInterfaces = 1 << 16

type ngInterface struct {
	linkType uint16
	snaplen  uint32
	// timestamp units: ts * mul / div nanoseconds, plus offset seconds
	mul, div uint64
	offset   int64
}

// ngReader reads pcapng files: several sections of either byte order, several
// interfaces per section with their own link types and timestamp resolutions.
type ngReader struct {
	br      byteReader
	order   binary.ByteOrder
	ifaces  []ngInterface
	off     int64
	scratch []byte
	// ISB counters, summed over interfaces of all sections.
	ifDrops uint64
	// big is set when the current block was larger than the buffer and was read whole
	// into scratch (so consume must not discard again).
	big bool
}

func newNgReader(br byteReader) (*ngReader, error) {
	r := &ngReader{br: br}
	if err := r.readSHB(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *ngReader) format() string { return "pcapng" }

func (r *ngReader) warnings() []string {
	if r.ifDrops > 0 {
		return []string{fmt.Sprintf("interface statistics report %d packets dropped by the capturing interface", r.ifDrops)}
	}
	return nil
}

// readSHB reads the section header block at the current offset.
func (r *ngReader) readSHB() error {
	h, err := r.br.Peek(12)
	if len(h) < 12 {
		return &CorruptError{Offset: r.off, Field: "section header", Msg: "file ends inside the block header: " + errShort(err).Error()}
	}
	switch {
	case h[8] == 0x4d && h[9] == 0x3c && h[10] == 0x2b && h[11] == 0x1a:
		r.order = binary.LittleEndian
	case h[8] == 0x1a && h[9] == 0x2b && h[10] == 0x3c && h[11] == 0x4d:
		r.order = binary.BigEndian
	default:
		return &CorruptError{Offset: r.off + 8, Field: "section header byte-order magic", Msg: fmt.Sprintf("0x%x is neither 0x1a2b3c4d nor its byte swap", h[8:12])}
	}
	blen := r.order.Uint32(h[4:])
	if blen < 28 || blen%4 != 0 || blen > MaxBlockLen {
		return &CorruptError{Offset: r.off + 4, Field: "section header block length", Msg: fmt.Sprintf("%d is invalid", blen)}
	}
	b, err := r.block(int(blen))
	if err != nil {
		return err
	}
	if major := r.order.Uint16(b[12:]); major != 1 {
		return &CorruptError{Offset: r.off + 12, Field: "section header version", Msg: fmt.Sprintf("%d.%d is not 1.x", major, r.order.Uint16(b[14:]))}
	}
	r.ifaces = r.ifaces[:0]
	return r.consume(int(blen))
}

// block returns the n bytes of the block at the current offset, checking the trailing
// length copy. The slice is valid until the next read.
func (r *ngReader) block(n int) ([]byte, error) {
	var b []byte
	if n <= r.br.Size() {
		p, err := r.br.Peek(n)
		if len(p) < n {
			return nil, &CorruptError{Offset: r.off, Field: "block", Msg: fmt.Sprintf("file ends after %d of %d bytes (%v)", len(p), n, errShort(orEOF(err)))}
		}
		b = p
	} else {
		if cap(r.scratch) < n {
			r.scratch = make([]byte, n)
		}
		b = r.scratch[:n]
		m, err := io.ReadFull(r.br, b)
		if err != nil {
			return nil, &CorruptError{Offset: r.off, Field: "block", Msg: fmt.Sprintf("file ends after %d of %d bytes", m, n)}
		}
		r.off += int64(n)
		r.big = true
	}
	if trail := r.order.Uint32(b[n-4:]); int(trail) != n {
		return nil, &CorruptError{Offset: r.off + int64(n) - 4, Field: "trailing block length", Msg: fmt.Sprintf("%d does not match the leading %d", trail, n)}
	}
	return b, nil
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// consume moves past a block returned by block.
func (r *ngReader) consume(n int) error {
	if r.big {
		r.big = false
		return nil
	}
	r.br.Discard(n)
	r.off += int64(n)
	return nil
}

func (r *ngReader) next() (record, error) {
	for {
		h, err := r.br.Peek(8)
		if len(h) < 8 {
			if len(h) == 0 && (err == io.EOF) {
				return record{}, io.EOF
			}
			if err == io.EOF || err == nil {
				return record{}, &CorruptError{Offset: r.off, Field: "block header", Msg: fmt.Sprintf("file ends after %d of 8 bytes", len(h))}
			}
			return record{}, err
		}
		typ := r.order.Uint32(h)
		if typ == ngSHB || (h[0] == 0x0a && h[1] == 0x0d && h[2] == 0x0d && h[3] == 0x0a) {
			if err := r.readSHB(); err != nil {
				return record{}, err
			}
			continue
		}
		blen := r.order.Uint32(h[4:])
		if blen < 12 || blen%4 != 0 || blen > MaxBlockLen {
			return record{}, &CorruptError{Offset: r.off + 4, Field: "block length", Msg: fmt.Sprintf("%d is invalid for block type 0x%x", blen, typ)}
		}
		start := r.off
		b, err := r.block(int(blen))
		if err != nil {
			return record{}, err
		}
		body := b[8 : len(b)-4]
		switch typ {
		case ngIDB:
			err = r.readIDB(body, start)
		case ngEPB, ngOPB:
			var rec record
			rec, err = r.readEPB(typ, body, start)
			if err == nil {
				rec.detached = r.big
				// the record aliases the buffer: consume only moves the read position,
				// the bytes stay valid until the next Peek.
				r.consume(int(blen))
				return rec, nil
			}
		case ngSPB:
			var rec record
			rec, err = r.readSPB(body, start)
			if err == nil {
				rec.detached = r.big
				r.consume(int(blen))
				return rec, nil
			}
		case ngISB:
			r.readISB(body)
		}
		if err != nil {
			return record{}, err
		}
		r.consume(int(blen))
	}
}

func (r *ngReader) readIDB(body []byte, start int64) error {
	if len(body) < 8 {
		return &CorruptError{Offset: start, Field: "interface description block", Msg: "shorter than 16 bytes"}
	}
	if len(r.ifaces) >= maxInterfaces {
		return &CorruptError{Offset: start, Field: "interface description block", Msg: fmt.Sprintf("more than %d interfaces in one section", maxInterfaces)}
	}
	ifc := ngInterface{linkType: r.order.Uint16(body), snaplen: r.order.Uint32(body[4:]), mul: 1000, div: 1}
	opts := body[8:]
	optOff := start + 16
	for len(opts) >= 4 {
		code, l := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == 0 {
			break
		}
		if 4+l > len(opts) {
			return &CorruptError{Offset: optOff, Field: "interface option length", Msg: fmt.Sprintf("option %d of %d bytes runs past its block", code, l)}
		}
		v := opts[4 : 4+l]
		switch {
		case code == 9 && l >= 1: // if_tsresol
			res := v[0]
			if res&0x80 == 0 {
				if res > 19 {
					return &CorruptError{Offset: optOff + 4, Field: "if_tsresol", Msg: fmt.Sprintf("10^-%d is out of range", res)}
				}
				if res <= 9 {
					ifc.mul, ifc.div = pow10(9-int(res)), 1
				} else {
					ifc.mul, ifc.div = 1, pow10(int(res)-9)
				}
			} else {
				n := res & 0x7f
				if n > 63 {
					return &CorruptError{Offset: optOff + 4, Field: "if_tsresol", Msg: fmt.Sprintf("2^-%d is out of range", n)}
				}
				ifc.mul, ifc.div = 1e9, 1<<n
			}
		case code == 14 && l >= 8: // if_tsoffset, seconds
			ifc.offset = int64(r.order.Uint64(v))
		}
		pad := (4 + l + 3) &^ 3
		if pad > len(opts) {
			break
		}
		opts = opts[pad:]
		optOff += int64(pad)
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

func pow10(n int) uint64 {
	v := uint64(1)
	for range n {
		v *= 10
	}
	return v
}

// ts converts a pcapng timestamp in interface units to Unix nanoseconds without overflow.
func (ifc *ngInterface) ts(units uint64) int64 {
	hi, lo := bits.Mul64(units, ifc.mul)
	var ns uint64
	if hi >= ifc.div {
		ns = 1<<63 - 1 // beyond year 2262: clamp
	} else {
		ns, _ = bits.Div64(hi, lo, ifc.div)
		if ns > 1<<63-1 {
			ns = 1<<63 - 1
		}
	}
	return int64(ns) + ifc.offset*1e9
}

func (r *ngReader) iface(id uint32, start int64, field string) (*ngInterface, error) {
	if int64(id) >= int64(len(r.ifaces)) {
		return nil, &CorruptError{Offset: start + 8, Field: field, Msg: fmt.Sprintf("interface %d is not described (section has %d)", id, len(r.ifaces))}
	}
	return &r.ifaces[id], nil
}

func (r *ngReader) readEPB(typ uint32, body []byte, start int64) (record, error) {
	if len(body) < 20 {
		return record{}, &CorruptError{Offset: start, Field: "packet block", Msg: "shorter than 32 bytes"}
	}
	var id uint32
	if typ == ngOPB {
		id = uint32(r.order.Uint16(body))
	} else {
		id = r.order.Uint32(body)
	}
	ifc, err := r.iface(id, start, "packet block interface id")
	if err != nil {
		return record{}, err
	}
	units := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
	capLen, origLen := r.order.Uint32(body[12:]), r.order.Uint32(body[16:])
	if capLen > MaxCapLen || int(capLen) > len(body)-20 {
		return record{}, &CorruptError{Offset: start + 20, Field: "packet block captured length", Msg: fmt.Sprintf("%d exceeds the block or the %d-byte limit", capLen, MaxCapLen)}
	}
	wire := int(origLen)
	if wire < int(capLen) {
		wire = int(capLen)
	}
	return record{Data: body[20 : 20+capLen], TS: ifc.ts(units), WireLen: wire, LinkType: ifc.linkType, Offset: start}, nil
}

func (r *ngReader) readSPB(body []byte, start int64) (record, error) {
	if len(body) < 4 {
		return record{}, &CorruptError{Offset: start, Field: "simple packet block", Msg: "shorter than 16 bytes"}
	}
	ifc, err := r.iface(0, start, "simple packet block (interface 0)")
	if err != nil {
		return record{}, err
	}
	origLen := int(r.order.Uint32(body))
	capLen := min(origLen, len(body)-4)
	if ifc.snaplen > 0 && capLen > int(ifc.snaplen) {
		capLen = int(ifc.snaplen)
	}
	// A simple packet block has no timestamp; it inherits none (0).
	return record{Data: body[4 : 4+capLen], WireLen: max(origLen, capLen), LinkType: ifc.linkType, Offset: start}, nil
}

func (r *ngReader) readISB(body []byte) {
	// interface id, timestamp, then options; isb_ifdrop is option 5 (uint64).
	if len(body) < 12 {
		return
	}
	opts := body[12:]
	for len(opts) >= 4 {
		code, l := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			return
		}
		if code == 5 && l == 8 {
			r.ifDrops += r.order.Uint64(opts[4:])
		}
		pad := (4 + l + 3) &^ 3
		if pad > len(opts) {
			return
		}
		opts = opts[pad:]
	}
}
