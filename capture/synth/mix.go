package synth

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"
)

// The mix scenario's shape. Probabilities are per flow.
const (
	mixClients = 200   // hosts per client pool (IPv4 192.0.2.1-200, IPv6 2001:db8:1::1-c8)
	mixServers = 254   // hosts per server pool
	mixPPS     = 20000 // nominal packet rate: the capture lasts about Packets/mixPPS seconds
	mixV6      = 0.20  // share of flows over IPv6
	// A client whose index is 7 mod 10 sits on a tagged VLAN: about 10 % of flows.
	mixVLANMod = 10
	// mixSmall is the expected packet count of a non-TCP-connection flow weighted by
	// its probability (see mixKinds); TCP connections absorb the rest of the budget.
	mixSmall = 0.06*3.3 + 0.05*2.5 + 0.22*2.6 + 0.10*6 + 0.06*5 + 0.03*4
	mixPTCP  = 0.48 // kindTCP share, including the both-ephemeral connections
)

// mixKinds is the cumulative distribution of flow shapes.
var mixKinds = [...]struct {
	upTo float64
	what uint8
}{
	{0.45, mixTCP},
	{0.48, mixTCPEphemeral},
	{0.54, mixRefused},
	{0.59, mixUnanswered},
	{0.81, mixDNS},
	{0.91, mixUDP},
	{0.97, mixEcho},
	{1.00, mixUnreachable},
}

const (
	mixTCP uint8 = iota
	mixTCPEphemeral
	mixRefused
	mixUnanswered
	mixDNS
	mixUDP
	mixEcho
	mixUnreachable
)

// mixTCPPorts are the server ports of TCP connections, with weights.
var mixTCPPorts = [...]struct{ port, weight uint16 }{
	{443, 40}, {80, 10}, {22, 5}, {445, 8}, {3389, 4}, {8080, 4}, {25, 2}, {993, 3},
	{5432, 2}, {3306, 2}, {389, 3}, {636, 1}, {135, 1}, {6162, 2}, {9392, 1}, {8443, 3},
	{1433, 2}, {5985, 2}, {9100, 1}, {21, 1},
}

// mixUDPPorts are the server ports of non-DNS UDP flows.
var mixUDPPorts = [...]uint16{123, 161, 514, 1194, 3478, 5060, 1812, 5004}

// mixer plans the flows of the mix scenario so that about Flows flows carry exactly
// Packets packets: each new flow's size is drawn around what is left of the packet
// budget divided by the flows still to start, and the engine stops at Packets.
type mixer struct {
	e         *engine
	n, f      int
	started   int
	committed int
	t         time.Duration
	meanGap   float64 // µs between flow starts
	ports     [2][mixClients]uint16
	tcpWeight int
}

func genMix(s Scenario, start time.Time, sink func(Packet) error) error {
	m, err := newMixer(s, start, sink)
	if err != nil {
		return err
	}
	return m.e.run(m.next, m.n)
}

func newMixer(s Scenario, start time.Time, sink func(Packet) error) (*mixer, error) {
	n, f := s.Packets, s.Flows
	if n == 0 {
		n = DefaultMixPackets
	}
	if f == 0 {
		f = DefaultMixFlows
	}
	if n < 0 || f < 0 {
		return nil, fmt.Errorf("mix scenario: packets %d and flows %d must not be negative", n, f)
	}
	if err := checkMSS(s); err != nil {
		return nil, err
	}
	m := &mixer{e: newEngine(s.Seed, start, sink), n: n, f: f}
	m.e.mss = s.MSS
	m.meanGap = float64(n) / mixPPS * 1e6 / float64(f)
	for _, p := range mixTCPPorts {
		m.tcpWeight += int(p.weight)
	}
	return m, nil
}

// checkMSS checks Scenario.MSS.
func checkMSS(s Scenario) error {
	if s.MSS != 0 && (s.MSS < minMSS || s.MSS > maxMSS) {
		return fmt.Errorf("%s scenario: MSS %d out of %d..%d", s.Kind, s.MSS, minMSS, maxMSS)
	}
	return nil
}

func (m *mixer) next() (spec, bool) {
	if m.started >= m.f && m.committed >= m.n {
		return spec{}, false
	}
	sp := m.flow()
	sp.start = m.t
	m.t += time.Duration(m.e.rng.ExpFloat64()*m.meanGap) * time.Microsecond
	m.started++
	m.committed += sp.packets()
	return sp, true
}

// client picks a client host and its next ephemeral port.
func (m *mixer) client(v6 bool) (netip.AddrPort, [2]uint16, uint8) {
	rng := m.e.rng
	i := rng.IntN(mixClients)
	windows := i%3 == 0
	lo, hi := 32768, 60999 // Linux net.ipv4.ip_local_port_range
	ttl := uint8(64)
	if windows {
		lo, hi, ttl = 49152, 65535, 128
	}
	fam := 0
	if v6 {
		fam = 1
	}
	p := &m.ports[fam][i]
	if *p == 0 {
		*p = uint16(lo + rng.IntN(hi-lo+1))
	}
	port := *p
	*p++
	if int(*p) > hi || *p == 0 {
		*p = uint16(lo)
	}
	var vlan [2]uint16
	if i%mixVLANMod == 7 {
		vlan[0] = uint16(100 + i%3)
	}
	var a netip.Addr
	if v6 {
		a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte((i + 1) >> 8), 15: byte(i + 1)})
	} else {
		a = netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
	}
	return netip.AddrPortFrom(a, port), vlan, ttl
}

// server picks a server host, skewed towards a few popular ones; internal servers
// (198.51.100.0/24, 2001:db8:2::/64) answer in about a millisecond, external ones
// (203.0.113.0/24, 2001:db8:3::/64) in tens.
func (m *mixer) server(v6 bool) (netip.Addr, time.Duration, uint8) {
	rng := m.e.rng
	i := int(rng.ExpFloat64()*24) % mixServers
	internal := rng.Float64() < 0.3
	rtt := m.e.us(5000, 90000)
	ttl := uint8(64 - 12)
	if internal {
		rtt = m.e.us(150, 3000)
		ttl = 128 - 1
		if i%2 == 0 {
			ttl = 64 - 1
		}
	}
	if v6 {
		net := byte(3)
		if internal {
			net = 2
		}
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, net, 15: byte(i + 1)}), rtt, ttl
	}
	if internal {
		return netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), rtt, ttl
	}
	return netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), rtt, ttl
}

func (m *mixer) flow() spec {
	e, rng := m.e, m.e.rng
	v6 := rng.Float64() < mixV6
	c, vlan, cttl := m.client(v6)
	srv, rtt, sttl := m.server(v6)
	sp := spec{client: c, vlan: vlan, rtt: rtt, cttl: cttl, sttl: sttl,
		gap: e.us(12, 120), think: e.us(1000, 400000)}
	windows := cttl == 128
	what := mixTCP
	x := rng.Float64()
	for _, k := range mixKinds {
		if x < k.upTo {
			what = k.what
			break
		}
	}
	switch what {
	case mixTCP, mixTCPEphemeral:
		port := m.tcpPort()
		if what == mixTCPEphemeral {
			port = uint16(49152 + rng.IntN(16384))
		}
		sp.server = netip.AddrPortFrom(srv, port)
		m.sizeTCP(&sp)
	case mixRefused:
		sp.kind = kindTCPRefused
		sp.server = netip.AddrPortFrom(srv, m.tcpPort())
		sp.tries = 1
		if windows {
			sp.tries = 3
		}
	case mixUnanswered:
		sp.kind = kindTCPUnanswered
		sp.server = netip.AddrPortFrom(srv, m.tcpPort())
		sp.tries = 1 + rng.IntN(4)
	case mixDNS:
		sp.kind, sp.shape = kindUDP, shapeDNS
		sp.server = netip.AddrPortFrom(srv, 53)
		sp.rounds = 1 + rng.IntN(2)
		sp.name = uint8(rng.IntN(len(dnsNames)))
		sp.think = e.us(50, 2000)
	case mixUDP, mixEcho, mixUnreachable:
		e.other(&sp, what, srv, windows, mixOther)
	}
	return sp
}

// otherDraws are the ranges a scenario draws the flows other than TCP and DNS from.
type otherDraws struct {
	udpRounds    int // UDP exchanges: 1 to udpRounds
	udpThink     int // µs between them, up to
	echoTries    int // ICMP echo requests: 1 to echoTries
	unreachTries int // datagrams to a closed port: 1 to unreachTries
}

var mixOther = otherDraws{udpRounds: 5, udpThink: 1000000, echoTries: 4, unreachTries: 3}

// other makes sp a flow of kind what (mixUDP, mixEcho or mixUnreachable) to the
// server address srv, drawn with d.
func (e *engine) other(sp *spec, what uint8, srv netip.Addr, windows bool, d otherDraws) {
	rng := e.rng
	switch what {
	case mixUDP:
		sp.kind = kindUDP
		port := mixUDPPorts[rng.IntN(len(mixUDPPorts))]
		if rng.Float64() < 0.3 {
			port = uint16(49152 + rng.IntN(16384)) // both ends ephemeral
		}
		sp.server = netip.AddrPortFrom(srv, port)
		if port == 123 {
			sp.shape = shapeNTP
		}
		sp.rounds = 1 + rng.IntN(d.udpRounds)
		sp.reqLen, sp.respLen = 20+rng.IntN(400), 20+rng.IntN(1200)
		sp.think = e.us(1000, d.udpThink)
	case mixEcho:
		sp.kind = kindICMPEcho
		sp.server = netip.AddrPortFrom(srv, 0)
		sp.client = netip.AddrPortFrom(sp.client.Addr(), 0)
		sp.tries = 1 + rng.IntN(d.echoTries)
		sp.reqLen = 56
		if windows {
			sp.reqLen = 32
		}
	case mixUnreachable:
		sp.kind = kindUDPUnreachable
		sp.server = netip.AddrPortFrom(srv, uint16(1024+rng.IntN(8000)))
		sp.tries = 1 + rng.IntN(d.unreachTries)
		sp.reqLen = 20 + rng.IntN(200)
	}
}

func (m *mixer) tcpPort() uint16 { return weightedTCPPort(m.e.rng, m.tcpWeight) }

// weightedTCPPort draws a port of mixTCPPorts by weight (total: the weights' sum).
func weightedTCPPort(rng *rand.Rand, total int) uint16 {
	x := rng.IntN(total)
	for _, p := range mixTCPPorts {
		if x < int(p.weight) {
			return p.port
		}
		x -= int(p.weight)
	}
	return 443
}

// sizeTCP makes sp a TCP connection whose packet count is drawn around what the
// budget still allows per flow.
func (m *mixer) sizeTCP(sp *spec) {
	rng := m.e.rng
	left := m.f - m.started
	per := float64(m.n - m.committed)
	if left > 0 {
		per /= float64(left)
	}
	mean := (per - mixSmall) / mixPTCP
	mean = max(mean, 9)
	total := 8 + int(rng.ExpFloat64()*(mean-8))
	total = min(total, 8+int(20*mean))
	m.e.connection(sp, total)
}

// connection makes sp a TCP connection of about total packets (at least 8: handshake,
// one segment each way, close): 1 to 8 rounds of a one-segment request and a bulk
// answer, or one of five times a bulk upload and a short answer; the server closes
// first in three of ten. spec.packets gives the exact count.
func (e *engine) connection(sp *spec, total int) {
	rng := e.rng
	data := total - 6
	rounds := 1 + rng.IntN(1+min(7, data/50))
	per1 := max(data/rounds, 2)
	bulk := max(1, (2*(per1-1)+2)/3) // n + n/2 ≈ per1 - 1
	sp.kind = kindTCP
	sp.rounds = rounds
	mss := e.segment(sp.client.Addr().Is6())
	if rng.Float64() < 0.2 { // upload
		sp.req, sp.resp = bulk, 1
		sp.reqLen, sp.respLen = 1+rng.IntN(mss), min(20+rng.IntN(200), mss)
	} else {
		sp.req, sp.resp = 1, bulk
		sp.reqLen, sp.respLen = min(40+rng.IntN(560), mss), 1+rng.IntN(mss)
	}
	sp.closeByServer = rng.Float64() < 0.3
}
