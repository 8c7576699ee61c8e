package capture

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/portclass/portclass/capture/synth"
)

// TestRunFlushInterrupted: a run cancelled while the flows open at the end of an input
// it read to the end are emitted stops emitting within 1024 flows per worker and
// returns ErrFlushInterrupted; cancelled while reading, it still emits every open flow.
func TestRunFlushInterrupted(t *testing.T) {
	s := synth.Scenario{Kind: synth.KindMix, Seed: 3, Packets: 200_000, Flows: 120_000}
	path := writeMix(t, t.TempDir(), "open.pcap", s, synth.FileOptions{Format: synth.FormatPcap, LinkType: LinkEthernet, Snaplen: 96})
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			var open, all int
			_, err := Run(context.Background(), []string{path}, Options{Workers: workers}, func(f *Flow) {
				all++
				if f.End == EndInput {
					open++
				}
			})
			// A worker of several hands its flows over in batches of flushBatch, of
			// which a few may be on their way when the run is cancelled.
			limit := 1024 + (workers-1)*6*flushBatch
			if err != nil || open < 2*workers*limit {
				t.Fatalf("%v; %d flows open at the end, want more than %d for this test", err, open, 2*workers*limit)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var after, n int
			_, err = Run(ctx, []string{path}, Options{Workers: workers}, func(f *Flow) {
				n++
				if f.End != EndInput {
					return
				}
				if ctx.Err() != nil {
					after++
				}
				cancel() // at the first flow of the flush
			})
			if !errors.Is(err, ErrFlushInterrupted) || !errors.Is(err, context.Canceled) {
				t.Fatalf("Run returned %v, want ErrFlushInterrupted wrapping context.Canceled", err)
			}
			if after > workers*limit {
				t.Errorf("%d of %d open flows emitted after the cancellation, want at most %d", after, open, workers*limit)
			}
			if n >= all {
				t.Errorf("every flow was emitted (%d)", n)
			}
		})
	}
}
