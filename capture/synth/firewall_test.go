package synth_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/portclass/portclass/capture/synth"
)

// TestVeeamFirewallFacts checks that the veeam-firewall scenario opens exactly the
// connections VeeamFirewallFacts lists, and that the network answers each as its
// Outcome says: SYN-ACK (ok), RST (refused), ICMP administratively prohibited from the
// firewall (icmp), nothing (unanswered); UDP facts are answered.
func TestVeeamFirewallFacts(t *testing.T) {
	facts := synth.VeeamFirewallFacts()
	want := map[opening]bool{}
	outcomes := map[string]int{}
	for _, f := range facts {
		want[opening{f.Proto, f.Client, f.Server}] = true
		outcomes[f.Outcome]++
	}
	if outcomes[synth.OutcomeRefused] < 2 || outcomes[synth.OutcomeUnanswered] < 2 || outcomes[synth.OutcomeICMP] != 1 || outcomes[synth.OutcomeOK] < 20 {
		t.Errorf("outcomes %v: the scenario promises refused, unanswered, one ICMP-blocked and many ok connections", outcomes)
	}
	for _, seed := range []uint64{1, 2} {
		seen := openings(t, synth.KindVeeamFirewall, seed)
		for o := range want {
			if seen[o] == 0 {
				t.Errorf("seed %d: %v → %v never opened", seed, o.client, o.server)
			}
		}
		for o := range seen {
			if !want[o] {
				t.Errorf("seed %d: opening %v → %v is not in VeeamFirewallFacts", seed, o.client, o.server)
			}
		}
		answers := answersOf(t, seed)
		for _, f := range facts {
			got := answers[opening{f.Proto, f.Client, f.Server}]
			if f.Proto == synth.ProtoUDP {
				if f.Outcome != synth.OutcomeOK || !slices.Equal(got, []string{synth.OutcomeOK}) {
					t.Errorf("seed %d: udp %v → %v: answers %v, outcome %s", seed, f.Client, f.Server, got, f.Outcome)
				}
				continue
			}
			if !slices.Equal(got, []string{f.Outcome}) {
				t.Errorf("seed %d: %v → %v (%s): the network answered %v, want %s", seed, f.Client, f.Server, f.Meaning, got, f.Outcome)
			}
		}
	}
}

// answersOf lists, per opening of the veeam-firewall scenario, how the network
// answered it (distinct outcomes in the order seen).
func answersOf(t *testing.T, seed uint64) map[opening][]string {
	t.Helper()
	out := map[opening][]string{}
	note := func(o opening, what string) {
		if !slices.Contains(out[o], what) {
			out[o] = append(out[o], what)
		}
	}
	syns := map[opening]bool{}
	err := synth.Generate(synth.Scenario{Kind: synth.KindVeeamFirewall, Seed: seed}, func(p synth.Packet) error {
		back := opening{p.Proto, p.Dst, netip.AddrPortFrom(p.Src, p.SrcPort)}
		switch {
		case p.Proto == synth.ProtoTCP && p.TCPFlags&(synth.SYN|synth.ACK) == synth.SYN:
			o := opening{p.Proto, p.Src, netip.AddrPortFrom(p.Dst, p.DstPort)}
			syns[o] = true
			if _, ok := out[o]; !ok {
				out[o] = nil
			}
		case p.Proto == synth.ProtoTCP && p.TCPFlags&(synth.SYN|synth.ACK) == synth.SYN|synth.ACK:
			note(back, synth.OutcomeOK)
		case p.Proto == synth.ProtoTCP && p.TCPFlags&synth.RST != 0:
			note(back, synth.OutcomeRefused)
		case p.Proto == synth.ProtoUDP:
			if _, ok := out[back]; ok {
				note(back, synth.OutcomeOK) // a datagram back to a client that opened
			} else if o := (opening{p.Proto, p.Src, netip.AddrPortFrom(p.Dst, p.DstPort)}); out[o] == nil {
				out[o] = []string{} // the client's request: an opening, not an answer
			}
		case p.Proto == synth.ProtoICMP && p.Quote != nil:
			q := p.Quote
			o := opening{q.Proto, q.Src, netip.AddrPortFrom(q.Dst, q.DstPort)}
			if p.ICMPType != synth.ICMPUnreachable || p.ICMPCode != 13 || p.Src != synth.FirewallAddr || q.TCPFlags != synth.SYN {
				t.Errorf("ICMP %d/%d from %v quoting flags %#x", p.ICMPType, p.ICMPCode, p.Src, q.TCPFlags)
			}
			note(o, synth.OutcomeICMP)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for o := range syns {
		if len(out[o]) == 0 {
			out[o] = []string{synth.OutcomeUnanswered}
		}
	}
	return out
}

// TestVeeamFirewallFactsRules: the Veeam rules each fact lists are the matrix's, as
// for the veeam scenario.
func TestVeeamFirewallFactsRules(t *testing.T) {
	var facts []synth.VeeamFact
	for _, f := range synth.VeeamFirewallFacts() {
		facts = append(facts, f.VeeamFact)
	}
	checkFactsRules(t, facts)
}
