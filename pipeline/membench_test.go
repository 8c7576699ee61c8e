package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/reports"
)

// BenchmarkAnalyzeMemory shows that analyze's memory depends on the concurrent flows,
// not on the size of the input: the mix scenario keeps its packet rate and flow rate
// (so the same number of flows is open at any time) while the capture gets 4× and 16×
// longer; idle timeouts of 2 s keep the open flows constant. It reports the peak live heap (as marked by each garbage collection) during the whole run (read, inference,
// classification, JSON encoding to io.Discard) and bytes per flow of the input, with
// the flows spilled beyond 1000 (--spill-after 1000).
func BenchmarkAnalyzeMemory(b *testing.B) {
	for _, scale := range []int{1, 4, 16} {
		packets, flows := 100_000*scale, 2_000*scale
		// The capture is read from a file, as analyze reads it, so that the heap holds
		// only what analyze itself keeps.
		path := filepath.Join(b.TempDir(), "mix.pcap")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		s := synth.Scenario{Kind: synth.KindMix, Seed: 1, Packets: packets, Flows: flows}
		w := bufio.NewWriter(f)
		if err := synth.Write(w, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: capture.LinkEthernet}); err != nil {
			b.Fatal(err)
		}
		if err := errors.Join(w.Flush(), f.Close()); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("flows=%d", flows), func(b *testing.B) {
			// Timeouts of 2 s keep the flows open at any time constant as the capture
			// grows (the default 5 min would hold every flow of these short captures).
			to := 2 * time.Second
			p, err := New(Options{Top: 10, Workers: 1, SpillAfter: 1_000, TempDir: b.TempDir(),
				Timeouts: Timeouts{TCP: to, UDP: to, ICMP: to, Other: to}})
			if err != nil {
				b.Fatal(err)
			}
			var peak uint64
			var nflows uint64
			for b.Loop() {
				runtime.GC()
				base := heapBytes()
				stop := sampleHeap(&peak)
				o := p.captureOptions(1)
				an := p.newRun(func(error) {})
				res, err := capture.Run(context.Background(), []string{path}, o, an.add)
				if err != nil {
					b.Fatal(err)
				}
				sum, err := an.summary(res, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := (reports.JSON{}).Encode(io.Discard, sum); err != nil {
					b.Fatal(err)
				}
				nflows = sum.Totals.Flows
				an.Close()
				stop()
				peak -= min(peak, base)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(nflows), "flows")
			b.ReportMetric(float64(peak)/float64(nflows), "peak-heap-bytes/flow")
		})
	}
}

// heapBytes is the live heap as the last garbage collection marked it.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap records the largest live heap (bytes in heap objects) seen every
// millisecond into *peak until the returned function is called.
func sampleHeap(peak *uint64) func() {
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			if v := heapBytes(); v > *peak {
				*peak = v
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return func() { done.Store(true); wg.Wait() }
}
