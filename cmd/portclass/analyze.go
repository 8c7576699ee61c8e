package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"golang.org/x/term"

	"github.com/portclass/portclass/capture/filter"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/pipeline"
	"github.com/portclass/portclass/reports"
)

func (a *app) analyzeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analyze FILE|DIR|- ...",
		Short: "Classify every flow in capture files and write a summary report",
		Long: `analyze reads pcap and pcapng files (gzip- and zstd-compressed too, detected by content),
directories (walked, files in lexical order) or standard input ("-"), groups the packets into
flows and writes one report over all inputs: totals, inputs, unexpected traffic, protocols,
port classes, services, server ports, talkers, ephemeral-range traffic, connection states,
Veeam hosts and rules, and every flow record.

Each TCP and UDP flow's application protocol is recognised from the payload of its first
packets (app_protocol, with the TLS server name, HTTP Host or SSH banner), and flagged
protocol-mismatch when it contradicts the server port's service or Veeam rule. Unexpected
traffic is the answered flows nothing explains: not the --policy's rules, not a Veeam rule
between hosts with roles, not a --baseline service's port whose payload fits it.

The report goes to stdout, or atomically to -o FILE (format from the extension unless
--format is given), which may not be one of the inputs and is checked before anything is
read. The default format is text on a terminal and JSON otherwise.
A file named on the command line that is not a capture stops the run with exit code 2
before any report is written; in a directory, files that are not captures are skipped
with a warning and listed in the report (--strict: an error), and the run's own -o is
never read. A capture cut short is reported up to the damage, with a warning.

SIGINT or SIGTERM while the inputs are read stops the reading, and the report covers
what was read (exit 130) and says it is incomplete (json: "interrupted": true; text,
md, html: first; csv, ndjson: only the last line on stderr, a warning, which the other
formats get too); once every input was read, a signal cancels the report
(exit 130, nothing written); a second signal exits at once. A spill to --temp-dir that
fails (full, missing) ends the run at once with exit 2.

For other tools: --format ndjson or csv (one flow record per line), parquet (one row
per record, for SQL engines such as DuckDB, Trino, Spark, ClickHouse) and ipfix (an
IPFIX file, RFC 5655). --ipfix HOST:PORT also sends every record to an IPFIX collector
(UDP; udp:// or tcp:// to choose), beside the report (after it with --workers 1 or
--format parquet); a
collector that is down is a warning, never a lost or delayed report. portclass's verdicts go with the records as
enterprise elements only under a private enterprise number: --ipfix-pen. See
docs/scale.md.`,
		Example: `  # what is in a capture, as text
  portclass analyze backup-window.pcapng

  # all captures of a directory, only TCP to the Veeam data movers, JSON to a file
  portclass analyze --filter 'tcp and (port 6162 or portrange 2500-3300)' -o report.json captures/

  # one flow record per line, from a compressed capture on stdin
  zstdcat big.pcap.zst | portclass analyze --format ndjson - > flows.ndjson

  # one self-contained HTML page (charts, sortable and filterable flow table) to open
  # on an air-gapped server; at most 20000 flow records, the unexplained and failed first
  portclass analyze --html-max-flows 20000 -o report.html captures/

  # the flow records as Parquet for SQL, and also to an IPFIX collector (nfcapd)
  portclass analyze -o flows.parquet --ipfix collector.example.net:4739 capture.pcapng`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.analyze(cmd.Context(), args)
		},
	}
	fs := cmd.Flags()
	fs.StringP("format", "f", "", "report format: "+fmt.Sprint(reports.Formats())+" (default: from -o's extension; text on a terminal, else json)")
	fs.StringP("output", "o", "", "write the report to FILE atomically instead of stdout")
	fs.Int("top", 10, "entries per breakdown (services, ports, talkers, ...); 0 for all")
	fs.Bool("no-flows", false, "leave the flow records out: json keeps the breakdowns only (merge and diff refuse it), ndjson and csv are empty, html has no flow table (text and md never list flows)")
	widthFlag(fs)
	htmlFlag(fs)
	exportFlags(fs)
	fs.Int("sweep-hosts", reports.DefaultSweepHosts, "list a client under sweeps when it failed to reach this many distinct servers (Zeek's address-scan threshold)")
	fs.Int("sweep-ports", reports.DefaultSweepPorts, "... or this many distinct ports (Zeek's port-scan threshold)")
	unexpectedFlags(fs)
	addPipelineFlags(fs)
	return cmd
}

// unexpectedFlags adds the flags of what explains traffic in the unexpected section
// to the flags of a command that writes summaries from captures.
func unexpectedFlags(fs *pflag.FlagSet) {
	fs.String("policy", "", "policy file (YAML, as verify reads it): the traffic its rules allow or require is not unexpected, and its inventory declares Veeam roles")
	fs.StringSlice("baseline", classify.DefaultBaseline, "infrastructure services whose ports explain traffic the payload does not contradict (names, or tcp/PORT, udp/LO-HI); '' for none")
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
	tunnelFlags(fs)
	fs.Duration("tcp-timeout", 5*time.Minute, "TCP idle timeout (by packet time)")
	fs.Duration("udp-timeout", time.Minute, "UDP idle timeout")
	fs.Duration("icmp-timeout", time.Minute, "ICMP idle timeout")
	fs.Duration("other-timeout", time.Minute, "idle timeout of other IP protocols")
	keyFlag(fs, "tcp-timeout", "timeouts.tcp")
	keyFlag(fs, "udp-timeout", "timeouts.udp")
	keyFlag(fs, "icmp-timeout", "timeouts.icmp")
	keyFlag(fs, "other-timeout", "timeouts.other")
}

// tunnelFlags adds --tunnel-ports and --no-decap.
func tunnelFlags(fs *pflag.FlagSet) {
	fs.StringSlice("tunnel-ports", defaultTunnelPorts(), "UDP destination ports decapsulated, as PORT=TYPE (TYPE: vxlan, vxlan-gpe, geneve, teredo, gtp-u, mpls-udp); GRE, ERSPAN and IP-in-IP are found by IP protocol. An empty list: none on UDP")
	fs.Bool("no-decap", false, "do not decapsulate tunnels: each packet's flow is its outermost IP packet (a VXLAN mirror is then one UDP flow)")
}

// pipelineOptions are the pipeline's options from configuration cfg.
func (a *app) pipelineOptions(cfg *Config) (pipeline.Options, error) {
	eph, err := cfg.ephemeralRanges()
	if err != nil {
		return pipeline.Options{}, fmt.Errorf("config %w", err)
	}
	tp, err := parseTunnelPorts(cfg.TunnelPorts)
	if err != nil {
		return pipeline.Options{}, fmt.Errorf("config tunnel-ports: %w", err)
	}
	o := pipeline.Options{
		TunnelPorts: tp, NoDecap: cfg.NoDecap,
		Filter: cfg.Filter, Workers: cfg.Workers, MaxFlows: cfg.MaxFlows,
		SpillAfter: cfg.SpillAfter, TempDir: cfg.TempDir,
		Timeouts:  pipeline.Timeouts{TCP: cfg.Timeouts.TCP, UDP: cfg.Timeouts.UDP, ICMP: cfg.Timeouts.ICMP, Other: cfg.Timeouts.Other},
		Ephemeral: eph, Services: cfg.Services, Veeam: cfg.Veeam, Inventory: veeam.Inventory(cfg.Inventory),
		Baseline: cfg.Baseline,
		Top:      cfg.Top, SweepHosts: cfg.SweepHosts, SweepPorts: cfg.SweepPorts, NoFlows: cfg.NoFlows,
		Strict: cfg.Strict, Output: cfg.Output, Stdin: a.stdin, Log: a.log,
	}
	if len(o.Baseline) == 0 { // set empty by the user: no baseline (nil would be the default)
		o.Baseline = []string{}
	}
	if !cfg.Quiet && isTerminal(a.stderr) {
		o.Progress = a.stderr
	}
	return o, nil
}

// reportPipeline builds the pipeline of a command that writes summaries from
// captures (analyze, capture): newPipeline, with the policy of the configuration
// when it names one (see pipeline.WithPolicy).
func (a *app) reportPipeline(cfg *Config) (*pipeline.Pipeline, error) {
	if cfg.Policy == "" {
		return a.newPipeline(cfg)
	}
	pol, err := a.loadPolicy(cfg)
	if err != nil {
		return nil, err
	}
	o, err := a.pipelineOptions(cfg)
	if err != nil {
		return nil, usageErr(err)
	}
	return a.pipelineOf(pipeline.WithPolicy(o, pol))
}

// newPipeline builds the pipeline of configuration cfg; its errors are usage errors.
func (a *app) newPipeline(cfg *Config) (*pipeline.Pipeline, error) {
	o, err := a.pipelineOptions(cfg)
	if err != nil {
		return nil, usageErr(err)
	}
	return a.pipelineOf(o)
}

// pipelineOf builds the pipeline of o; its errors are usage errors.
func (a *app) pipelineOf(o pipeline.Options) (*pipeline.Pipeline, error) {
	p, err := pipeline.New(o)
	if err != nil {
		var se *filter.SyntaxError
		if !errors.As(err, &se) {
			err = fmt.Errorf("config %w", err)
		}
		return nil, usageErr(err)
	}
	return p, nil
}

// inputs expands and checks the command line's inputs, then checks -o against them
// (see checkOutput), before anything is read.
func (a *app) inputs(p *pipeline.Pipeline, cfg *Config, args []string) (pipeline.Inputs, error) {
	in, err := p.Inputs(args)
	if err != nil {
		return in, usageErr(err)
	}
	if err := a.checkOutput(cfg.Output, append(in.Files, cfg.Policy)...); err != nil {
		return in, err
	}
	return in, nil
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
	exp, err := a.exporter()
	if err != nil {
		return err
	}
	p, err := a.reportPipeline(&a.cfg)
	if err != nil {
		return err
	}
	in, err := a.inputs(p, &a.cfg, args)
	if err != nil {
		return err
	}
	r, err := p.Read(ctx, in)
	if err != nil {
		return runErr(err)
	}
	defer r.Close()
	if fe, ok := enc.(reports.FlowEncoder); ok {
		return a.analyzeFlows(ctx, r, fe, exp)
	}
	s, err := r.Summary()
	if err != nil {
		return runErr(err)
	}
	if r.Err() != nil {
		s.MarkInterrupted(interruption(ctx))
	}
	// The export reads the records on its own, so that a collector that is slow or
	// down can neither delay nor spoil the report: beside the report when more than
	// one core may be used (it reads the spool and classifies again: on the
	// flow-heavy capture that took a third of the time of a json report after it),
	// after it on one core. An interrupted run exports what it read.
	var exported chan error
	if exp != nil && a.cfg.Workers != 1 && runtime.GOMAXPROCS(0) > 1 {
		exported = make(chan error, 1)
		go func() { exported <- exp.Export(s) }()
	}
	export := func() error {
		if exp == nil {
			return nil
		}
		defer exp.Close()
		if exported != nil {
			return <-exported
		}
		return exp.Export(s)
	}
	if err := a.writeReport(enc, s); err != nil {
		if exported != nil {
			_ = export() // its goroutine ends before the run's spool is closed
		}
		return err
	}
	if err := export(); err != nil {
		return err
	}
	return a.interrupted(r.Err(), "report", s.InterruptedReason)
}

// analyzeFlows is the end of analyze for a report of the flow records alone (parquet):
// the file is written in the pass over the records that aggregates the summary, so
// that they are read from the spool and classified once, not twice (on the
// flow-heavy capture that took a third of the time of the report). The IPFIX export,
// which takes the records from the summary, follows the report.
func (a *app) analyzeFlows(ctx context.Context, r *pipeline.Run, enc reports.FlowEncoder, exp *pipeline.Exporter) error {
	var s *reports.Summary
	err := a.writeOutput(a.cfg.Output, func(w io.Writer) error {
		return enc.EncodeFlows(w, func(yield func(*classify.Flow) error) error {
			var err error
			s, err = r.SummaryAnd(yield)
			return err
		}, r.Err() != nil)
	})
	if exp != nil {
		defer exp.Close()
	}
	if err != nil {
		return runErr(err)
	}
	if r.Err() != nil {
		s.MarkInterrupted(interruption(ctx))
	}
	if exp != nil {
		if err := exp.Export(s); err != nil {
			return err
		}
	}
	return a.interrupted(r.Err(), "report", s.InterruptedReason)
}

// interruption is the reason a run whose reading ctx interrupted gives in its report:
// the signal, and what the report covers.
func interruption(ctx context.Context) string {
	what := "interrupted"
	var sc *signalCause
	if errors.As(context.Cause(ctx), &sc) {
		what = sc.Error()
	}
	return what + " while the inputs were read: only the packets read before it are counted"
}

// incompleteError is the exit status of a command whose report (or policy) it wrote
// covers only part of its inputs: run logs it as the last line on stderr, a warning,
// which is all that says so for the formats without room for the mark (csv, ndjson).
type incompleteError struct {
	what   string // "report", "verification", "policy", "diff"
	output string // the -o file, "" for standard output
	reason string
}

func (e *incompleteError) Error() string {
	where := "on standard output"
	if e.output != "" && e.output != "-" {
		where = "in " + e.output
	}
	return "the " + e.what + " " + where + " is incomplete: " + e.reason
}

// interrupted is the exit status (130) of a run that err says was interrupted while
// its inputs were read, once its report of kind what is written; nil for a run that
// was not.
func (a *app) interrupted(err error, what, reason string) error {
	if err == nil {
		return nil
	}
	return &exitError{exitSignal, &incompleteError{what, a.cfg.Output, reason}}
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

// encoderFor returns the encoder of a report format, configured (--html-max-flows,
// the IPFIX settings: see configureEncoder; --width).
func (a *app) encoderFor(format string) (reports.Encoder[*reports.Summary], error) {
	enc, err := reports.EncoderFor[*reports.Summary](format)
	if err != nil {
		return nil, err
	}
	if enc, err = a.configureEncoder(enc); err != nil {
		return nil, err
	}
	return reports.WithWidth(enc, a.reportWidth()), nil
}

// widthFlag adds --width to the flags of a command that writes text reports.
func widthFlag(fs *pflag.FlagSet) {
	fs.Int("width", 0, "fit text reports to N columns: long cells cut with …, evidence and flags under their row; 0: no limit (default: the terminal's width when the report goes to a terminal, else no limit)")
}

// reportWidth is the width text reports are fitted to (see textWidth), for a report
// that goes to -o or standard output.
func (a *app) reportWidth() int {
	var w io.Writer
	if a.cfg.Output == "" || a.cfg.Output == "-" {
		w = a.stdout
	}
	return textWidth(a.v, w)
}

// textWidth is the width setting (--width, PORTCLASS_WIDTH, width:) when one is given,
// else the terminal's width when w, where the report goes, is a terminal, else 0: a
// file or a pipe gets every line in full.
func textWidth(v *viper.Viper, w io.Writer) int {
	if v.IsSet("width") {
		return v.GetInt("width")
	}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	return 0
}

// writeReport writes s to -o atomically, or to stdout.
func (a *app) writeReport(enc reports.Encoder[*reports.Summary], s *reports.Summary) error {
	return a.writeOutput(a.cfg.Output, func(w io.Writer) error { return enc.Encode(w, s) })
}

// strictFlag adds --strict to the flags of a command that reads captures.
func strictFlag(fs *pflag.FlagSet) {
	fs.Bool("strict", false, "a file of a directory argument that is not a capture is an error (default: skipped with a warning, and listed in the report)")
}
