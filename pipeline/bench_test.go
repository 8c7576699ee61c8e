package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/reports"
)

// benchFile is the generated mix capture the benchmarks read (1M packets, 20k flows),
// kept in the temporary directory between runs.
func benchFile(b *testing.B) string {
	b.Helper()
	path, err := synth.MixFile(os.TempDir(), synth.DefaultMixPackets, synth.DefaultMixFlows)
	if err != nil {
		b.Fatal(err)
	}
	return path
}

// cpuTime is the CPU time (user and system) of the process so far: on a shared machine
// the steadier measure beside wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchConfig(workers int) Options {
	return Options{Top: 10, Workers: workers}
}

// BenchmarkAnalyze is the whole analyze pipeline — read, decode, flows, spool, Veeam
// inference, classification, aggregation and the JSON report to io.Discard — on the
// generated capture file, with one worker, as by default (every core), and sharded
// across one worker per CPU.
func BenchmarkAnalyze(b *testing.B) {
	path := benchFile(b)
	// workers=0 is the default on one input: one capture worker with the file read
	// ahead, the spool and the report's reading on other goroutines (as analyze's read).
	for _, w := range []int{1, 0, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			cfg := benchConfig(w)
			p, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			cpu0 := cpuTime()
			packets, flows := 0, 0
			for b.Loop() {
				an := p.newRun(func(error) {})
				opts := p.captureOptions(1)
				add := an.add
				var ahead *addAhead
				if w == 0 {
					an.parallel, opts.Prefetch = true, true
					ahead = newAddAhead(an.add)
					add = ahead.add
				}
				res, err := capture.Run(context.Background(), []string{path}, opts, add)
				if ahead != nil {
					ahead.close()
				}
				if err != nil {
					b.Fatal(err)
				}
				s, err := an.summary(res, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := (reports.JSON{}).Encode(io.Discard, s); err != nil {
					b.Fatal(err)
				}
				packets += int(res.Inputs[0].Packets)
				flows += int(s.Totals.Flows)
				an.Close()
			}
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(packets), "cpu-ns/packet")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(packets), "allocs/packet")
			b.ReportMetric(float64(flows)/float64(b.N), "flows")
		})
	}
}

// BenchmarkStages times the stages after the capture one by one, on the flows of the
// generated capture: Veeam evidence (Inferer.AddFlow, per flow as the capture emits
// them), inference (Inferer.Hosts), classification (Inferer.Explain, then Classify),
// records (NewRecord), records folded into an aggregator as analyze does it (without
// keeping them), and the JSON report.
// Each reports ns/flow and, spread over the capture's packets, ns/packet: the share of
// the whole pipeline's cost per packet.
func BenchmarkStages(b *testing.B) {
	path := benchFile(b)
	cfg := benchConfig(1)
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var flows []capture.Flow
	res, err := capture.Run(context.Background(), []string{path}, p.captureOptions(1), func(f *capture.Flow) { flows = append(flows, *f) })
	if err != nil {
		b.Fatal(err)
	}
	packets := float64(res.Inputs[0].Packets)
	m := p.matrix
	newInferer := func() *veeam.Inferer {
		in := m.NewInferer(p.declared)
		for i := range flows {
			in.AddFlow(&flows[i])
		}
		return in
	}
	inf := newInferer()
	inf.Hosts()
	o := p.clsOpts
	o.Explain = inf.Explain
	cls, err := classify.New(o)
	if err != nil {
		b.Fatal(err)
	}
	verdicts := make([]classify.Verdict, len(flows))
	for i := range flows {
		verdicts[i] = cls.Classify(&flows[i])
	}
	agg := reports.NewAggregator(reports.Options{Top: cfg.Top})
	for i := range flows {
		agg.Add(&classify.Flow{Flow: flows[i], Verdict: verdicts[i]})
	}
	agg.SetHosts(HostsOf(inf.Hosts()))
	summary := agg.Summary()

	stage := func(name string, fn func()) {
		b.Run(name, func(b *testing.B) {
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			cpu0 := cpuTime()
			for b.Loop() {
				fn()
			}
			runtime.ReadMemStats(&m1)
			n := float64(b.N)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n/float64(len(flows)), "ns/flow")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n/packets, "ns/packet")
			b.ReportMetric(float64(cpuTime()-cpu0)/n/packets, "cpu-ns/packet")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/n/float64(len(flows)), "allocs/flow")
		})
	}
	stage("evidence", func() { newInferer() })
	stage("infer", func() {
		in := newInferer()
		in.Hosts()
	})
	stage("classify", func() {
		for i := range flows {
			_ = cls.Classify(&flows[i])
		}
	})
	stage("aggregate", func() {
		a := reports.NewAggregator(reports.Options{Top: cfg.Top, DiscardFlows: true})
		for i := range flows {
			a.Add(&classify.Flow{Flow: flows[i], Verdict: verdicts[i]})
		}
		a.SetHosts(HostsOf(inf.Hosts()))
		_ = a.Summary()
	})
	stage("encode-json", func() {
		if err := (reports.JSON{}).Encode(io.Discard, summary); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkAfterTable is the per-flow cost of everything after the flow table, on the
// flow-heavy captures (synth's flows scenario: 500k short flows among ~66k hosts, the
// shape where per-flow work dominates; "flows" spread over 73 minutes, "burst" started
// within synth.DefaultBurstSpan, where the Veeam inference runs its rounds): the spool,
// the Veeam evidence, the inference, classification, aggregation and the report, with
// one worker: "text" writes the breakdowns only (as bench-compare's analyze --format
// text), "json" every flow record too (a second classification of every flow, read
// back from the spool). Each capture is read once, outside the timing. It reports
// ns/flow, cpu-ns/flow, allocs/flow and B/flow (heap allocated per flow), the figures
// of docs/performance.md.
func BenchmarkAfterTable(b *testing.B) {
	for _, c := range []struct {
		name string
		span time.Duration
	}{{"flows", 0}, {"burst", synth.DefaultBurstSpan}} {
		b.Run(c.name, func(b *testing.B) { benchAfterTable(b, c.span) })
	}
}

func benchAfterTable(b *testing.B, span time.Duration) {
	path, err := synth.FlowsFileSpan(os.TempDir(), synth.DefaultFlowsPackets, synth.DefaultFlowsFlows, span)
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(benchConfig(1))
	if err != nil {
		b.Fatal(err)
	}
	var flows []capture.Flow
	res, err := capture.Run(context.Background(), []string{path}, p.captureOptions(1), func(f *capture.Flow) { flows = append(flows, *f) })
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		b.Run(format, func(b *testing.B) {
			enc, err := reports.EncoderFor[*reports.Summary](format)
			if err != nil {
				b.Fatal(err)
			}
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				r := p.newRun(func(error) {})
				for i := range flows {
					r.add(&flows[i])
				}
				s, err := r.summary(res, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := enc.Encode(io.Discard, s); err != nil {
					b.Fatal(err)
				}
				r.Close()
				n += len(flows)
			}
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/flow")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/flow")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/flow")
			b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(n), "B/flow")
		})
	}
}
