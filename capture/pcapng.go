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

// maxInterfaces bounds the interfaces of one section (each costs a few bytes, but a
// hostile file could declare millions). Interface description blocks beyond it are
// ignored with a warning, and the packets that name them are skipped.
const maxInterfaces = 1 << 16

const maxInt64 = 1<<63 - 1

type ngInterface struct {
	linkType uint16
	snaplen  uint32
	// timestamp units: ts * mul / div nanoseconds, plus offset seconds
	mul, div uint64
	offset   int64
	// damaged is set when the description block was too short to give a link type:
	// packets of this interface are skipped (the interface keeps its index, so the
	// interfaces after it keep theirs).
	damaged bool
}

// ngReader reads pcapng files: several sections of either byte order, several
// interfaces per section with their own link types and timestamp resolutions.
//
// Damage is handled by what the format allows. Every block starts and ends with its
// total length, so a block whose lengths are sane (a multiple of 4, 12 bytes to
// MaxBlockLen, within the file, leading and trailing copies equal) but whose body is
// bad (an interface id that was never described, a captured length past the block, an
// option running past its block) is skipped with a warning and reading goes on at the
// next block. A bad length, or a section header whose byte-order magic or major version
// is unknown, leaves no way to find the next block: reading stops there and the input
// is marked truncated at that offset (pcapng has no sync marker to scan for, and
// guessing one in packet data would invent blocks).
type ngReader struct {
	br      byteReader
	order   binary.ByteOrder
	ifaces  []ngInterface
	off     int64 // offset of the block being read (advanced by consume)
	scratch []byte
	// big is set when the current block was larger than the buffer and was read whole
	// into scratch (so consume must not discard again).
	big bool
	// ISB counters, summed over interfaces of all sections.
	ifDrops uint64
	probs   problems
	skipped uint64 // damaged blocks skipped
	// IDBs ignored beyond maxInterfaces, packet timestamps clamped at year 2262
	extraIfaces, clamped uint64
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
	out := r.probs.all()
	if r.skipped > 0 {
		out = append(out, fmt.Sprintf("%d damaged blocks skipped in all", r.skipped))
	}
	if r.extraIfaces > 0 {
		out = append(out, fmt.Sprintf("%d interface description blocks beyond the limit of %d per section ignored", r.extraIfaces, maxInterfaces))
	}
	if r.clamped > 0 {
		out = append(out, fmt.Sprintf("%d packet timestamps beyond the year 2262 clamped", r.clamped))
	}
	if r.ifDrops > 0 {
		out = append(out, fmt.Sprintf("interface statistics report %d packets dropped by the capturing interface", r.ifDrops))
	}
	return out
}

// blockName names a block type in messages.
func blockName(typ uint32) string {
	switch typ {
	case ngSHB:
		return "section header block"
	case ngIDB:
		return "interface description block"
	case ngOPB:
		return "packet block"
	case ngSPB:
		return "simple packet block"
	case ngISB:
		return "interface statistics block"
	case ngEPB:
		return "enhanced packet block"
	}
	return fmt.Sprintf("block of type 0x%08x", typ)
}

// readSHB reads the section header block at the current offset.
func (r *ngReader) readSHB() error {
	h, err := r.br.Peek(12)
	if len(h) < 12 {
		if err != nil && err != io.EOF {
			return readErr(r.off, "section header block", err)
		}
		return &CorruptError{Offset: r.off, Field: "section header block", Msg: fmt.Sprintf("file ends after %d of 12 bytes", len(h))}
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
		return &CorruptError{Offset: r.off + 4, Field: "section header block length", Msg: fmt.Sprintf("%d is invalid (a multiple of 4 from 28 to %d)", blen, MaxBlockLen)}
	}
	b, err := r.block(ngSHB, int(blen))
	if err != nil {
		return err
	}
	if major := r.order.Uint16(b[12:]); major != 1 {
		return &CorruptError{Offset: r.off + 12, Field: "section header version", Msg: fmt.Sprintf("%d.%d is not 1.x", major, r.order.Uint16(b[14:]))}
	}
	r.ifaces = r.ifaces[:0]
	r.consume(int(blen))
	return nil
}

// block returns the n bytes of the block of type typ at the current offset, checking
// the trailing length copy. The slice is valid until the next read.
func (r *ngReader) block(typ uint32, n int) ([]byte, error) {
	var b []byte
	if n <= r.br.Size() {
		p, err := r.br.Peek(n)
		if len(p) < n {
			if err != nil && err != io.EOF {
				return nil, readErr(r.off, blockName(typ), err)
			}
			return nil, &CorruptError{Offset: r.off, Field: blockName(typ), Msg: fmt.Sprintf("file ends after %d of the block's %d bytes", len(p), n)}
		}
		b = p
	} else {
		if cap(r.scratch) < n {
			r.scratch = make([]byte, n)
		}
		b = r.scratch[:n]
		m, err := io.ReadFull(r.br, b)
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				return nil, readErr(r.off, blockName(typ), err)
			}
			return nil, &CorruptError{Offset: r.off, Field: blockName(typ), Msg: fmt.Sprintf("file ends after %d of the block's %d bytes", m, n)}
		}
		r.big = true
	}
	if trail := r.order.Uint32(b[n-4:]); int(trail) != n {
		return nil, &CorruptError{Offset: r.off + int64(n) - 4, Field: "trailing block length", Msg: fmt.Sprintf("%d does not match the leading %d of the %s", trail, n, blockName(typ))}
	}
	return b, nil
}

// consume moves past a block returned by block. The block's bytes stay valid until
// the next Peek (Discard does not overwrite them).
func (r *ngReader) consume(n int) {
	if r.big {
		r.big = false
	} else {
		r.br.Discard(n)
	}
	r.off += int64(n)
}

// skip records a block whose body is damaged; reading goes on after it.
func (r *ngReader) skip(ce *CorruptError) {
	r.skipped++
	r.probs.add("%v (block skipped)", ce)
}

func (r *ngReader) next() (record, error) {
	for {
		h, err := r.br.Peek(8)
		if len(h) < 8 {
			if len(h) == 0 && err == io.EOF {
				return record{}, io.EOF
			}
			if err == io.EOF || err == nil {
				return record{}, &CorruptError{Offset: r.off, Field: "block header", Msg: fmt.Sprintf("file ends after %d of 8 bytes", len(h))}
			}
			return record{}, readErr(r.off, "block header", err)
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
			return record{}, &CorruptError{Offset: r.off + 4, Field: "block length", Msg: fmt.Sprintf("%d is invalid for a %s (a multiple of 4 from 12 to %d)", blen, blockName(typ), MaxBlockLen)}
		}
		start := r.off
		b, err := r.block(typ, int(blen))
		if err != nil {
			return record{}, err
		}
		body := b[8 : len(b)-4]
		var (
			rec    record
			bad    *CorruptError
			packet bool
		)
		switch typ {
		case ngIDB:
			bad = r.readIDB(body, start)
		case ngEPB, ngOPB:
			rec, bad = r.readEPB(typ, body, start)
			packet = true
		case ngSPB:
			rec, bad = r.readSPB(body, start)
			packet = true
		case ngISB:
			r.readISB(body)
		}
		rec.detached = packet && r.big // consume clears big
		r.consume(int(blen))
		if bad != nil {
			r.skip(bad)
			continue
		}
		if packet {
			return rec, nil
		}
	}
}

// readIDB reads an interface description block. A block too short for the fixed
// fields keeps its interface index but marks it damaged (and is reported as skipped);
// a bad option is reported, and the interface used with the options read before it.
func (r *ngReader) readIDB(body []byte, start int64) *CorruptError {
	if len(r.ifaces) >= maxInterfaces {
		r.extraIfaces++
		return nil
	}
	if len(body) < 8 {
		r.ifaces = append(r.ifaces, ngInterface{damaged: true})
		return &CorruptError{Offset: start, Field: "interface description block", Msg: fmt.Sprintf("%d bytes, shorter than the 20-byte minimum; its packets are skipped", len(body)+12)}
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
			r.probs.add("offset %d: interface option length: option %d of %d bytes runs past its block (it and the options after it ignored)", optOff+2, code, l)
			break
		}
		v := opts[4 : 4+l]
		switch {
		case code == 9 && l >= 1: // if_tsresol
			if mul, div, ok := tsresol(v[0]); ok {
				ifc.mul, ifc.div = mul, div
			} else {
				r.probs.add("offset %d: if_tsresol: 0x%02x is out of range (microseconds assumed)", optOff+4, v[0])
			}
		case code == 14 && l >= 8: // if_tsoffset, seconds
			off := int64(r.order.Uint64(v))
			if off > maxInt64/1_000_000_000 || off < -maxInt64/1_000_000_000 {
				r.probs.add("offset %d: if_tsoffset: %d s is out of range (ignored)", optOff+4, off)
			} else {
				ifc.offset = off
			}
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

// tsresol turns an if_tsresol value into the factors that give nanoseconds: 10^-res
// seconds, or 2^-(res&0x7f) with the top bit set. Resolutions finer than 10^-19 or
// 2^-63 seconds cannot be represented in 64-bit units and are refused.
func tsresol(res byte) (mul, div uint64, ok bool) {
	if res&0x80 == 0 {
		switch {
		case res > 19:
			return 0, 0, false
		case res <= 9:
			return pow10(9 - int(res)), 1, true
		}
		return 1, pow10(int(res) - 9), true
	}
	n := res & 0x7f
	if n > 63 {
		return 0, 0, false
	}
	return 1e9, 1 << n, true
}

func pow10(n int) uint64 {
	v := uint64(1)
	for range n {
		v *= 10
	}
	return v
}

// ts converts a pcapng timestamp in interface units to Unix nanoseconds without
// overflow; it reports whether the result had to be clamped (beyond the year 2262,
// the limit of int64 nanoseconds).
func (ifc *ngInterface) ts(units uint64) (int64, bool) {
	hi, lo := bits.Mul64(units, ifc.mul)
	if hi >= ifc.div {
		return maxInt64, true
	}
	ns, _ := bits.Div64(hi, lo, ifc.div)
	if ns > maxInt64 {
		return maxInt64, true
	}
	t, off := int64(ns), ifc.offset*1e9 // |offset| ≤ maxInt64/1e9, checked when read
	if off > 0 && t > maxInt64-off {
		return maxInt64, true
	}
	return t + off, false
}

func (r *ngReader) iface(id uint32, start int64, field string) (*ngInterface, *CorruptError) {
	if int64(id) >= int64(len(r.ifaces)) {
		return nil, &CorruptError{Offset: start + 8, Field: field, Msg: fmt.Sprintf("interface %d is not described (the section has %d)", id, len(r.ifaces))}
	}
	ifc := &r.ifaces[id]
	if ifc.damaged {
		return nil, &CorruptError{Offset: start + 8, Field: field, Msg: fmt.Sprintf("interface %d has a damaged description", id)}
	}
	return ifc, nil
}

func (r *ngReader) readEPB(typ uint32, body []byte, start int64) (record, *CorruptError) {
	if len(body) < 20 {
		return record{}, &CorruptError{Offset: start, Field: blockName(typ), Msg: fmt.Sprintf("%d bytes, shorter than the 32-byte minimum", len(body)+12)}
	}
	var id uint32
	if typ == ngOPB {
		id = uint32(r.order.Uint16(body))
	} else {
		id = r.order.Uint32(body)
	}
	ifc, bad := r.iface(id, start, blockName(typ)+" interface id")
	if bad != nil {
		return record{}, bad
	}
	units := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
	capLen, origLen := r.order.Uint32(body[12:]), r.order.Uint32(body[16:])
	if capLen > MaxCapLen || int(capLen) > len(body)-20 {
		return record{}, &CorruptError{Offset: start + 20, Field: blockName(typ) + " captured length", Msg: fmt.Sprintf("%d exceeds the block's %d bytes of data or the %d-byte limit", capLen, len(body)-20, MaxCapLen)}
	}
	ts, clamped := ifc.ts(units)
	if clamped {
		r.clamped++
	}
	wire := int(origLen)
	if wire < int(capLen) {
		wire = int(capLen)
	}
	return record{Data: body[20 : 20+capLen], TS: ts, WireLen: wire, LinkType: ifc.linkType, Offset: start}, nil
}

func (r *ngReader) readSPB(body []byte, start int64) (record, *CorruptError) {
	if len(body) < 4 {
		return record{}, &CorruptError{Offset: start, Field: "simple packet block", Msg: fmt.Sprintf("%d bytes, shorter than the 16-byte minimum", len(body)+12)}
	}
	ifc, bad := r.iface(0, start, "simple packet block (interface 0)")
	if bad != nil {
		bad.Offset = start
		return record{}, bad
	}
	origLen := int(r.order.Uint32(body))
	capLen := min(origLen, len(body)-4)
	if ifc.snaplen > 0 && capLen > int(ifc.snaplen) {
		capLen = int(ifc.snaplen)
	}
	if capLen > MaxCapLen {
		return record{}, &CorruptError{Offset: start + 8, Field: "simple packet block original length", Msg: fmt.Sprintf("%d bytes in the block exceed the %d-byte limit", capLen, MaxCapLen)}
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
