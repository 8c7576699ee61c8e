package reports

import (
	"cmp"
	"encoding/binary"
	"iter"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
)

// Reachability outcomes of a flow, as the attempts section and verify name them.
const (
	ReachEstablished = "established"  // the server answered: a handshake, or replies
	ReachRefused     = "refused"      // a RST answered the SYN (REJ, RSTR without SYN-ACK)
	ReachUnanswered  = "unanswered"   // SYNs (or a SYN and FIN/RST) and nothing back
	ReachICMP        = "icmp-blocked" // an ICMP destination unreachable quoted the attempt
)

// Reachability is how the attempts section and diff name the outcome of a flow that
// is a connection attempt (capture.Outcome.Attempt): ReachEstablished, ReachRefused,
// ReachUnanswered or ReachICMP; "" for a flow that cannot tell (one-way UDP, a TCP
// flow picked up mid-stream, ICMP). Unlike verify, which counts a one-way datagram of a
// required flow as unanswered, the attempts section counts no one-way datagram as a
// failure: it may belong to a one-way protocol (syslog).
func Reachability(o capture.Outcome) string {
	switch o {
	case capture.OutcomeEstablished:
		return ReachEstablished
	case capture.OutcomeRefused:
		return ReachRefused
	case capture.OutcomeUnanswered:
		return ReachUnanswered
	case capture.OutcomeICMPBlocked:
		return ReachICMP
	}
	return ""
}

// Limits on the attempts section's memory: distinct failed targets tracked, clients
// listed per target, and targets counted per client. Beyond them entries are counted
// but not itemised (Summary.AttemptsOverflow says how many flows that was).
const (
	maxAttemptTargets  = 100_000
	maxAttemptClients  = 1024 // distinct clients counted per target
	attemptClientsShow = 8    // clients listed per target
	maxSweepTargets    = 4096 // distinct targets counted per client
	// DefaultSweepHosts and DefaultSweepPorts are the numbers of distinct servers, or
	// of distinct ports, with failed attempts from which a client is listed under
	// "sweeps": Zeek's address-scan and port-scan thresholds (scan.zeek). A backup
	// server whose agent port is blocked on 30 servers is one too.
	DefaultSweepHosts = 25
	DefaultSweepPorts = 15
)

// Attempt is the failed connection attempts to one server address and port: refused,
// unanswered and ICMP-blocked flows, and how many flows to it did get through (a port
// that works for some clients and not others is a firewall rule scoped too narrowly).
type Attempt struct {
	Proto       string   `json:"proto"`
	Server      string   `json:"server"` // "addr:port", or the bare address without ports
	Port        uint16   `json:"port"`
	Service     string   `json:"service"`
	Refused     uint64   `json:"refused"`
	Unanswered  uint64   `json:"unanswered"`
	ICMPBlocked uint64   `json:"icmp_blocked"`
	Established uint64   `json:"established"` // flows to the same server and port that were answered
	Clients     []string `json:"clients"`     // the first clients by address, at most 8
	ClientCount uint64   `json:"client_count"`
	First       Time     `json:"first,omitzero"` // of the failed flows
	Last        Time     `json:"last,omitzero"`

	key     endpointKey
	clients smallSet[addrKey]
}

// Failed is the number of failed flows.
func (a *Attempt) Failed() uint64 { return a.Refused + a.Unanswered + a.ICMPBlocked }

// Sweep is one client with failed attempts to many distinct servers or ports (see
// DefaultSweepHosts): a scan, a sweep, or one service blocked on many servers.
type Sweep struct {
	Client      string `json:"client"`
	Targets     uint64 `json:"targets"` // distinct failed (server, port), counted up to 4096
	Hosts       uint64 `json:"hosts"`   // distinct servers among them
	Ports       uint64 `json:"ports"`   // distinct ports among them
	Refused     uint64 `json:"refused"`
	Unanswered  uint64 `json:"unanswered"`
	ICMPBlocked uint64 `json:"icmp_blocked"`
	First       Time   `json:"first,omitzero"`
	Last        Time   `json:"last,omitzero"`

	client  netip.Addr
	targets smallSet[endpointKey] // the first maxSweepTargets; hosts and ports are counted from them
}

// endpointKey is a server endpoint of one protocol (port 0 without ports), without
// pointers: maps keyed by it hash its bytes and are not scanned by the collector.
//
// The aggregator's keys have no padding (pad fields stay zero): the maps then hash and
// compare them as plain memory, not field by field through generated functions.
type endpointKey struct {
	addr  addrKey
	port  uint16
	proto uint8
	app   uint8 // the unexpected section's application protocol (0 elsewhere)
	pad   uint32
}

func (k endpointKey) server() netip.AddrPort { return netip.AddrPortFrom(k.addr.addr(), k.port) }

// word is k in one word when its address is IPv4: the address, port, protocol and
// application protocol; ok is false for other addresses.
func (k endpointKey) word() (w uint64, ok bool) {
	if k.addr.kind != 4 {
		return 0, false
	}
	return uint64(uint32(k.addr.lo))<<32 | uint64(k.port)<<16 | uint64(k.proto)<<8 | uint64(k.app), true
}

// addrKey is a netip.Addr as a pointer-free value (a netip.Addr holds a pointer for
// its zone, which flows never have): the aggregator's maps of hosts and endpoints key
// by it, which hashes as plain bytes and keeps the maps out of the collector's scans.
type addrKey struct {
	hi, lo uint64
	kind   uint64 // 0: the zero Addr, 4: IPv4, 6: IPv6 (not uint8: no padding)
}

func keyOf(a netip.Addr) addrKey {
	b := a.As16()
	k := addrKey{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
	switch {
	case a.Is4():
		k.kind = 4
	case a.Is6():
		k.kind = 6
	}
	return k
}

// addr is the inverse of keyOf.
func (k addrKey) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	switch k.kind {
	case 4:
		return netip.AddrFrom16(b).Unmap()
	case 6:
		return netip.AddrFrom16(b)
	}
	return netip.Addr{}
}

// attempts accumulates the attempts and sweeps sections.
type attempts struct {
	targets     map[endpointKey]*Attempt
	established map[endpointKey]uint64 // answered flows per server endpoint
	// established4 is established for IPv4 endpoints, by endpointKey.word: an 8-byte
	// key keeps the map of a busy network in cache.
	established4 map[uint64]uint64
	sweeps       []*Sweep // by client, found through its talker (talkerAcc.sweep)
	overflow     uint64
}

func newAttempts() attempts {
	return attempts{targets: map[endpointKey]*Attempt{}, established: map[endpointKey]uint64{}, established4: map[uint64]uint64{}}
}

// add counts flow f, whose server port is port (0 for protocols without ports); sweep
// is the client's index in at.sweeps plus one, which add sets when it makes it.
func (at *attempts) add(f *classify.Flow, port uint16, sweep *int32) {
	k := endpointKey{addr: keyOf(f.Server.Addr()), port: port, proto: f.Proto}
	switch {
	case f.Outcome == capture.OutcomeEstablished:
		if w, ok := k.word(); ok {
			at.established4[w]++
		} else {
			at.established[k]++
		}
		return
	case !f.Outcome.Attempt():
		return
	}
	t := at.targets[k]
	if t == nil {
		if len(at.targets) >= maxAttemptTargets {
			at.overflow++
			return
		}
		t = &Attempt{Port: port, key: k}
		at.targets[k] = t
	}
	client := keyOf(f.Client.Addr())
	t.Service = pickService(t.Service, f.Service, f.IANAService)
	countReach(f.Outcome, &t.Refused, &t.Unanswered, &t.ICMPBlocked)
	spanOf(&t.First, &t.Last, f)
	t.clients.add(client, maxAttemptClients)

	if *sweep == 0 {
		at.sweeps = append(at.sweeps, &Sweep{client: f.Client.Addr()})
		*sweep = int32(len(at.sweeps))
	}
	s := at.sweeps[*sweep-1]
	countReach(f.Outcome, &s.Refused, &s.Unanswered, &s.ICMPBlocked)
	spanOf(&s.First, &s.Last, f)
	s.targets.add(k, maxSweepTargets)
}

func countReach(o capture.Outcome, refused, unanswered, icmp *uint64) {
	switch o {
	case capture.OutcomeRefused:
		*refused++
	case capture.OutcomeUnanswered:
		*unanswered++
	case capture.OutcomeICMPBlocked:
		*icmp++
	}
}

func spanOf(first, last *Time, f *classify.Flow) {
	if first.IsZero() || f.First.Before(first.Time) {
		first.Time = f.First
	}
	if f.Last.After(last.Time) {
		last.Time = f.Last
	}
}

// summary returns the attempts (most failed flows first) and sweeps (most targets
// first), cut to top (0: all). Entries are ordered by their values (protocol name,
// server address, port; client address), as their strings would sort with
// compareAddrs, and only the entries kept get their strings.
func (at *attempts) summary(top, sweepHosts, sweepPorts int) ([]Attempt, []Sweep) {
	order := func(x, y *Attempt) int {
		if c := cmp.Compare(y.Failed(), x.Failed()); c != 0 {
			return c // most pairs: the rest is not computed
		}
		return cmp.Or(cmp.Compare(capture.ProtoName(x.key.proto), capture.ProtoName(y.key.proto)),
			x.key.addr.addr().Compare(y.key.addr.addr()), cmp.Compare(x.Port, y.Port))
	}
	var chosen []*Attempt
	for _, t := range at.targets {
		if top > 0 {
			chosen = keepTop(chosen, t, top, order)
		} else {
			chosen = append(chosen, t)
		}
	}
	if top <= 0 {
		slices.SortFunc(chosen, order)
	}
	list := make([]Attempt, 0, len(chosen))
	for _, t := range chosen {
		a := *t
		a.Proto = capture.ProtoName(t.key.proto)
		a.Server = endpoint(t.key.proto, t.key.server())
		a.Established = at.established[t.key]
		if w, ok := t.key.word(); ok {
			a.Established = at.established4[w]
		}
		a.ClientCount = uint64(t.clients.len())
		clients := make([]netip.Addr, 0, t.clients.len())
		for c := range t.clients.all() {
			clients = append(clients, c.addr())
		}
		slices.SortFunc(clients, netip.Addr.Compare)
		a.Clients = make([]string, 0, min(len(clients), attemptClientsShow))
		for _, c := range clients[:min(len(clients), attemptClientsShow)] {
			a.Clients = append(a.Clients, c.String())
		}
		a.First.Time, a.Last.Time = a.First.UTC(), a.Last.UTC()
		a.key, a.clients = endpointKey{}, smallSet[addrKey]{}
		list = append(list, a)
	}
	sweeps := []Sweep{}
	for _, s := range at.sweeps {
		if s.targets.len() < min(sweepHosts, sweepPorts) {
			continue // fewer targets than either threshold: fewer hosts and ports too
		}
		hosts, ports := map[addrKey]struct{}{}, map[uint16]struct{}{}
		for k := range s.targets.all() {
			hosts[k.addr] = struct{}{}
			ports[k.port] = struct{}{}
		}
		if len(hosts) < sweepHosts && len(ports) < sweepPorts {
			continue
		}
		c := *s
		c.Targets, c.Hosts, c.Ports = uint64(s.targets.len()), uint64(len(hosts)), uint64(len(ports))
		c.First.Time, c.Last.Time = c.First.UTC(), c.Last.UTC()
		c.targets = smallSet[endpointKey]{}
		sweeps = append(sweeps, c)
	}
	slices.SortFunc(sweeps, func(x, y Sweep) int {
		return cmp.Or(cmp.Compare(y.Targets, x.Targets), x.client.Compare(y.client))
	})
	if top > 0 {
		sweeps = sweeps[:min(len(sweeps), top):min(len(sweeps), top)]
	}
	for i := range sweeps {
		sweeps[i].Client, sweeps[i].client = sweeps[i].client.String(), netip.Addr{}
	}
	return list, sweeps
}

// attemptsSections are the human report's sections for failed attempts and sweeps.
func attemptsSections(s *Summary, top string) []section {
	num := func(n uint64) string { return strconv.FormatUint(n, 10) }
	sec := section{title: "Failed connection attempts" + top, empty: "No refused, unanswered or ICMP-blocked attempts.",
		cols: []column{{"Protocol", false}, {"Server", false}, {"Service", false}, {"Refused", true}, {"Unanswered", true},
			{"ICMP-blocked", true}, {"Answered", true}, {"Clients", true}, {"First clients", false}, {"Last seen", false}},
		below: []string{"First clients"}}
	for _, a := range s.Attempts {
		clients := strings.Join(a.Clients, ", ")
		if a.ClientCount > uint64(len(a.Clients)) {
			clients += ", ..."
		}
		sec.rows = append(sec.rows, []string{a.Proto, a.Server, orDash(a.Service, "-"), num(a.Refused), num(a.Unanswered),
			num(a.ICMPBlocked), num(a.Established), num(a.ClientCount), clients, stamp(a.Last.Time)})
	}
	if s.AttemptsOverflow > 0 {
		sec.notes = append(sec.notes, num(s.AttemptsOverflow)+" more failed flows to targets beyond the first 100,000 are not itemised.")
	}
	sw := section{title: "Clients failing on many targets (sweeps, scans, blocked fan-out)" + top,
		empty: "No client failed on enough distinct servers or ports.",
		cols: []column{{"Client", false}, {"Targets", true}, {"Hosts", true}, {"Ports", true}, {"Refused", true},
			{"Unanswered", true}, {"ICMP-blocked", true}, {"First seen", false}, {"Last seen", false}}}
	for _, c := range s.Sweeps {
		sw.rows = append(sw.rows, []string{c.Client, num(c.Targets), num(c.Hosts), num(c.Ports), num(c.Refused),
			num(c.Unanswered), num(c.ICMPBlocked), stamp(c.First.Time), stamp(c.Last.Time)})
	}
	return []section{sec, sw}
}

// smallSet is a set that holds its first members in a slice and moves to a map once
// there are more: most attempt targets have one client and most clients one target,
// and a map per target and per client was most of the attempts section's allocations
// on captures with many failed flows. The zero value is an empty set.
type smallSet[T comparable] struct {
	few  []T
	many map[T]struct{}
}

// smallSetMax is the members a smallSet keeps in its slice.
const smallSetMax = 8

// add puts v in the set unless it holds limit members already.
func (s *smallSet[T]) add(v T, limit int) {
	if s.many != nil {
		if len(s.many) < limit {
			s.many[v] = struct{}{}
		}
		return
	}
	if slices.Contains(s.few, v) {
		return
	}
	if len(s.few) < smallSetMax {
		if len(s.few) < limit {
			s.few = append(s.few, v)
		}
		return
	}
	s.many = make(map[T]struct{}, 2*smallSetMax)
	for _, x := range s.few {
		s.many[x] = struct{}{}
	}
	s.few = nil
	if len(s.many) < limit {
		s.many[v] = struct{}{}
	}
}

func (s *smallSet[T]) len() int {
	if s.many != nil {
		return len(s.many)
	}
	return len(s.few)
}

// all yields the members, in no particular order.
func (s *smallSet[T]) all() iter.Seq[T] {
	return func(yield func(T) bool) {
		if s.many != nil {
			for v := range s.many {
				if !yield(v) {
					return
				}
			}
			return
		}
		for _, v := range s.few {
			if !yield(v) {
				return
			}
		}
	}
}
