package synth_test

import (
	"net/netip"
	"testing"

	"github.com/portclass/portclass/capture/synth"
)

// conversation is the key portclass diff compares.
type conversation struct {
	proto  uint8
	client netip.Addr
	server netip.AddrPort
}

// convStats is what one conversation's packets showed.
type convStats struct {
	syn, synAck, rst, fromClient, fromServer int
	icmp                                     map[[2]uint8]netip.Addr // type/code → sender
}

// conversations collects the packets of a scenario by conversation (client = the
// opener of VeeamFacts and VeeamChanges), counting SYNs, SYN-ACKs, RSTs, packets each
// way and the ICMP errors that quote a conversation's datagrams.
func conversations(t *testing.T, k synth.Kind) map[conversation]*convStats {
	t.Helper()
	known := map[conversation]bool{}
	for _, f := range synth.VeeamFacts() {
		known[conversation{f.Proto, f.Client, f.Server}] = true
	}
	for _, c := range synth.VeeamChanges() {
		known[conversation{c.Proto, c.Client, c.Server}] = true
	}
	out := map[conversation]*convStats{}
	get := func(c conversation) *convStats {
		if !known[c] {
			t.Errorf("packet of a conversation neither in VeeamFacts nor VeeamChanges: %+v", c)
		}
		st := out[c]
		if st == nil {
			st = &convStats{icmp: map[[2]uint8]netip.Addr{}}
			out[c] = st
		}
		return st
	}
	err := synth.Generate(synth.Scenario{Kind: k, Seed: 1}, func(p synth.Packet) error {
		if p.Quote != nil {
			q := p.Quote
			st := get(conversation{q.Proto, q.Src, netip.AddrPortFrom(q.Dst, q.DstPort)})
			st.icmp[[2]uint8{p.ICMPType, p.ICMPCode}] = p.Src
			return nil
		}
		if p.Proto != synth.ProtoTCP && p.Proto != synth.ProtoUDP {
			return nil
		}
		fwd := conversation{p.Proto, p.Src, netip.AddrPortFrom(p.Dst, p.DstPort)}
		rev := conversation{p.Proto, p.Dst, netip.AddrPortFrom(p.Src, p.SrcPort)}
		var st *convStats
		if known[fwd] {
			st = get(fwd)
			st.fromClient++
			if p.TCPFlags&(synth.SYN|synth.ACK) == synth.SYN {
				st.syn++
			}
		} else {
			st = get(rev)
			st.fromServer++
			if p.TCPFlags&(synth.SYN|synth.ACK) == synth.SYN|synth.ACK {
				st.synAck++
			}
			if p.TCPFlags&synth.RST != 0 {
				st.rst++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVeeamAfterChanges checks the veeam-after scenario against VeeamChanges: each
// changed conversation shows exactly its change in the packets, and every other
// conversation of the veeam scenario is still there and answered.
func TestVeeamAfterChanges(t *testing.T) {
	changes := synth.VeeamChanges()
	if len(changes) < 6 {
		t.Fatalf("only %d changes", len(changes))
	}
	after := conversations(t, synth.KindVeeamAfter)
	before := conversations(t, synth.KindVeeam)
	changed := map[conversation]bool{}
	for _, c := range changes {
		k := conversation{c.Proto, c.Client, c.Server}
		changed[k] = true
		st := after[k]
		switch c.Change {
		case synth.ChangeGone:
			if st != nil {
				t.Errorf("%s %v → %v: gone, but %+v", c.Change, c.Client, c.Server, st)
			}
			if before[k] == nil {
				t.Errorf("%v → %v: gone, but not in the veeam scenario either", c.Client, c.Server)
			}
			continue
		case synth.ChangeNew:
			if before[k] != nil {
				t.Errorf("%v → %v: new, but the veeam scenario has it", c.Client, c.Server)
			}
		}
		if st == nil {
			t.Errorf("%s %v → %v: no packets", c.Change, c.Client, c.Server)
			continue
		}
		ok := false
		switch c.Change {
		case synth.ChangeRefused:
			ok = st.syn > 0 && st.rst == st.syn && st.synAck == 0
		case synth.ChangeUnanswered:
			ok = st.syn >= 3 && st.fromServer == 0
		case synth.ChangeProhibited:
			ok = st.fromClient > 0 && st.fromServer == 0 && st.icmp[[2]uint8{3, 13}] == synth.VeeamGateway()
		case synth.ChangeNew:
			ok = st.synAck > 0 && len(st.icmp) == 0
		}
		if !ok {
			t.Errorf("%s %v → %v: packets show %+v", c.Change, c.Client, c.Server, st)
		}
	}
	for _, f := range synth.VeeamFacts() {
		k := conversation{f.Proto, f.Client, f.Server}
		if changed[k] {
			continue
		}
		st := after[k]
		answered := st != nil && st.fromServer > 0 && len(st.icmp) == 0 && (f.Proto != synth.ProtoTCP || st.synAck > 0)
		if !answered {
			t.Errorf("unchanged %v → %v is not answered after: %+v", f.Client, f.Server, st)
		}
	}
	// the capture is a day later
	var first [2]int64
	for i, k := range []synth.Kind{synth.KindVeeam, synth.KindVeeamAfter} {
		_ = synth.Generate(synth.Scenario{Kind: k, Seed: 1}, func(p synth.Packet) error {
			if first[i] == 0 {
				first[i] = p.Time.Unix()
			}
			return nil
		})
	}
	if d := first[1] - first[0]; d < 86400 || d > 86400+60 {
		t.Errorf("veeam-after starts %d s after veeam, want a day", d)
	}
}
