package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/internal/corpus"
)

// writeMix writes a generated mix capture into dir and returns its path.
func writeMix(t *testing.T, dir, name string, s synth.Scenario, o synth.FileOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.Write(&buf, s, o); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// smallQueues makes the parallel inputs hand over flows two at a time through a queue
// of one batch, so that the workers ahead of the emitter wait (back-pressure) all the
// time.
func smallQueues(t *testing.T) {
	b, q := inputBatch, inputQueue
	inputBatch, inputQueue = 2, 1
	t.Cleanup(func() { inputBatch, inputQueue = b, q })
}

// mixInputs is a set of inputs of different sizes, formats and link types, one of
// them cut short.
func mixInputs(t *testing.T) []string {
	dir := t.TempDir()
	var paths []string
	for i, fo := range []synth.FileOptions{
		{Format: synth.FormatPcap, LinkType: LinkEthernet},
		{Format: synth.FormatPcapng, LinkType: LinkEthernet, Nano: true},
		{Format: synth.FormatPcap, LinkType: LinkLinuxSLL, Snaplen: 96},
		{Format: synth.FormatPcap, LinkType: LinkEthernet, BigEndian: true},
	} {
		s := synth.Scenario{Kind: synth.KindMix, Seed: uint64(10 + i), Packets: 5_000 * (i + 1), Flows: 300 * (i + 1)}
		paths = append(paths, writeMix(t, dir, string(rune('a'+i))+".cap", s, fo))
	}
	// A capture cut in the middle of a record: read up to the damage, with a warning.
	data, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "e-cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)*2/3+7], 0o644); err != nil {
		t.Fatal(err)
	}
	return append(paths, cut)
}

// TestInputsParallel: with several inputs, workers read whole inputs side by side;
// the flows, their order and every input's stats are exactly those of one worker,
// with the default queues and with queues so small that the workers ahead wait.
func TestInputsParallel(t *testing.T) {
	paths := mixInputs(t)
	short := Options{TCPTimeout: 300 * time.Millisecond, UDPTimeout: 100 * time.Millisecond}
	t.Run("default", func(t *testing.T) { sameFlows(t, paths, Options{}, nil) })
	t.Run("short-timeouts", func(t *testing.T) { sameFlows(t, paths, short, nil) })
	t.Run("back-pressure", func(t *testing.T) {
		smallQueues(t)
		sameFlows(t, paths, Options{}, nil)
	})
	t.Run("max-flows", func(t *testing.T) {
		// MaxFlows is shared out between the workers, as between the shards of one
		// input: the evictions differ from one worker's, but every packet is counted.
		o := Options{MaxFlows: 50}
		for _, w := range []int{1, 2, 3} {
			o.Workers = w
			_, st := runFlows(t, paths, o)
			if len(st) != len(paths) {
				t.Fatalf("workers=%d: %d inputs reported, want %d", w, len(st), len(paths))
			}
		}
	})
}

// TestInputsParallelCorpus runs every readable capture of the shared corpus as the
// inputs of one run: the same flows, in the same order, for 1, 2 and 3 workers.
func TestInputsParallelCorpus(t *testing.T) {
	dir, entries := corpus.Manifest(t)
	var paths []string
	for _, e := range entries {
		if !e.Unreadable() {
			paths = append(paths, filepath.Join(dir, e.Path))
		}
	}
	sameFlows(t, paths, Options{}, nil)
}

// goroutinesSettle waits until no more goroutines run than before (the workers of a
// run have returned), failing after a second.
func goroutinesSettle(t *testing.T, before int) {
	t.Helper()
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines left running, %d before the run", runtime.NumGoroutine(), before)
}

// TestInputsParallelErrors: an input that is not a capture stops a parallel run as it
// stops a sequential one: the flows of the inputs before it are emitted, none after,
// the error names it, and no worker is left running.
func TestInputsParallelErrors(t *testing.T) {
	paths := mixInputs(t)
	bad := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(bad, []byte("not a capture at all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := []string{paths[0], paths[1], bad, paths[2], paths[3]}
	smallQueues(t) // the inputs after the bad one are read ahead and wait
	var want []string
	for _, w := range []int{1, 2, 3} {
		before := runtime.NumGoroutine()
		var got []string
		res, err := Run(context.Background(), in, Options{Workers: w}, func(f *Flow) { got = append(got, fmt.Sprintf("%+v", *f)) })
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Path != bad {
			t.Fatalf("workers=%d: error %v, want a FormatError for %s", w, err, bad)
		}
		if len(res.Inputs) != 2 {
			t.Errorf("workers=%d: %d inputs reported, want the 2 before the bad one", w, len(res.Inputs))
		}
		if w == 1 {
			want = got
		} else if len(got) != len(want) {
			t.Errorf("workers=%d: %d flows emitted, one worker %d", w, len(got), len(want))
		}
		goroutinesSettle(t, before)
	}
}

// TestInputsParallelCancel: cancelling a parallel run stops it, returns the context's
// error with the inputs read so far, and leaves no worker running.
func TestInputsParallelCancel(t *testing.T) {
	paths := mixInputs(t)
	smallQueues(t)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	res, err := Run(ctx, paths, Options{Workers: 3}, func(*Flow) {
		if n++; n == 100 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if len(res.Inputs) == 0 || len(res.Inputs) == len(paths) {
		t.Errorf("%d inputs reported of %d: want those up to the cancellation", len(res.Inputs), len(paths))
	}
	goroutinesSettle(t, before)
}

// TestPcapByteOrders: a capture written in either byte order, with either timestamp
// resolution, gives the same flows and counts.
func TestPcapByteOrders(t *testing.T) {
	dir := t.TempDir()
	s := synth.Scenario{Kind: synth.KindMix, Seed: 5, Packets: 3_000, Flows: 200}
	var want []string
	var wantSt InputStats
	for i, fo := range []synth.FileOptions{
		{Format: synth.FormatPcap, LinkType: LinkEthernet},
		{Format: synth.FormatPcap, LinkType: LinkEthernet, BigEndian: true},
		{Format: synth.FormatPcap, LinkType: LinkEthernet, Nano: true},
		{Format: synth.FormatPcap, LinkType: LinkEthernet, Nano: true, BigEndian: true},
	} {
		path := writeMix(t, dir, fmt.Sprintf("%d.pcap", i), s, fo)
		flows, st := runFlows(t, []string{path}, Options{Workers: 1})
		for j := range flows {
			flows[j] = strings.ReplaceAll(flows[j], path, "F")
		}
		if i == 0 {
			want, wantSt = flows, st[0]
			if len(want) == 0 || wantSt.Packets != 3_000 {
				t.Fatalf("%d flows, %d packets", len(want), wantSt.Packets)
			}
			continue
		}
		if !slices.Equal(flows, want) {
			t.Errorf("%+v: the flows differ from the little-endian file's", fo)
		}
		if got := st[0]; got.Packets != wantSt.Packets || got.Bytes != wantSt.Bytes || got.FirstTS != wantSt.FirstTS || got.LastTS != wantSt.LastTS {
			t.Errorf("%+v: %d packets, %d bytes, %d-%d; want %d, %d, %d-%d", fo, got.Packets, got.Bytes, got.FirstTS, got.LastTS,
				wantSt.Packets, wantSt.Bytes, wantSt.FirstTS, wantSt.LastTS)
		}
	}
}
