package main

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

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"golang.org/x/net/bpf"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/reports"
)

// CaptureConfig is the configuration of the capture command (key "capture" in
// portclass.yaml, PORTCLASS_CAPTURE_* in the environment).
type CaptureConfig struct {
	Interfaces    []string      `mapstructure:"interfaces"`
	Snaplen       int           `mapstructure:"snaplen"`
	Promisc       bool          `mapstructure:"promisc"`
	BufferSize    string        `mapstructure:"buffer-size"`
	Duration      time.Duration `mapstructure:"duration"`
	Count         uint64        `mapstructure:"count"`
	Every         time.Duration `mapstructure:"every"`
	Write         string        `mapstructure:"write"`
	WriteMaxSize  string        `mapstructure:"write-max-size"`
	WriteMaxFiles int           `mapstructure:"write-max-files"`
	Metrics       string        `mapstructure:"metrics"`
	MetricsEvery  time.Duration `mapstructure:"metrics-every"`
	User          string        `mapstructure:"user"`
}

// Defaults of the capture command.
const (
	defaultMetricsEvery = 10 * time.Second
	// dropWarn is the share of packets the kernel may drop before portclass warns.
	dropWarn = 0.001
)

func captureDefaults(v *viper.Viper) {
	v.SetDefault("capture.interfaces", []string{})
	v.SetDefault("capture.snaplen", capture.DefaultSnaplen)
	v.SetDefault("capture.promisc", false)
	v.SetDefault("capture.buffer-size", "8MiB")
	v.SetDefault("capture.duration", time.Duration(0))
	v.SetDefault("capture.count", 0)
	v.SetDefault("capture.every", time.Duration(0))
	v.SetDefault("capture.write", "")
	v.SetDefault("capture.write-max-size", "0")
	v.SetDefault("capture.write-max-files", 0)
	v.SetDefault("capture.metrics", "")
	v.SetDefault("capture.metrics-every", defaultMetricsEvery)
	v.SetDefault("capture.user", "")
}

func (a *app) captureCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "capture -i IFACE ...",
		Short: "Classify live traffic on Linux interfaces; reports per interval, Prometheus metrics",
		Long: `capture reads packets from one or more network interfaces (Linux AF_PACKET with a
TPACKET_V3 ring; no libpcap), groups them into flows and classifies them as analyze does.

It stops at --duration, after --count packets, or at SIGINT/SIGTERM, and always writes a
final report; a second signal exits at once. With --every, a report is written for every
interval of the wall clock (aligned: --every 1h writes at every full hour), to stdout, to
one -o file replaced atomically, or to one file per interval when -o holds strftime
verbs (%Y %m %d %H %M %S %j %s, UTC, the interval's start). Flows keep their state
across intervals: a flow still open at the end of an interval appears in its report as a
status record with "end": "active" holding the packets and bytes since its previous
record, so summing (or portclass merge-ing) the interval reports gives the whole capture.
Idle flows expire by their timeouts on the wall clock too, so memory stays flat.

--filter (tcpdump syntax) is compiled to classic BPF and runs in the kernel, so the
same expression keeps the same packets as analyze --filter on a file. Only the first
--snaplen bytes of each packet are kept (the headers; enough for every flow field).
The kernel's received and dropped counters are in every report and in the log; more
than 0.1 % dropped is a warning (raise --buffer-size, or filter).

Privileges: CAP_NET_RAW (and CAP_NET_ADMIN for --promisc). Run as root, or once:
  sudo setcap cap_net_raw,cap_net_admin=eip $(command -v portclass)
--user NAME drops root for the user NAME once the sockets are open, before any file
is written. The report (-o, its strftime verbs expanded now) and --write are checked as
the user that will write them before the capture starts: one that user cannot create
stops portclass at once (exit 2) rather than after the capture. On loopback each packet
is counted once (the kernel's copy of outgoing packets is dropped, as libpcap does).`,
		Example: `  # one minute on eth0, then a text report
  sudo portclass capture -i eth0 --duration 1m

  # a backup window on two interfaces, only the Veeam data movers, hourly JSON reports
  sudo portclass capture -i eth0 -i eth1 --filter 'tcp portrange 2500-3300 or tcp port 6162' \
      --every 1h -o '/var/lib/portclass/report-%Y%m%dT%H%M%S.json' --user portclass

  # a sensor: every interface, Prometheus metrics, evidence in 100 MiB pcapng files
  portclass capture -i any --metrics 127.0.0.1:9187 --every 15m -o /var/lib/portclass/latest.json \
      --write /var/lib/portclass/evidence.pcapng --write-max-size 100MiB --write-max-files 20`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.capture(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringSliceP("interface", "i", nil, `interface to capture on (repeat for several); "any" is every interface that is up, and those that come up later`)
	fs.Int("snaplen", capture.DefaultSnaplen, "bytes kept of each packet (the headers a flow needs fit in the default)")
	fs.Bool("promisc", false, "promiscuous mode: also packets not addressed to this host (needs CAP_NET_ADMIN)")
	fs.String("buffer-size", "8MiB", "kernel ring size per interface (e.g. 64MiB); raise it when the kernel drops packets")
	fs.Duration("duration", 0, "stop after this long (e.g. 10m; 0: until interrupted)")
	fs.Uint64("count", 0, "stop after this many packets (0: no limit)")
	fs.Duration("every", 0, "write a report for every interval of this length (e.g. 15m, 1h; 0: one report at the end)")
	fs.String("write", "", "keep the captured packets (cut to --snaplen) in this pcapng file")
	fs.String("write-max-size", "0", "rotate the --write file at this size (e.g. 100MiB): FILE-0001.pcapng, FILE-0002.pcapng, ...")
	fs.Int("write-max-files", 0, "with --write-max-size, keep only this many newest files (0: all)")
	fs.String("metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9187) at /metrics")
	fs.Duration("metrics-every", defaultMetricsEvery, "how often flow metrics are brought up to date")
	fs.String("user", "", "after opening the sockets, drop root privileges to this user")
	for _, name := range []string{"interface", "snaplen", "promisc", "buffer-size", "duration", "count", "every", "write", "write-max-size", "write-max-files", "metrics", "metrics-every", "user"} {
		key := name
		if name == "interface" {
			key = "interfaces"
		}
		keyFlag(fs, name, "capture."+key)
	}
	// The report and flow-table flags are analyze's, with the same keys.
	shared := a.analyzeCmd().Flags()
	for _, name := range []string{"filter", "format", "output", "top", "workers", "max-flows", "no-flows", "sweep-hosts", "sweep-ports",
		"spill-after", "temp-dir", "tcp-timeout", "udp-timeout", "icmp-timeout", "other-timeout"} {
		f := *shared.Lookup(name)
		switch name {
		case "filter":
			f.Usage = "tcpdump filter expression, compiled to classic BPF and run in the kernel (e.g. 'tcp port 443 and not host 192.0.2.1')"
		case "output":
			f.Usage = "write the reports to FILE atomically instead of stdout; strftime verbs (%Y%m%dT%H%M%S) make one file per interval"
		case "tcp-timeout", "udp-timeout", "icmp-timeout", "other-timeout":
			f.Usage = strings.Replace(f.Usage, "(by packet time)", "(by packet time and the wall clock)", 1)
		}
		fs.AddFlag(&f)
	}
	return cmd
}

// capture is the capture command.
func (a *app) capture(ctx context.Context) error {
	cfg := &a.cfg
	cc := &cfg.Capture
	format, err := a.reportFormat()
	if err != nil {
		return usageErr(err)
	}
	enc, err := reports.EncoderFor(format)
	if err != nil {
		return usageErr(err)
	}
	p, err := newPipeline(cfg, a.log) // an invalid filter fails here, before anything is opened
	if err != nil {
		return usageErr(err)
	}
	lo, err := a.liveOptions(p)
	if err != nil {
		return usageErr(err)
	}
	if err := checkPattern(cfg.Output); err != nil {
		return usageErr(err)
	}
	if err := outputNotWrite(cfg.Output, lo.Write, lo.WriteMaxSize > 0); err != nil {
		return usageErr(err)
	}
	var as *runAs
	if cc.User != "" {
		if as, err = lookupUser(cc.User); err != nil {
			return usageErr(err)
		}
	}
	var ms *metricsServer
	if cc.Metrics != "" {
		if ms, err = newMetricsServer(cc.Metrics, a.log); err != nil {
			return usageErr(err)
		}
		defer ms.close()
	}
	live, err := capture.OpenLive(lo)
	if err != nil {
		return usageErr(err)
	}
	defer live.Close()
	names := make([]string, 0, len(live.Interfaces()))
	for _, li := range live.Interfaces() {
		names = append(names, li.Name)
	}
	if as != nil {
		if err := as.drop(a.log); err != nil {
			return usageErr(err)
		}
	}
	if err := a.checkCaptureOutputs(); err != nil {
		return err
	}
	// fail stops the capture when a spool (the flows of a report, on disk when they
	// are many) cannot be written.
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	s := a.newSession(p, enc, ms, lo.Every, fail)
	if ms != nil {
		ms.m.watch(live)
	}
	opts := p.captureOptions(1)
	opts.Interval = s.interval
	a.log.Info().Strs("interfaces", names).Int("snaplen", lo.Snaplen).Str("filter", cfg.Filter).
		Str("every", logDur(cc.Every)).Msg("capturing")
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
	case cc.Count > 0 && s.whole.Packets >= cc.Count:
		why = "count reached"
	case cc.Duration > 0 && time.Since(start) >= cc.Duration:
		why = "duration reached"
	}
	w := &s.whole
	ev := a.log.Info()
	if dropped(w.KernelReceived, w.KernelDropped) {
		ev = a.log.Warn()
	}
	ev.Str("why", why).Uint64("packets", w.Packets).Uint64("kernel_received", w.KernelReceived).
		Uint64("kernel_dropped", w.KernelDropped).Uint64("flows", s.flows).Str("took", logDur(time.Since(start))).Msg("capture done")
	s.report(s.from)
	return s.wait()
}

// liveOptions turns the configuration into the live capture's options.
func (a *app) liveOptions(p *pipeline) (capture.LiveOptions, error) {
	cfg := &a.cfg
	cc := &cfg.Capture
	lo := capture.LiveOptions{
		Interfaces: cc.Interfaces, Snaplen: cc.Snaplen, Promisc: cc.Promisc,
		Count: cc.Count, Duration: cc.Duration, Write: cc.Write, WriteMaxFiles: cc.WriteMaxFiles,
		FilterExpr: cfg.Filter, Log: a.log.With().Str("component", "capture").Logger(),
	}
	if len(lo.Interfaces) == 0 {
		return lo, errors.New("capture: give at least one interface: -i IFACE (or -i any)")
	}
	if cc.Snaplen < 0 || cc.Snaplen > capture.MaxCapLen {
		return lo, fmt.Errorf("--snaplen %d: want 1 to %d", cc.Snaplen, capture.MaxCapLen)
	}
	if cc.Every < 0 || cc.Duration < 0 || cc.MetricsEvery < 0 {
		return lo, errors.New("--every, --duration and --metrics-every cannot be negative")
	}
	n, err := parseSize(cc.BufferSize)
	if err != nil {
		return lo, fmt.Errorf("--buffer-size: %w", err)
	}
	lo.BufferSize = int(n)
	if lo.WriteMaxSize, err = parseSize(cc.WriteMaxSize); err != nil {
		return lo, fmt.Errorf("--write-max-size: %w", err)
	}
	lo.Every = cc.Every
	if cc.Metrics != "" {
		m := cc.MetricsEvery
		if m == 0 {
			m = defaultMetricsEvery
		}
		// Marks come at least as often as the metrics need; reports are written at the
		// marks that fall on an --every boundary.
		if cc.Every == 0 || (cc.Every > m && cc.Every%m == 0) {
			lo.Every = m
		}
	}
	if p.filter != nil {
		f := p.filter
		lo.KernelFilter = func(lt uint16, snap uint32) ([]bpf.Instruction, error) { return f.Compile(lt, snap) }
	}
	return lo, nil
}

// session turns what a live capture emits into reports and metrics.
//
// The capture ends an interval at every mark (LiveOptions.Every). Its flow records
// are either final (the flow ended) or status records of flows still open ("active",
// counts since the flow's previous record). Records are folded per flow until a
// report is due: a final record takes the counts of the status records before it,
// and at a report boundary what is left of open flows becomes one "active" record.
// So each report has at most one record per flow, and a run without --every has
// only whole flows.
type session struct {
	a       *app
	p       *pipeline
	enc     reports.Encoder
	every   time.Duration // report interval, 0: one report at the end
	marks   time.Duration // the capture's interval (LiveOptions.Every)
	rep     *analysis     // the current report's records
	open    map[flowID]*capture.Flow
	res     capture.Result // the current report's input statistics
	from    time.Time      // start of the current report's interval
	flows   uint64         // records emitted by the capture
	whole   capture.InputStats
	metrics *metricsServer
	mark    *analysis // this mark's records, for the metrics
	mp      *pipeline // for the metrics: all records, no top
	fail    context.CancelCauseFunc

	jobs     chan func() error // reports and metrics, in order, in the background
	jobsDone chan struct{}
	jobErr   error // set by the background goroutine, read after jobsDone
}

func (a *app) newSession(p *pipeline, enc reports.Encoder, ms *metricsServer, marks time.Duration, fail context.CancelCauseFunc) *session {
	s := &session{a: a, p: p, enc: enc, every: a.cfg.Capture.Every, marks: marks, fail: fail, rep: p.newAnalysis(fail),
		open: map[flowID]*capture.Flow{}, from: time.Now(), metrics: ms}
	if ms != nil {
		mc := *p.cfg
		mc.NoFlows, mc.Top = false, 0
		mp := *p
		mp.cfg = &mc
		s.mp = &mp
		s.mark = mp.newAnalysis(fail)
	}
	return s
}

// emit takes one record from the capture.
func (s *session) emit(f *capture.Flow) {
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
func (s *session) fold(f *capture.Flow) *capture.Flow {
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
func (s *session) interval(res capture.Result) {
	in := res.Inputs[0]
	s.whole.Add(in)
	s.res.Evicted += res.Evicted
	if len(s.res.Inputs) == 0 { // a copy: res goes to the metrics in the background
		s.res.Inputs = []capture.InputStats{{Path: in.Path, Format: in.Format, Size: in.Size}}
	}
	s.res.Inputs[0].Add(in)
	if dropped(in.KernelReceived, in.KernelDropped) {
		s.a.log.Warn().Str("input", in.Path).Uint64("kernel_received", in.KernelReceived).Uint64("kernel_dropped", in.KernelDropped).
			Msgf("the kernel dropped %.2f %% of the packets: raise --buffer-size or narrow --filter", 100*float64(in.KernelDropped)/float64(in.KernelReceived))
	}
	if s.metrics != nil {
		mark := s.mark
		s.mark = s.mp.newAnalysis(s.fail)
		s.later(func() error {
			defer mark.close()
			sum, err := mark.summary(res)
			if err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
			return s.metrics.m.observe(sum)
		})
	}
	if s.every > 0 && !res.Mark.IsZero() {
		// The mark's timer fires a little after its boundary of the wall clock.
		if b := res.Mark.Round(s.marks); b.Truncate(s.every).Equal(b) {
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
func (s *session) report(from time.Time) {
	for _, f := range s.open {
		s.rep.add(f)
	}
	clear(s.open)
	rep, res := s.rep, s.res
	if len(res.Inputs) == 0 { // nothing came (the capture ended before its first interval)
		res.Inputs = []capture.InputStats{{Path: strings.Join(s.a.cfg.Capture.Interfaces, ","), Format: "live", Size: -1}}
	}
	s.rep, s.res = s.p.newAnalysis(s.fail), capture.Result{}
	s.later(func() error {
		defer rep.close()
		sum, err := rep.summary(res)
		if err != nil {
			return err
		}
		return s.write(sum, from)
	})
}

// later runs job in the session's background goroutine, after the jobs before it.
// Reports take seconds on large intervals: done in the goroutine that receives the
// capture's records, they would stall the capture until the kernel ring overflows.
func (s *session) later(job func() error) {
	if s.jobs == nil {
		s.jobs, s.jobsDone = make(chan func() error, 2), make(chan struct{})
		go func() {
			defer close(s.jobsDone)
			for j := range s.jobs {
				if err := j(); err != nil {
					s.a.log.Error().Err(err).Msg("report not written")
					s.jobErr = err
				}
			}
		}()
	}
	s.jobs <- job
}

// wait waits for the background jobs and returns the last one's error, if any.
func (s *session) wait() error {
	if s.jobs == nil {
		return nil
	}
	close(s.jobs)
	<-s.jobsDone
	return s.jobErr
}

// write writes one report.
func (s *session) write(sum *reports.Summary, from time.Time) error {
	path := s.a.cfg.Output
	if strings.Contains(path, "%") {
		path = strftime(path, from.UTC())
	}
	if s.metrics != nil {
		defer s.metrics.m.reported()
	}
	if path == "" || path == "-" {
		return s.enc.Encode(s.a.stdout, sum)
	}
	if err := reports.WriteFile(path, func(w io.Writer) error { return s.enc.Encode(w, sum) }); err != nil {
		return err // names path
	}
	s.a.log.Info().Str("file", path).Uint64("packets", sum.Totals.Packets).Uint64("records", sum.Totals.Flows).Msg("report written")
	return nil
}

func dropped(received, drops uint64) bool {
	return received > 0 && float64(drops) > dropWarn*float64(received)
}

// parseSize reads a byte size: a number with an optional unit K, M, G (powers of
// 1000) or KiB, MiB, GiB (powers of 1024); "KB" is K, "B" bytes.
func parseSize(s string) (int64, error) {
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

// checkPattern refuses an -o pattern with a verb strftime does not know.
func checkPattern(p string) error {
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

// strftime expands the verbs of checkPattern with t.
func strftime(p string, t time.Time) string {
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
