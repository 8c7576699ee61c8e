package synth

import (
	"net/netip"
	"testing"
	"time"
)

// TestProhibitedPackets: a SYN a firewall answers with ICMP administratively prohibited
// gives tries SYNs (the same sequence number) and tries ICMP errors quoting them, as
// spec.packets says.
func TestProhibitedPackets(t *testing.T) {
	var got []Packet
	e := newEngine(1, BaseTime(), func(p Packet) error {
		if p.Quote != nil {
			q := *p.Quote
			p.Quote = &q
		}
		got = append(got, p)
		return nil
	})
	fw := netip.MustParseAddr("192.0.2.1")
	sp := spec{kind: kindTCPProhibited, tries: 3, icmpFrom: fw, icmpCode: 13, rtt: time.Millisecond,
		client: netip.MustParseAddrPort("192.0.2.22:50000"), server: netip.MustParseAddrPort("192.0.2.30:3100")}
	runSpec(t, e, sp)
	if len(got) != sp.packets() || len(got) != 6 {
		t.Fatalf("%d packets, packets() says %d", len(got), sp.packets())
	}
	for i, p := range got {
		if i%2 == 0 {
			if p.Proto != ProtoTCP || p.TCPFlags != SYN || p.Seq != got[0].Seq {
				t.Errorf("packet %d: %+v, want the SYN again", i, p)
			}
			continue
		}
		if p.Proto != ProtoICMP || p.ICMPType != ICMPUnreachable || p.ICMPCode != 13 || p.Src != fw ||
			p.Dst != sp.client.Addr() || p.Quote == nil || p.Quote.TCPFlags != SYN || p.Quote.DstPort != 3100 {
			t.Errorf("packet %d: %+v, want ICMP 3/13 from the firewall quoting the SYN", i, p)
		}
	}
}

// runSpec runs the one flow sp through e.
func runSpec(t *testing.T, e *engine, sp spec) {
	t.Helper()
	done := false
	if err := e.run(func() (spec, bool) {
		if done {
			return spec{}, false
		}
		done = true
		return sp, true
	}, 0); err != nil {
		t.Fatal(err)
	}
}
