package synth_test

import (
	"context"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
)

// flowsShape is what portclass's own flow table (capture.Run, one worker, default
// timeouts) makes of a flows capture.
type flowsShape struct {
	packets                        uint64
	flows, tcp, udp, icmp, v6      int
	s0, rej, sf, dns               int
	clients, servers, resolverPeer int // distinct addresses
	peakOpen                       int
	duration                       time.Duration
}

// measureFlows writes s to a file (FlowsFile's options) and reads it back with
// capture.Run. The open flows are counted from the records: a flow is in the table
// from its first packet until its idle timeout after its last (or the end of the
// input, for the flows it flushes), as the table's sweeps, once a second, remove it.
func measureFlows(t testing.TB, s synth.Scenario) flowsShape {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flows.pcap")
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
	type event struct {
		at    int64
		delta int
	}
	var (
		sh       flowsShape
		events   []event
		clients  = map[netip.Addr]bool{}
		servers  = map[netip.Addr]bool{}
		resolver = map[netip.Addr]bool{}
		busy     = []netip.Addr{netip.MustParseAddr("198.19.255.53"), netip.MustParseAddr("2001:db8:53::53")}
		// the pools of flows.go
		clientNets = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/16"), netip.MustParsePrefix("198.19.0.0/17"), netip.MustParsePrefix("2001:db8:c1::/48")}
		serverNets = []netip.Prefix{netip.MustParsePrefix("198.19.128.0/17"), netip.MustParsePrefix("2001:db8:5e::/48")}
	)
	res, err := capture.Run(context.Background(), []string{path}, capture.Options{Workers: 1}, func(fl *capture.Flow) {
		sh.flows++
		switch fl.Proto {
		case capture.ProtoTCP:
			sh.tcp++
		case capture.ProtoUDP:
			sh.udp++
			if fl.Server.Port() == 53 {
				sh.dns++
			}
		case capture.ProtoICMP, capture.ProtoICMPv6:
			sh.icmp++
		}
		if fl.Client.Addr().Is6() {
			sh.v6++
		}
		if fl.Proto == capture.ProtoTCP {
			switch fl.State {
			case capture.S0:
				sh.s0++
			case capture.REJ:
				sh.rej++
			case capture.SF:
				sh.sf++
			}
		}
		for _, a := range []netip.Addr{fl.Client.Addr(), fl.Server.Addr()} {
			switch {
			case slices.Contains(busy, a):
			case clientNets[0].Contains(a) || clientNets[1].Contains(a) || clientNets[2].Contains(a):
				clients[a] = true
			case serverNets[0].Contains(a) || serverNets[1].Contains(a):
				servers[a] = true
			}
		}
		if slices.Contains(busy, fl.Server.Addr()) {
			resolver[fl.Client.Addr()] = true
		}
		timeout := capture.DefaultUDPTimeout
		if fl.Proto == capture.ProtoTCP {
			timeout = capture.DefaultTCPTimeout
		}
		end := int64(math.MaxInt64)
		switch fl.End {
		case capture.EndTimeout:
			end = fl.Last.Add(timeout).UnixNano()
		case capture.EndReused:
			end = fl.Last.UnixNano()
		}
		events = append(events, event{fl.First.UnixNano(), 1}, event{end, -1})
	})
	if err != nil {
		t.Fatal(err)
	}
	sh.packets = res.Inputs[0].Packets
	sh.duration = time.Duration(res.Inputs[0].LastTS - res.Inputs[0].FirstTS)
	sh.clients, sh.servers, sh.resolverPeer = len(clients), len(servers), len(resolver)
	slices.SortFunc(events, func(a, b event) int {
		if a.at != b.at {
			return int(min(max(a.at-b.at, -1), 1))
		}
		return a.delta - b.delta // a flow that leaves goes before one that arrives
	})
	open := 0
	for _, e := range events {
		open += e.delta
		sh.peakOpen = max(sh.peakOpen, open)
	}
	return sh
}

// checkFlowsShape checks a flows capture of packets and flows against the shape
// flows.go promises, with about wantOpen flows open at once.
func checkFlowsShape(t *testing.T, packets, flows int, wantOpen float64, sh flowsShape) {
	t.Helper()
	t.Logf("%d packets, %d flows over %v: TCP %d (SF %d, S0 %d, REJ %d), UDP %d (DNS %d), ICMP %d, IPv6 %d; %d clients, %d servers, %d resolver clients; at most %d flows open",
		sh.packets, sh.flows, sh.duration.Round(time.Second), sh.tcp, sh.sf, sh.s0, sh.rej, sh.udp, sh.dns, sh.icmp, sh.v6, sh.clients, sh.servers, sh.resolverPeer, sh.peakOpen)
	if sh.packets != uint64(packets) {
		t.Errorf("%d packets, want exactly %d", sh.packets, packets)
	}
	if d := float64(sh.flows)/float64(flows) - 1; math.Abs(d) > 0.03 {
		t.Errorf("%d flows, want %d ± 3%%", sh.flows, flows)
	}
	share := func(what string, n int, want, tol float64) {
		t.Helper()
		if s := float64(n) / float64(sh.flows); math.Abs(s-want) > tol {
			t.Errorf("%s: %.3f of the flows, want %.2f ± %.2f", what, s, want, tol)
		}
	}
	share("TCP", sh.tcp, 0.50, 0.03)
	share("TCP established and closed (SF)", sh.sf, 0.32, 0.03)
	share("TCP unanswered (S0)", sh.s0, 0.10, 0.02)
	share("TCP refused (REJ)", sh.rej, 0.08, 0.02)
	share("UDP", sh.udp, 0.42, 0.03)
	share("DNS", sh.dns, 0.30, 0.03)
	share("ICMP", sh.icmp, 0.08, 0.02)
	share("IPv6", sh.v6, 0.20, 0.03)
	// About ten flows per client address, so nearly every one of the pools shows
	// (flows/10 IPv4 and a quarter of that IPv6); the servers are skewed, so only the
	// popular half of their pools is sure to.
	if want := flows / 10 * 5 / 4; sh.clients < want*9/10 {
		t.Errorf("%d distinct clients, want about %d", sh.clients, want)
	}
	if want := flows / 160 * 5 / 4 / 2; sh.servers < want {
		t.Errorf("%d distinct servers, want at least %d", sh.servers, want)
	}
	if want := flows / 10 * 5 / 4 / 3; sh.resolverPeer < want {
		t.Errorf("the busy resolver has %d distinct clients, want at least %d", sh.resolverPeer, want)
	}
	if math.Abs(float64(sh.peakOpen)/wantOpen-1) > 0.15 {
		t.Errorf("at most %d flows open at once, want %.0f ± 15%%", sh.peakOpen, wantOpen)
	}
}

// TestFlowsShape checks the flow-heavy capture's shape on a twentieth of its default
// size (the same duration, so a twentieth of the open flows), as portclass's flow
// table sees it. PORTCLASS_FLOWS_FULL=1 also checks the default size (2.1M packets,
// 500k flows; about 10 s).
func TestFlowsShape(t *testing.T) {
	sizes := [][2]int{{synth.DefaultFlowsPackets / 20, synth.DefaultFlowsFlows / 20}}
	if os.Getenv("PORTCLASS_FLOWS_FULL") == "1" {
		sizes = append(sizes, [2]int{synth.DefaultFlowsPackets, synth.DefaultFlowsFlows})
	}
	for _, sz := range sizes {
		sh := measureFlows(t, synth.Scenario{Kind: synth.KindFlows, Seed: 1, Packets: sz[0], Flows: sz[1]})
		checkFlowsShape(t, sz[0], sz[1], float64(sz[1])/25, sh)
	}
}

// TestFlowsSpan: with a Span, the same flows start within it, each with its own timing
// and packets as before, so that nearly all of them are open at once at the end (the
// UDP and ICMP flows of the first seconds have reached their one-minute idle timeout):
// the burst capture of make bench-compare, on a twentieth of its size.
func TestFlowsSpan(t *testing.T) {
	const span = synth.DefaultBurstSpan
	packets, flows := synth.DefaultFlowsPackets/20, synth.DefaultFlowsFlows/20
	sh := measureFlows(t, synth.Scenario{Kind: synth.KindFlows, Seed: 1, Packets: packets, Flows: flows, Span: span})
	// The last flows to start run for up to a few seconds (SYN retries at 1 and 3 s).
	if sh.duration < span*95/100 || sh.duration > span+10*time.Second {
		t.Errorf("the capture lasts %v, want about %v", sh.duration, span)
	}
	checkFlowsShape(t, packets, flows, 0.93*float64(flows), sh)
	if err := synth.Generate(synth.Scenario{Kind: synth.KindFlows, Span: -time.Second}, func(synth.Packet) error { return nil }); err == nil {
		t.Error("a negative span: no error")
	}
}
