package capture

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC).UnixNano()

// seg builds a decoded TCP/UDP packet record from "addr:port" strings.
func seg(proto uint8, from, to string, flags uint8, atMs int64) pkt {
	a, b := netip.MustParseAddrPort(from), netip.MustParseAddrPort(to)
	return pkt{ts: t0 + atMs*1e6, wire: 60, src: a.Addr().As16(), dst: b.Addr().As16(), sport: a.Port(), dport: b.Port(),
		proto: proto, tcpFlags: flags, kind: kindFlow, v6: a.Addr().Is6()}
}

const (
	S  = FlagSYN
	SA = FlagSYN | FlagACK
	A  = FlagACK
	FA = FlagFIN | FlagACK
	R  = FlagRST
	RA = FlagRST | FlagACK
	PA = FlagPSH | FlagACK
)

// runTable feeds packets to one table and returns the flows emitted, in order.
func runTable(t *testing.T, o Options, pkts ...pkt) []Flow {
	t.Helper()
	o.defaults()
	var out []Flow
	tb := newTable(&o, o.MaxFlows, func(f *Flow) { out = append(out, *f) })
	for i := range pkts {
		tb.add(&pkts[i])
	}
	tb.flush(EndInput)
	return out
}

const (
	cli = "192.0.2.1:50123"
	srv = "198.51.100.2:443"
)

func TestConnState(t *testing.T) {
	type p = pkt
	c2s := func(f uint8, ms int64) p { return seg(ProtoTCP, cli, srv, f, ms) }
	s2c := func(f uint8, ms int64) p { return seg(ProtoTCP, srv, cli, f, ms) }
	data := func(x p) p { x.tcpPayload = true; return x }
	cases := []struct {
		name  string
		pkts  []p
		state State
		dir   Direction
	}{
		{"handshake and close", []p{c2s(S, 0), s2c(SA, 1), c2s(A, 2), data(c2s(PA, 3)), s2c(FA, 4), c2s(FA, 5), s2c(A, 6)}, SF, DirSYN},
		{"unanswered SYN with retransmits", []p{c2s(S, 0), c2s(S, 1000), c2s(S, 3000)}, S0, DirSYN},
		{"refused", []p{c2s(S, 0), s2c(RA, 1)}, REJ, DirSYN},
		{"established, not closed", []p{c2s(S, 0), s2c(SA, 1), c2s(A, 2)}, S1, DirSYN},
		{"SYN and SYN-ACK only", []p{c2s(S, 0), s2c(SA, 1)}, S1, DirSYN},
		{"client aborts", []p{c2s(S, 0), s2c(SA, 1), c2s(A, 2), c2s(RA, 3)}, RSTO, DirSYN},
		{"server aborts", []p{c2s(S, 0), s2c(SA, 1), c2s(A, 2), s2c(R, 3)}, RSTR, DirSYN},
		{"SYN then RST from client", []p{c2s(S, 0), c2s(R, 1)}, RSTOS0, DirSYN},
		{"SYN then FIN from client", []p{c2s(S, 0), c2s(FA, 1)}, SH, DirSYN},
		{"client closes, server silent", []p{c2s(S, 0), s2c(SA, 1), c2s(A, 2), c2s(FA, 3)}, S2, DirSYN},
		{"server closes, client silent", []p{c2s(S, 0), s2c(SA, 1), c2s(A, 2), s2c(FA, 3)}, S3, DirSYN},
		{"missing SYN: SYN-ACK first", []p{s2c(SA, 0), c2s(A, 1), data(c2s(PA, 2))}, OTH, DirSYNACK},
		{"SYN-ACK then RST, no SYN", []p{s2c(SA, 0), s2c(R, 1)}, RSTRH, DirSYNACK},
		{"SYN-ACK then FIN, no SYN", []p{s2c(SA, 0), s2c(FA, 1)}, SHR, DirSYNACK},
		{"midstream, one-sided", []p{data(c2s(PA, 0)), data(c2s(PA, 1))}, OTH, DirServicePort},
		{"midstream, server speaks first", []p{data(s2c(PA, 0)), data(c2s(PA, 1))}, OTH, DirServicePort},
		{"simultaneous open", []p{c2s(S, 0), s2c(S, 1), s2c(SA, 2), c2s(SA, 3), c2s(A, 4)}, S1, DirSYN},
	}
	server := func(proto uint8, port uint16) bool { return port == 443 }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flows := runTable(t, Options{ServerPort: server}, tc.pkts...)
			if len(flows) != 1 {
				t.Fatalf("got %d flows, want 1", len(flows))
			}
			f := flows[0]
			if f.State != tc.state || f.Direction != tc.dir {
				t.Errorf("state %v direction %v, want %v %v", f.State, f.Direction, tc.state, tc.dir)
			}
			if f.Client.String() != cli || f.Server.String() != srv {
				t.Errorf("client %v server %v, want %s %s", f.Client, f.Server, cli, srv)
			}
			var n uint64
			for _, x := range tc.pkts {
				if x.src == netip.MustParseAddrPort(cli).Addr().As16() {
					n++
				}
			}
			if f.Packets[ToServer] != n || f.Packets[ToServer]+f.Packets[ToClient] != uint64(len(tc.pkts)) {
				t.Errorf("packets %v, want %d to the server of %d", f.Packets, n, len(tc.pkts))
			}
		})
	}
}

func TestDirectionHeuristics(t *testing.T) {
	server := func(proto uint8, port uint16) bool { return port == 53 || port == 3389 }
	cases := []struct {
		name           string
		first          pkt
		client, server string
		dir            Direction
	}{
		{"service port is the server", seg(ProtoUDP, "192.0.2.53:53", "192.0.2.9:40000", 0, 0), "192.0.2.9:40000", "192.0.2.53:53", DirServicePort},
		{"registered service port", seg(ProtoTCP, "192.0.2.9:3389", "192.0.2.7:62000", A, 0), "192.0.2.7:62000", "192.0.2.9:3389", DirServicePort},
		{"lower port class is the server", seg(ProtoUDP, "192.0.2.1:5000", "192.0.2.2:50000", 0, 0), "192.0.2.2:50000", "192.0.2.1:5000", DirPortClass},
		{"both ephemeral: first packet", seg(ProtoUDP, "192.0.2.1:50001", "192.0.2.2:50002", 0, 0), "192.0.2.1:50001", "192.0.2.2:50002", DirFirstPacket},
		// elastiflow #462: client port 1366 to Kibana 5601 must not make 1366 the server
		{"two registered ports: first packet", seg(ProtoTCP, "192.0.2.1:1366", "192.0.2.2:5601", A, 0), "192.0.2.1:1366", "192.0.2.2:5601", DirFirstPacket},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := runTable(t, Options{ServerPort: server}, tc.first)[0]
			if f.Client.String() != tc.client || f.Server.String() != tc.server || f.Direction != tc.dir {
				t.Errorf("got %v -> %v (%v), want %s -> %s (%v)", f.Client, f.Server, f.Direction, tc.client, tc.server, tc.dir)
			}
		})
	}
}

func TestICMPDirectionAndQuote(t *testing.T) {
	reply := pkt{ts: t0, wire: 98, proto: ProtoICMP, kind: kindFlow, icmpType: 0,
		src: netip.MustParseAddr("198.51.100.2").As16(), dst: netip.MustParseAddr("192.0.2.1").As16()}
	f := runTable(t, Options{}, reply)[0]
	if f.Client.Addr().String() != "192.0.2.1" || f.Direction != DirICMP || f.State != SHR {
		t.Errorf("echo reply seen alone: client %v dir %v state %v; want the reply's receiver as client, icmp, SHR", f.Client, f.Direction, f.State)
	}

	// A UDP query, then an ICMP port unreachable that quotes it.
	q := seg(ProtoUDP, "192.0.2.1:40000", "198.51.100.2:161", 0, 0)
	unreach := pkt{ts: t0 + 1e6, wire: 70, proto: ProtoICMP, kind: kindICMPQuote, icmpType: 3, icmpCode: 3,
		src: netip.MustParseAddr("198.51.100.2").As16(), dst: netip.MustParseAddr("192.0.2.1").As16(),
		hasQuote: true, qsrc: q.src, qdst: q.dst, qsport: 40000, qdport: 161, qproto: ProtoUDP}
	flows := runTable(t, Options{}, q, unreach)
	if len(flows) != 1 {
		t.Fatalf("got %d flows", len(flows))
	}
	u := flows[0]
	if len(u.ICMPErrors) != 1 || u.ICMPErrors[0].Type != 3 || u.ICMPErrors[0].Code != 3 || u.ICMPErrors[0].Count != 1 ||
		u.ICMPErrors[0].From.String() != "198.51.100.2" {
		t.Errorf("icmp errors %+v", u.ICMPErrors)
	}
	if u.Packets != [2]uint64{1, 0} || u.Bytes != [2]uint64{60, 0} {
		t.Errorf("the ICMP error must not count as flow traffic: packets %v bytes %v", u.Packets, u.Bytes)
	}
}

func TestPortReuseAndTimeouts(t *testing.T) {
	c2s := func(f uint8, ms int64) pkt { return seg(ProtoTCP, cli, srv, f, ms) }
	s2c := func(f uint8, ms int64) pkt { return seg(ProtoTCP, srv, cli, f, ms) }
	flows := runTable(t, Options{},
		c2s(S, 0), s2c(SA, 1), c2s(A, 2), c2s(FA, 3), s2c(FA, 4), c2s(A, 5),
		c2s(S, 100), s2c(RA, 101), // a new connection on the same 4-tuple after close
		c2s(S, 200), // a refused connection's retry is a connection of its own, as in Zeek
	)
	if len(flows) != 3 || flows[0].State != SF || flows[0].End != EndReused || flows[1].State != REJ || flows[2].State != S0 {
		for _, f := range flows {
			t.Logf("%v %v %v", f.State, f.End, f.Packets)
		}
		t.Fatalf("port reuse: want SF (port-reuse), REJ, S0")
	}

	u := func(ms int64) pkt { return seg(ProtoUDP, "192.0.2.1:40000", "192.0.2.53:53", 0, ms) }
	flows = runTable(t, Options{}, u(0), u(59_000), u(59_000+61_000))
	if len(flows) != 2 || flows[0].Packets[0] != 2 || flows[0].End != EndTimeout || flows[1].Packets[0] != 1 {
		t.Fatalf("UDP idle timeout: got %d flows %+v", len(flows), flows)
	}
	flows = runTable(t, Options{UDPTimeout: 10 * time.Second}, u(0), u(11_000))
	if len(flows) != 2 {
		t.Fatalf("configured UDP timeout: got %d flows, want 2", len(flows))
	}
}

func TestMaxFlowsEvictsOldest(t *testing.T) {
	var pk []pkt
	for i := range 10 {
		pk = append(pk, seg(ProtoUDP, netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 40000).String(), "192.0.2.53:53", 0, int64(i)))
	}
	pk = append(pk, seg(ProtoUDP, "192.0.2.1:40000", "192.0.2.53:53", 0, 20)) // the first flow again, after its eviction
	o := Options{MaxFlows: 4}
	o.defaults()
	var out []Flow
	tb := newTable(&o, 4, func(f *Flow) { out = append(out, *f) })
	for i := range pk {
		tb.add(&pk[i])
		if tb.index.len() > 4 {
			t.Fatalf("table holds %d flows, cap 4", tb.index.len())
		}
	}
	if tb.evicted != 7 || out[0].Client.Addr().String() != "192.0.2.1" || out[0].End != EndEvicted {
		t.Fatalf("evicted %d; first emitted %v %v", tb.evicted, out[0].Client, out[0].End)
	}
}

func TestFragmentsJoinTheirFlow(t *testing.T) {
	first := seg(ProtoUDP, "192.0.2.1:40000", "192.0.2.53:53", 0, 1)
	first.fragFirst, first.fragID = true, 77
	next := pkt{ts: t0, wire: 600, proto: ProtoUDP, kind: kindFragment, fragID: 77, src: first.src, dst: first.dst}
	var got []pkt
	var ft fragTable
	ft.init()
	s := &stage{st: &InputStats{}, frags: ft, sink: func(p *pkt) { got = append(got, *p) }}
	s.dispatch(&next) // arrives before its first fragment: held
	if len(got) != 0 {
		t.Fatalf("held fragment was passed on")
	}
	s.dispatch(&first)
	if len(got) != 2 || got[1].sport != 40000 || got[1].dport != 53 || got[1].kind != kindFragment {
		t.Fatalf("fragment not released with the first fragment's ports: %+v", got)
	}
	later := next
	later.ts += 2e6
	s.dispatch(&later)
	if len(got) != 3 || got[2].dport != 53 {
		t.Fatalf("later fragment not attached")
	}
	if n := s.frags.orphans(); n != 0 {
		t.Fatalf("%d orphans", n)
	}
}

// TestFlushStoppedKeepsIndex: a flush that ends every flow clears the index at once
// instead of removing each flow from it; stopped part way, the flows it did not end are
// found again through the index, and those it ended are not, so that the table stays
// usable: a packet of an ended flow starts a new one, one of an open flow joins it.
func TestFlushStoppedKeepsIndex(t *testing.T) {
	o := Options{}
	o.defaults()
	var out []Flow
	tb := newTable(&o, o.MaxFlows, func(f *Flow) { out = append(out, *f) })
	const n = 3000
	addr := func(i int) string {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 250)}), uint16(40000+i)).String()
	}
	for i := range n {
		p := seg(ProtoUDP, addr(i), "192.0.2.53:53", 0, int64(i))
		tb.add(&p)
	}
	calls := 0
	if tb.flushAt(EndInput, tb.seq|atFlush, func() bool { calls++; return calls == 2 }) {
		t.Fatal("the flush was not stopped")
	}
	ended := len(out)
	if ended != 2047 || tb.index.len() != n-ended {
		t.Fatalf("%d flows ended, %d left in the index; want 2047 and %d", ended, tb.index.len(), n-2047)
	}
	// The flows end in order of last activity: the first 2047 added.
	for i := range n {
		p := seg(ProtoUDP, addr(i), "192.0.2.53:53", 0, int64(n+i))
		k, _ := makeKey(p.proto, p.src, p.dst, p.sport, p.dport, p.vlan, 0)
		_, found := tb.index.find(tb, &k, tb.index.hash(&k))
		if found != (i >= ended) {
			t.Fatalf("flow %d: found %v in the index, want %v", i, found, i >= ended)
		}
	}
	tb.flush(EndInput)
	if len(out) != n || tb.index.len() != 0 {
		t.Fatalf("%d flows in all after the last flush, %d in the index; want %d and 0", len(out), tb.index.len(), n)
	}
}
