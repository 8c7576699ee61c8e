package synth

import (
	"fmt"
	"net/netip"
	"time"
)

// The flows scenario (KindFlows) is the flow-heavy benchmark capture of issue 12: what
// a flow tool pays per flow rather than per packet. By default 2.1M packets over 500k
// flows (4.2 packets a flow), about 20k of them open at once in a flow table with
// portclass's default idle timeouts, among tens of thousands of hosts. Its shape, as
// shares of the flows a table keyed as portclass's sees:
//
//   - TCP 50 %: short established connections 32 % (handshake, a request and a
//     one-segment answer, close: 8 packets, some 10 or more), SYNs nobody answers
//     10 % (one to three tries), SYNs refused by a RST 8 % (Windows clients retry
//     twice, 0.5 s apart, half the time);
//   - UDP 42 %: DNS 30 % (seven in ten to one busy resolver), other services and
//     both-ephemeral pairs 10 %, datagrams answered by an ICMP port unreachable 2 %;
//   - ICMP 8 %: echo 6 %, the unreachable errors 2 % (a flow of their own);
//   - IPv6 20 % of every kind, an 802.1Q tag on 5 % of the clients.
//
// Flows start at a steady rate (exponential gaps) chosen so that the table holds about
// Flows/flowsPerOpen flows at once: a flow stays there until its idle timeout after
// its last packet, 5 minutes for TCP and 1 minute for UDP and ICMP, so the mean stay
// is about 174 s (the hold of flowsKinds) and the capture lasts 174·flowsPerOpen
// seconds, 73 minutes, whatever its size: a scaled-down capture keeps the shape and
// the ratio. TestFlowsShape measures the open flows with portclass's own flow table
// (at most 20.4k for the default size).
//
// Hosts come from pools that grow with Flows: one IPv4 client per flowsPerClient
// flows (50k for the default, in 198.18.0.0/16 and 198.19.0.0/17, RFC 2544's
// benchmarking range, as the documentation /24s of the other scenarios are too small),
// a quarter as many IPv6 clients (2001:db8:c1::/48) for a fifth of the flows, so an
// address of either family has about eight flows; one server per flowsPerServer flows
// (about 3,000 in 198.19.128.0/17, a quarter of that in 2001:db8:5e::/48), picked with
// an exponential skew towards the first ones, and one resolver (198.19.255.53,
// 2001:db8:53::53) with most of the DNS clients: the per-host work of Veeam role
// inference, and of the attempts and talker sections, grows with hosts and peers.
//
// Packets are exactly Packets: the established connections' sizes are drawn around what
// the budget leaves per flow (as the mix scenario does), the other kinds have fixed
// small shapes. The flows are as requested to within a few percent when the budget
// allows 8-packet connections (about 4.1 packets a flow or more); with fewer packets
// the capture ends before every flow started.
const (
	DefaultFlowsPackets = 2_100_000
	DefaultFlowsFlows   = 500_000
	// DefaultBurstSpan is the Span of the burst capture (make bench-compare,
	// BenchmarkAfterTable): the flows capture's flows started within 70 s, as many open
	// at once as the argus of issue 12 held (its 575 MB).
	DefaultBurstSpan = 70 * time.Second

	flowsPerOpen   = 25  // flows per flow open at once: 500k flows keep about 20k open
	flowsPerClient = 10  // flows per client address
	flowsPerServer = 160 // flows per server address
	flowsV6        = 0.20
	flowsResolver  = 0.7 // share of DNS flows that go to the busy resolver
	flowsVLANMod   = 20  // a client whose index is 7 mod 20 sits on a tagged VLAN

	// Address pools: 250 hosts per /24 (.1-.250). Clients fill 198.18.0.0/16 and
	// 198.19.0.0/17 (384 /24s), servers 198.19.128.0/24 to 198.19.253.0/24.
	flowsMaxClients = 384 * 250
	flowsMaxServers = 126 * 250
)

// flowsKinds are the kinds of flow of the scenario. weight is the kind's share of the
// flows as portclass counts them; flows is the mean number of such flows one spec
// makes (a datagram answered by an ICMP error makes a UDP flow and an ICMP flow; each
// retry of a refused connection is a flow of its own, as a SYN on the 4-tuple of a
// reset connection starts a new one), packets the mean packets of one spec, hold the
// mean seconds one of the flows stays in a flow table with portclass's default
// timeouts: the idle timeout plus the spec's duration, shared among flows that follow
// each other (a refused connection's retry ends the flow of the try before). They
// must agree with flow() (TestFlowsKinds): the budget and the start rate are computed
// from them.
var flowsKinds = [...]struct {
	what    uint8
	weight  float64
	flows   float64
	packets float64
	hold    float64
}{
	{mixTCP, 0.32, 1, 0, 300.2},                                      // packets: what the budget leaves (sizeTCP)
	{mixUnanswered, 0.10, 1, 1.4, 300.5},                             // tries 1, 2, 3: 70, 20, 10 %; retransmits after 1 and 3 s
	{mixRefused, 0.08, 1 + 2./6, 2 * (1 + 2./6), 300.2 / (1 + 2./6)}, // one try, or three 0.5 s apart for half the Windows clients
	{mixDNS, 0.30, 1, 2 * 1.1, 60},                                   // a second question (AAAA) in one flow of ten
	{mixUDP, 0.10, 1, 2 * 1.5, 60.1},                                 // one or two rounds
	{mixEcho, 0.06, 1, 2 * 1.5, 60.5},                                // one or two echoes, a second apart
	{mixUnreachable, 0.04, 2, 2 * 1.5, 60.5},                         // one or two tries, a second apart
}

// flowsStats derives from flowsKinds: the probability of each kind per spec (its
// weight per flow it makes, normalised), the mean packets per flow of every kind but
// the established connections, and the mean hold per flow.
func flowsStats() (cum [len(flowsKinds)]float64, small, hold float64) {
	total := 0.0
	for _, k := range flowsKinds {
		total += k.weight / k.flows
	}
	acc := 0.0
	for i, k := range flowsKinds {
		acc += k.weight / k.flows / total
		cum[i] = acc
		if k.what != mixTCP {
			small += k.weight * k.packets / k.flows
		}
		hold += k.weight * k.hold
	}
	cum[len(cum)-1] = 1
	return cum, small, hold
}

// flowsGen plans the flows of the flows scenario.
type flowsGen struct {
	e         *engine
	n, f      int
	started   int // flows (as portclass counts them) of the specs started
	committed int // packets of the specs started
	t         time.Duration
	gap       float64 // mean µs between flow starts
	cum       [len(flowsKinds)]float64
	small     float64 // packets per flow of the kinds other than established TCP
	pTCP      float64 // share of established TCP flows
	clients   int     // IPv4 client pool; the IPv6 pool is a quarter of it
	servers   int     // IPv4 server pool; likewise
	ports     [2][]uint16
	tcpWeight int
}

func genFlows(s Scenario, start time.Time, sink func(Packet) error) error {
	g, err := newFlowsGen(s, start, sink)
	if err != nil {
		return err
	}
	return g.e.run(g.next, g.n)
}

func newFlowsGen(s Scenario, start time.Time, sink func(Packet) error) (*flowsGen, error) {
	n, f := s.Packets, s.Flows
	if n == 0 {
		n = DefaultFlowsPackets
	}
	if f == 0 {
		f = DefaultFlowsFlows
	}
	if n < 0 || f < 0 {
		return nil, fmt.Errorf("flows scenario: packets %d and flows %d must not be negative", n, f)
	}
	if err := checkMSS(s); err != nil {
		return nil, err
	}
	g := &flowsGen{e: newEngine(s.Seed, start, sink), n: n, f: f}
	g.e.mss = s.MSS
	var hold float64
	g.cum, g.small, hold = flowsStats()
	g.pTCP = flowsKinds[0].weight
	open := max(1, float64(f)/flowsPerOpen)
	g.gap = hold / open * 1e6
	if s.Span < 0 {
		return nil, fmt.Errorf("flows scenario: span %v must not be negative", s.Span)
	}
	if s.Span > 0 {
		g.gap = float64(s.Span.Microseconds()) / max(1, float64(f))
	}
	g.clients = min(flowsMaxClients, max(16, f/flowsPerClient))
	g.servers = min(flowsMaxServers, max(8, f/flowsPerServer))
	g.ports[0] = make([]uint16, g.clients)
	g.ports[1] = make([]uint16, max(1, g.clients/4))
	for _, p := range mixTCPPorts {
		g.tcpWeight += int(p.weight)
	}
	return g, nil
}

func (g *flowsGen) next() (spec, bool) {
	if g.started >= g.f && g.committed >= g.n {
		return spec{}, false
	}
	sp := g.flow()
	flows := 1
	switch sp.kind {
	case kindTCPRefused:
		flows = sp.tries
	case kindUDPUnreachable:
		flows = 2
	}
	sp.start = g.t
	g.t += time.Duration(g.e.rng.ExpFloat64()*g.gap*float64(flows)) * time.Microsecond
	g.started += flows
	g.committed += sp.packets()
	return sp, true
}

// v4Host is host i of the pool that starts at the /24 of base: 250 hosts per /24.
func v4Host(base [4]byte, i int) netip.Addr {
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8
	n += uint32(i/250)<<8 | uint32(i%250+1)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// v6Host is host i of the /48 2001:db8:net::/48.
func v6Host(net uint16, i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(net >> 8), byte(net),
		12: byte((i + 1) >> 24), 13: byte((i + 1) >> 16), 14: byte((i + 1) >> 8), 15: byte(i + 1)})
}

// client picks a client host (uniformly) and its next ephemeral port.
func (g *flowsGen) client(v6 bool) (netip.AddrPort, [2]uint16, uint8) {
	rng := g.e.rng
	fam := 0
	if v6 {
		fam = 1
	}
	i := rng.IntN(len(g.ports[fam]))
	windows := i%3 == 0
	lo, hi := 32768, 60999 // Linux net.ipv4.ip_local_port_range
	ttl := uint8(64)
	if windows {
		lo, hi, ttl = 49152, 65535, 128
	}
	p := &g.ports[fam][i]
	if *p == 0 {
		*p = uint16(lo + rng.IntN(hi-lo+1))
	}
	port := *p
	*p++
	if int(*p) > hi || *p == 0 {
		*p = uint16(lo)
	}
	var vlan [2]uint16
	if i%flowsVLANMod == 7 {
		vlan[0] = uint16(100 + i%3)
	}
	a := v4Host([4]byte{198, 18, 0, 0}, i)
	if v6 {
		a = v6Host(0xc1, i)
	}
	return netip.AddrPortFrom(a, port), vlan, ttl
}

// server picks a server host, skewed towards the first of the pool (exponentially,
// with a mean of an eighth of it; the tail beyond the pool is spread over all of it).
// Four servers in ten are internal (answer in 0.15-3 ms, TTL 128 or 64), the others
// external (5-90 ms).
func (g *flowsGen) server(v6 bool) (netip.Addr, time.Duration, uint8) {
	rng := g.e.rng
	n := g.servers
	if v6 {
		n = max(1, n/4)
	}
	i := int(rng.ExpFloat64() * float64(n) / 8)
	if i >= n {
		i = rng.IntN(n)
	}
	a := v4Host([4]byte{198, 19, 128, 0}, i)
	if v6 {
		a = v6Host(0x5e, i)
	}
	if i%10 < 4 {
		ttl := uint8(128 - 1)
		if i%2 == 0 {
			ttl = 64 - 1
		}
		return a, g.e.us(150, 3000), ttl
	}
	return a, g.e.us(5000, 90000), 64 - 12
}

// resolver is the busy DNS server: internal, Linux.
func (g *flowsGen) resolver(v6 bool) (netip.Addr, time.Duration, uint8) {
	a := netip.AddrFrom4([4]byte{198, 19, 255, 53})
	if v6 {
		a = netip.MustParseAddr("2001:db8:53::53")
	}
	return a, g.e.us(150, 1500), 64 - 1
}

// flow draws the next spec.
func (g *flowsGen) flow() spec {
	e, rng := g.e, g.e.rng
	k := len(flowsKinds) - 1
	x := rng.Float64()
	for i, c := range g.cum {
		if x < c {
			k = i
			break
		}
	}
	what := flowsKinds[k].what
	v6 := rng.Float64() < flowsV6
	c, vlan, cttl := g.client(v6)
	srv, rtt, sttl := g.server(v6)
	sp := spec{client: c, vlan: vlan, rtt: rtt, cttl: cttl, sttl: sttl,
		gap: e.us(12, 120), think: e.us(1000, 200000)}
	windows := cttl == 128
	switch what {
	case mixTCP:
		port := g.tcpPort()
		if rng.Float64() < 0.05 {
			port = uint16(49152 + rng.IntN(16384)) // both ends ephemeral
		}
		sp.server = netip.AddrPortFrom(srv, port)
		g.sizeTCP(&sp)
	case mixUnanswered:
		sp.kind = kindTCPUnanswered
		port := g.tcpPort()
		if rng.Float64() < 0.3 {
			port = uint16(1024 + rng.IntN(48128)) // a registered port nothing listens on
		}
		sp.server = netip.AddrPortFrom(srv, port)
		switch y := rng.Float64(); {
		case y < 0.7:
			sp.tries = 1
		case y < 0.9:
			sp.tries = 2
		default:
			sp.tries = 3
		}
	case mixRefused:
		sp.kind = kindTCPRefused
		sp.server = netip.AddrPortFrom(srv, g.tcpPort())
		sp.tries = 1
		if windows && rng.Float64() < 0.5 {
			sp.tries = 3
		}
	case mixDNS:
		if rng.Float64() < flowsResolver {
			srv, sp.rtt, sp.sttl = g.resolver(v6)
		}
		sp.kind, sp.shape = kindUDP, shapeDNS
		sp.server = netip.AddrPortFrom(srv, 53)
		sp.rounds = 1
		if rng.Float64() < 0.1 {
			sp.rounds = 2
		}
		sp.name = uint8(rng.IntN(len(dnsNames)))
		sp.think = e.us(50, 2000)
	case mixUDP, mixEcho, mixUnreachable:
		e.other(&sp, what, srv, windows, flowsOther)
	}
	return sp
}

// flowsOther: shorter exchanges than the mix's.
var flowsOther = otherDraws{udpRounds: 2, udpThink: 500000, echoTries: 2, unreachTries: 2}

func (g *flowsGen) tcpPort() uint16 { return weightedTCPPort(g.e.rng, g.tcpWeight) }

// sizeTCP makes sp a short TCP connection whose packet count is drawn around what the
// budget leaves per flow: 8 packets and an exponential number more, with a mean that
// makes the packets and the flows come out together. The extra packets are rounded
// at random (up with the probability of the fraction) so that small means are met.
func (g *flowsGen) sizeTCP(sp *spec) {
	rng := g.e.rng
	left := g.f - g.started
	per := float64(g.n - g.committed)
	if left > 0 {
		per /= float64(left)
	}
	mean := max((per-g.small)/g.pTCP, 8)
	extra := rng.ExpFloat64() * (mean - 8)
	extra = min(extra, 20*mean)
	g.e.connection(sp, 8+int(extra+rng.Float64()))
}
