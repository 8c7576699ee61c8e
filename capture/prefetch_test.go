package capture

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/portclass/portclass/capture/synth"
)

// TestPrefetchSame: a file read ahead by the fetcher gives exactly the flows and stats
// of a file read by the worker, for pcap and pcapng, whole and cut at and around every
// block boundary (records split between blocks, a header split, the file ending on a
// boundary), and for a pcapng block larger than the room a block leaves for the tail
// of the previous one (read across blocks).
func TestPrefetchSame(t *testing.T) {
	defer func(n int64) { prefetchMin = n }(prefetchMin)
	prefetchMin = 0 // these files are a few MB
	dir := t.TempDir()
	var cases []string
	for _, fo := range []synth.FileOptions{
		{Format: synth.FormatPcap, LinkType: LinkEthernet, Snaplen: 200},
		{Format: synth.FormatPcapng, LinkType: LinkEthernet, Snaplen: 200},
	} {
		var buf bytes.Buffer
		s := synth.Scenario{Kind: synth.KindMix, Seed: 9, Packets: 14_000, Flows: 500}
		if err := synth.Write(&buf, s, fo); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		if len(data) < 3*prefetchBlock {
			t.Fatalf("%d bytes: too short for several blocks", len(data))
		}
		// The fetcher starts where the block reader's first fill ended: rawBuf bytes
		// into the file (the format readers' first Peek filled the bufio reader).
		var cuts []int
		for k := 1; rawBuf+k*prefetchBlock < len(data); k++ {
			for _, d := range []int{-17, -16, -1, 0, 1, 15, 16, 17} {
				cuts = append(cuts, rawBuf+k*prefetchBlock+d)
			}
		}
		cuts = append(cuts, len(data))
		for _, n := range cuts {
			p := filepath.Join(dir, fmt.Sprintf("%s-%d", fo.Format, n))
			if err := os.WriteFile(p, data[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			cases = append(cases, p)
		}
		// Damaged copies: bytes overwritten all over (record headers among them), so
		// that reading stops or resynchronises in the middle of a block.
		r := rand.New(rand.NewPCG(uint64(len(data)), 1))
		for k := range 4 {
			d := slices.Clone(data)
			for range 40 {
				d[100+r.IntN(len(d)-100)] = byte(r.IntN(256))
			}
			p := filepath.Join(dir, fmt.Sprintf("%s-damaged-%d", fo.Format, k))
			if err := os.WriteFile(p, d, 0o644); err != nil {
				t.Fatal(err)
			}
			cases = append(cases, p)
		}
	}
	cases = append(cases, bigBlockPcapng(t, dir))
	for _, p := range cases {
		want, wantSt := runFlows(t, []string{p}, Options{Workers: 1})
		got, st := runFlows(t, []string{p}, Options{Workers: 1, Prefetch: true})
		if !slices.Equal(got, want) {
			t.Errorf("%s: read ahead, %d flows differ from %d", filepath.Base(p), len(got), len(want))
		}
		if g, w := fmt.Sprintf("%+v", st), fmt.Sprintf("%+v", wantSt); g != w {
			t.Errorf("%s: read ahead, stats differ:\n got %s\nwant %s", filepath.Base(p), g, w)
		}
	}
}

// bigBlockPcapng writes a pcapng capture with a 1.5 MB block of an unknown type (skipped
// by readers) between two runs of packets.
func bigBlockPcapng(t *testing.T, dir string) string {
	t.Helper()
	var a, b bytes.Buffer
	s := synth.Scenario{Kind: synth.KindMix, Seed: 4, Packets: 3_000, Flows: 100}
	fo := synth.FileOptions{Format: synth.FormatPcapng, LinkType: LinkEthernet, Snaplen: 200}
	if err := synth.Write(&a, s, fo); err != nil {
		t.Fatal(err)
	}
	s.Seed = 5
	if err := synth.Write(&b, s, fo); err != nil {
		t.Fatal(err)
	}
	const n = 1536 << 10
	big := make([]byte, n)
	le := func(off int, v uint32) {
		big[off], big[off+1], big[off+2], big[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	le(0, 0x00000BAD) // a custom block type nobody reads
	le(4, n)
	le(n-4, n)
	// The second capture's section header starts a new section after the big block.
	data := append(append(append([]byte(nil), a.Bytes()...), big...), b.Bytes()...)
	p := filepath.Join(dir, "big-block.pcapng")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
