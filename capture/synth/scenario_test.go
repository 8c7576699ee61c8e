package synth_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portclass/portclass/capture/synth"

	"github.com/portclass/portclass/internal/corpus"
)

func write(t testing.TB, s synth.Scenario, o synth.FileOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.Write(&buf, s, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterministic(t *testing.T) {
	pcap := synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet}
	ng := synth.FileOptions{Format: synth.FormatPcapng, LinkType: synth.LinkSLL2, Nano: true}
	for _, c := range []struct {
		s synth.Scenario
		o synth.FileOptions
	}{
		{synth.Scenario{Kind: synth.KindSample, Seed: 7}, ng},
		{synth.Scenario{Kind: synth.KindVeeam, Seed: 7}, pcap},
		{synth.Scenario{Kind: synth.KindVeeamFirewall, Seed: 7}, pcap},
		{synth.Scenario{Kind: synth.KindTunnels, Seed: 7}, pcap},
		{synth.Scenario{Kind: synth.KindMix, Seed: 7, Packets: 30000, Flows: 600}, pcap},
		{synth.Scenario{Kind: synth.KindMix, Seed: 7, Packets: 30000, Flows: 600, MSS: 1080}, pcap},
		{synth.Scenario{Kind: synth.KindFlows, Seed: 7, Packets: 42000, Flows: 10000}, pcap},
	} {
		t.Run(c.s.Kind.String(), func(t *testing.T) {
			a, b := write(t, c.s, c.o), write(t, c.s, c.o)
			if !bytes.Equal(a, b) {
				t.Error("two generations with the same seed differ")
			}
			c.s.Seed++
			if bytes.Equal(a, write(t, c.s, c.o)) {
				t.Error("a different seed gives the same bytes")
			}
		})
	}
	f1, err := synth.Formats()
	if err != nil {
		t.Fatal(err)
	}
	f2, _ := synth.Formats()
	for i := range f1 {
		if !bytes.Equal(f1[i].Data, f2[i].Data) {
			t.Errorf("formats %s differs between runs", f1[i].Name)
		}
	}
}

// flowKey identifies a flow in both directions; ICMP echo flows by their identifier.
type flowKey struct {
	proto  uint8
	lo, hi netip.AddrPort
}

func keyOf(p synth.Packet) (flowKey, bool) {
	a, b := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	if p.Quote != nil {
		return flowKey{}, false // an ICMP error belongs to the flow it quotes
	}
	if p.Proto == synth.ProtoICMP || p.Proto == synth.ProtoICMPv6 {
		a, b = netip.AddrPortFrom(p.Src, p.ICMPID), netip.AddrPortFrom(p.Dst, p.ICMPID)
	}
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return flowKey{p.Proto, a, b}, true
}

// mixStats summarizes a generated mix.
type mixStats struct {
	packets, flows, v6Flows, vlanFlows int
	rst, unreach, echo, dns, ephemeral int
	minFrame, maxFrame                 int
	first, last                        time.Time
	outOfOrder                         int
}

func genStats(t testing.TB, s synth.Scenario) mixStats {
	t.Helper()
	st := mixStats{minFrame: 1 << 30}
	seen := map[flowKey]bool{}
	var buf []byte
	err := synth.Generate(s, func(p synth.Packet) error {
		st.packets++
		if st.first.IsZero() {
			st.first = p.Time
		}
		if p.Time.Before(st.last) {
			st.outOfOrder++
		}
		st.last = p.Time
		buf = p.Frame(synth.LinkEthernet, buf)
		st.minFrame, st.maxFrame = min(st.minFrame, len(buf)), max(st.maxFrame, len(buf))
		switch {
		case p.TCPFlags&synth.RST != 0:
			st.rst++
		case p.Quote != nil:
			st.unreach++
		case p.ICMPType == synth.ICMPEchoRequest || p.ICMPType == synth.ICMPv6EchoRequest:
			st.echo++
		}
		k, ok := keyOf(p)
		if !ok || seen[k] {
			return nil
		}
		seen[k] = true
		st.flows++
		if p.Src.Is6() {
			st.v6Flows++
		}
		if p.VLAN[0] != 0 {
			st.vlanFlows++
		}
		if p.DstPort == 53 {
			st.dns++
		}
		if p.SrcPort >= 32768 && p.DstPort >= 49152 {
			st.ephemeral++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMixCounts(t *testing.T) {
	for _, c := range []struct {
		packets, flows int
		exactFlows     bool // only check the share of flows, not their number
	}{
		{100000, 2000, true},
		{5000, 100, true},
		{20000, 5000, false}, // 4 packets per flow cannot hold TCP connections: fewer flows
	} {
		t.Run(fmt.Sprintf("%d-%d", c.packets, c.flows), func(t *testing.T) {
			st := genStats(t, synth.Scenario{Kind: synth.KindMix, Seed: 3, Packets: c.packets, Flows: c.flows})
			if st.packets != c.packets {
				t.Errorf("%d packets, want exactly %d", st.packets, c.packets)
			}
			if c.exactFlows && (st.flows < c.flows*8/10 || st.flows > c.flows*12/10) {
				t.Errorf("%d flows, want %d ± 20%%", st.flows, c.flows)
			}
			if !c.exactFlows && (st.flows < c.flows/4 || st.flows > c.flows*12/10) {
				t.Errorf("%d flows for %d requested", st.flows, c.flows)
			}
			if st.outOfOrder > 0 {
				t.Errorf("%d packets earlier than their predecessor", st.outOfOrder)
			}
			if !st.first.Equal(synth.BaseTime()) {
				t.Errorf("first packet at %v, want %v", st.first, synth.BaseTime())
			}
			share := func(n int) float64 { return float64(n) / float64(st.flows) }
			if s := share(st.v6Flows); s < 0.12 || s > 0.28 {
				t.Errorf("IPv6 share of flows %.2f, want about 0.20", s)
			}
			if s := share(st.vlanFlows); s < 0.04 || s > 0.18 {
				t.Errorf("VLAN share of flows %.2f, want about 0.10", s)
			}
			if s := share(st.dns); s < 0.1 {
				t.Errorf("DNS share of flows %.2f, want about 0.2", s)
			}
			if st.rst == 0 || st.unreach == 0 || st.echo == 0 || st.ephemeral == 0 {
				t.Errorf("missing traffic: %d RSTs, %d ICMP errors, %d echo requests, %d both-ephemeral flows", st.rst, st.unreach, st.echo, st.ephemeral)
			}
			if st.minFrame < 60 || st.maxFrame > 1518 {
				t.Errorf("frames %d..%d bytes, want within 60..1518", st.minFrame, st.maxFrame)
			}
		})
	}
}

// TestMixMSS checks Scenario.MSS: full TCP segments carry MSS bytes over IPv4 and 20
// less over IPv6, and the packets are the same in number.
func TestMixMSS(t *testing.T) {
	for _, mss := range []int{0, 1080, 536} {
		want := [2]int{mss, mss - 20}
		if mss == 0 {
			want = [2]int{1460, 1440}
		}
		var largest [2]int
		n := 0
		err := synth.Generate(synth.Scenario{Kind: synth.KindMix, Seed: 2, Packets: 20000, Flows: 200, MSS: mss}, func(p synth.Packet) error {
			n++
			if p.Proto == synth.ProtoTCP {
				v6 := 0
				if p.Src.Is6() {
					v6 = 1
				}
				largest[v6] = max(largest[v6], p.PayloadLen)
			}
			return nil
		})
		if err != nil || n != 20000 || largest != want {
			t.Errorf("MSS %d: %d packets (%v), largest TCP payloads %v (IPv4, IPv6), want %v", mss, n, err, largest, want)
		}
	}
}

func TestMixDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a million packets")
	}
	n := 0
	err := synth.Generate(synth.Scenario{Kind: synth.KindMix}, func(synth.Packet) error { n++; return nil })
	if err != nil || n != synth.DefaultMixPackets {
		t.Errorf("default mix: %d packets, %v; want %d", n, err, synth.DefaultMixPackets)
	}
}

func TestGenerateErrors(t *testing.T) {
	if err := synth.Generate(synth.Scenario{}, func(synth.Packet) error { return nil }); err == nil {
		t.Error("KindUnknown generated")
	}
	stop := fmt.Errorf("stop")
	n := 0
	err := synth.Generate(synth.Scenario{Kind: synth.KindSample}, func(synth.Packet) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Errorf("sink error: got %v after %d packets, want %v after 10", err, n, stop)
	}
	if err := synth.Write(&bytes.Buffer{}, synth.Scenario{Kind: synth.KindSample}, synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkIPv4}); err == nil {
		t.Error("IPv6 packets were written to a LINKTYPE_IPV4 file")
	}
	for _, mss := range []int{-1, 39, 1461} {
		for _, k := range []synth.Kind{synth.KindMix, synth.KindFlows} {
			if err := synth.Generate(synth.Scenario{Kind: k, MSS: mss}, func(synth.Packet) error { return nil }); err == nil {
				t.Errorf("%s with MSS %d generated", k, mss)
			}
		}
	}
	for _, s := range []string{"mix", "flows", "sample", "veeam", "veeam-firewall", "veeam-after"} {
		if k, err := synth.ParseKind(s); err != nil || k.String() != s {
			t.Errorf("ParseKind(%q) = %v, %v", s, k, err)
		}
	}
	if _, err := synth.ParseFormat("erf"); err == nil {
		t.Error("ParseFormat accepted erf")
	}
}

// TestSample checks that the demo capture holds what `make demo` shows.
func TestSample(t *testing.T) {
	type conn struct {
		server netip.AddrPort
		proto  uint8
	}
	opened := map[conn]int{}
	synAt := map[netip.AddrPort]time.Time{}
	var refused, v6, vlan, unreach, prohibited, packets int
	scanned := map[uint16]bool{}
	err := synth.Generate(synth.Scenario{Kind: synth.KindSample, Seed: 1}, func(p synth.Packet) error {
		packets++
		dst := netip.AddrPortFrom(p.Dst, p.DstPort)
		if p.Proto == synth.ProtoTCP && p.TCPFlags == synth.SYN {
			opened[conn{dst, p.Proto}]++
			if _, ok := synAt[dst]; !ok {
				synAt[dst] = p.Time
			}
			if p.Src == netip.MustParseAddr("198.51.100.66") {
				scanned[p.DstPort] = true
			}
		}
		if p.Proto == synth.ProtoUDP {
			opened[conn{dst, p.Proto}]++
		}
		if p.TCPFlags == synth.RST|synth.ACK {
			refused++
		}
		if p.Quote != nil && p.Quote.DstPort == 161 && p.ICMPType == synth.ICMPUnreachable && p.ICMPCode == 3 && p.Src == p.Quote.Dst {
			unreach++
		}
		if p.Quote != nil && p.Quote.DstPort == 514 && p.ICMPCode == 13 && p.Src == netip.MustParseAddr("192.0.2.1") {
			prohibited++
		}
		if p.Src.Is6() {
			v6++
		}
		if p.VLAN[0] == 20 {
			vlan++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dc := netip.MustParseAddr("192.0.2.2")
	for _, c := range []struct {
		addr  string
		port  uint16
		proto uint8
	}{
		{"192.0.2.30", 22, synth.ProtoTCP}, {"203.0.113.10", 443, synth.ProtoTCP}, {"192.0.2.2", 53, synth.ProtoUDP},
		{"192.0.2.2", 123, synth.ProtoUDP}, {"192.0.2.5", 445, synth.ProtoTCP}, {"192.0.2.15", 3389, synth.ProtoTCP},
		{"192.0.2.2", 389, synth.ProtoTCP}, {"192.0.2.2", 135, synth.ProtoTCP}, {"192.0.2.2", 49667, synth.ProtoTCP},
		{"2001:db8:10::2", 53, synth.ProtoUDP}, {"198.51.100.23", 55555, synth.ProtoTCP}, {"198.51.100.44", 61000, synth.ProtoUDP},
		{"192.0.2.200", 9100, synth.ProtoTCP},
	} {
		if opened[conn{netip.AddrPortFrom(netip.MustParseAddr(c.addr), c.port), c.proto}] == 0 {
			t.Errorf("no connection to %s:%d/%d", c.addr, c.port, c.proto)
		}
	}
	epm, dyn := synAt[netip.AddrPortFrom(dc, 135)], synAt[netip.AddrPortFrom(dc, 49667)]
	if !epm.Before(dyn) {
		t.Errorf("dynamic RPC connection at %v does not follow the endpoint mapper at %v", dyn, epm)
	}
	if refused == 0 || unreach != 3 || prohibited != 2 || len(scanned) < 10 || v6 == 0 || vlan == 0 {
		t.Errorf("refused %d, port unreachable for 161 %d (want 3), prohibited by the gateway %d (want 2), scanned ports %d, IPv6 packets %d, VLAN 20 packets %d",
			refused, unreach, prohibited, len(scanned), v6, vlan)
	}
	if packets < 1000 || packets > 5000 {
		t.Errorf("%d packets, want a few thousand", packets)
	}
}

// TestWriteLinkTypes writes the veeam scenario with every link type in both formats
// and reads it back with gopacket.
func TestWriteLinkTypes(t *testing.T) {
	want := 0
	_ = synth.Generate(synth.Scenario{Kind: synth.KindVeeam}, func(synth.Packet) error { want++; return nil })
	for _, f := range []synth.Format{synth.FormatPcap, synth.FormatPcapng} {
		for _, lt := range []uint16{synth.LinkEthernet, synth.LinkSLL, synth.LinkSLL2, synth.LinkRaw, synth.LinkNull, synth.LinkLoop, synth.LinkPPP, synth.LinkIPv4} {
			t.Run(f.String()+"-"+synth.LinkName(lt), func(t *testing.T) {
				data := write(t, synth.Scenario{Kind: synth.KindVeeam}, synth.FileOptions{Format: f, LinkType: lt, Snaplen: 80})
				n, gotLT, maxCap := 0, layers.LinkType(0), 0
				if f == synth.FormatPcap {
					pr, err := pcapgo.NewReader(bytes.NewReader(data))
					if err != nil {
						t.Fatal(err)
					}
					gotLT = pr.LinkType()
					for {
						d, _, err := pr.ReadPacketData()
						if err != nil {
							break
						}
						n, maxCap = n+1, max(maxCap, len(d))
					}
				} else {
					nr, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
					if err != nil {
						t.Fatal(err)
					}
					gotLT = nr.LinkType()
					for {
						d, _, err := nr.ReadPacketData()
						if err != nil {
							break
						}
						n, maxCap = n+1, max(maxCap, len(d))
					}
				}
				if n != want || gotLT != layers.LinkType(lt) || maxCap > 80 {
					t.Errorf("read %d packets of link type %v (longest %d bytes), want %d of %d (at most 80)", n, gotLT, maxCap, want, lt)
				}
			})
		}
	}
}

// TestCommittedCaptures checks that the captures under testdata/ are what pcapgen
// makes now; regenerate them with the Makefile's testdata target.
func TestCommittedCaptures(t *testing.T) {
	root := corpus.Root(t)
	for _, c := range []struct {
		path string
		s    synth.Scenario
		o    synth.FileOptions
	}{
		{"testdata/sample.pcapng", synth.Scenario{Kind: synth.KindSample, Seed: 1}, synth.FileOptions{Format: synth.FormatPcapng, LinkType: synth.LinkEthernet, Snaplen: synth.CommittedSnaplen}},
		{"testdata/veeam.pcap", synth.Scenario{Kind: synth.KindVeeam, Seed: 1}, synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet, Snaplen: synth.CommittedSnaplen}},
		{"testdata/veeam-firewall.pcap", synth.Scenario{Kind: synth.KindVeeamFirewall, Seed: 1}, synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet, Snaplen: synth.CommittedSnaplen}},
		{"testdata/veeam-after.pcap", synth.Scenario{Kind: synth.KindVeeamAfter, Seed: 1}, synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet, Snaplen: synth.CommittedSnaplen}},
		{"testdata/tunnels.pcap", synth.Scenario{Kind: synth.KindTunnels, Seed: 1}, synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet, Snaplen: synth.TunnelsSnaplen}},
	} {
		got, err := os.ReadFile(filepath.Join(root, c.path))
		if err != nil {
			t.Errorf("%v (run: go run ./cmd/pcapgen -scenario %s -o %s)", err, c.s.Kind, c.path)
			continue
		}
		if !bytes.Equal(got, write(t, c.s, c.o)) {
			t.Errorf("%s is stale (run: go run ./cmd/pcapgen -scenario %s -o %s)", c.path, c.s.Kind, c.path)
		}
		if len(got) > 200<<10 {
			t.Errorf("%s is %d bytes, want under 200 KiB", c.path, len(got))
		}
	}
	files, err := synth.Formats()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata", "formats")
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("testdata/formats/%s missing or stale (run: go run ./cmd/pcapgen -scenario formats -o testdata/formats)", f.Name)
		}
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil || !bytes.Equal(readme, synth.FormatsREADME(files)) {
		t.Error("testdata/formats/README.md missing or stale")
	}
}

func ExampleWrite() {
	var buf bytes.Buffer
	err := synth.Write(&buf, synth.Scenario{Kind: synth.KindVeeam, Seed: 1},
		synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet, Snaplen: 96})
	r, _ := pcapgo.NewReader(&buf)
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			break
		}
		n++
	}
	fmt.Println(err, n > 1000, r.LinkType())
	// Output: <nil> true Ethernet
}

func BenchmarkMix(b *testing.B) {
	var buf []byte
	n := 0
	for b.Loop() {
		err := synth.Generate(synth.Scenario{Kind: synth.KindMix, Seed: 1, Packets: 100000, Flows: 2000}, func(p synth.Packet) error {
			buf = p.Frame(synth.LinkEthernet, buf)
			n++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
}
