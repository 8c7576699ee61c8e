package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	// whole pipeline in the calling goroutine.
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
// emitted when it ends.
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
		st, ev, n, err := runSource(ctx, src.rd, src.stats, p, &o, emit)
		src.close()
		res.Inputs = append(res.Inputs, st)
		res.Flows += n
		res.Evicted += ev
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// batchSize is the number of packet records handed to a worker at once: large enough
// to amortise channel operations, small enough to stay in L2 cache (256 × 112 bytes).
const batchSize = 256

// batchesPerWorker bounds the batches in flight to one worker (and so the memory).
const batchesPerWorker = 6

// stage is the per-input state of the reading goroutine.
type stage struct {
	o        *Options
	st       *InputStats
	dec      decoder
	frags    fragTable
	match    map[uint16]MatchFunc
	badLT    map[uint16]bool
	curLT    uint16
	curN     uint64
	lastTS   int64
	sink     func(p *pkt)
	quoteOut func(p *pkt)
}

func runSource(ctx context.Context, rd packetReader, st InputStats, input string, o *Options, emit func(*Flow)) (InputStats, uint64, uint64, error) {
	s := &stage{o: o, st: &st, match: map[uint16]MatchFunc{}, badLT: map[uint16]bool{}}
	s.frags.init()
	var (
		flows   uint64
		evicted uint64
		tables  []*table
		wg      sync.WaitGroup
		out     chan []Flow
		done    chan struct{}
	)
	n := o.Workers
	maxPer := 0
	if o.MaxFlows > 0 {
		maxPer = max(1, o.MaxFlows/n)
	}
	if n == 1 {
		t := newTable(o, maxPer, func(f *Flow) { flows++; emit(f) })
		t.input = input
		tables = append(tables, t)
		s.sink = t.add
	} else {
		// Workers send finished flows in batches to one collector goroutine, which
		// calls emit; so emit is never called concurrently.
		out = make(chan []Flow, 4*n)
		done = make(chan struct{})
		go func() {
			for batch := range out {
				for i := range batch {
					flows++
					emit(&batch[i])
				}
			}
			close(done)
		}()
		ins := make([]chan []pkt, n)
		free := make([]chan []pkt, n)
		bufs := make([][]pkt, n)
		for w := range n {
			ins[w] = make(chan []pkt, batchesPerWorker-2)
			free[w] = make(chan []pkt, batchesPerWorker)
			for range batchesPerWorker {
				free[w] <- make([]pkt, 0, batchSize)
			}
			bufs[w] = <-free[w]
			var pending []Flow
			t := newTable(o, maxPer, func(f *Flow) {
				pending = append(pending, *f)
				if len(pending) == cap(pending) && cap(pending) > 0 {
					out <- pending
					pending = make([]Flow, 0, 64)
				}
			})
			pending = make([]Flow, 0, 64)
			t.input = input
			tables = append(tables, t)
			wg.Add(1)
			go func(in, fr chan []pkt, t *table) {
				defer wg.Done()
				for b := range in {
					for i := range b {
						t.add(&b[i])
					}
					fr <- b[:0]
				}
				t.end(s.st.LastTS) // written by the reader before it closed in
				if len(pending) > 0 {
					out <- pending
				}
			}(ins[w], free[w], t)
		}
		route := func(p *pkt, k *key) {
			w := int(k.hash() % uint64(n))
			bufs[w] = append(bufs[w], *p)
			if len(bufs[w]) == batchSize {
				ins[w] <- bufs[w]
				bufs[w] = <-free[w]
			}
		}
		s.sink = func(p *pkt) {
			var k key
			if p.kind == kindICMPQuote {
				k, _ = makeKey(p.qproto, p.qsrc, p.qdst, p.qsport, p.qdport, p.vlan)
			} else {
				k, _ = makeKey(p.proto, p.src, p.dst, p.sport, p.dport, p.vlan)
			}
			route(p, &k)
		}
		defer func() {}()
		finish := func() {
			for w := range n {
				if len(bufs[w]) > 0 {
					ins[w] <- bufs[w]
				}
				close(ins[w])
			}
			wg.Wait()
			close(out)
			<-done
		}
		err := s.loop(ctx, rd)
		finish()
		for _, t := range tables {
			evicted += t.evicted
		}
		s.finishStats(rd)
		return st, evicted, flows, err
	}
	err := s.loop(ctx, rd)
	tables[0].end(st.LastTS)
	evicted = tables[0].evicted
	s.finishStats(rd)
	return st, evicted, flows, err
}

// loop reads, filters and decodes every packet of an input and passes the records to sink.
func (s *stage) loop(ctx context.Context, rd packetReader) error {
	st := s.st
	var p pkt
	for i := 0; ; i++ {
		if i&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := rd.next()
		if err != nil {
			if err == io.EOF {
				s.drainFrags()
				return nil
			}
			var ce *CorruptError
			if errors.As(err, &ce) {
				st.Truncated = true
				st.TruncatedAt = ce.Offset
				st.Warnings = append(st.Warnings, "truncated: "+ce.Error())
				s.o.Log.Warn().Str("input", st.Path).Int64("offset", ce.Offset).Str("field", ce.Field).Msg(ce.Msg)
				s.drainFrags()
				return nil
			}
			// an I/O or decompression error: also keeps what was read
			st.Truncated = true
			st.TruncatedAt = -1
			st.Warnings = append(st.Warnings, "read error: "+err.Error())
			s.o.Log.Warn().Str("input", st.Path).Err(err).Msg("read error; keeping what was read")
			s.drainFrags()
			return nil
		}
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
		if rec.LinkType != s.curLT {
			s.flushLT()
			s.curLT = rec.LinkType
		}
		s.curN++
		if s.o.Filter != nil && !s.filter(rec) {
			st.Filtered++
			continue
		}
		p.ts, p.wire = rec.TS, uint32(rec.WireLen)
		switch s.dec.decode(rec.LinkType, rec.Data, &p) {
		case decOK:
		case decNonIP:
			st.NonIP++
			continue
		case decUnsupported:
			if st.Unsupported == nil {
				st.Unsupported = map[string]uint64{}
			}
			st.Unsupported[LinkTypeName(rec.LinkType)]++
			continue
		default:
			st.DecodeErrors++
			continue
		}
		st.Decoded++
		s.dispatch(&p)
	}
}

func (s *stage) filter(rec record) bool {
	m, ok := s.match[rec.LinkType]
	if !ok {
		var err error
		m, err = s.o.Filter(rec.LinkType)
		if err != nil {
			s.st.Warnings = append(s.st.Warnings, fmt.Sprintf("filter: link type %s: %v (its packets are dropped)", LinkTypeName(rec.LinkType), err))
			m = nil
		}
		s.match[rec.LinkType] = m
	}
	return m != nil && m(rec.Data, rec.WireLen)
}

// dispatch handles fragments and ICMP quotes, then hands the record to the flow stage.
func (s *stage) dispatch(p *pkt) {
	switch {
	case p.kind == kindFragment:
		s.st.Fragments++
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

func (s *stage) drainFrags() {
	if n := s.frags.orphans(); n > 0 {
		s.st.Warnings = append(s.st.Warnings, fmt.Sprintf("%d non-first IP fragments never met their first fragment", n))
	}
}

func (s *stage) flushLT() {
	if s.curN > 0 {
		s.st.LinkTypes[LinkTypeName(s.curLT)] += s.curN
	}
	s.curN = 0
}

func (s *stage) finishStats(rd packetReader) {
	s.flushLT()
	s.st.Warnings = append(s.st.Warnings, rd.warnings()...)
}
