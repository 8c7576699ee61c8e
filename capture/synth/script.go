package synth

import (
	"math"
	"net/netip"
	"slices"
	"time"
)

// scripter collects the flows of a scripted scenario (sample, veeam). Scripts say
// what happens when; the scripter fills in client ports, TTLs, VLANs and round-trip
// times from the hosts it was told about, and the seed jitters the details.
type scripter struct {
	e     *engine
	specs []spec
	hosts map[netip.Addr]scriptHost
}

type scriptHost struct {
	windows bool   // ephemeral ports 49152-65535 and TTL 128, else Linux 32768-60999 and 64
	vlan    uint16 // 802.1Q VLAN of the host's segment, 0 if untagged
	next    uint16 // next ephemeral port
}

// runScript builds the flows of script and runs them.
func runScript(seed uint64, start time.Time, script func(*scripter), sink func(Packet) error) error {
	sc := &scripter{e: newEngine(seed, start, sink), hosts: map[netip.Addr]scriptHost{}}
	script(sc)
	slices.SortStableFunc(sc.specs, func(a, b spec) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	i := 0
	return sc.e.run(func() (spec, bool) {
		if i == len(sc.specs) {
			return spec{}, false
		}
		i++
		return sc.specs[i-1], true
	}, 0)
}

// host registers a host; unregistered hosts are Linux boxes without a VLAN.
func (sc *scripter) host(a netip.Addr, windows bool, vlan uint16) {
	sc.hosts[a] = scriptHost{windows: windows, vlan: vlan}
}

// local reports whether a is on the captured segment (192.0.2.0/24, 2001:db8:10::/48).
func local(a netip.Addr) bool {
	return netip.MustParsePrefix("192.0.2.0/24").Contains(a) || netip.MustParsePrefix("2001:db8:10::/48").Contains(a)
}

// conn returns a spec from client c to server s:port starting at, with the client's
// next ephemeral port (port 0 for ICMP flows), TTLs, VLAN and a round-trip time.
func (sc *scripter) conn(at time.Duration, c, s netip.Addr, port uint16, icmp bool) spec {
	e := sc.e
	h := sc.hosts[c]
	lo, hi := 32768, 60999
	if h.windows {
		lo, hi = 49152, 65535
	}
	cport := uint16(0)
	if !icmp {
		if h.next == 0 {
			h.next = uint16(lo + e.rng.IntN((hi-lo)/2))
		}
		cport = h.next
		h.next++
		if int(h.next) > hi || h.next == 0 {
			h.next = uint16(lo)
		}
		sc.hosts[c] = h
	} else {
		port = 0
	}
	sh := sc.hosts[s]
	sp := spec{
		client: netip.AddrPortFrom(c, cport),
		server: netip.AddrPortFrom(s, port),
		start:  at + e.us(0, 20000),
		rtt:    e.us(150, 900),
		gap:    e.us(15, 60),
		think:  e.us(20000, 300000),
		cttl:   64,
		sttl:   64,
	}
	if h.windows {
		sp.cttl = 128
	}
	if sh.windows {
		sp.sttl = 128
	}
	if !local(s) {
		sp.rtt = e.us(8000, 40000)
		sp.sttl -= 9
	}
	if h.vlan != 0 {
		sp.vlan[0] = h.vlan
	} else if sh.vlan != 0 {
		sp.vlan[0] = sh.vlan
	}
	return sp
}

// tcp adds a connection of rounds request/response exchanges: req segments from the
// client and resp from the server per round.
func (sc *scripter) tcp(at time.Duration, c, s netip.Addr, port uint16, rounds, req, resp int) {
	sp := sc.conn(at, c, s, port, false)
	sp.kind, sp.rounds, sp.req, sp.resp = kindTCP, rounds, req, resp
	sp.reqLen = 40 + sc.e.rng.IntN(400)
	sp.respLen = 40 + sc.e.rng.IntN(1200)
	sc.specs = append(sc.specs, sp)
}

// refused adds a SYN answered by RST/ACK (Windows clients try three times).
func (sc *scripter) refused(at time.Duration, c, s netip.Addr, port uint16) {
	sp := sc.conn(at, c, s, port, false)
	sp.kind, sp.tries = kindTCPRefused, 1
	if sc.hosts[c].windows {
		sp.tries = 3
	}
	sc.specs = append(sc.specs, sp)
}

// unanswered adds a SYN that nobody answers, sent tries times.
func (sc *scripter) unanswered(at time.Duration, c, s netip.Addr, port uint16, tries int) {
	sp := sc.conn(at, c, s, port, false)
	sp.kind, sp.tries = kindTCPUnanswered, tries
	sc.specs = append(sc.specs, sp)
}

// udp adds rounds of request and response.
func (sc *scripter) udp(at time.Duration, c, s netip.Addr, port uint16, shape payloadShape, name uint8, rounds int) {
	sp := sc.conn(at, c, s, port, false)
	sp.kind, sp.shape, sp.name, sp.rounds = kindUDP, shape, name, rounds
	sp.reqLen, sp.respLen = 40+sc.e.rng.IntN(200), 40+sc.e.rng.IntN(600)
	if shape == shapeDNS {
		sp.think = sc.e.us(100, 3000)
	}
	sc.specs = append(sc.specs, sp)
}

// unreachable adds a datagram to a closed port answered by ICMP port unreachable.
func (sc *scripter) unreachable(at time.Duration, c, s netip.Addr, port uint16, tries int) {
	sp := sc.conn(at, c, s, port, false)
	sp.kind, sp.tries = kindUDPUnreachable, tries
	sp.reqLen = 40 + sc.e.rng.IntN(60)
	sc.specs = append(sc.specs, sp)
}

// echo adds count ICMP echo request/reply pairs.
func (sc *scripter) echo(at time.Duration, c, s netip.Addr, count int) {
	sp := sc.conn(at, c, s, 0, true)
	sp.kind, sp.tries, sp.reqLen = kindICMPEcho, count, 56
	if sc.hosts[c].windows {
		sp.reqLen = 32
	}
	sc.specs = append(sc.specs, sp)
}

// sec converts seconds to a duration of whole microseconds.
func sec(s float64) time.Duration { return time.Duration(math.Round(s*1e6)) * time.Microsecond }
