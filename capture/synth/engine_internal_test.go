package synth

import "testing"

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
