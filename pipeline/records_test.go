package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports"
)

// TestRecordIter: records classified ahead by another goroutine are the records of
// the sequential iteration, in the same order, many batches long; on either path a
// caller that stops early gets its error back, at its record, and no goroutine is
// left; an error of the spool's iteration comes back as it is.
func TestRecordIter(t *testing.T) {
	var buf bytes.Buffer
	s := synth.Scenario{Kind: synth.KindMix, Seed: 5, Packets: 60_000, Flows: 4_000}
	if err := synth.Write(&buf, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: capture.LinkEthernet}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mix.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := New(benchConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	var flows []capture.Flow
	if _, err := capture.Run(context.Background(), []string{path}, p.captureOptions(1), func(f *capture.Flow) { flows = append(flows, *f) }); err != nil {
		t.Fatal(err)
	}
	if len(flows) < 10*recordBatch || len(flows)%serialBatch == 0 || len(flows)%recordBatch == 0 {
		t.Fatalf("%d flows: too few for many batches, or no short batch at the end", len(flows))
	}
	each := func(fn func(*capture.Flow) error) error {
		for i := range flows {
			if err := fn(&flows[i]); err != nil {
				return err
			}
		}
		return nil
	}
	collect := func(it reports.FlowIter) []string {
		var out []string
		if err := it(func(r *classify.Flow) error { out = append(out, fmt.Sprintf("%+v", *r)); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := collect(recordIter(each, p.cls, false))
	got := collect(recordIter(each, p.cls, true))
	if len(got) != len(want) {
		t.Fatalf("%d records ahead, %d in order", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d differs:\n got %s\nwant %s", i, got[i], want[i])
		}
	}

	// Either way, in batches (the serial one's are serialBatch records, the other's
	// recordBatch): the caller's error stops the iteration at its record, and the
	// spool's error comes back.
	for _, ahead := range []bool{false, true} {
		before := runtime.NumGoroutine()
		stop := errors.New("enough")
		for _, at := range []int{3*recordBatch + 5, len(flows)} { // the last record: in the last, short batch
			n := 0
			err = recordIter(each, p.cls, ahead)(func(*classify.Flow) error {
				if n++; n == at {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) || n != at {
				t.Errorf("ahead %v: stopped after %d records with %v, want %d and %v", ahead, n, err, at, stop)
			}
		}
		for i := 0; runtime.NumGoroutine() > before; i++ {
			if i == 100 {
				t.Fatalf("ahead %v: %d goroutines left, %d before", ahead, runtime.NumGoroutine(), before)
			}
			time.Sleep(10 * time.Millisecond)
		}

		broken := errors.New("spill file damaged")
		n, got := 0, 0
		err = recordIter(func(fn func(*capture.Flow) error) error {
			if err := each(func(f *capture.Flow) error {
				if n++; n > 1000 {
					return broken
				}
				return fn(f)
			}); err != nil {
				return err
			}
			return nil
		}, p.cls, ahead)(func(*classify.Flow) error { got++; return nil })
		if !errors.Is(err, broken) || got > 1000 {
			t.Errorf("ahead %v: error %v after %d records, want the iteration's %v", ahead, err, got, broken)
		}
	}
}
