// Package spool keeps finished flows until a run is over, in the order reports list
// them (capture.CompareFlows), in bounded memory.
//
// analyze cannot write a flow's verdict when the flow ends: the Veeam rules that
// explain it depend on the roles of its two hosts, which are inferred from all the
// flows of the run. So every flow waits until the end. A Spool holds up to Limit flows
// in memory; beyond that it sorts them and appends them as one sorted run to a
// temporary file, and Each merges the runs (a k-way merge, as sort(1) does). Memory
// is then Limit flows plus one read buffer per run, whatever the number of flows,
// and the file is unlinked as soon as it is created on systems that allow it, so a
// crash leaves nothing behind.
//
// The run file uses a private, versionless encoding: it is read back only by the
// process that wrote it.
package spool

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"net/netip"
	"os"
	"slices"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
)

// DefaultLimit is the number of flows a Spool keeps in memory by default (112 bytes
// each, so some 22 MB).
const DefaultLimit = 200_000

// readBuf is the read buffer of each run during a merge.
const readBuf = 64 << 10

// blockFlows is the number of flows in one in-memory block (about 800 KB).
const blockFlows = 4096

// Spool collects flows and gives them back in capture.CompareFlows order. The zero
// value is not usable; call New. It is not safe for concurrent use. Close removes the
// temporary file.
type Spool struct {
	dir   string
	limit int
	where string // the directory of the file, for errors (dir is cleared once it is unlinked)
	err   error  // the failed spill, returned by every later Add

	// The flows not yet spilled, in blocks of blockFlows so that adding never copies
	// what is there (a growing slice of 200-byte flows did, at 10 % of a whole run);
	// sorted is a sorted view of them, valid until the next Add.
	blocks [][]packed
	free   [][]packed // emptied blocks of earlier runs, for the next flows
	nmem   int
	sorted []*packed
	keyed  []addedFlow // order's scratch
	radix  []addedFlow // and radixSort's
	// The side tables of the packed flows: their ICMP errors and application
	// metadata (until they spill) and their tunnel paths, each distinct path once.
	errs    [][]capture.ICMPError
	metas   []*capture.AppMeta
	paths   []capture.TunnelPath
	pathIdx map[capture.TunnelPath]uint32
	ta, tb  capture.Flow // order's scratch for ties
	file    *os.File     // the runs, one after the other; nil until the first spill
	runs    []run
	size    int64 // bytes written to file
	n       uint64
	inputs  []string // Flow.Input values by index, so records store a small number
	inIdx   map[string]uint32
	buf     []byte
}

// run is one sorted segment of the file.
type run struct {
	off, len int64
	flows    uint64
}

// New returns a Spool that keeps up to limit flows in memory (limit <= 0 means
// DefaultLimit) and spills to a temporary file in dir (os.TempDir() when "").
func New(dir string, limit int) *Spool {
	if limit <= 0 {
		limit = DefaultLimit
	}
	where := dir
	if where == "" {
		where = os.TempDir()
	}
	return &Spool{dir: dir, where: where, limit: limit, inIdx: map[string]uint32{}, pathIdx: map[capture.TunnelPath]uint32{}}
}

// SpillError is the failure of a spill: the flows that do not fit in memory could not
// be written to Dir. Need is the size of the run that was being written (the flows in
// memory, encoded), Written what the file already held before it.
type SpillError struct {
	Dir     string
	Flows   int   // flows of the run that failed
	Need    int64 // bytes that run needed
	Written int64 // bytes of the earlier runs, in the file
	Err     error // the cause, without the temporary file's name
}

func (e *SpillError) Error() string {
	if e.Written == 0 && e.Need == 0 {
		return fmt.Sprintf("spool: cannot spill to %s: %v", e.Dir, e.Err)
	}
	return fmt.Sprintf("spool: cannot spill to %s: %v (%d flows needed %s more, after %s written)",
		e.Dir, e.Err, e.Flows, sizeText(e.Need), sizeText(e.Written))
}

func (e *SpillError) Unwrap() error { return e.Err }

// sizeText is n bytes for a person: "812 B", "54.3 KiB", "1.2 GiB".
func sizeText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, units := float64(n)/1024, "KMGTPE"
	for i := 0; ; i++ {
		if f < 1024 || i == len(units)-1 {
			return fmt.Sprintf("%.1f %ciB", f, units[i])
		}
		f /= 1024
	}
}

// Add stores a copy of f (its ICMPErrors slice is shared, not copied: the capture
// stage gives every flow its own). It fails only when a spill cannot be written, with
// a *SpillError; after that, every Add fails at once with the same error and keeps
// nothing (a run that cannot spill is over: trying again on every flow, each time
// sorting all the flows in memory, made a full --temp-dir a near-hang).
func (s *Spool) Add(f *capture.Flow) error {
	if s.err != nil {
		return s.err
	}
	if len(s.blocks) == 0 || len(s.blocks[len(s.blocks)-1]) == blockFlows {
		s.blocks = append(s.blocks, s.newBlock())
	}
	last := &s.blocks[len(s.blocks)-1]
	*last = append(*last, packed{})
	s.pack(&(*last)[len(*last)-1], f)
	s.nmem++
	s.n++
	s.sorted = s.sorted[:0]
	if s.nmem >= s.limit {
		if err := s.spill(); err != nil {
			s.err = err
			return err
		}
	}
	return nil
}

// newBlock is an empty block: one emptied by a spill, or a new one.
func (s *Spool) newBlock() []packed {
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		return b
	}
	return make([]packed, 0, min(blockFlows, s.limit))
}

// order returns the in-memory flows sorted (stable: equal flows keep the order they
// were added in). Pointers are sorted rather than the flows themselves.
func (s *Spool) order() []*packed {
	if len(s.sorted) == s.nmem {
		return s.sorted
	}
	// Sorted by CompareFlows and then by the order of adding, which is what a stable
	// sort gives: a radix sort of the flows' start times, which are copied next to the
	// pointers (stable, and it touches neither the flows, spread over megabytes, nor a
	// comparison function: it took a third of the instructions of a comparison sort),
	// then the few runs of equal start times sorted by the flows unpacked.
	if cap(s.keyed) < s.nmem {
		s.keyed, s.radix = make([]addedFlow, 0, s.nmem), make([]addedFlow, s.nmem)
	}
	all := s.keyed[:0]
	for _, b := range s.blocks {
		for i := range b {
			f := &b[i]
			all = append(all, addedFlow{f.first, uint32(len(all)), f})
		}
	}
	keyed := radixSort(all, s.radix[:len(all)])
	for i := 0; i < len(keyed); {
		j := i + 1
		for j < len(keyed) && keyed[j].first == keyed[i].first {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(keyed[i:j], func(a, b addedFlow) int {
				s.unpack(&s.ta, a.f)
				s.unpack(&s.tb, b.f)
				if c := capture.CompareFlows(&s.ta, &s.tb); c != 0 {
					return c
				}
				return cmp.Compare(a.seq, b.seq)
			})
		}
		i = j
	}
	if cap(s.sorted) < s.nmem {
		s.sorted = make([]*packed, 0, s.nmem)
	}
	s.sorted = s.sorted[:0]
	for _, k := range keyed {
		s.sorted = append(s.sorted, k.f)
	}
	clear(all) // no pointers kept beyond the sorted view
	clear(s.radix[:len(all)])
	return s.sorted
}

// radixSort sorts a by first, stably, with tmp (as long as a) for scratch, and
// returns the sorted slice: a or tmp. It sorts by the bits in which the start times
// differ (their span), 11 at a time.
func radixSort(a, tmp []addedFlow) []addedFlow {
	if len(a) < 2 {
		return a
	}
	lo, hi := a[0].first, a[0].first
	for _, e := range a {
		lo, hi = min(lo, e.first), max(hi, e.first)
	}
	const bits11 = 11
	span := bits.Len64(uint64(hi) - uint64(lo))
	var count [1 << bits11]int
	for shift := 0; shift < span; shift += bits11 {
		clear(count[:])
		for _, e := range a {
			count[(uint64(e.first)-uint64(lo))>>shift&(1<<bits11-1)]++
		}
		sum := 0
		for i, c := range count {
			count[i], sum = sum, sum+c
		}
		for _, e := range a {
			d := (uint64(e.first) - uint64(lo)) >> shift & (1<<bits11 - 1)
			tmp[count[d]] = e
			count[d]++
		}
		a, tmp = tmp, a
	}
	return a
}

// addedFlow is a flow in memory, its start time and when it was added, for order.
type addedFlow struct {
	first int64
	seq   uint32
	f     *packed
}

// Len is the number of flows added.
func (s *Spool) Len() uint64 { return s.n }

// Spilled reports whether any flows went to the temporary file.
func (s *Spool) Spilled() bool { return len(s.runs) > 0 }

// SpilledFlows is the number of flows that went to the temporary file.
func (s *Spool) SpilledFlows() uint64 {
	var n uint64
	for _, r := range s.runs {
		n += r.flows
	}
	return n
}

// Runs is the number of sorted runs in the temporary file.
func (s *Spool) Runs() int { return len(s.runs) }

// DiskBytes is the size of the temporary file.
func (s *Spool) DiskBytes() int64 { return s.size }

func (s *Spool) spill() error {
	if s.nmem == 0 {
		return nil
	}
	if s.file == nil {
		f, err := os.CreateTemp(s.dir, "portclass-spool-*")
		if err != nil {
			return s.spillErr(err)
		}
		// Unlinked while open: the data lives until Close, and a crash leaves no file.
		// Where that is not allowed (Windows), Close removes it.
		if os.Remove(f.Name()) == nil {
			s.dir = ""
		}
		s.file = f
	}
	w := bufio.NewWriterSize(io.NewOffsetWriter(s.file, s.size), 256<<10)
	var written int64
	for _, p := range s.order() {
		s.buf = s.appendRecord(s.buf[:0], p)
		n, err := w.Write(s.buf)
		written += int64(n)
		if err != nil {
			return s.spillErr(err)
		}
	}
	if err := w.Flush(); err != nil {
		return s.spillErr(err)
	}
	s.runs = append(s.runs, run{off: s.size, len: written, flows: uint64(s.nmem)})
	s.size += written
	// Keep the blocks for the next flows (a run's worth of blocks is what the spool
	// holds at most anyway, and allocating them again for every run was a quarter of
	// a flow-heavy run's allocations), and drop the ICMP errors the flows held.
	for _, b := range s.blocks {
		s.free = append(s.free, b[:0])
	}
	clear(s.blocks)
	s.blocks = s.blocks[:0]
	clear(s.errs)
	s.errs = s.errs[:0]
	clear(s.metas)
	s.metas = s.metas[:0]
	s.ta, s.tb = capture.Flow{}, capture.Flow{}
	clear(s.sorted)
	s.sorted = s.sorted[:0]
	s.nmem = 0
	return nil
}

// spillErr is the *SpillError of a spill that failed with err: Need counts the whole
// run (the flows in memory, encoded).
func (s *Spool) spillErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	need := int64(0)
	for _, p := range s.order() {
		need += int64(len(s.appendRecord(s.buf[:0], p)))
	}
	return &SpillError{Dir: s.where, Flows: s.nmem, Need: need, Written: s.size, Err: err}
}

// Each calls fn for every flow in capture.CompareFlows order and returns the first
// error fn or reading the spill returns. The *Flow is valid only during the call. Each
// may be called again, and Add may be called between calls.
func (s *Spool) Each(fn func(*capture.Flow) error) error {
	mem := s.order()
	if len(s.runs) == 0 {
		var f capture.Flow
		for _, p := range mem {
			s.unpack(&f, p)
			if err := fn(&f); err != nil {
				return err
			}
		}
		return nil
	}
	h := make(mergeHeap, 0, len(s.runs)+1)
	for i, r := range s.runs {
		c := &cursor{s: s, run: i, rd: bufio.NewReaderSize(io.NewSectionReader(s.file, r.off, r.len), readBuf), left: r.flows}
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, c)
		}
	}
	if len(mem) > 0 {
		c := &cursor{s: s, run: len(s.runs), inMem: true, mem: mem}
		_, _ = c.next()
		h = append(h, c)
	}
	heap.Init(&h)
	for len(h) > 0 {
		c := h[0]
		if err := fn(&c.cur); err != nil {
			return err
		}
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}

// Close releases the temporary file. The Spool must not be used afterwards.
func (s *Spool) Close() error {
	s.blocks, s.free, s.sorted, s.nmem, s.errs, s.metas = nil, nil, nil, 0, nil, nil
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	if s.dir != "" { // not unlinked at creation
		if rerr := os.Remove(name); err == nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
	}
	s.file = nil
	return err
}

// cursor reads one sorted run, or walks the in-memory flows (the newest "run").
type cursor struct {
	s     *Spool
	run   int // order of the runs, for ties
	inMem bool
	rd    *bufio.Reader
	left  uint64
	mem   []*packed
	cur   capture.Flow
	buf   []byte // scratch for readFlow's records longer than rd's buffer
}

func (c *cursor) next() (bool, error) {
	if c.inMem {
		if len(c.mem) == 0 {
			return false, nil
		}
		c.s.unpack(&c.cur, c.mem[0])
		c.mem = c.mem[1:]
		return true, nil
	}
	if c.left == 0 {
		return false, nil
	}
	c.left--
	if err := c.s.readFlow(c.rd, &c.cur, &c.buf); err != nil {
		return false, fmt.Errorf("spool: run %d of %s: %w", c.run+1, c.s.file.Name(), err)
	}
	return true, nil
}

type mergeHeap []*cursor

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if c := capture.CompareFlows(&h[i].cur, &h[j].cur); c != 0 {
		return c < 0
	}
	return h[i].run < h[j].run // equal flows: keep the order they were spilled in
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *mergeHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// The record, after its length (uvarint), is a packed flow with the side data it
// refers to inline:
//
//	first: Unix ns, 8 bytes | last - first: varint | packets, bytes: 4 × uvarint
//	kinds u8 (address families: 4, 6 or 0 for the client, low nibble, and the server)
//	client addr (4 or 16 bytes by its kind) | client port u16 | server addr | server port u16
//	vlan u16 | proto u8 | direction u8 | state u8 | end u8 | icmp type, code u8
//	tcp flags 2×u8 | application protocol u8
//	input index uvarint | tunnel path index uvarint (Spool.paths, which spills keep; 0: none)
//	icmp errors: uvarint n, then n × (v6 u8 | type u8 | code u8 | from addr | count uvarint)
//	application metadata: u8 bit set of the AppMeta strings present (SNI, ALPN,
//	HTTP host, SSH banner: bits 0-3; 0 without an AppMeta), then each present one as
//	uvarint length and bytes
//
// from addr is one length byte (0, 4 or 16) and the address bytes. Zones are not kept
// (addresses from packets have none).

// appendRecord appends p's record to b, after its length as a uvarint.
func (s *Spool) appendRecord(b []byte, p *packed) []byte {
	const room = 1 // the length's bytes for records under 128 bytes: most
	start := len(b)
	b = s.appendPacked(append(b, 0), p)
	n := len(b) - start - room
	if k := (bits.Len64(uint64(n)|1) + 6) / 7; k > room {
		b = append(b, make([]byte, k-room)...)
		copy(b[start+k:], b[start+room:start+room+n])
	}
	binary.PutUvarint(b[start:], uint64(n))
	return b
}

func (s *Spool) appendPacked(b []byte, p *packed) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(p.first))
	b = binary.AppendVarint(b, p.last-p.first)
	b = binary.AppendUvarint(b, p.packets[0])
	b = binary.AppendUvarint(b, p.packets[1])
	b = binary.AppendUvarint(b, p.bytes[0])
	b = binary.AppendUvarint(b, p.bytes[1])
	b = append(b, p.kinds)
	b = binary.BigEndian.AppendUint16(appendKind(b, &p.client, p.kinds&0xf), p.cport)
	b = binary.BigEndian.AppendUint16(appendKind(b, &p.server, p.kinds>>4), p.sport)
	b = binary.BigEndian.AppendUint16(b, p.vlan)
	b = append(b, p.proto, byte(p.direction), byte(p.state), byte(p.end), p.icmpType, p.icmpCode,
		p.tcpFlags[0], p.tcpFlags[1], byte(p.app))
	b = binary.AppendUvarint(b, uint64(p.input))
	b = binary.AppendUvarint(b, uint64(p.tunnel))
	var errs []capture.ICMPError
	if p.errs > 0 {
		errs = s.errs[p.errs-1]
	}
	b = binary.AppendUvarint(b, uint64(len(errs)))
	for _, e := range errs {
		v6 := byte(0)
		if e.V6 {
			v6 = 1
		}
		b = append(b, v6, e.Type, e.Code)
		b = appendAddr(b, e.From)
		b = binary.AppendUvarint(b, uint64(e.Count))
	}
	if p.meta == 0 || s.metas[p.meta-1].IsZero() {
		return append(b, 0)
	}
	strs := appStrings(s.metas[p.meta-1])
	var present byte
	for i, v := range strs {
		if *v != "" {
			present |= 1 << i
		}
	}
	b = append(b, present)
	for _, v := range strs {
		if *v != "" {
			b = binary.AppendUvarint(b, uint64(len(*v)))
			b = append(b, *v...)
		}
	}
	return b
}

// appendKind appends the address a of kind 4 or 6 (packed.kinds): 4 or 16 bytes.
func appendKind(b []byte, a *[16]byte, kind uint8) []byte {
	switch kind {
	case 4:
		return append(b, a[12:]...)
	case 6:
		return append(b, a[:]...)
	}
	return b
}

// appStrings are the strings of m, in the order of the record's bit set.
func appStrings(m *capture.AppMeta) [4]*string {
	return [4]*string{&m.SNI, &m.ALPN, &m.HTTPHost, &m.SSHBanner}
}

func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(b, 0)
	case a.Is4():
		v := a.As4()
		return append(append(b, 4), v[:]...)
	}
	v := a.As16()
	return append(append(b, 16), v[:]...)
}

// errCorrupt means the spill file does not hold what this process wrote (a disk or
// file-system fault: nobody else writes it).
var errCorrupt = errors.New("corrupt spill record")

// readFlow reads the next record of r into f; scratch holds a record longer than r's
// buffer.
func (s *Spool) readFlow(r *bufio.Reader, f *capture.Flow, scratch *[]byte) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return err
	}
	if n > maxRecord {
		return errCorrupt
	}
	if int(n) > r.Size() {
		*scratch = slices.Grow((*scratch)[:0], int(n))[:n]
		if _, err := io.ReadFull(r, *scratch); err != nil {
			return noEOF(err)
		}
		return s.decodeFlow(*scratch, f)
	}
	b, err := r.Peek(int(n))
	if err != nil {
		return noEOF(err)
	}
	err = s.decodeFlow(b, f) // copies what it keeps
	_, _ = r.Discard(int(n))
	return err
}

// noEOF is err, but io.ErrUnexpectedEOF for io.EOF: a run ends after its last record.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// maxRecord bounds a record's length: the fixed fields, 1<<16 ICMP errors, a tunnel
// path and the application strings fit with room to spare.
const maxRecord = 4 << 20

// decodeFlow decodes record b into f.
func (s *Spool) decodeFlow(b []byte, f *capture.Flow) error {
	d := decoder{b: b}
	var p packed
	p.first = int64(binary.BigEndian.Uint64(d.take(8)))
	p.last = p.first + d.varint()
	p.packets = [2]uint64{d.uvarint(), d.uvarint()}
	p.bytes = [2]uint64{d.uvarint(), d.uvarint()}
	p.kinds = d.u8()
	d.kind(&p.client, p.kinds&0xf)
	p.cport = binary.BigEndian.Uint16(d.take(2))
	d.kind(&p.server, p.kinds>>4)
	p.sport = binary.BigEndian.Uint16(d.take(2))
	p.vlan = binary.BigEndian.Uint16(d.take(2))
	fx := d.take(9)
	p.proto, p.direction, p.state, p.end = fx[0], capture.Direction(fx[1]), capture.State(fx[2]), capture.EndReason(fx[3])
	p.icmpType, p.icmpCode, p.tcpFlags, p.app = fx[4], fx[5], [2]uint8{fx[6], fx[7]}, appid.Protocol(fx[8])
	in, path := d.uvarint(), d.uvarint()
	if d.bad || in >= uint64(len(s.inputs)) || path > uint64(len(s.paths)) {
		return errCorrupt
	}
	p.input, p.tunnel = uint32(in), uint32(path)
	s.unpack(f, &p)
	if n := d.uvarint(); n > 0 && !d.bad {
		if n > 1<<16 {
			return errCorrupt
		}
		f.ICMPErrors = make([]capture.ICMPError, n)
		for i := range f.ICMPErrors {
			e := &f.ICMPErrors[i]
			e.V6, e.Type, e.Code = d.u8() == 1, d.u8(), d.u8()
			e.From = d.addr()
			e.Count = uint32(d.uvarint())
		}
	}
	d.app(f)
	if d.bad || len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

// decoder reads a record's fields from b; bad is set, and zero values returned, once
// a field does not fit or is out of range.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n int) []byte {
	if len(d.b) < n {
		d.bad, d.b = true, nil
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte { return d.take(1)[0] }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) addr() netip.Addr {
	switch d.u8() {
	case 0:
		return netip.Addr{}
	case 4:
		return netip.AddrFrom4([4]byte(d.take(4)))
	case 16:
		return netip.AddrFrom16([16]byte(d.take(16)))
	}
	d.bad, d.b = true, nil
	return netip.Addr{}
}

// kind reads an address of kind 4 or 6 (packed.kinds) into a, as As16 has it.
func (d *decoder) kind(a *[16]byte, kind uint8) {
	switch kind {
	case 0:
	case 4:
		*a = netip.AddrFrom4([4]byte(d.take(4))).As16()
	case 6:
		*a = [16]byte(d.take(16))
	default:
		d.bad, d.b = true, nil
	}
}

// app reads the application metadata at the end of a record.
func (d *decoder) app(f *capture.Flow) {
	present := d.u8()
	if present == 0 || d.bad {
		return
	}
	if present > 0x0f {
		d.bad = true
		return
	}
	f.AppMeta = new(capture.AppMeta)
	for i, v := range appStrings(f.AppMeta) {
		if present&(1<<i) == 0 {
			continue
		}
		n := d.uvarint()
		if n == 0 || n > appid.MaxMeta {
			d.bad = true
			return
		}
		*v = string(d.take(int(n)))
	}
}
