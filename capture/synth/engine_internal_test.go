package synth

import (
	"testing"
	"time"
)

// TestMixMemoryBounded checks that the mix generator keeps only concurrent flows:
// the flows it holds (active plus pooled) stay far below the flows it starts, and
// do not grow with the packet count at the same flow density.
func TestMixMemoryBounded(t *testing.T) {
	held := func(packets, flows int) (maxHeld, started int) {
		var m *mixer
		m, err := newMixer(Scenario{Kind: KindMix, Seed: 1, Packets: packets, Flows: flows}, BaseTime(), func(Packet) error {
			maxHeld = max(maxHeld, len(m.e.heap)+len(m.e.free))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.e.run(m.next, m.n); err != nil {
			t.Fatal(err)
		}
		return maxHeld, m.started
	}
	small, _ := held(50000, 1000)
	large, started := held(400000, 8000)
	if large > started/4 {
		t.Errorf("held up to %d flows of %d started", large, started)
	}
	if large > 3*small {
		t.Errorf("held flows grew from %d to %d with 8× the packets", small, large)
	}
	t.Logf("held at most %d flows (50k packets) and %d (400k packets, %d flows started)", small, large, started)
}

// TestSpecPackets checks that spec.packets, which the mix budget relies on, counts
// what emit produces for every kind of flow.
func TestSpecPackets(t *testing.T) {
	n := 0
	e := newEngine(1, BaseTime(), func(Packet) error { n++; return nil })
	m := &mixer{e: e, n: 1 << 30, f: 1 << 20}
	m.meanGap = 1000
	for _, p := range mixTCPPorts {
		m.tcpWeight += int(p.weight)
	}
	for i := range 2000 {
		sp := m.flow()
		n = 0
		e.heap, e.free = e.heap[:0], e.free[:0]
		runSpec(t, e, sp)
		if n != sp.packets() {
			t.Fatalf("flow %d (kind %d): emitted %d packets, packets() says %d", i, sp.kind, n, sp.packets())
		}
	}
}

// TestFlowsKinds checks that flowsKinds, from which the flows scenario computes its
// packet budget and its start rate, describes what flow() draws and emit produces:
// per kind, the share of specs, the mean flows and packets of a spec, and the hold of
// a flow (idle timeout plus mean duration, shared by the flows that follow each
// other) to within a quarter of a second.
func TestFlowsKinds(t *testing.T) {
	var (
		n          int
		first, end time.Time
	)
	e := newEngine(1, BaseTime(), func(p Packet) error {
		if n == 0 {
			first = p.Time
		}
		end = p.Time
		n++
		return nil
	})
	g, err := newFlowsGen(Scenario{Kind: KindFlows, Seed: 1}, BaseTime(), nil)
	if err != nil {
		t.Fatal(err)
	}
	g.e = e
	type sum struct {
		specs, flows, packets int
		dur                   time.Duration
	}
	sums := map[flowKind]*sum{}
	const specs = 40000
	for range specs {
		sp := g.flow()
		n = 0
		e.heap, e.free = e.heap[:0], e.free[:0]
		runSpec(t, e, sp)
		if n != sp.packets() {
			t.Fatalf("kind %d: emitted %d packets, packets() says %d", sp.kind, n, sp.packets())
		}
		s := sums[sp.kind]
		if s == nil {
			s = &sum{}
			sums[sp.kind] = s
		}
		s.specs++
		s.packets += n
		s.dur += end.Sub(first)
		switch sp.kind {
		case kindTCPRefused:
			s.flows += sp.tries
		case kindUDPUnreachable:
			s.flows += 2
		default:
			s.flows++
		}
	}
	cum, _, _ := flowsStats()
	kinds := map[uint8]flowKind{mixTCP: kindTCP, mixUnanswered: kindTCPUnanswered, mixRefused: kindTCPRefused,
		mixDNS: kindUDP, mixUDP: kindUDP, mixEcho: kindICMPEcho, mixUnreachable: kindUDPUnreachable}
	for i, k := range flowsKinds {
		if k.what == mixDNS || k.what == mixUDP {
			continue // one spec kind for both; their shapes are checked by TestFlowsShape
		}
		s := sums[kinds[k.what]]
		p := cum[i]
		if i > 0 {
			p -= cum[i-1]
		}
		if got := float64(s.specs) / specs; got < p*0.9 || got > p*1.1 {
			t.Errorf("kind %d: %.3f of the specs, want %.3f", k.what, got, p)
		}
		if got := float64(s.flows) / float64(s.specs); got < k.flows*0.95 || got > k.flows*1.05 {
			t.Errorf("kind %d: %.2f flows a spec, flowsKinds says %.2f", k.what, got, k.flows)
		}
		if k.what != mixTCP { // the connections' sizes follow the budget
			if got := float64(s.packets) / float64(s.specs); got < k.packets*0.95 || got > k.packets*1.05 {
				t.Errorf("kind %d: %.2f packets a spec, flowsKinds says %.2f", k.what, got, k.packets)
			}
		}
		timeout := 60 * time.Second
		if kinds[k.what] == kindTCP || kinds[k.what] == kindTCPRefused || kinds[k.what] == kindTCPUnanswered {
			timeout = 300 * time.Second
		}
		// The flows of a spec follow each other (a refused connection's tries), or run
		// side by side (a datagram and the ICMP error that answers it).
		hold := (timeout + s.dur/time.Duration(s.specs)).Seconds() / k.flows
		if k.what == mixUnreachable {
			hold *= 2
		}
		if hold < k.hold-0.25 || hold > k.hold+0.25 {
			t.Errorf("kind %d: flows stay %.2f s in a table, flowsKinds says %.2f", k.what, hold, k.hold)
		}
	}
}
