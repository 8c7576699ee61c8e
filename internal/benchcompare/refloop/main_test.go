package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/portclass/portclass/capture/synth"
)

// TestRun checks the reference loop's flow count against the distinct bidirectional
// 5-tuples (with the VLAN) of the generated packets, on both benchmark scenarios, cut
// to 96 bytes a frame as the flows capture is.
func TestRun(t *testing.T) {
	for _, s := range []synth.Scenario{
		{Kind: synth.KindMix, Seed: 3, Packets: 20000, Flows: 400},
		{Kind: synth.KindFlows, Seed: 3, Packets: 21000, Flows: 5000},
	} {
		type tuple struct {
			proto uint8
			vlan  uint16
			a, b  netip.AddrPort
		}
		want := map[tuple]bool{}
		n := 0
		err := synth.Generate(s, func(p synth.Packet) error {
			n++
			a, b := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
			if p.Proto == synth.ProtoICMP || p.Proto == synth.ProtoICMPv6 {
				a, b = netip.AddrPortFrom(p.Src, 0), netip.AddrPortFrom(p.Dst, 0)
			}
			if b.Compare(a) < 0 {
				a, b = b, a
			}
			want[tuple{p.Proto, p.VLAN[0], a, b}] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "c.pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		err = synth.Write(f, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet, Snaplen: synth.CommittedSnaplen})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		flows, packets, err := run(path)
		if err != nil || flows != len(want) || packets != n {
			t.Errorf("%s: %d flows, %d packets (%v); want %d flows, %d packets", s.Kind, flows, packets, err, len(want), n)
		}
	}
	if _, _, err := run(filepath.Join(t.TempDir(), "missing.pcap")); err == nil {
		t.Error("a missing file read without error")
	}
}
