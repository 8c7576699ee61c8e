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
	// BytesRead, when set, is advanced by the bytes read from input files (compressed
	// size), for progress display.
	BytesRead *atomic.Int64
	// Stdin is read for the input "-"; nil means os.Stdin.
	Stdin io.Reader
	// Log receives one line per input problem; the hot path never logs.
	Log zerolog.Logger
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
// stops reading, emits the open flows and returns ctx's error with the Result so far.
func Run(ctx context.Context, paths []string, o Options, emit func(*Flow)) (Result, error) {
	o.defaults()
	var res Result
	for _, p := range paths {
		src, err := open(p, o.BytesRead, o.Stdin)
		if err != nil {
			return res, err
		}
		var r sourceResult
		if o.Workers == 1 {
			r = runSingle(ctx, src, &o, emit)
		} else {
			r = runParallel(ctx, src, &o, emit)
		}
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
	s.frags.init()
	s.sink = s.toTable
	return s
}

// toTable is the sink: it gives the table the packets of this worker's flows, each
// with its tag.at (see tag).
func (s *stage) toTable(p *pkt) {
	at := s.rec<<8 | (1 + s.sub)
	s.sub++
	if s.n > 1 {
		var k key
		if p.kind == kindICMPQuote {
			k, _ = makeKey(p.qproto, p.qsrc, p.qdst, p.qsport, p.qdport, p.vlan)
		} else {
			k, _ = makeKey(p.proto, p.src, p.dst, p.sport, p.dport, p.vlan)
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
		if res == decOK && p.kind == kindFlow && !p.fragFirst && !p.hasQuote {
			k, side := makeKey(p.proto, p.src, p.dst, p.sport, p.dport, p.vlan)
			if k.hash()%s.n != s.w {
				return
			}
			if s.o.Filter != nil && !s.filter(rec) {
				s.st.Filtered++
				return
			}
			s.st.Decoded++
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
	s.dispatch(p)
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

// dispatch handles fragments and ICMP quotes, then hands the record to the sink.
func (s *stage) dispatch(p *pkt) {
	switch {
	case p.kind == kindFragment:
		if s.counts {
			s.st.Fragments++
		}
		if !s.frags.attach(p) {
			return // held until its first fragment arrives
		}
	case p.fragFirst:
		s.sink(p)
		s.frags.first(p, s.sink)
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
	r.st.Warnings = append(r.st.Warnings, rd.warnings()...)
}

// runSingle reads, decodes and tracks the flows of one input in the calling goroutine.
func runSingle(ctx context.Context, src *source, o *Options, emit func(*Flow)) sourceResult {
	res := sourceResult{st: src.stats}
	st := &res.st
	maxFlows := o.MaxFlows
	t := newTable(o, maxFlows, func(f *Flow) { res.flows++; emit(f) })
	t.input = src.path
	s := newStage(o, st, t, 0, 1)
	rd := reading{st: st, log: &o.Log}
	var (
		p   pkt
		err error
	)
	for {
		if rd.n&1023 == 0 && ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		var rec record
		if rec, err = src.rd.next(); err != nil {
			break
		}
		s.packet(&rec, rd.n, &p)
		rd.count(&rec)
	}
	switch {
	case err == io.EOF:
	case errors.Is(err, ctx.Err()) && ctx.Err() != nil:
		res.err = err
	default:
		rd.failed(err)
	}
	s.drainFrags()
	t.end(st.LastTS, rd.n)
	res.evicted = t.evicted
	rd.finish(src.rd)
	return res
}

// Parallel reading. The calling goroutine reads the input and only delimits records:
// it reads the input into the buffer of a chunk (see blockReader: no record is
// copied) and, when the buffer is full, hands the chunk to every worker. Each worker decodes every record, which is cheap, but puts only the
// packets of its own flows (flow hash modulo workers) in its table, which is where
// the time goes; no packet is handed from one goroutine to another. Fragments and ICMP
// errors, whose flows are known only after the fragment table or the quote, are
// dispatched by every worker alike, and each keeps what is its own.
//
// Every worker sweeps its table at the same records (the clock advances with every
// record, filtered or not), and tags what it emits (see tag). A collector merges the
// workers' flows by tag, which gives exactly the order of one table: the flows, the
// reports and everything inferred from the order of flows do not depend on the
// number of workers.
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
// emits later has a tag at or beyond mark.
type flowBatch struct {
	w     int
	flows []Flow
	tags  []tag
	mark  tag
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
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		res.flows = collect(n, out, spare, emit)
	}()

	// Workers.
	var (
		wg      sync.WaitGroup
		lastTS  int64  // the input's last packet time, set before ins are closed
		records uint64 // records read, likewise
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
			b.flows, b.tags = b.flows[:0], b.tags[:0]
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
			var p pkt
			quiet := 0 // chunks since the last batch
			for c := range ins[w] {
				for i := range c.recs {
					s.packet(&c.recs[i], c.first+uint64(i), &p)
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
			t.end(lastTS, records)
			send(tag{at: math.MaxUint64})
		}()
	}

	// The reader: the records of a chunk live in its buffer, which the block reader
	// fills and, when full, swaps for the buffer of the next chunk.
	rd := reading{st: st, log: &o.Log}
	c := <-free
	c.first = 0
	ship := func() {
		c.refs.Store(int32(n))
		for _, in := range ins {
			in <- c
		}
		c = <-free
		c.first = rd.n
	}
	src.br.rotate = func() []byte {
		ship()
		return c.buf
	}
	var err error
	for {
		if rd.n&1023 == 0 && ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		var rec record
		if rec, err = src.rd.next(); err != nil {
			break
		}
		rd.count(&rec)
		if rec.detached {
			rec.Data = append([]byte(nil), rec.Data...) // rare: a pcapng block larger than a chunk
		}
		c.recs = append(c.recs, rec)
	}
	switch {
	case err == io.EOF:
	case errors.Is(err, ctx.Err()) && ctx.Err() != nil:
		res.err = err
	default:
		rd.failed(err)
	}
	if len(c.recs) > 0 {
		ship()
	}
	lastTS, records = st.LastTS, rd.n
	for _, in := range ins {
		close(in)
	}
	wg.Wait()
	close(out)
	<-collected
	for w := range n {
		st.addCounts(&stats[w])
		res.evicted += tables[w].evicted
	}
	rd.finish(src.rd)
	return res
}

// collect receives the workers' batches and emits their flows in tag order: a flow
// goes out once every other worker has either a later flow waiting or a mark beyond
// it (tags are unique). It returns the number of flows emitted.
func collect(n int, in <-chan *flowBatch, spare []chan *flowBatch, emit func(*Flow)) uint64 {
	type queue struct {
		flows []Flow
		tags  []tag
		head  int
		mark  tag
	}
	qs := make([]queue, n)
	var emitted uint64
	drain := func() {
		for {
			best := -1
			for w := range qs {
				q := &qs[w]
				if q.head < len(q.tags) && (best < 0 || q.tags[q.head].less(qs[best].tags[qs[best].head])) {
					best = w
				}
			}
			if best < 0 {
				return
			}
			q := &qs[best]
			h := q.tags[q.head]
			for w := range qs {
				if o := &qs[w]; w != best && o.head == len(o.tags) && !h.less(o.mark) {
					return // worker w may still emit something earlier
				}
			}
			emit(&q.flows[q.head])
			q.flows[q.head] = Flow{}
			q.head++
			emitted++
			if q.head == len(q.tags) {
				q.flows, q.tags, q.head = q.flows[:0], q.tags[:0], 0
			}
		}
	}
	for b := range in {
		q := &qs[b.w]
		if q.head > 0 && q.head >= len(q.tags)/2 {
			q.flows = append(q.flows[:0], q.flows[q.head:]...)
			q.tags = append(q.tags[:0], q.tags[q.head:]...)
			q.head = 0
		}
		q.flows = append(q.flows, b.flows...)
		q.tags = append(q.tags, b.tags...)
		q.mark = b.mark
		clear(b.flows)
		spare[b.w] <- b
		drain()
	}
	return emitted
}
