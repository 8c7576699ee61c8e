package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/reports"
	"github.com/rs/zerolog"
)

// Session turns what a live capture emits into reports and metrics.
//
// The capture ends an interval at every mark (LiveOptions.Every). Its flow records
// are either final (the flow ended) or status records of flows still open ("active",
// counts since the flow's previous record). Records are folded per flow until a
// report is due: a final record takes the counts of the status records before it,
// and at a report boundary what is left of open flows becomes one "active" record.
// So each report has at most one record per flow, and a run without --every has
// only whole flows.
type Session struct {
	p       *Pipeline
	o       SessionOptions
	rep     *Run // the current report's records
	open    map[flowID]*capture.Flow
	res     capture.Result // the current report's input statistics
	from    time.Time      // start of the current report's interval
	flows   uint64         // records emitted by the capture
	whole   capture.InputStats
	mark    *Run      // this mark's records, for the metrics
	mp      *Pipeline // for the metrics: all records, no top
	fail    context.CancelCauseFunc
	log     zerolog.Logger
	written int // reports written

	jobs     chan func() error // reports and metrics, in order, in the background
	jobsDone chan struct{}
	jobErr   error // set by the background goroutine, read after jobsDone
}

// SessionOptions configure a live session.
type SessionOptions struct {
	Encoder reports.Encoder[*reports.Summary] // the reports' format
	// Output is where reports go: "" or "-" for Stdout, a file replaced atomically, or
	// a pattern with strftime verbs (see Strftime) for one file per interval.
	Output string
	Stdout io.Writer
	// Every is the report interval, aligned to the wall clock (0: one report at the
	// end); Marks the capture's own interval (capture.LiveOptions.Every), of which
	// Every is a multiple.
	Every, Marks time.Duration
	// Count and Duration are the capture's limits, for the log's "why it stopped".
	Count    uint64
	Duration time.Duration
	// Metrics, when set, is brought up to date at every mark.
	Metrics *Metrics
	// Interfaces are the interfaces as given (-i), the input of a report of a capture
	// that ended before its first interval.
	Interfaces []string
	// Export, when set, gets the flow records of every report once it is written
	// (IPFIX), and the metrics count what it sent.
	Export *Exporter
}

// NewSession returns the session that turns what a live capture emits into reports
// (and metrics); run the capture with Session.Run.
func (p *Pipeline) NewSession(o SessionOptions) *Session {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	s := &Session{p: p, o: o, open: map[flowID]*capture.Flow{}, from: time.Now(), log: p.log}
	return s
}

// Run captures from live until it stops (LiveOptions.Count, Duration, or ctx), writing
// the reports as their intervals end and a last one at the end, and returns once every
// report is written: the first error of the capture, of a spool or of a report.
func (s *Session) Run(ctx context.Context, live *capture.Live) error {
	// fail stops the capture when a spool (the flows of a report, on disk when they
	// are many) cannot be written.
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	s.fail = fail
	s.rep = s.p.newRun(fail)
	if s.o.Metrics != nil {
		mp := *s.p
		mp.opts.NoFlows, mp.opts.Top = false, 0
		s.mp = &mp
		s.mark = mp.newRun(fail)
		s.o.Metrics.m.watch(live)
		if s.o.Export != nil {
			s.o.Metrics.m.watchExport(s.o.Export)
		}
	}
	opts := s.p.captureOptions(1)
	opts.Interval = s.interval
	start := time.Now()
	runErr := live.Run(runCtx, opts, s.emit)
	if cause := context.Cause(runCtx); runErr == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		runErr = cause
	}
	if runErr != nil {
		s.report(s.from) // what was captured is still reported
		s.wait()
		return runErr
	}
	why := "stopped"
	switch {
	case ctx.Err() != nil:
		why = "interrupted"
	case s.o.Count > 0 && s.whole.Packets >= s.o.Count:
		why = "count reached"
	case s.o.Duration > 0 && time.Since(start) >= s.o.Duration:
		why = "duration reached"
	}
	w := &s.whole
	ev := s.log.Info()
	if dropped(w.KernelReceived, w.KernelDropped) {
		ev = s.log.Warn()
	}
	ev.Str("why", why).Uint64("packets", w.Packets).Uint64("kernel_received", w.KernelReceived).
		Uint64("kernel_dropped", w.KernelDropped).Uint64("flows", s.flows).Str("took", LogDuration(time.Since(start))).Msg("capture done")
	s.report(s.from)
	return s.wait()
}

// emit takes one record from the capture.
func (s *Session) emit(f *capture.Flow) {
	s.flows++
	if s.mark != nil {
		s.mark.add(f)
	}
	if r := s.fold(f); r != nil {
		s.rep.add(r)
	}
}

// flowID identifies a flow whichever side is the client.
type flowID struct {
	proto uint8
	vlan  uint16
	a, b  netip.AddrPort
}

func idOf(f *capture.Flow) flowID {
	a, b := f.Client, f.Server
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return flowID{f.Proto, f.VLAN, a, b}
}

// fold keeps status record f with the other records of its flow not yet reported, or
// returns final record f with their counts added (nil for a status record).
func (s *Session) fold(f *capture.Flow) *capture.Flow {
	id := idOf(f)
	acc := s.open[id]
	if acc == nil && f.End != capture.EndActive {
		return f
	}
	merged := *f // the newest record's direction, state and flags describe the flow
	merged.ICMPErrors = slices.Clone(f.ICMPErrors)
	if acc != nil {
		addCounts(&merged, acc)
	}
	if f.End == capture.EndActive {
		s.open[id] = &merged
		return nil
	}
	delete(s.open, id)
	return &merged
}

// addCounts adds the packets, bytes and ICMP errors of an earlier record src of the
// same flow to dst and widens dst's time span.
func addCounts(dst, src *capture.Flow) {
	swap := dst.Client != src.Client // the client may have changed (a late SYN)
	for i := range 2 {
		j := i
		if swap {
			j = 1 - i
		}
		dst.Packets[i] += src.Packets[j]
		dst.Bytes[i] += src.Bytes[j]
	}
	if src.First.Before(dst.First) {
		dst.First = src.First
	}
	if src.Last.After(dst.Last) {
		dst.Last = src.Last
	}
	for _, e := range src.ICMPErrors {
		i := slices.IndexFunc(dst.ICMPErrors, func(d capture.ICMPError) bool { return d.V6 == e.V6 && d.Type == e.Type && d.Code == e.Code })
		if i < 0 {
			dst.ICMPErrors = append(dst.ICMPErrors, e)
		} else {
			dst.ICMPErrors[i].Count += e.Count
		}
	}
}

// interval ends one of the capture's intervals: metrics, drop warning, and the report
// when the mark falls on an --every boundary. The capture's last part comes without a
// mark; the capture command writes the last report when Run has returned.
func (s *Session) interval(res capture.Result) {
	in := res.Inputs[0]
	s.whole.Add(in)
	s.res.Evicted += res.Evicted
	if len(s.res.Inputs) == 0 { // a copy: res goes to the metrics in the background
		s.res.Inputs = []capture.InputStats{{Path: in.Path, Format: in.Format, Size: in.Size}}
	}
	s.res.Inputs[0].Add(in)
	if dropped(in.KernelReceived, in.KernelDropped) {
		s.log.Warn().Str("input", in.Path).Uint64("kernel_received", in.KernelReceived).Uint64("kernel_dropped", in.KernelDropped).
			Msgf("the kernel dropped %.2f %% of the packets: raise --buffer-size or narrow --filter", 100*float64(in.KernelDropped)/float64(in.KernelReceived))
	}
	if s.o.Metrics != nil {
		mark := s.mark
		s.mark = s.mp.newRun(s.fail)
		s.later(func() error {
			defer mark.Close()
			sum, err := mark.summary(res, nil)
			if err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
			return s.o.Metrics.m.observe(sum)
		})
	}
	if s.o.Every > 0 && !res.Mark.IsZero() {
		// The mark's timer fires a little after its boundary of the wall clock.
		if b := res.Mark.Round(s.o.Marks); b.Truncate(s.o.Every).Equal(b) {
			s.report(s.from)
			s.from = b
		}
	}
}

// report writes the report of the records since the last one; from is the start of
// its interval (for strftime names).
//
// The records are handed over at once; classifying them and writing the report runs
// in the background (see later), so the capture goes on meanwhile.
func (s *Session) report(from time.Time) {
	for _, f := range s.open {
		s.rep.add(f)
	}
	clear(s.open)
	rep, res := s.rep, s.res
	if len(res.Inputs) == 0 { // nothing came (the capture ended before its first interval)
		res.Inputs = []capture.InputStats{{Path: strings.Join(s.o.Interfaces, ","), Format: "live", Size: -1}}
	}
	s.rep, s.res = s.p.newRun(s.fail), capture.Result{}
	s.later(func() error {
		defer rep.Close()
		sum, err := rep.summary(res, nil)
		if err != nil {
			return err
		}
		werr := s.write(sum, from)
		if s.o.Export != nil {
			// After the report, whether or not it could be written: the collector
			// is another copy of the records, not a part of the report.
			if err := s.o.Export.Export(sum); err != nil && werr == nil {
				werr = err
			}
		}
		return werr
	})
}

// later runs job in the session's background goroutine, after the jobs before it.
// Reports take seconds on large intervals: done in the goroutine that receives the
// capture's records, they would stall the capture until the kernel ring overflows.
func (s *Session) later(job func() error) {
	if s.jobs == nil {
		s.jobs, s.jobsDone = make(chan func() error, 2), make(chan struct{})
		go func() {
			defer close(s.jobsDone)
			for j := range s.jobs {
				if err := j(); err != nil {
					s.log.Error().Err(err).Msg("report not written")
					s.jobErr = err
				}
			}
		}()
	}
	s.jobs <- job
}

// wait waits for the background jobs and returns the last one's error, if any.
func (s *Session) wait() error {
	if s.jobs == nil {
		return nil
	}
	close(s.jobs)
	<-s.jobsDone
	return s.jobErr
}

// write writes one report.
func (s *Session) write(sum *reports.Summary, from time.Time) error {
	path := s.o.Output
	if strings.Contains(path, "%") {
		path = Strftime(path, from.UTC())
	}
	if s.o.Metrics != nil {
		defer s.o.Metrics.m.reported()
	}
	if path == "" || path == "-" {
		return s.o.Encoder.Encode(s.o.Stdout, sum)
	}
	if err := reports.WriteFile(path, func(w io.Writer) error { return s.o.Encoder.Encode(w, sum) }); err != nil {
		return err // names path
	}
	s.log.Info().Str("file", path).Uint64("packets", sum.Totals.Packets).Uint64("records", sum.Totals.Flows).Msg("report written")
	return nil
}

// dropWarn is the share of packets the kernel may drop before the session warns.
const dropWarn = 0.001

func dropped(received, drops uint64) bool {
	return received > 0 && float64(drops) > dropWarn*float64(received)
}

// ParseSize reads a byte size: a number with an optional unit K, M, G (powers of
// 1000) or KiB, MiB, GiB (powers of 1024); "KB" is K, "B" bytes.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a size such as 512KiB, 64MiB or 1G", s)
	}
	mult := map[string]int64{"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}[strings.ToLower(strings.TrimSpace(t[i:]))]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit; want B, K, M, G, KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

// strftimeVerbs are the strftime verbs -o understands.
const strftimeVerbs = "YmdHMSjs%"

// CheckPattern refuses an -o pattern with a verb strftime does not know.
func CheckPattern(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		if i+1 == len(p) || !strings.ContainsRune(strftimeVerbs, rune(p[i+1])) {
			return fmt.Errorf("-o %s: at column %d: unknown strftime verb; use %%Y %%m %%d %%H %%M %%S %%j %%s or %%%%", p, i+1)
		}
		i++
	}
	return nil
}

// Strftime expands the verbs of CheckPattern with t.
func Strftime(p string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 's':
			fmt.Fprintf(&b, "%d", t.Unix())
		default:
			b.WriteByte(p[i])
		}
	}
	return b.String()
}
