package spool

import (
	"cmp"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
)

// sampleFlows are the flows of the project's sample capture, in emission order, plus
// a few made-up ones that exercise every field of the encoding.
func sampleFlows(t *testing.T) []capture.Flow {
	t.Helper()
	var out []capture.Flow
	_, err := capture.Run(context.Background(), []string{"../../testdata/sample.pcapng", "../../testdata/veeam.pcap"},
		capture.Options{Workers: 1}, func(f *capture.Flow) { out = append(out, *f) })
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 1, 15, 10, 0, 0, 123456789, time.UTC)
	out = append(out,
		capture.Flow{Proto: 47, Client: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 0),
			Server: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), 0), VLAN: 4094, State: capture.S0,
			Direction: capture.DirFirstPacket, First: ts, Last: ts.Add(time.Hour), Packets: [2]uint64{1 << 40, 0},
			Bytes: [2]uint64{1<<63 + 5, 7}, Input: "other input", End: capture.EndEvicted},
		capture.Flow{Proto: capture.ProtoUDP, Client: netip.MustParseAddrPort("192.0.2.1:5353"),
			Server: netip.MustParseAddrPort("192.0.2.2:53"), First: ts, Last: ts, Packets: [2]uint64{1, 0},
			Bytes: [2]uint64{80, 0}, State: capture.S0, End: capture.EndTimeout, Input: "other input",
			ICMPErrors: []capture.ICMPError{{Type: 3, Code: 3, From: netip.MustParseAddr("192.0.2.2"), Count: 2},
				{V6: true, Type: 1, Code: 4, Count: 1 << 31}}},
		capture.Flow{Proto: capture.ProtoTCP, First: time.Unix(0, 0).UTC(), Last: time.Unix(0, 0).UTC(), Input: ""},
		// application protocols and metadata: every string, some, any bytes at the
		// longest length
		capture.Flow{Proto: capture.ProtoTCP, Client: netip.MustParseAddrPort("192.0.2.1:40000"),
			Server: netip.MustParseAddrPort("192.0.2.2:443"), First: ts, Last: ts, Input: "other input", App: appid.TLS,
			AppMeta: &capture.AppMeta{SNI: "www.example.com", ALPN: "h2,http/1.1", HTTPHost: "h", SSHBanner: "s"}},
		capture.Flow{Proto: capture.ProtoTCP, Client: netip.MustParseAddrPort("192.0.2.1:40001"),
			Server: netip.MustParseAddrPort("192.0.2.2:22"), First: ts, Last: ts, Input: "other input", App: appid.SSH,
			AppMeta: &capture.AppMeta{SSHBanner: strings.Repeat("\x00\xff\x1b", appid.MaxMeta/3)}},
		capture.Flow{Proto: capture.ProtoUDP, Client: netip.MustParseAddrPort("192.0.2.1:40002"),
			Server: netip.MustParseAddrPort("192.0.2.2:53"), First: ts, Last: ts, Input: "other input", App: appid.DNS},
	)
	// the same flow in three tunnel paths (which CompareFlows alone tells apart), one of
	// them as deep as a path goes
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::9")
	vx := capture.Tunnel{Type: capture.TunnelVXLAN, HasID: true, ID: 1<<24 - 1, Client: a, Server: b}
	gre := capture.Tunnel{Type: capture.TunnelGRE, HasID: true, ID: 1<<32 - 1, Client: b, Server: a}
	for _, layers := range [][]capture.Tunnel{{vx}, {gre, vx}, {gre, {Type: capture.TunnelIPIP, Client: a, Server: a}, vx, {Type: capture.TunnelTeredo, Client: b, Server: b}}} {
		p, err := capture.MakeTunnelPath(layers...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, capture.Flow{Proto: capture.ProtoUDP, Client: netip.MustParseAddrPort("198.51.100.1:5000"),
			Server: netip.MustParseAddrPort("198.51.100.2:53"), Tunnel: p, First: ts, Last: ts, Packets: [2]uint64{1, 1},
			Bytes: [2]uint64{100, 100}, State: capture.SF, End: capture.EndTimeout, Input: "other input"})
	}
	if len(out) < 50 {
		t.Fatalf("only %d flows in the samples", len(out))
	}
	return out
}

func sorted(fs []capture.Flow) []capture.Flow {
	c := slices.Clone(fs)
	slices.SortStableFunc(c, func(a, b capture.Flow) int { return capture.CompareFlows(&a, &b) })
	return c
}

func collect(t *testing.T, s *Spool) []capture.Flow {
	t.Helper()
	var got []capture.Flow
	err := s.Each(func(f *capture.Flow) error {
		c := *f
		c.ICMPErrors = slices.Clone(f.ICMPErrors)
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSpoolOrderAndRoundTrip(t *testing.T) {
	flows := sampleFlows(t)
	// A record longer than a run's read buffer (64 KiB): 10,000 ICMP errors, about 100 KB.
	big := flows[0]
	big.First = big.First.Add(time.Nanosecond)
	big.ICMPErrors = make([]capture.ICMPError, 10000)
	for i := range big.ICMPErrors {
		big.ICMPErrors[i] = capture.ICMPError{Type: 3, Code: 1, From: netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)}), Count: uint32(i)}
	}
	flows = append(flows, big)
	want := sorted(flows)
	for _, limit := range []int{1, 2, 7, len(flows) - 1, len(flows), 10 * len(flows)} {
		dir := t.TempDir()
		s := New(dir, limit)
		for i := range flows {
			if err := s.Add(&flows[i]); err != nil {
				t.Fatal(err)
			}
		}
		if s.Len() != uint64(len(flows)) {
			t.Errorf("limit %d: Len %d, want %d", limit, s.Len(), len(flows))
		}
		if spilled := limit <= len(flows); s.Spilled() != spilled {
			t.Errorf("limit %d: Spilled %v, want %v", limit, s.Spilled(), spilled)
		}
		for pass := 1; pass <= 2; pass++ { // Each can be repeated
			got := collect(t, s)
			if len(got) != len(want) {
				t.Fatalf("limit %d pass %d: %d flows, want %d", limit, pass, len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("limit %d pass %d: flow %d\n got %+v\nwant %+v", limit, pass, i, got[i], want[i])
				}
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 && s.Spilled() {
			t.Errorf("limit %d: the spill file is visible in %s while open: %v", limit, dir, ents)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("limit %d: %d files left in %s after Close", limit, len(ents), dir)
		}
	}
}

func TestSpoolAddAfterEach(t *testing.T) {
	flows := sampleFlows(t)
	s := New(t.TempDir(), 5)
	defer s.Close()
	half := len(flows) / 2
	for i := range flows[:half] {
		if err := s.Add(&flows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got := collect(t, s); !reflect.DeepEqual(got, sorted(flows[:half])) {
		t.Fatal("first half differs")
	}
	for i := half; i < len(flows); i++ {
		if err := s.Add(&flows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got := collect(t, s); !reflect.DeepEqual(got, sorted(flows)) {
		t.Fatal("all flows differ")
	}
}

func TestSpoolStopsAtError(t *testing.T) {
	flows := sampleFlows(t)
	s := New(t.TempDir(), 3)
	defer s.Close()
	for i := range flows {
		if err := s.Add(&flows[i]); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.Each(func(*capture.Flow) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("Each returned %v after %d calls, want stop after 10", err, n)
	}
}

func TestSpoolUnwritableDir(t *testing.T) {
	flows := sampleFlows(t)
	s := New(filepath.Join(t.TempDir(), "missing"), 1)
	defer s.Close()
	err := s.Add(&flows[0])
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Add with a missing spill directory: %v, want a not-exist error", err)
	}
}

func TestSpoolCorruptRun(t *testing.T) {
	flows := sampleFlows(t)
	s := New(t.TempDir(), 4)
	defer s.Close()
	for i := range flows {
		if err := s.Add(&flows[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Overwrite the start of the file with address lengths no record has.
	if _, err := s.file.WriteAt([]byte{6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9}, 0); err != nil {
		t.Fatal(err)
	}
	err := s.Each(func(*capture.Flow) error { return nil })
	if !errors.Is(err, errCorrupt) {
		t.Fatalf("Each over a damaged run: %v, want errCorrupt", err)
	}
}

func BenchmarkSpool(b *testing.B) {
	base := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	const n = 100_000
	flows := make([]capture.Flow, n)
	for i := range flows {
		flows[i] = capture.Flow{Proto: capture.ProtoTCP,
			Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), uint16(40000+i%20000)),
			Server: netip.MustParseAddrPort("198.51.100.7:443"), First: base.Add(time.Duration((i*7919)%n) * time.Millisecond),
			Last: base.Add(time.Hour), Packets: [2]uint64{10, 8}, Bytes: [2]uint64{1000, 8000}, Input: "x.pcap", State: capture.SF}
	}
	for _, limit := range []int{n + 1, n / 10} {
		name := "memory"
		if limit <= n {
			name = "spilled"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := New(b.TempDir(), limit)
				for i := range flows {
					if err := s.Add(&flows[i]); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Each(func(*capture.Flow) error { return nil }); err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/flow")
		})
	}
}

// TestSpoolStableTies: flows that CompareFlows finds equal (they differ in fields it
// does not compare) come back in the order they were added, in memory and across
// spilled runs.
func TestSpoolStableTies(t *testing.T) {
	ts := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	var flows []capture.Flow
	for i := range 3000 {
		f := capture.Flow{Proto: capture.ProtoTCP, Client: netip.MustParseAddrPort("192.0.2.1:40000"),
			Server: netip.MustParseAddrPort("192.0.2.2:443"), First: ts.Add(time.Duration(i%3) * time.Second),
			Last: ts.Add(time.Hour), Packets: [2]uint64{1, 1}, Bytes: [2]uint64{60, 60}, Input: "in",
			// not compared: they tell equal flows apart
			ICMPType: uint8(i), TCPFlags: [2]uint8{uint8(i >> 8), 0}, Direction: capture.Direction(i % 4)}
		flows = append(flows, f)
	}
	want := sorted(flows)
	for _, limit := range []int{1, 7, 1000, 5000} {
		s := New(t.TempDir(), limit)
		for i := range flows {
			if err := s.Add(&flows[i]); err != nil {
				t.Fatal(err)
			}
		}
		if got := collect(t, s); !reflect.DeepEqual(got, want) {
			for i := range got {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("limit %d: flow %d: got ICMPType %d TCPFlags %v, want %d %v", limit, i,
						got[i].ICMPType, got[i].TCPFlags, want[i].ICMPType, want[i].TCPFlags)
				}
			}
			t.Fatalf("limit %d: %d flows, want %d", limit, len(got), len(want))
		}
		s.Close()
	}
}

// TestSpoolFailedSpillIsFinal: once a spill failed, Add fails at once with the same
// *SpillError, naming the directory and the space the run needed, and keeps nothing:
// retrying the spill on every flow (sorting all the flows in memory each time) made
// a full --temp-dir a near-hang.
func TestSpoolFailedSpillIsFinal(t *testing.T) {
	flows := sampleFlows(t)
	dir := filepath.Join(t.TempDir(), "missing")
	s := New(dir, 10)
	defer s.Close()
	var first error
	for i := range flows {
		err := s.Add(&flows[i])
		if i < 9 {
			if err != nil {
				t.Fatalf("flow %d: %v", i, err)
			}
			continue
		}
		var se *SpillError
		if !errors.As(err, &se) || se.Dir != dir || se.Flows != 10 || se.Need <= 0 || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("flow %d: %v (%+v), want the *SpillError of 10 flows in %s", i, err, se, dir)
		}
		if first == nil {
			first = err
		} else if err != first {
			t.Fatalf("flow %d: %v, want the first failure again", i, err)
		}
	}
	if s.Len() != 10 {
		t.Errorf("%d flows kept after the failed spill, want the 10 added before it", s.Len())
	}
	if msg := first.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "10 flows needed") {
		t.Errorf("message %q: want the directory and the space needed", msg)
	}
}

// TestRadixSort: radixSort is a stable sort by start time, over spans from none to
// the whole int64 range.
func TestRadixSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, span := range []int64{0, 1, 1000, 1 << 20, 1 << 40, math.MaxInt64} {
		for _, n := range []int{0, 1, 2, 100, 5000} {
			a := make([]addedFlow, n)
			for i := range a {
				a[i] = addedFlow{first: rng.Int64N(span/2+1) - span/4, seq: uint32(i)}
				if span == math.MaxInt64 && i%3 == 0 {
					a[i].first = []int64{math.MinInt64, math.MaxInt64, 0}[i%9/3]
				}
			}
			want := slices.Clone(a)
			slices.SortStableFunc(want, func(x, y addedFlow) int { return cmp.Compare(x.first, y.first) })
			got := radixSort(a, make([]addedFlow, n))
			if !slices.Equal(got, want) {
				t.Fatalf("span %d, %d flows: radixSort differs from a stable sort", span, n)
			}
		}
	}
}
