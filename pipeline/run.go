package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/spool"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/reports"
)

// Run is the flows of one pass of the pipeline over its inputs. Every flow waits in a
// spool until the inputs are read, because Veeam role inference needs all of them
// before any flow's rules can be narrowed to the roles of its two hosts. The spool
// keeps up to Options.SpillAfter flows in memory and the rest in sorted runs on disk,
// so memory does not grow with the number of flows in the inputs. Close releases it.
//
// A Run's methods other than Close are not safe for concurrent use.
type Run struct {
	p       *Pipeline
	spool   *spool.Spool
	inf     *veeam.Inferer
	fail    context.CancelCauseFunc // stops the capture when the spool cannot be written
	cls     *classify.Classifier    // with the inferred roles, made on first use
	skipped []reports.SkippedFile
	res     capture.Result
	err     error // context.Canceled when the run was interrupted
	// stop, when set, abandons the stages after the capture once it is done (see each).
	stop context.Context
	// parallel is set when the stages after the capture may use a goroutine of their
	// own (see recordIter).
	parallel bool
}

func (p *Pipeline) newRun(fail context.CancelCauseFunc) *Run {
	return &Run{
		p:     p,
		spool: spool.New(p.opts.TempDir, p.opts.SpillAfter),
		inf:   p.matrix.NewInferer(p.declared),
		fail:  fail,
	}
}

// Close releases the spool's temporary file.
func (r *Run) Close() error { return r.spool.Close() }

// Err is context.Canceled when the run was interrupted (the run holds what was read
// until then), nil otherwise.
func (r *Run) Err() error { return r.err }

// Result is the capture stage's statistics of the inputs.
func (r *Run) Result() capture.Result { return r.res }

// add takes one finished flow from the capture stage (called from one goroutine).
func (r *Run) add(f *capture.Flow) {
	if err := r.spool.Add(f); err != nil {
		r.fail(err)
		return
	}
	r.inf.AddFlow(f)
}

// Hosts is the Veeam roles of the hosts, declared or inferred from every flow.
func (r *Run) Hosts() []veeam.HostRoles { return r.inf.Hosts() }

// Classifier is the pipeline's classifier with the Veeam rules narrowed to the hosts'
// roles as inferred from every flow of the run.
func (r *Run) Classifier() *classify.Classifier {
	if r.cls == nil {
		o := r.p.clsOpts
		o.Explain = r.inf.Explain // ExplainFor with the inferred roles
		o.HasRoles = func(a netip.Addr) bool { return len(r.inf.RolesOf(a)) > 0 }
		var err error
		if r.cls, err = classify.New(o); err != nil {
			panic(err) // the same options were checked by New
		}
	}
	return r.cls
}

// Flows calls fn for every flow of the run, classified, in report order
// (capture.CompareFlows), and returns the first error. The *classify.Flow is valid
// only during the call.
func (r *Run) Flows(fn func(*classify.Flow) error) error {
	return r.records()(fn)
}

func (r *Run) records() reports.FlowIter {
	return recordIter(r.each, r.Classifier(), r.parallel)
}

// batches is records in batches (see batchIter).
func (r *Run) batches() func(yield func([]classify.Flow) error) error {
	return batchIter(r.each, r.Classifier(), r.parallel)
}

// ErrAbandoned ends a run interrupted after its inputs were read to their end: while
// the flows open at the end were finished, classified, or the report was written. The
// error wraps it and context.Canceled; there is no report. (A run interrupted while
// its inputs are read has a report of what was read: see Run.Err.)
var ErrAbandoned = errors.New("interrupted after every input was read, while the report was being made: no report written")

func abandoned() error { return fmt.Errorf("%w (%w)", ErrAbandoned, context.Canceled) }

// each is the spool's Each for the stages after the capture (classification, the
// report, verify, learn): once r.stop is done, it stops with ErrAbandoned, checked
// every 1024 flows.
func (r *Run) each(fn func(*capture.Flow) error) error {
	if r.stop == nil {
		return r.spool.Each(fn)
	}
	n := 0
	return r.spool.Each(func(f *capture.Flow) error {
		if n++; n&1023 == 0 && r.stop.Err() != nil {
			return abandoned()
		}
		return fn(f)
	})
}

// Summary classifies every flow with the inferred host roles and aggregates the
// report. The summary's flow records are not held: they are classified again, in
// order, from the spool while the report is encoded (unless Options.NoFlows).
func (r *Run) Summary() (*reports.Summary, error) { return r.summary(r.res, nil) }

// SummaryAnd is Summary, calling also with every record as it is aggregated: the
// records Flows yields, in the same order, valid only during the call. A report that
// holds nothing but the records (reports.FlowEncoder) is written this way in the pass
// that aggregates the summary, rather than from the spool again once the summary is
// made. An error from also ends the pass and is returned.
func (r *Run) SummaryAnd(also func(*classify.Flow) error) (*reports.Summary, error) {
	return r.summary(r.res, also)
}

// summary is Summary over the statistics res (a live session's interval), with also
// (when not nil) called with every record (see SummaryAnd).
func (r *Run) summary(res capture.Result, also func(*classify.Flow) error) (*reports.Summary, error) {
	records := r.records()
	// Records are never held: the report's flows are classified again, from the spool,
	// while they are encoded (as when the flows spilled). That costs a second
	// classification (~0.3 µs a flow) and saves holding, growing and sorting the
	// records (20k flows: 9 MB, and a third of the time after the capture).
	o := r.p.reportOptions()
	o.DiscardFlows = true
	agg := reports.NewAggregator(o)
	for _, in := range res.Inputs {
		agg.AddInput(in)
	}
	agg.AddEvicted(res.Evicted)
	agg.AddSpilled(r.spool.SpilledFlows())
	agg.AddSkipped(r.skipped...)
	add := func(b []classify.Flow) error {
		agg.AddBatch(b)
		if also != nil {
			for i := range b {
				if err := also(&b[i]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := r.batches()(add); err != nil {
		return nil, err
	}
	agg.SetHosts(HostsOf(r.inf.Hosts()))
	s := agg.Summary()
	if !r.p.opts.NoFlows {
		s.SetFlowIter(records)
	}
	if r.spool.Spilled() {
		r.p.log.Info().Uint64("flows", r.spool.Len()).Int("runs", r.spool.Runs()).
			Int64("bytes", r.spool.DiskBytes()).Msg("flows spilled to a temporary file")
	}
	return s, nil
}

// HostsOf is the inferred or declared roles of hosts as a summary lists them.
func HostsOf(hs []veeam.HostRoles) []reports.Host {
	out := make([]reports.Host, 0, len(hs))
	for _, h := range hs {
		rh := reports.Host{Addr: h.Addr.String()}
		for _, r := range h.Roles {
			rh.Roles = append(rh.Roles, reports.HostRole{Role: r.Role, Confidence: r.Confidence, Declared: r.Declared, Evidence: r.Evidence})
		}
		out = append(out, rh)
	}
	return out
}

// Read runs the capture stage over the inputs (from Inputs) into a new Run. A progress
// bar runs on Options.Progress. The error is a spool failure (no report rather than a
// partial one: a *spool.SpillError when --temp-dir is full or missing), a read error,
// or ErrAbandoned, and no run comes with it. A run interrupted while its inputs are
// read (ctx cancelled) comes without error and with Err set; once every input was
// read to its end, ctx's cancellation abandons the run (ErrAbandoned from Read, from
// Summary or Flows, or from the report's flow records as they are encoded).
func (p *Pipeline) Read(ctx context.Context, in Inputs) (*Run, error) {
	inputs := in.Files
	opts := p.captureOptions(len(inputs))
	stopProgress := p.progress(inputs, &opts)
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	r := p.newRun(fail)
	r.skipped = in.Skipped
	// Every core, unless Workers is 1: besides the capture's workers, the stages
	// after the flow table get a goroutine of their own (see addAhead, recordIter).
	r.parallel = p.opts.Workers != 1 && runtime.GOMAXPROCS(0) > 1
	add := r.add
	var ahead *addAhead
	if r.parallel && opts.Workers == 1 {
		ahead = newAddAhead(r.add)
		add = ahead.add
		opts.Prefetch = true
	}
	start := time.Now()
	r.res, r.err = capture.Run(runCtx, inputs, opts, add)
	if ahead != nil {
		ahead.close()
	}
	stopProgress()
	if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		r.Close()
		return nil, cause // the spool failed (--temp-dir): no report rather than a partial one
	}
	if errors.Is(r.err, capture.ErrFlushInterrupted) {
		r.Close()
		return nil, abandoned()
	}
	if r.err == nil {
		r.stop = ctx // a signal from now on abandons the report
	}
	if r.err != nil && !errors.Is(r.err, context.Canceled) {
		r.Close()
		return nil, r.err
	}
	var packets uint64
	for _, in := range r.res.Inputs {
		packets += in.Packets
		if in.Truncated {
			p.log.Warn().Str("input", in.Path).Int64("offset", in.TruncatedAt).Msg("input truncated; reported up to the damage")
		}
	}
	p.log.Info().Int("inputs", len(r.res.Inputs)).Uint64("packets", packets).Uint64("flows", r.res.Flows).
		Str("took", LogDuration(time.Since(start))).Msg("capture read")
	if r.res.Evicted > 0 {
		p.log.Warn().Uint64("evicted", r.res.Evicted).Int("max_flows", p.opts.MaxFlows).
			Msg("the flow table was full: the longest-idle flows were ended early and may show as several records; raise --max-flows if memory allows")
	}
	return r, nil
}

// progress shows a progress bar of bytes read on Options.Progress (when set) and
// returns the function that stops it.
func (p *Pipeline) progress(inputs []string, o *capture.Options) func() {
	w := p.opts.Progress
	if w == nil {
		return func() {}
	}
	var total int64
	for _, in := range inputs {
		if in == "-" {
			total = -1
			break
		}
		if st, err := os.Stat(in); err == nil {
			total += st.Size()
		}
	}
	var n atomic.Int64
	o.BytesRead = &n
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
	)
	// Start the bar's clock now, when reading starts, by drawing it empty. It would
	// otherwise start at its first drawing, the first tick, and divide the bytes of
	// the whole first tick by the microseconds since then: "reading (4.5 TB/s)".
	_ = bar.RenderBlank()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = bar.Set64(n.Load())
			case <-done:
				_ = bar.Set64(n.Load())
				_ = bar.Finish()
				return
			}
		}
	}()
	return func() { close(done); <-stopped }
}
