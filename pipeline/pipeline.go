package pipeline

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/filter"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/reports"
)

// Options is everything a pipeline is built from, as plain values. The zero value is
// usable: defaults everywhere, one worker per input, no filter, logs discarded.
type Options struct {
	Filter     string // tcpdump filter expression, "" for none
	Workers    int    // capture workers; 0: every core (see captureOptions), 1: one goroutine for everything
	MaxFlows   int    // bound on concurrent flows in memory (0: none)
	SpillAfter int    // finished flows held in memory before they spill to TempDir (0: spool.DefaultLimit)
	TempDir    string // for spilled flows ("": the system's)
	// TunnelPorts are the UDP ports decapsulated (nil: capture.DefaultTunnelPorts; an
	// empty map: none); NoDecap turns decapsulation off (capture.Options).
	TunnelPorts map[uint16]capture.TunnelType
	NoDecap     bool
	Timeouts    Timeouts      // flow idle timeouts by packet time (zero fields: capture's defaults)
	Ephemeral   []ports.Range // OS ephemeral ranges; nil: ports.DefaultEphemeral
	Services    []ports.UserService
	Veeam       veeam.Options
	Inventory   veeam.Inventory // declared Veeam roles of hosts

	// Report options of the summaries: breakdown length (0: all), sweep thresholds,
	// and whether the flow records are left out.
	Top                    int
	SweepHosts, SweepPorts int
	NoFlows                bool

	// Strict makes a file of a directory argument that is not a capture an error
	// instead of a skipped file.
	Strict bool
	// Output is the run's own report file, never read as an input ("" or "-": none).
	Output string
	// Stdin is read for the input "-".
	Stdin io.Reader
	// Progress, when set, gets a progress bar of the bytes read (a terminal).
	Progress io.Writer
	// Log gets what the pipeline says about its work; zero: nothing.
	Log zerolog.Logger
}

// Timeouts are the flow idle timeouts, by packet time (and the wall clock when live).
type Timeouts struct {
	TCP, UDP, ICMP, Other time.Duration
}

// Pipeline is the stages configured from Options; it is read-only once built and may
// run any number of times (Read, Live).
type Pipeline struct {
	opts     Options
	cls      *classify.Classifier // without Veeam rules: the flow table's server-port heuristic, ServiceName
	clsOpts  classify.Options
	matrix   *veeam.Matrix
	declared *veeam.HostSet
	filter   *filter.Filter
	log      zerolog.Logger
}

// New checks o and builds the pipeline. Errors name the setting: "veeam: ...",
// "inventory: ...", "ephemeral.linux: ...", "services[2] (x).ports: ...", or the
// filter with a caret under the fault.
func New(o Options) (*Pipeline, error) {
	if o.Log.GetLevel() == zerolog.NoLevel {
		o.Log = zerolog.Nop()
	}
	p := &Pipeline{opts: o, log: o.Log}
	m, err := veeam.DefaultMatrix().With(o.Veeam)
	if err != nil {
		return nil, fmt.Errorf("veeam: %w", err)
	}
	p.matrix = m
	if len(o.Inventory) > 0 {
		if p.declared, err = m.ParseInventory(o.Inventory); err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
	}
	p.clsOpts = classify.Options{Ephemeral: o.Ephemeral, Services: o.Services}
	if p.cls, err = classify.New(p.clsOpts); err != nil {
		return nil, err
	}
	if o.Filter != "" {
		if p.filter, err = filter.Parse(o.Filter); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Matrix is the Veeam matrix with Options.Veeam applied.
func (p *Pipeline) Matrix() *veeam.Matrix { return p.matrix }

// Filter is the parsed Options.Filter, nil without one.
func (p *Pipeline) Filter() *filter.Filter { return p.filter }

// ServiceName is the service name of a server port ("" if none): user-defined first,
// then IANA's.
func (p *Pipeline) ServiceName(proto uint8, port uint16) string {
	s, _ := p.cls.LookupService(proto, port)
	return s.Name
}

// reportOptions are the summaries' aggregation options.
func (p *Pipeline) reportOptions() reports.Options {
	return reports.Options{Top: p.opts.Top, SweepHosts: p.opts.SweepHosts, SweepPorts: p.opts.SweepPorts}
}

// captureOptions are the capture stage's options for a run over the given number of
// inputs (live capture: 1).
func (p *Pipeline) captureOptions(inputs int) capture.Options {
	workers := p.opts.Workers
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
		TCPTimeout:   p.opts.Timeouts.TCP,
		UDPTimeout:   p.opts.Timeouts.UDP,
		ICMPTimeout:  p.opts.Timeouts.ICMP,
		OtherTimeout: p.opts.Timeouts.Other,
		MaxFlows:     p.opts.MaxFlows,
		TunnelPorts:  p.opts.TunnelPorts,
		NoDecap:      p.opts.NoDecap,
		ServerPort:   p.cls.ServerPort,
		Stdin:        p.opts.Stdin,
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

// LogDuration is how durations appear in the log: a Go duration string with its unit
// ("271ms", "8.183s", "1h0m0s"), rounded to the millisecond (to the microsecond under
// a millisecond). zerolog's Dur writes a bare number of milliseconds, which a reader
// of the JSON log cannot tell from seconds.
func LogDuration(d time.Duration) string {
	if d < time.Millisecond && d > -time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}
