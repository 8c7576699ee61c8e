package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// MatchFunc reports whether a frame passes a filter. One is used by one goroutine.
type MatchFunc func(frame []byte, wireLen int) bool

// Options configure a run. The zero value is usable: defaults are filled in by Run.
type Options struct {
	// Prefetch, with one worker, has an uncompressed regular file read ahead by another
	// goroutine (see prefetcher); the flows are the same.
	Prefetch bool
	// Workers is the number of flow-table workers; packets are sharded across them by
	// flow hash, so a flow is never split. 0 means runtime.GOMAXPROCS(0); 1 runs the
	// whole pipeline in the calling goroutine. The flows emitted, and their order, do
	// not depend on Workers (unless MaxFlows evicts some).
	Workers int
	// Idle timeouts by packet time; 0 means the Default*Timeout constants.
	TCPTimeout, UDPTimeout, ICMPTimeout, OtherTimeout time.Duration
	// MaxFlows bounds the concurrent flows held (over all workers); when full, the
	// flow idle the longest is emitted early (EndEvicted). 0 means no bound.
	MaxFlows int
	// Filter returns the matcher for a link type (nil Filter keeps every packet). It
	// is called once per link type and worker; an error is reported per input.
	Filter func(linkType uint16) (MatchFunc, error)
	// ServerPort says whether a port is a known service port, for guessing who is the
	// server of a flow whose handshake was not seen. nil uses port classes only.
	ServerPort func(proto uint8, port uint16) bool
	// TunnelPorts maps UDP ports to the encapsulation datagrams to them carry (the
	// destination port; for Teredo either port): only TunnelType.OnUDP types. nil means
	// DefaultTunnelPorts(); an empty map decapsulates nothing carried in UDP (GRE and
	// IP-in-IP still are). A datagram whose payload does not parse as the tunnel stays
	// an ordinary UDP datagram. Run returns an error for a type not carried in UDP.
	TunnelPorts map[uint16]TunnelType
	// NoDecap turns decapsulation off: every packet's flow is its outermost IP packet,
	// a VXLAN capture one UDP flow per pair of tunnel endpoints and source port.
	NoDecap bool
	// BytesRead, when set, is advanced by the bytes read from input files (compressed
	// size), for progress display.
	BytesRead *atomic.Int64
	// Stdin is read for the input "-"; nil means os.Stdin.
	Stdin io.Reader
	// Log receives one line per input problem; the hot path never logs.
	Log zerolog.Logger
	// Interval, when set, is called at the end of every interval of a live capture
	// (see Live.Run) and once when it ends, after every flow record of the interval
	// was emitted and from the goroutine that calls emit. res holds the interval's
	// input statistics (counters since the previous call), flow records and evictions.
	Interval func(res Result)
}

// check reports options no run can use.
func (o *Options) check() error {
	return checkTunnelPorts(o.TunnelPorts)
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.TCPTimeout <= 0 {
		o.TCPTimeout = DefaultTCPTimeout
	}
	if o.UDPTimeout <= 0 {
		o.UDPTimeout = DefaultUDPTimeout
	}
	if o.ICMPTimeout <= 0 {
		o.ICMPTimeout = DefaultICMPTimeout
	}
	if o.OtherTimeout <= 0 {
		o.OtherTimeout = DefaultOtherTimeout
	}
}

// Result summarises a run.
type Result struct {
	Inputs  []InputStats
	Flows   uint64 // flow records emitted
	Evicted uint64 // flows emitted early because of MaxFlows
	// Mark is, for an interval of a live capture (Options.Interval), the wall-clock
	// time of the mark that ended it; zero for the capture's last part.
	Mark time.Time
}

// Run reads every input in order and calls emit for every finished flow, from one
// goroutine at a time (emit need not be safe for concurrent use; the *Flow is valid
// only during the call). Flows never span inputs: each input's open flows are
// emitted when it ends. The flows and the order they are emitted in are the same
// whatever the number of workers.
//
// An input that cannot be opened, or is not a capture, stops the run with a
// *FormatError (or the open error). A capture that is cut short or corrupt is read up
// to the damage and marked Truncated; the run goes on. When ctx is cancelled, Run
// stops reading, emits the open flows and returns ctx's error with the Result so far;
// when it is cancelled after an input was read to its end, while its open flows are
// emitted, Run stops emitting them and returns ErrFlushInterrupted.
func Run(ctx context.Context, paths []string, o Options, emit func(*Flow)) (Result, error) {
	if err := o.check(); err != nil {
		return Result{}, err
	}
	o.defaults()
	if o.Workers > 1 && len(paths) > 1 {
		return runInputs(ctx, paths, o, emit)
	}
	var res Result
	for _, p := range paths {
		src, err := openInput(ctx, p, o.BytesRead, o.Stdin)
		if err != nil {
			return res, err
		}
		r := runInput(ctx, src, &o, emit)
		src.close()
		res.Inputs = append(res.Inputs, r.st)
		res.Flows += r.flows
		res.Evicted += r.evicted
		if r.err != nil {
			return res, r.err
		}
	}
	return res, nil
}

// runInput reads one input with o.Workers workers.
func runInput(ctx context.Context, src *source, o *Options, emit func(*Flow)) sourceResult {
	if o.Workers == 1 {
		return runSingle(ctx, src, o, emit)
	}
	return runParallel(ctx, src, o, emit)
}

// runSource runs a packet source that is not a file (a live capture): its records'
// Data are valid only until its next call to next.
func runSource(ctx context.Context, rd packetReader, st InputStats, input string, o *Options, emit func(*Flow)) (InputStats, uint64, uint64, error) {
	r := runInput(ctx, &source{path: input, stats: st, rd: rd}, o, emit)
	return r.st, r.evicted, r.flows, r.err
}

// sourceResult is what reading one input gives.
type sourceResult struct {
	st      InputStats
	flows   uint64
	evicted uint64
	err     error
}

// stage decodes packets and feeds a flow table: the whole pipeline with one worker,
// or one worker of several. With several, every worker decodes every record but adds
// only the packets of its own flows (by flow hash) to its table; see runParallel.
type stage struct {
	o      *Options
	st     *InputStats // the packet counters of this stage (for one worker: all stats)
	dec    decoder
	frags  fragTable
	match  map[uint16]MatchFunc
	t      *table
	w, n   uint64 // this worker and the number of workers
	counts bool   // count packets every worker sees (worker 0, or the only one)
	rec    uint64 // index of the record being processed in its input
	sub    uint64 // packets the record has given the flow stage so far
	sink   func(p *pkt)
}

func newStage(o *Options, st *InputStats, t *table, w, n int) *stage {
	s := &stage{o: o, st: st, match: map[uint16]MatchFunc{}, t: t, w: uint64(w), n: uint64(n), counts: w == 0}
	switch {
	case o.NoDecap:
		s.dec.noDecap, s.dec.ports = true, &tunnelPorts{}
	case o.TunnelPorts != nil:
		s.dec.ports = newTunnelPorts(o.TunnelPorts)
	}
	s.frags.init()
	s.frags.paths = &t.paths
	s.sink = s.toTable
	return s
}

// tunnels interns the tunnel paths the decoder found in the packet it just decoded
// (p): p.tun and p.tunSwap, and p.qtun for the packet an ICMP error quotes. It
// reports whether the packet's path could not be recorded (the path table is full).
func (s *stage) tunnels(p *pkt) (full bool) {
	d := &s.dec
	pt := &s.t.paths
	pt.prepare()
	var k pathKey
	if d.tun.depth > 0 {
		p.tunSwap = makePathKey(&k, d.layers[:d.tun.depth])
		p.tun = pt.intern(&k)
	}
	if p.hasQuote && d.tun.qdepth > 0 {
		p.qtun = p.tun
		if d.tun.qdepth != d.tun.depth {
			makePathKey(&k, d.layers[:d.tun.qdepth])
			p.qtun = pt.intern(&k)
		}
	}
	return p.tun == pathOverflow
}

// pathHash is the hash of the decoder's first n tunnel layers (0 for none), for the
// fragment table.
func (s *stage) pathHash(n uint8) uint64 {
	if n == 0 {
		return 0
	}
	var k pathKey
	makePathKey(&k, s.dec.layers[:n])
	return k.hash()
}

// countTunnels counts a decoded packet's tunnel statistics.
func (s *stage) countTunnels(full bool) {
	if s.dec.tun.depth > 0 {
		s.st.Decapsulated++
	}
	if s.dec.tun.tooDeep {
		s.st.TunnelsTooDeep++
	}
	if full {
		s.st.TunnelPathsFull++
	}
}

// toTable is the sink: it gives the table the packets of this worker's flows, each
// with its tag.at (see tag).
func (s *stage) toTable(p *pkt) {
	at := s.rec<<8 | (1 + s.sub)
	s.sub++
	if s.n > 1 {
		var k key
		if p.kind == kindICMPQuote {
			k, _ = makeKey(p.qproto, p.qsrc, p.qdst, p.qsport, p.qdport, p.qvlan, 0)
		} else {
			k, _ = makeKey(p.proto, p.src, p.dst, p.sport, p.dport, p.vlan, 0)
		}
		if k.hash()%s.n != s.w {
			return
		}
	}
	s.t.seq = at
	s.t.addPkt(p)
}

// packet handles record rec, the i-th of its input.
func (s *stage) packet(rec *record, i uint64, p *pkt) {
	s.rec, s.sub = i, 0
	s.t.advance(rec.TS, i)
	p.ts, p.wire = rec.TS, uint32(rec.WireLen)
	if s.n > 1 {
		// Decode first: the packet of one flow (all but fragments and ICMP errors) is
		// only its owner's business, filter included.
		res := s.dec.decode(rec.LinkType, rec.Data, p)
		if res == decOK && p.kind == kindFlow && !p.fragFirst && !p.hasQuote && !s.dec.tun.ofrag {
			k, side := makeKey(p.proto, p.src, p.dst, p.sport, p.dport, p.vlan, 0)
			if k.hash()%s.n != s.w {
				return
			}
			if s.o.Filter != nil && !s.filter(rec) {
				s.st.Filtered++
				return
			}
			s.st.Decoded++
			if s.dec.tun.depth != 0 { // (no quote, no outer fragment here)
				s.countTunnels(s.tunnels(p))
				k.tun = p.tun
			}
			s.t.seq = i<<8 | 1
			s.t.addKey(p, k, side)
			return
		}
		// Everyone's business: every worker filters and dispatches it alike (so their
		// fragment tables agree), worker 0 counts it.
		if s.o.Filter != nil && !s.filter(rec) {
			if s.counts {
				s.st.Filtered++
			}
			return
		}
		s.result(res, rec, p)
		return
	}
	if s.o.Filter != nil && !s.filter(rec) {
		s.st.Filtered++
		return
	}
	s.result(s.dec.decode(rec.LinkType, rec.Data, p), rec, p)
}

// result counts a decoded record and dispatches it.
func (s *stage) result(res int, rec *record, p *pkt) {
	if res != decOK {
		if !s.counts {
			return
		}
		switch res {
		case decNonIP:
			s.st.NonIP++
		case decUnsupported:
			if s.st.Unsupported == nil {
				s.st.Unsupported = map[string]uint64{}
			}
			s.st.Unsupported[LinkTypeName(rec.LinkType)]++
		default:
			s.st.DecodeErrors++
		}
		return
	}
	if s.counts {
		s.st.Decoded++
	}
	// One test for the packets that entered no tunnel (nor did their quote): all the
	// tunnel work, outer fragments included, is behind it.
	if s.dec.tun.entered {
		full := s.tunnels(p)
		if s.counts {
			s.countTunnels(full)
		}
		if s.dec.tun.ofrag {
			s.outerFirst(p)
			return
		}
	}
	s.dispatch(p)
}

// outerFirst dispatches a packet an outer first fragment carried: its datagram's
// later fragments will take its flow (see fragTable.firstOuter).
func (s *stage) outerFirst(p *pkt) {
	s.sink(p)
	s.frags.firstOuter(&s.dec.ofrag, s.pathHash(s.dec.ofrag.depth), p, s.sink)
	if p.fragFirst {
		s.frags.first(p, s.pathHash(s.dec.tun.depth), s.sink)
	}
}

func (s *stage) filter(rec *record) bool {
	m, ok := s.match[rec.LinkType]
	if !ok {
		var err error
		m, err = s.o.Filter(rec.LinkType)
		if err != nil {
			if s.counts {
				s.st.Warnings = append(s.st.Warnings, fmt.Sprintf("filter: link type %s: %v (its packets are dropped)", LinkTypeName(rec.LinkType), err))
			}
			m = nil
		}
		s.match[rec.LinkType] = m
	}
	return m != nil && m(rec.Data, rec.WireLen)
}

// dispatch handles fragments and ICMP quotes, then hands the record to the sink. p
// is the packet the stage's decoder just decoded (its tunnels are the decoder's; an
// outer first fragment went to outerFirst instead).
func (s *stage) dispatch(p *pkt) {
	switch {
	case p.kind == kindFragment:
		if s.counts {
			s.st.Fragments++
		}
		if !s.frags.attach(p, s.pathHash(s.dec.tun.depth)) {
			return // held until its first fragment arrives
		}
	case p.fragFirst:
		s.sink(p)
		s.frags.first(p, s.pathHash(s.dec.tun.depth), s.sink)
		return
	}
	s.sink(p)
	if p.hasQuote {
		q := *p
		q.kind = kindICMPQuote
		s.sink(&q)
	}
}

// drainFrags reports the fragments that never met their first fragment.
func (s *stage) drainFrags() {
	if n := s.frags.orphans(); n > 0 && s.counts {
		s.st.Warnings = append(s.st.Warnings, fmt.Sprintf("%d non-first IP fragments never met their first fragment", n))
	}
}

// ErrFlushInterrupted is returned by Run (wrapping ctx's error) when ctx is cancelled
// while the flows still open at the end of an input that was read to its end are
// emitted: the flows not yet emitted are dropped, so the flows emitted are not all the
// input's. (When ctx is cancelled while an input is read, Run emits every open flow
// and returns ctx's error: the flows are those of the packets read.)
var ErrFlushInterrupted = errors.New("interrupted while the flows open at the end of the input were emitted")

// flushStop is the stop function of a table's end (see table.end): ctx, when reading
// ended at the end of the input (readErr nil); none when reading itself was
// interrupted, since the open flows are then the report of what was read.
func flushStop(ctx context.Context, readErr error) func() bool {
	if readErr != nil || ctx.Done() == nil {
		return nil
	}
	return func() bool { return ctx.Err() != nil }
}

func flushInterrupted(ctx context.Context) error {
	return fmt.Errorf("%w: %w", ErrFlushInterrupted, ctx.Err())
}

// nextRecord reads record i of rd, unless ctx is done (checked every 1024 records).
func nextRecord(ctx context.Context, rd packetReader, i uint64) (record, error) {
	if i&1023 == 0 && ctx.Err() != nil {
		return record{}, ctx.Err()
	}
	return rd.next()
}

// loopContext is the context a record loop checks (nextRecord): ctx itself, or, for
// an input whose reads a cancellation interrupts (source.polled), one that is never
// done, so that the records already read are all counted before the interrupted read
// ends the loop with ctx's error.
func loopContext(ctx context.Context, src *source) context.Context {
	if src.polled {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// end takes the error that ended reading: the end of the input is none, a cancelled
// ctx is the run's error, anything else is the input's problem (see failed).
func (r *reading) end(ctx context.Context, err error) error {
	switch {
	case err == io.EOF:
	case errors.Is(err, ctx.Err()) && ctx.Err() != nil:
		return err
	default:
		r.failed(err)
	}
	return nil
}

// reading counts the records of one input and turns read errors into its stats.
type reading struct {
	st    *InputStats
	log   *zerolog.Logger
	n     uint64 // records read
	curLT uint16
	curN  uint64
}

// count adds rec to the stats.
func (r *reading) count(rec *record) {
	st := r.st
	r.n++
	st.Packets++
	st.Bytes += uint64(rec.WireLen)
	if rec.TS != 0 {
		if st.FirstTS == 0 || rec.TS < st.FirstTS {
			st.FirstTS = rec.TS
		}
		if rec.TS > st.LastTS {
			st.LastTS = rec.TS
		}
	}
	if rec.LinkType != r.curLT {
		r.flushLT()
		r.curLT = rec.LinkType
	}
	r.curN++
}

func (r *reading) flushLT() {
	if r.curN > 0 {
		r.st.LinkTypes[LinkTypeName(r.curLT)] += r.curN
	}
	r.curN = 0
}

// failed records why reading stopped before the end (err is not io.EOF): the input is
// truncated there, and what was read is kept.
func (r *reading) failed(err error) {
	st := r.st
	st.Truncated = true
	var ce *CorruptError
	if errors.As(err, &ce) {
		st.TruncatedAt = ce.Offset
		st.Warnings = append(st.Warnings, "truncated: "+ce.Error())
		r.log.Warn().Str("input", st.Path).Int64("offset", ce.Offset).Str("field", ce.Field).Msg(ce.Msg)
		return
	}
	// an I/O or decompression error: also keeps what was read
	st.TruncatedAt = -1
	st.Warnings = append(st.Warnings, "read error: "+err.Error())
	r.log.Warn().Str("input", st.Path).Err(err).Msg("read error; keeping what was read")
}

func (r *reading) finish(rd packetReader) {
	r.flushLT()
	ws := rd.warnings()
	for _, w := range ws { // skipped pcapng blocks and the like: on stderr too, not only in the report
		r.log.Warn().Str("input", r.st.Path).Msg(w)
	}
	r.st.Warnings = append(r.st.Warnings, ws...)
	if k, ok := rd.(kernelCounter); ok {
		r.st.KernelReceived, r.st.KernelDropped = k.kernelStats()
	}
}

// cut ends an interval (a live capture's mark): it returns the statistics since the
// previous one and starts again from 0.
func (r *reading) cut(rd packetReader) InputStats {
	r.finish(rd)
	st := *r.st
	*r.st = InputStats{Path: st.Path, Format: st.Format, Compression: st.Compression, Size: st.Size, LinkTypes: map[string]uint64{}}
	return st
}

// kernelCounter is a packet source whose kernel counts packets: a live capture.
type kernelCounter interface {
	// kernelStats returns the packets the kernel passed to the source and those it
	// dropped since the previous call.
	kernelStats() (received, dropped uint64)
}

// control handles a live source's control record rec, the i-th record: the clock
// advances to the wall clock, and at an interval mark every open flow gets a status
// record. It reports whether rec was a mark.
func (s *stage) control(rec *record, i uint64) bool {
	s.t.advance(rec.TS, i)
	if rec.Tick != kindMark {
		return false
	}
	s.t.status(i << 8)
	return true
}

// cut is reading.cut for the packet counters of a worker's stage.
func (s *stage) cut() InputStats {
	st := *s.st
	*s.st = InputStats{}
	return st
}

// runSingle reads, decodes and tracks the flows of one input in the calling goroutine.
func runSingle(ctx context.Context, src *source, o *Options, emit func(*Flow)) sourceResult {
	if o.Prefetch && o.Interval == nil {
		if pf := startPrefetch(src); pf != nil {
			defer pf.stop()
			src.br.head, src.br.next = prefetchHead, pf.next
		}
	}
	res := sourceResult{st: src.stats}
	st := &res.st
	t := newTable(o, o.MaxFlows, func(f *Flow) { res.flows++; emit(f) })
	t.input = src.path
	s := newStage(o, st, t, 0, 1)
	rd := reading{st: st, log: &o.Log}
	var (
		p   pkt
		err error
		i   uint64 // records, control records included
		// at the previous interval's end
		lastFlows, lastEvicted uint64
	)
	interval := func(in InputStats, mark time.Time) {
		o.Interval(Result{Inputs: []InputStats{in}, Flows: res.flows - lastFlows, Evicted: t.evicted - lastEvicted, Mark: mark})
		lastFlows, lastEvicted = res.flows, t.evicted
	}
	loopCtx := loopContext(ctx, src)
	for ; ; i++ {
		var rec record
		if rec, err = nextRecord(loopCtx, src.rd, i); err != nil {
			break
		}
		if rec.Tick != 0 {
			if s.control(&rec, i) && o.Interval != nil {
				interval(rd.cut(src.rd), time.Unix(0, rec.TS))
			}
			continue
		}
		s.packet(&rec, i, &p)
		rd.count(&rec)
	}
	res.err = rd.end(ctx, err)
	s.drainFrags()
	if !t.end(st.LastTS, i, flushStop(ctx, res.err)) {
		res.err = flushInterrupted(ctx)
	}
	res.evicted = t.evicted
	rd.finish(src.rd)
	if o.Interval != nil {
		interval(*st, time.Time{})
	}
	return res
}

// Parallel reading. The calling goroutine reads the input and only delimits records:
// it reads a file into the buffer of a chunk (see blockReader: no record is copied;
// the records of other sources, such as a live capture, are copied into it) and, when
// the buffer is full, hands the chunk to every worker. Each worker decodes every
// record, which is cheap, but puts only the packets of its own flows (flow hash modulo
// workers) in its table, which is where the time goes; no packet is handed from one
// goroutine to another. Fragments and ICMP errors, whose flows are known only after
// the fragment table or the quote, are dispatched by every worker alike, and each
// keeps what is its own.
//
// Every worker sweeps its table at the same records (the clock advances with every
// record, filtered or not), and tags what it emits (see tag). A collector merges the
// workers' flows by tag, which gives exactly the order of one table: the flows, the
// reports and everything inferred from the order of flows do not depend on the
// number of workers. A live capture's control records go to every worker like
// packets; at an interval mark each worker emits its status records and hands over
// its counters, and the collector ends the interval once every flow before the mark
// is out.
const (
	chunkBytes    = 512 << 10 // a chunk's buffer; at least readBuf, so that every record fits
	chunksInFight = 2         // chunks queued to each worker
)

// chunk is a run of consecutive records of one input, shared read-only by the
// workers. The records' Data are in buf (the first chunk's, in the buffer the reader
// started with), which is read into again only once the chunk is recycled.
type chunk struct {
	recs  []record
	buf   []byte
	first uint64 // index of recs[0] in the input
	refs  atomic.Int32
}

// flowBatch carries a worker's emitted flows to the collector. Every flow the worker
// emits later has a tag at or beyond mark. cuts holds the worker's share of the
// intervals that ended in the batch (live capture).
type flowBatch struct {
	w     int
	flows []Flow
	tags  []tag
	mark  tag
	cuts  []workerCut
}

// workerCut is a worker's packet counters and evictions over one interval.
type workerCut struct {
	st      InputStats
	evicted uint64
}

// intervalEnd is the reader's side of an interval mark.
type intervalEnd struct {
	end  tag // every flow of the interval sorts before it
	st   InputStats
	mark time.Time
}

const (
	// markEvery is how many chunks a worker without flows to emit goes before it tells
	// the collector how far it got (so that other workers' flows can go out).
	markEvery = 8
	// flushBatch is how many flows a worker hands over at a time at the end of an input.
	flushBatch = 1024
)

// runParallel reads one input with o.Workers workers; see the comment above chunk.
func runParallel(ctx context.Context, src *source, o *Options, emit func(*Flow)) sourceResult {
	n := o.Workers
	res := sourceResult{st: src.stats}
	st := &res.st
	maxPer := 0
	if o.MaxFlows > 0 {
		maxPer = max(1, o.MaxFlows/n)
	}

	// Chunks: a fixed set, recycled when every worker is done with one.
	free := make(chan *chunk, n*(chunksInFight+1)+2)
	for range cap(free) {
		free <- &chunk{recs: make([]record, 0, chunkBytes/1024), buf: make([]byte, chunkBytes)}
	}
	ins := make([]chan *chunk, n)
	for w := range ins {
		ins[w] = make(chan *chunk, chunksInFight)
	}

	// Collector: merges the workers' flows by tag and calls emit.
	out := make(chan *flowBatch, 2*n)
	spare := make([]chan *flowBatch, n)
	ends := make(chan intervalEnd, 64)
	// Once the input was read to its end, a cancelled run gives up its open flows (see
	// flushStop): the workers stop flushing, and the collector, which may hold many
	// flows of one worker while it waits for the others, stops emitting.
	var (
		readToEnd atomic.Bool // set by the reader
		stopped   atomic.Bool // a worker or the collector gave up
	)
	colEmit := emit
	if ctx.Done() != nil {
		k, dropping := 0, false
		colEmit = func(f *Flow) {
			if k++; !dropping && k&1023 == 0 && readToEnd.Load() && ctx.Err() != nil {
				dropping = true
				stopped.Store(true)
			}
			if !dropping {
				emit(f)
			}
		}
	}
	col := &collector{n: n, in: out, spare: spare, ends: ends, emit: colEmit, interval: o.Interval}
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		col.run()
	}()

	// Workers.
	var (
		wg      sync.WaitGroup
		lastTS  int64  // the input's last packet time, set before ins are closed
		records uint64 // records read, likewise
		readErr error  // why reading ended (nil: at the end of the input), likewise
		stats   = make([]InputStats, n)
		tables  = make([]*table, n)
	)
	for w := range n {
		spare[w] = make(chan *flowBatch, 4)
		for range 3 {
			spare[w] <- &flowBatch{w: w}
		}
		b := <-spare[w]
		send := func(mark tag) {
			b.mark = mark
			out <- b
			b = <-spare[w]
			b.flows, b.tags, b.cuts = b.flows[:0], b.tags[:0], b.cuts[:0]
		}
		ending := false
		t := newTable(o, maxPer, func(f *Flow) {
			tg := tables[w].tag
			b.flows = append(b.flows, *f)
			b.tags = append(b.tags, tg)
			if ending && len(b.flows) >= flushBatch {
				// At the end most flows go at once: hand them over in pieces, so that
				// the collector merges and emits while the tables still flush.
				tg.seq++
				send(tg)
			}
		})
		t.input = src.path
		tables[w] = t
		s := newStage(o, &stats[w], t, w, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				p           pkt
				lastEvicted uint64
			)
			quiet := 0 // chunks since the last batch
			for c := range ins[w] {
				for k := range c.recs {
					rec, i := &c.recs[k], c.first+uint64(k)
					if rec.Tick == 0 {
						s.packet(rec, i, &p)
					} else if s.control(rec, i) && o.Interval != nil {
						b.cuts = append(b.cuts, workerCut{s.cut(), t.evicted - lastEvicted})
						lastEvicted = t.evicted
						send(tag{at: (i + 1) << 8})
					}
				}
				mark := tag{at: (c.first + uint64(len(c.recs))) << 8}
				if c.refs.Add(-1) == 0 {
					c.recs = c.recs[:0]
					free <- c
				}
				if quiet++; len(b.flows) > 0 || quiet == markEvery {
					send(mark)
					quiet = 0
				}
			}
			s.drainFrags()
			ending = true
			if !t.end(lastTS, records, flushStop(ctx, readErr)) {
				stopped.Store(true)
			}
			send(tag{at: math.MaxUint64})
		}()
	}

	// The reader: the records of a chunk live in its buffer, which the block reader
	// fills and, when full, swaps for the buffer of the next chunk; a source without a
	// block reader (live) has its records copied into the chunk's buffer.
	rd := reading{st: st, log: &o.Log}
	var i uint64 // records, control records included
	c := <-free
	c.first = 0
	ship := func() {
		c.refs.Store(int32(n))
		for _, in := range ins {
			in <- c
		}
		c = <-free
		c.first = i
		c.buf = c.buf[:cap(c.buf)]
	}
	used := 0 // of c.buf, in copy mode
	if src.br != nil {
		src.br.rotate = func() []byte {
			ship()
			return c.buf
		}
	}
	var err error
	loopCtx := loopContext(ctx, src)
	for ; ; i++ {
		var rec record
		if rec, err = nextRecord(loopCtx, src.rd, i); err != nil {
			break
		}
		if rec.Tick == kindMark && o.Interval != nil {
			ends <- intervalEnd{tag{at: (i + 1) << 8}, rd.cut(src.rd), time.Unix(0, rec.TS)}
		} else if rec.Tick == 0 {
			rd.count(&rec)
		}
		switch { // copy what the reader will overwrite
		case src.br == nil:
			if used+len(rec.Data) > len(c.buf) {
				ship()
				used = 0
			}
			d := c.buf[used : used+len(rec.Data) : used+len(rec.Data)]
			copy(d, rec.Data)
			rec.Data, used = d, used+len(rec.Data)
		case rec.detached: // rare: a pcapng block larger than a chunk
			rec.Data = append([]byte(nil), rec.Data...)
		}
		c.recs = append(c.recs, rec)
	}
	res.err = rd.end(ctx, err)
	if len(c.recs) > 0 {
		ship()
	}
	lastTS, records, readErr = st.LastTS, i, res.err
	readToEnd.Store(res.err == nil)
	for _, in := range ins {
		close(in)
	}
	wg.Wait()
	close(out)
	close(ends)
	<-collected
	if stopped.Load() {
		res.err = flushInterrupted(ctx)
	}
	var evicted uint64
	for w := range n {
		st.addCounts(&stats[w])
		res.evicted += tables[w].evicted
		evicted += tables[w].evicted
	}
	rd.finish(src.rd)
	res.flows = col.emitted
	if o.Interval != nil {
		o.Interval(Result{Inputs: []InputStats{*st}, Flows: col.emitted - col.lastEmitted, Evicted: evicted - col.evicted})
	}
	return res
}

// collector receives the workers' batches and emits their flows in tag order: a flow
// goes out once every other worker has either a later flow waiting or a mark beyond
// it (tags are unique). An interval ends (Options.Interval) once the reader has said
// where and every worker has handed over its counters for it, before any later flow.
type collector struct {
	n        int
	in       <-chan *flowBatch
	spare    []chan *flowBatch
	ends     <-chan intervalEnd
	emit     func(*Flow)
	interval func(Result)

	qs          []queue
	pending     []intervalEnd // ends the reader sent, not yet complete
	emitted     uint64
	lastEmitted uint64 // emitted at the last interval's end
	evicted     uint64 // evictions reported at interval ends
}

type queue struct {
	flows []Flow
	tags  []tag
	head  int
	mark  tag
	cuts  []workerCut // the worker's shares of intervals not yet ended
}

func (c *collector) run() {
	c.qs = make([]queue, c.n)
	for b := range c.in {
		q := &c.qs[b.w]
		if q.head > 0 && q.head >= len(q.tags)/2 {
			q.flows = append(q.flows[:0], q.flows[q.head:]...)
			q.tags = append(q.tags[:0], q.tags[q.head:]...)
			q.head = 0
		}
		q.flows = append(q.flows, b.flows...)
		q.tags = append(q.tags, b.tags...)
		q.cuts = append(q.cuts, b.cuts...)
		q.mark = b.mark
		clear(b.flows)
		c.spare[b.w] <- b
		c.drain()
	}
	for e := range c.ends { // ends after the last flows: none is ever complete
		c.pending = append(c.pending, e)
	}
	c.drain()
}

func (c *collector) drain() {
	for {
		best := -1
		for w := range c.qs {
			q := &c.qs[w]
			if q.head < len(q.tags) && (best < 0 || q.tags[q.head].less(c.qs[best].tags[c.qs[best].head])) {
				best = w
			}
		}
		if c.interval != nil && c.intervalDue(best) {
			continue
		}
		if best < 0 {
			return
		}
		q := &c.qs[best]
		h := q.tags[q.head]
		for w := range c.qs {
			if o := &c.qs[w]; w != best && o.head == len(o.tags) && !h.less(o.mark) {
				return // worker w may still emit something earlier
			}
		}
		c.emit(&q.flows[q.head])
		q.flows[q.head] = Flow{}
		q.head++
		c.emitted++
		if q.head == len(q.tags) {
			q.flows, q.tags, q.head = q.flows[:0], q.tags[:0], 0
		}
	}
}

// intervalDue ends the oldest pending interval when every worker has handed over its
// share and the next flow (of worker best; -1: none queued) comes after it.
func (c *collector) intervalDue(best int) bool {
	if len(c.pending) == 0 {
		select {
		case e, ok := <-c.ends:
			if !ok {
				return false
			}
			c.pending = append(c.pending, e)
		default:
			return false
		}
	}
	e := c.pending[0]
	for w := range c.qs {
		if len(c.qs[w].cuts) == 0 {
			return false
		}
	}
	if best >= 0 && c.qs[best].tags[c.qs[best].head].less(e.end) {
		return false
	}
	st, ev := e.st, uint64(0)
	for w := range c.qs {
		q := &c.qs[w]
		st.addCounts(&q.cuts[0].st)
		ev += q.cuts[0].evicted
		q.cuts = q.cuts[1:]
	}
	c.pending = c.pending[1:]
	c.interval(Result{Inputs: []InputStats{st}, Flows: c.emitted - c.lastEmitted, Evicted: ev, Mark: e.mark})
	c.lastEmitted = c.emitted
	c.evicted += ev
	return true
}
