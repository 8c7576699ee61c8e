package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/filter"
	"github.com/portclass/portclass/capture/spool"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports"
)

func (a *app) analyzeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analyze FILE|DIR|- ...",
		Short: "Classify every flow in capture files and write a summary report",
		Long: `analyze reads pcap and pcapng files (gzip- and zstd-compressed too, detected by content),
directories (walked, files in lexical order) or standard input ("-"), groups the packets into
flows and writes one report over all inputs: totals, inputs, protocols, port classes, services,
server ports, talkers, ephemeral-range traffic, connection states, Veeam hosts and rules, and
every flow record.

The report goes to stdout, or atomically to -o FILE (format from the extension unless
--format is given), which may not be one of the inputs and is checked before anything is
read. The default format is text on a terminal and JSON otherwise.
A file named on the command line that is not a capture stops the run with exit code 2
before any report is written; in a directory, files that are not captures are skipped
with a warning and listed in the report (--strict: an error), and the run's own -o is
never read. A capture cut short is reported up to the damage, with a warning.

SIGINT or SIGTERM while the inputs are read stops the reading, and the report covers
what was read (exit 130); once every input was read, a signal cancels the report
(exit 130, nothing written); a second signal exits at once. A spill to --temp-dir that
fails (full, missing) ends the run at once with exit 2.`,
		Example: `  # what is in a capture, as text
  portclass analyze backup-window.pcapng

  # all captures of a directory, only TCP to the Veeam data movers, JSON to a file
  portclass analyze --filter 'tcp and (port 6162 or portrange 2500-3300)' -o report.json captures/

  # one flow record per line, from a compressed capture on stdin
  zstdcat big.pcap.zst | portclass analyze --format ndjson - > flows.ndjson

  # one self-contained HTML page (charts, sortable and filterable flow table) to open
  # on an air-gapped server; at most 20000 flow records, the unexplained and failed first
  portclass analyze --html-max-flows 20000 -o report.html captures/`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.analyze(cmd.Context(), args)
		},
	}
	fs := cmd.Flags()
	fs.StringP("format", "f", "", "report format: "+fmt.Sprint(reports.Formats())+" (default: from -o's extension; text on a terminal, else json)")
	fs.StringP("output", "o", "", "write the report to FILE atomically instead of stdout")
	fs.Int("top", 10, "entries per breakdown (services, ports, talkers, ...); 0 for all")
	fs.Bool("no-flows", false, "leave the flow records out of json/text reports (breakdowns only)")
	htmlFlag(fs)
	fs.Int("sweep-hosts", reports.DefaultSweepHosts, "list a client under sweeps when it failed to reach this many distinct servers (Zeek's address-scan threshold)")
	fs.Int("sweep-ports", reports.DefaultSweepPorts, "... or this many distinct ports (Zeek's port-scan threshold)")
	addPipelineFlags(fs)
	return cmd
}

// addPipelineFlags defines the flags of every command that reads captures through the
// pipeline (filter, flow table, spool, timeouts).
func addPipelineFlags(fs *pflag.FlagSet) {
	fs.String("filter", "", "tcpdump filter expression applied to every packet (e.g. 'tcp port 443 and not host 192.0.2.1')")
	strictFlag(fs)
	fs.Int("workers", 0, "capture workers; the report is the same for any number. 0: every core: several inputs are read side by side, one worker each; a single input is read ahead by a fetcher goroutine for one worker, while the spool and the report run on other goroutines (a live capture: one worker). 1: everything on one core. N > 1: N workers, sharding even a single input by flow hash, which does not pay on small machines (docs/performance.md)")
	fs.Int("max-flows", maxMaxFlows, "bound on concurrent flows held in memory; the longest idle are emitted early, with a warning (0: no bound). Default: 1/8 of the available memory at 320 bytes a flow, 50000 to 1000000")
	fs.Int("spill-after", maxSpillAfter, "finished flows kept in memory; beyond that they wait in sorted runs in a temporary file (about 60 bytes a flow). Default: 1/32 of the available memory at 480 bytes a flow, 10000 to 200000")
	fs.String("temp-dir", "", "directory for the spilled flows (default: $TMPDIR or /tmp)")
	fs.Duration("tcp-timeout", 5*time.Minute, "TCP idle timeout (by packet time)")
	fs.Duration("udp-timeout", time.Minute, "UDP idle timeout")
	fs.Duration("icmp-timeout", time.Minute, "ICMP idle timeout")
	fs.Duration("other-timeout", time.Minute, "idle timeout of other IP protocols")
	keyFlag(fs, "tcp-timeout", "timeouts.tcp")
	keyFlag(fs, "udp-timeout", "timeouts.udp")
	keyFlag(fs, "icmp-timeout", "timeouts.icmp")
	keyFlag(fs, "other-timeout", "timeouts.other")
}

// pipeline is everything an analysis needs, built from the configuration.
type pipeline struct {
	cfg      *Config
	cls      *classify.Classifier
	clsOpts  classify.Options
	matrix   *classify.Matrix
	declared *classify.HostSet
	filter   *filter.Filter
	log      zerolog.Logger
}

func newPipeline(cfg *Config, log zerolog.Logger) (*pipeline, error) {
	p := &pipeline{cfg: cfg, log: log}
	m, err := classify.DefaultMatrix().With(cfg.Veeam)
	if err != nil {
		return nil, fmt.Errorf("config veeam: %w", err)
	}
	p.matrix = m
	if len(cfg.Inventory) > 0 {
		p.declared, err = m.ParseInventory(classify.Inventory(cfg.Inventory))
		if err != nil {
			return nil, fmt.Errorf("config inventory: %w", err)
		}
	}
	eph, err := cfg.ephemeralRanges()
	if err != nil {
		return nil, fmt.Errorf("config %w", err)
	}
	p.clsOpts = classify.Options{Ephemeral: eph, Services: cfg.Services}
	p.cls, err = classify.New(p.clsOpts)
	if err != nil {
		return nil, fmt.Errorf("config %w", err)
	}
	if cfg.Filter != "" {
		p.filter, err = filter.Parse(cfg.Filter)
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// captureOptions are the capture stage's options for this pipeline, for a run over
// the given number of inputs (live capture: 1).
func (p *pipeline) captureOptions(inputs int) capture.Options {
	workers := p.cfg.Workers
	if workers <= 0 {
		// Several inputs are read side by side, one worker each, which scales with
		// the cores; one input stays on one worker, since sharding it costs more
		// than it saves on small machines (docs/performance.md).
		workers = 1
		if inputs > 1 {
			workers = runtime.GOMAXPROCS(0)
		}
	}
	o := capture.Options{
		Workers:      workers,
		TCPTimeout:   p.cfg.Timeouts.TCP,
		UDPTimeout:   p.cfg.Timeouts.UDP,
		ICMPTimeout:  p.cfg.Timeouts.ICMP,
		OtherTimeout: p.cfg.Timeouts.Other,
		MaxFlows:     p.cfg.MaxFlows,
		ServerPort:   p.cls.ServerPort,
		Log:          p.log.With().Str("component", "capture").Logger(),
	}
	if p.filter != nil {
		f := p.filter
		o.Filter = func(lt uint16) (capture.MatchFunc, error) {
			m, err := f.Matcher(lt)
			if err != nil {
				return nil, err
			}
			return m.Match, nil
		}
	}
	return o
}

// analysis collects the flows of a run and turns them into a summary. Every flow waits
// in a spool until the run is over, because Veeam role inference needs all of them
// before any flow's rules can be narrowed to the roles of its two hosts. The spool
// keeps up to --spill-after flows in memory and the rest in sorted runs on disk, so
// memory does not grow with the number of flows in the inputs.
type analysis struct {
	p     *pipeline
	spool *spool.Spool
	inf   *classify.Inferer
	fail  context.CancelCauseFunc // stops the run when the spool cannot be written
	// skipped are the files of directory arguments that are not captures, for the report.
	skipped []reports.SkippedFile
	// stop, when set, abandons the stages after the capture once it is done (see each).
	stop context.Context
	// parallel is set when the capture ran on more than one worker: the stage
	// after it then uses two goroutines too (see recordIter).
	parallel bool
}

func (p *pipeline) newAnalysis(fail context.CancelCauseFunc) *analysis {
	return &analysis{
		p:     p,
		spool: spool.New(p.cfg.TempDir, p.cfg.SpillAfter),
		inf:   p.matrix.NewInferer(p.declared),
		fail:  fail,
	}
}

// close releases the spool's temporary file.
func (an *analysis) close() error { return an.spool.Close() }

// add takes one finished flow from the capture stage (called from one goroutine).
func (an *analysis) add(f *capture.Flow) {
	if err := an.spool.Add(f); err != nil {
		an.fail(err)
		return
	}
	an.inf.AddFlow(f)
}

// summary classifies every flow with the inferred host roles and aggregates the report.
// When the flows did not fit in memory, the summary's records are not kept: they are
// classified again, in order, from the spool while the report is encoded (which costs
// a second classification but no memory).
func (an *analysis) summary(res capture.Result) (*reports.Summary, error) {
	inf := an.inf
	o := an.p.clsOpts
	o.Explain = inf.Explain // ExplainFor with the inferred roles
	cls, err := classify.New(o)
	if err != nil {
		panic(err) // the same options were validated by newPipeline
	}
	records := recordIter(an.each, cls, an.parallel)
	spilled := an.spool.Spilled()
	// Records are never held: the report's flows are classified again, from the spool,
	// while they are encoded (as when the flows spilled). That costs a second
	// classification (~0.3 µs a flow) and saves holding, growing and sorting the
	// records (20k flows: 9 MB, and a third of the time after the capture).
	agg := reports.NewAggregator(reports.Options{Top: an.p.cfg.Top, DiscardFlows: true,
		SweepHosts: an.p.cfg.SweepHosts, SweepPorts: an.p.cfg.SweepPorts})
	for _, in := range res.Inputs {
		agg.AddInput(in)
	}
	agg.AddEvicted(res.Evicted)
	agg.AddSpilled(an.spool.SpilledFlows())
	agg.AddSkipped(an.skipped...)
	if err := records(func(r *reports.Record) error { agg.Add(*r); return nil }); err != nil {
		return nil, err
	}
	agg.SetHosts(hostsOf(inf.Hosts()))
	s := agg.Summary()
	if !an.p.cfg.NoFlows {
		s.SetFlowIter(records)
	}
	if spilled {
		an.p.log.Info().Uint64("flows", an.spool.Len()).Int("runs", an.spool.Runs()).
			Int64("bytes", an.spool.DiskBytes()).Msg("flows spilled to a temporary file")
	}
	return s, nil
}

func hostsOf(hs []classify.HostRoles) []reports.Host {
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

// analyze is the analyze command.
func (a *app) analyze(ctx context.Context, args []string) error {
	format, err := a.reportFormat()
	if err != nil {
		return usageErr(err)
	}
	enc, err := a.encoderFor(format)
	if err != nil {
		return usageErr(err)
	}
	r, err := a.collect(ctx, &a.cfg, args)
	if err != nil {
		return err
	}
	defer r.an.close()
	s, err := r.an.summary(r.res)
	if err != nil {
		return err
	}
	if err := a.writeReport(enc, s); err != nil {
		return err
	}
	return r.interrupted(a)
}

// pass is one run of the pipeline over a command's inputs.
type pass struct {
	p      *pipeline
	an     *analysis // holds the flows; close it
	res    capture.Result
	runErr error // context.Canceled when the run was interrupted: an holds what was read
}

// collect builds the pipeline of cfg and reads the inputs args name into a new
// analysis. Inputs are expanded and checked first, so that a file that is not a capture
// stops the run before anything is read or written; a progress bar runs on a terminal.
// The error is a usage error for bad configuration or inputs, a spool failure or a read
// error; no run is returned with it.
func (a *app) collect(ctx context.Context, cfg *Config, args []string) (*pass, error) {
	p, err := newPipeline(cfg, a.log)
	if err != nil {
		return nil, usageErr(err)
	}
	inputs, skipped, err := a.captureInputs(args, cfg)
	if err != nil {
		return nil, err
	}
	if err := a.checkOutput(cfg.Output, append(inputs, cfg.Policy)...); err != nil {
		return nil, err
	}
	r, err := a.read(ctx, p, inputs)
	if err == nil {
		r.an.skipped = skipped
	}
	return r, err
}

// read runs the pipeline p over inputs (already checked) into a new analysis.
func (a *app) read(ctx context.Context, p *pipeline, inputs []string) (*pass, error) {
	opts := p.captureOptions(len(inputs))
	opts.Stdin = a.stdin
	stopProgress := a.progress(inputs, &opts)
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	r := &pass{p: p, an: p.newAnalysis(fail)}
	// Every core, unless --workers 1: besides the capture's workers, the stages
	// after the flow table get a goroutine of their own (see addAhead, recordIter).
	r.an.parallel = p.cfg.Workers != 1 && runtime.GOMAXPROCS(0) > 1
	add := r.an.add
	var ahead *addAhead
	if r.an.parallel && opts.Workers == 1 {
		ahead = newAddAhead(r.an.add)
		add = ahead.add
		opts.Prefetch = true
	}
	start := time.Now()
	r.res, r.runErr = capture.Run(runCtx, inputs, opts, add)
	if ahead != nil {
		ahead.close()
	}
	stopProgress()
	if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		r.an.close()
		return nil, usageErr(spillErr(cause)) // the spool failed (--temp-dir): no report rather than a partial one
	}
	if errors.Is(r.runErr, capture.ErrFlushInterrupted) {
		r.an.close()
		return nil, abandoned()
	}
	if r.runErr == nil {
		r.an.stop = ctx // a signal from now on abandons the report
	}
	if r.runErr != nil && !errors.Is(r.runErr, context.Canceled) {
		r.an.close()
		return nil, usageErr(r.runErr)
	}
	var packets uint64
	for _, in := range r.res.Inputs {
		packets += in.Packets
		if in.Truncated {
			a.log.Warn().Str("input", in.Path).Int64("offset", in.TruncatedAt).Msg("input truncated; reported up to the damage")
		}
	}
	a.log.Info().Int("inputs", len(r.res.Inputs)).Uint64("packets", packets).Uint64("flows", r.res.Flows).
		Str("took", logDur(time.Since(start))).Msg("capture read")
	a.warnEvicted(r.res, p.cfg.MaxFlows)
	return r, nil
}

// interrupted is the exit status of an interrupted run, once its report is written.
func (r *pass) interrupted(a *app) error {
	if r.runErr == nil {
		return nil
	}
	a.log.Warn().Msg("interrupted: the report covers the packets read so far")
	return &exitError{exitSignal, r.runErr}
}

// reportFormat decides the report format: --format, else -o's extension, else text on
// a terminal and json otherwise.
func (a *app) reportFormat() (string, error) {
	cfg := &a.cfg
	if cfg.Format != "" {
		return cfg.Format, nil
	}
	if cfg.Output != "" {
		if f, ok := reports.FormatFromPath(cfg.Output); ok {
			return f, nil
		}
		return "", fmt.Errorf("-o %s: cannot tell the format from the extension; use --format (one of %v)", cfg.Output, reports.Formats())
	}
	if isTerminal(a.stdout) {
		return "text", nil
	}
	return "json", nil
}

// htmlFlag adds --html-max-flows to the flags of a command that writes summaries.
func htmlFlag(fs *pflag.FlagSet) {
	fs.Int("html-max-flows", reports.DefaultHTMLMaxFlows, "html: flow records embedded in the page, unexplained, failed and largest first; 0 for all")
}

// encoderFor returns the encoder of a report format, configured (--html-max-flows).
func (a *app) encoderFor(format string) (reports.Encoder, error) {
	enc, err := reports.EncoderFor(format)
	if h, ok := enc.(reports.HTML); ok {
		h.MaxFlows = a.cfg.HTMLFlows
		enc = h
	}
	return enc, err
}

// writeReport writes s to -o atomically, or to stdout.
func (a *app) writeReport(enc reports.Encoder, s *reports.Summary) error {
	return a.writeOutput(a.cfg.Output, func(w io.Writer) error { return enc.Encode(w, s) })
}

// progress shows a progress bar of bytes read on a terminal stderr (unless --quiet)
// and returns the function that stops it.
func (a *app) progress(inputs []string, o *capture.Options) func() {
	if a.cfg.Quiet || !isTerminal(a.stderr) {
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
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
	)
	startBar(bar)
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
