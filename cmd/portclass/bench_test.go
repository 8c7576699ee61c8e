package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rs/zerolog"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/reports"
)

// BenchmarkAnalyze is the whole analyze pipeline — read, decode, flows, Veeam
// inference, classification, aggregation and the JSON report to io.Discard — on a
// generated capture of 1M packets and 20k flows held in memory (CPU, not disk).
func BenchmarkAnalyze(b *testing.B) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("portclass-bench-mix-%d-%d-v1.pcap", synth.DefaultMixPackets, synth.DefaultMixFlows))
	data, err := os.ReadFile(path)
	if err != nil {
		var buf bytes.Buffer
		s := synth.Scenario{Kind: synth.KindMix, Seed: 1}
		if err := synth.Write(&buf, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: capture.LinkEthernet}); err != nil {
			b.Fatal(err)
		}
		data = buf.Bytes()
		os.WriteFile(path+".tmp", data, 0o644)
		os.Rename(path+".tmp", path)
	}
	for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			cfg := Config{Top: 10, Workers: w, Ephemeral: map[string]string{"linux": "32768-60999", "windows": "49152-65535"}}
			p, err := newPipeline(&cfg, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			packets, flows := 0, 0
			for b.Loop() {
				o := p.captureOptions()
				o.Stdin = bytes.NewReader(data)
				an := p.newAnalysis(func(error) {})
				res, err := capture.Run(context.Background(), []string{"-"}, o, an.add)
				if err != nil {
					b.Fatal(err)
				}
				s, err := an.summary(res)
				if err != nil {
					b.Fatal(err)
				}
				if err := (reports.JSON{}).Encode(io.Discard, s); err != nil {
					b.Fatal(err)
				}
				packets += int(res.Inputs[0].Packets)
				flows += int(s.Totals.Flows)
				an.close()
			}
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(packets), "allocs/packet")
			b.ReportMetric(float64(flows)/float64(b.N), "flows")
		})
	}
}
