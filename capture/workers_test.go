package capture

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/internal/corpus"
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
	dir, entries := corpus.Manifest(t)
	for _, e := range entries {
		if e.Unreadable() {
			continue
		}
		t.Run(e.Path, func(t *testing.T) {
			path := filepath.Join(dir, e.Path)
			var o Options
			if got, _ := runFlows(t, []string{path}, Options{Workers: 1}); len(got) == 0 {
				t.Skip("no flows")
			}
			sameFlows(t, []string{path}, o, nil)
		})
	}
}

// TestNoAllocsPerPacket: once its flows exist, a packet costs no allocation on the
// way through the reader, the decoder and the flow table, with one worker and with
// several (where the reader hands chunks to the workers).
func TestNoAllocsPerPacket(t *testing.T) { noAllocsPerPacket(t, nil) }

// TestNoAllocsPerTunneledPacket is TestNoAllocsPerPacket with every frame
// encapsulated: in VXLAN (four VNIs), in ERSPAN type II or in GRE with a key, so that
// the decoder enters tunnels and the stage interns eight paths, alternating.
func TestNoAllocsPerTunneledPacket(t *testing.T) {
	noAllocsPerPacket(t, func(i int, frame []byte) []byte {
		switch i % 3 {
		case 0:
			return overVXLAN(outerA, outerB, uint32(i%4), frame)
		case 1:
			return bEth(0x0800, bIP(outerC, outerB, 47, bGRE(0x10, 0, 0x88be, append([]byte{0x10, 0, 0, byte(i % 2), 0, 0, 0, 0}, frame...))))
		}
		return bEth(0x0800, bIP(outerA, outerC, 47, bGRE(0x20, uint32(i%2), 0x6558, frame)))
	})
}

// noAllocsPerPacket checks that packets of known flows allocate nothing; wrap, when
// set, encapsulates the frame of flow i.
func noAllocsPerPacket(t *testing.T, wrap func(i int, frame []byte) []byte) {
	// 300 flows (TCP established, UDP, ICMP echo; a fifth IPv6, a tenth tagged), 60
	// packets each, interleaved, within every timeout.
	var frames bytes.Buffer
	pw, err := synth.NewPcapWriter(&frames, synth.PcapOptions{LinkType: LinkEthernet})
	if err != nil {
		t.Fatal(err)
	}
	base := synth.BaseTime()
	var buf []byte
	const flows, rounds = 300, 60
	for r := range rounds {
		for i := range flows {
			p := synth.Packet{Time: base.Add(time.Duration(r*flows+i) * time.Microsecond), Proto: []uint8{synth.ProtoTCP, synth.ProtoUDP, synth.ProtoICMP}[i%3]}
			p.Src = netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 250)})
			p.Dst = netip.AddrFrom4([4]byte{198, 51, 100, byte(i / 250)})
			if i%5 == 0 && p.Proto != synth.ProtoICMP {
				p.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 14: byte(i >> 8), 15: byte(i)})
				p.Dst = netip.MustParseAddr("2001:db8::53")
			}
			if i%10 == 3 {
				p.VLAN[0] = 100
			}
			p.SrcPort, p.DstPort = uint16(40000+i), 443
			switch p.Proto {
			case synth.ProtoTCP:
				p.TCPFlags = synth.ACK | synth.PSH
				if r == 0 {
					p.TCPFlags = synth.SYN
				}
			case synth.ProtoICMP:
				p.ICMPType = synth.ICMPEchoRequest
			}
			if r%2 == 1 { // the reply
				p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
				switch p.Proto {
				case synth.ProtoTCP:
					p.TCPFlags = synth.ACK
					if r == 1 {
						p.TCPFlags = synth.SYN | synth.ACK
					}
				case synth.ProtoICMP:
					p.ICMPType = synth.ICMPEchoReply
				}
			}
			buf = p.Frame(LinkEthernet, buf[:0])
			fr := buf
			if wrap != nil {
				fr = wrap(i, buf)
			}
			if err := pw.WritePacket(p.Time, fr, len(fr)); err != nil {
				t.Fatal(err)
			}
		}
	}
	data := frames.Bytes()
	for _, n := range []int{1, 3} {
		src, err := open("-", nil, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		recs := make([]record, 0, flows*rounds)
		for {
			rec, err := src.rd.next()
			if err != nil {
				break
			}
			rec.Data = slices.Clone(rec.Data)
			recs = append(recs, rec)
		}
		o := Options{Workers: n}
		o.defaults()
		var stages []*stage
		var emitted int
		for w := range n {
			var st InputStats
			tb := newTable(&o, 0, func(*Flow) { emitted++ })
			stages = append(stages, newStage(&o, &st, tb, w, n))
		}
		var p pkt
		feed := func(from, to int) {
			for _, s := range stages {
				for i := from; i < to; i++ {
					s.packet(&recs[i], uint64(i), &p)
				}
			}
		}
		warm := flows * 4 // every flow seen both ways
		feed(0, warm)
		chunk := 2 * flows
		next := warm
		allocs := testing.AllocsPerRun(10, func() {
			feed(next, next+chunk)
			next += chunk
		})
		if allocs != 0 || emitted != 0 {
			t.Errorf("workers=%d: %v allocations per %d packets of known flows (%d flows emitted)", n, allocs, chunk, emitted)
		}
		if wrap != nil {
			var dec uint64
			for _, s := range stages {
				dec += s.st.Decapsulated
			}
			if dec == 0 {
				t.Errorf("workers=%d: no packet was decapsulated", n)
			}
		}
	}
}

// markingReader inserts control records into a capture, as a live source does: a
// tick after every 500 packets and an interval mark after every 2000.
type markingReader struct {
	packetReader
	n    int
	held *record
}

func (r *markingReader) next() (record, error) {
	if r.held != nil {
		rec := *r.held
		r.held = nil
		return rec, nil
	}
	rec, err := r.packetReader.next()
	if err != nil {
		return rec, err
	}
	r.n++
	switch {
	case r.n%2000 == 0:
		r.held = &record{Tick: kindMark, TS: rec.TS}
	case r.n%500 == 0:
		r.held = &record{Tick: kindTick, TS: rec.TS + 1e6}
	}
	return rec, nil
}

// TestWorkersSameIntervals: with a live source's control records, the flows (status
// records included), their order and every interval's statistics are the same for 1,
// 2 and 3 workers.
func TestWorkersSameIntervals(t *testing.T) {
	var buf bytes.Buffer
	s := synth.Scenario{Kind: synth.KindMix, Seed: 5, Packets: 30_000, Flows: 2_000}
	if err := synth.Write(&buf, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: LinkEthernet, Snaplen: 160}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, w := range []int{1, 2, 3} {
		src, err := open("-", nil, bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		o := Options{Workers: w, UDPTimeout: 200 * time.Millisecond, Interval: func(r Result) {
			slices.Sort(r.Inputs[0].Warnings)
			got = append(got, fmt.Sprintf("interval %+v", r))
		}}
		o.defaults()
		st, ev, n, err := runSource(context.Background(), &markingReader{packetReader: src.rd}, src.stats, "live", &o, func(f *Flow) {
			got = append(got, fmt.Sprintf("%+v", *f))
		})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("end %+v %d %d", st, ev, n))
		if w == 1 {
			want = got
			if c := strings.Count(strings.Join(got, "\n"), "interval "); c < 10 {
				t.Fatalf("%d intervals", c)
			}
			if !strings.Contains(strings.Join(got, "\n"), "End:active") {
				t.Fatal("no status records")
			}
			continue
		}
		if len(got) != len(want) {
			t.Errorf("workers=%d: %d lines, one worker %d", w, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("workers=%d: line %d differs:\n got %s\nwant %s", w, i, got[i], want[i])
				break
			}
		}
	}
}
