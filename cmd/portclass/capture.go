package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"golang.org/x/net/bpf"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/pipeline"
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
is counted once (the kernel's copy of outgoing packets is dropped, as libpcap does).

--ipfix HOST:PORT (UDP; udp:// or tcp:// to choose) sends the flow records of every
report to an IPFIX collector after the report is written: ended flows and the status
records of open ones, with the counts since their previous record (flowEndReason
"active timeout"), so --every is the export's active timeout. A collector that is down
costs no report: it is a warning, and portclass_ipfix_messages_total{result="failed"}
counts it. See docs/scale.md.`,
		Example: `  # one minute on eth0, then a text report
  sudo portclass capture -i eth0 --duration 1m

  # a backup window on two interfaces, only the Veeam data movers, hourly JSON reports
  sudo portclass capture -i eth0 -i eth1 --filter 'tcp portrange 2500-3300 or tcp port 6162' \
      --every 1h -o '/var/lib/portclass/report-%Y%m%dT%H%M%S.json' --user portclass

  # a sensor: every interface, Prometheus metrics, evidence in 100 MiB pcapng files
  portclass capture -i any --metrics 127.0.0.1:9187 --every 15m -o /var/lib/portclass/latest.json \
      --write /var/lib/portclass/evidence.pcapng --write-max-size 100MiB --write-max-files 20

  # a sensor for a flow collector: every minute's records to nfcapd, verdicts under your PEN
  portclass capture -i any --every 1m --ipfix collector.example.net:4739 --ipfix-pen 32473 \
      --format ndjson -o '/var/lib/portclass/flows-%Y%m%dT%H%M.ndjson'`,
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
	for _, name := range []string{"filter", "format", "output", "top", "width", "workers", "max-flows", "no-flows", "sweep-hosts", "sweep-ports",
		"spill-after", "temp-dir", "tunnel-ports", "no-decap", "tcp-timeout", "udp-timeout", "icmp-timeout", "other-timeout",
		"ipfix", "ipfix-pen", "ipfix-message-size", "ipfix-domain"} {
		f := *shared.Lookup(name)
		switch name {
		case "filter":
			f.Usage = "tcpdump filter expression, compiled to classic BPF and run in the kernel (e.g. 'tcp port 443 and not host 192.0.2.1')"
		case "output":
			f.Usage = "write the reports to FILE atomically instead of stdout; strftime verbs (%Y%m%dT%H%M%S) make one file per interval"
		case "ipfix":
			f.Usage = "also export the flow records of every report (--every) to this IPFIX collector: HOST:PORT (UDP), udp://HOST:PORT or tcp://HOST:PORT; status records of open flows carry the counts since their previous record"
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
	enc, err := a.encoderFor(format)
	if err != nil {
		return usageErr(err)
	}
	exp, err := a.exporter()
	if err != nil {
		return err
	}
	if exp != nil {
		defer exp.Close()
	}
	p, err := a.newPipeline(cfg) // an invalid filter fails here, before anything is opened
	if err != nil {
		return err
	}
	lo, err := a.liveOptions(p)
	if err != nil {
		return usageErr(err)
	}
	if err := pipeline.CheckPattern(cfg.Output); err != nil {
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
	var ms *pipeline.Metrics
	if cc.Metrics != "" {
		if ms, err = pipeline.ServeMetrics(cc.Metrics, a.log); err != nil {
			return usageErr(err)
		}
		defer ms.Close()
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
	s := p.NewSession(pipeline.SessionOptions{Encoder: enc, Output: cfg.Output, Stdout: a.stdout,
		Every: cc.Every, Marks: lo.Every, Count: cc.Count, Duration: cc.Duration, Metrics: ms, Interfaces: cc.Interfaces,
		Export: exp})
	a.log.Info().Strs("interfaces", names).Int("snaplen", lo.Snaplen).Str("filter", cfg.Filter).
		Str("every", pipeline.LogDuration(cc.Every)).Msg("capturing")
	return s.Run(ctx, live)
}

// liveOptions turns the configuration into the live capture's options.
func (a *app) liveOptions(p *pipeline.Pipeline) (capture.LiveOptions, error) {
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
	n, err := pipeline.ParseSize(cc.BufferSize)
	if err != nil {
		return lo, fmt.Errorf("--buffer-size: %w", err)
	}
	lo.BufferSize = int(n)
	if lo.WriteMaxSize, err = pipeline.ParseSize(cc.WriteMaxSize); err != nil {
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
	if f := p.Filter(); f != nil {
		lo.KernelFilter = func(lt uint16, snap uint32) ([]bpf.Instruction, error) { return f.Compile(lt, snap) }
	}
	return lo, nil
}
