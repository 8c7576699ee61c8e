package capture

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture/synth"
)

// runFlows runs paths with o and returns every flow emitted, in order, and the stats.
func runFlows(t *testing.T, paths []string, o Options) ([]string, []InputStats) {
	t.Helper()
	var flows []string
	res, err := Run(context.Background(), paths, o, func(f *Flow) { flows = append(flows, fmt.Sprintf("%+v", *f)) })
	if err != nil {
		t.Fatalf("workers=%d: %v", o.Workers, err)
	}
	for i := range res.Inputs {
		slices.Sort(res.Inputs[i].Warnings) // the only thing whose order may differ
	}
	return flows, res.Inputs
}

// sameFlows checks that workers 2 and 3 emit exactly the flows of one worker, in the
// same order, with the same stats.
func sameFlows(t *testing.T, paths []string, o Options, stdin []byte) {
	t.Helper()
	var want []string
	var wantSt []InputStats
	for _, w := range []int{1, 2, 3} {
		o.Workers = w
		if stdin != nil {
			o.Stdin = bytes.NewReader(stdin)
		}
		got, st := runFlows(t, paths, o)
		if w == 1 {
			want, wantSt = got, st
			if len(want) == 0 {
				t.Fatal("no flows")
			}
			continue
		}
		if len(got) != len(want) {
			t.Errorf("workers=%d: %d flows, one worker %d", w, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("workers=%d: flow %d of %d differs:\n got %s\nwant %s", w, i, len(want), got[i], want[i])
				break
			}
		}
		if g, wt := fmt.Sprintf("%+v", st), fmt.Sprintf("%+v", wantSt); g != wt {
			t.Errorf("workers=%d: stats differ:\n got %s\nwant %s", w, g, wt)
		}
	}
}

// TestWorkersSameFlows: the flows of a run, their order and the inputs' stats do not
// depend on the number of workers, for a file and for a stream, with short
// timeouts (so that sweeps and timeouts on arrival emit most flows) and with a filter.
func TestWorkersSameFlows(t *testing.T) {
	var buf bytes.Buffer
	s := synth.Scenario{Kind: synth.KindMix, Seed: 3, Packets: 120_000, Flows: 8_000}
	if err := synth.Write(&buf, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: LinkEthernet, Snaplen: 160}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mix.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	short := Options{TCPTimeout: 300 * time.Millisecond, UDPTimeout: 100 * time.Millisecond, ICMPTimeout: 100 * time.Millisecond}
	odd := func(uint16) (MatchFunc, error) {
		return func(frame []byte, wire int) bool { return wire%3 != 0 }, nil
	}
	for _, tt := range []struct {
		name  string
		o     Options
		stdin bool
	}{
		{"file", Options{}, false},
		{"file/short-timeouts", short, false},
		{"stream/short-timeouts", short, true},
		{"file/filter", Options{Filter: odd, UDPTimeout: 200 * time.Millisecond}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.stdin {
				sameFlows(t, []string{"-"}, tt.o, buf.Bytes())
			} else {
				sameFlows(t, []string{path}, tt.o, nil)
			}
		})
	}
}

// TestWorkersSameFlowsCorpus is TestWorkersSameFlows on every readable capture of the
// shared corpus (fragments, ICMP errors, tunnels, damaged files).
func TestWorkersSameFlowsCorpus(t *testing.T) {
	dir := corpusDir(t)
	for _, e := range readManifest(t, dir) {
		if strings.HasPrefix(e.packets, "n/a") {
			continue
		}
		t.Run(e.path, func(t *testing.T) {
			path := filepath.Join(dir, e.path)
			var o Options
			if got, _ := runFlows(t, []string{path}, Options{Workers: 1}); len(got) == 0 {
				t.Skip("no flows")
			}
			sameFlows(t, []string{path}, o, nil)
		})
	}
}
