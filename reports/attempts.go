package reports

import (
	"cmp"
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

// Reachability says whether a flow shows its server port reachable: ReachEstablished,
// ReachRefused, ReachUnanswered, ReachICMP, or "" when the flow cannot tell (one-way
// UDP, a TCP flow picked up mid-stream, ICMP). The TCP states and the ICMP rule are
// classify.FlowOutcome's, which verify uses for required flows: an ICMP unreachable
// (ICMP type 3, ICMPv6 type 1) that quoted a flow without an answer wins over the
// flow's own state, since a firewall that rejects with ICMP leaves the TCP flow in S0.
// Unlike verify, which checks flows a policy requires, the attempts section counts no
// one-way datagram as a failure: it may belong to a one-way protocol (syslog).
func Reachability(r *Record) string {
	proto, _ := capture.ParseProtoName(r.Proto)
	f := capture.Flow{Proto: proto, State: capture.ParseState(r.State), Packets: [2]uint64{r.PacketsToServer, r.PacketsToClient}}
	if strings.Contains(r.TCPFlagsToClient, "S") {
		f.TCPFlags[capture.ToClient] = capture.FlagSYN
	}
	var blocking [1]capture.ICMPError // FlowOutcome only asks whether one blocks: no allocation
	for _, e := range r.ICMPErrors {
		if classify.BlockingICMP(e.V6, e.Type) {
			blocking[0] = capture.ICMPError{V6: e.V6, Type: e.Type, Code: e.Code, Count: e.Count}
			f.ICMPErrors = blocking[:]
			break
		}
	}
	o := classify.FlowOutcome(&f)
	switch {
	case o == classify.OutcomeICMP:
		return ReachICMP
	case proto == capture.ProtoTCP:
		if f.State == capture.OTH || f.State == capture.RSTRH || f.State == capture.SHR {
			return "" // no SYN seen: no attempt to judge
		}
	case proto == capture.ProtoUDP || proto == capture.ProtoSCTP:
		if o != classify.OutcomeOK {
			return ""
		}
	default:
		return ""
	}
	switch o {
	case classify.OutcomeOK:
		return ReachEstablished
	case classify.OutcomeRefused:
		return ReachRefused
	case classify.OutcomeUnanswered:
		return ReachUnanswered
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

	clients map[string]struct{}
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

	targets map[endpointKey]struct{}
	hosts   map[string]struct{}
	ports   map[uint16]struct{}
}

type endpointKey struct{ proto, server string }

// attempts accumulates the attempts and sweeps sections.
type attempts struct {
	targets     map[endpointKey]*Attempt
	established map[endpointKey]uint64 // answered flows per server endpoint
	clients     map[string]*Sweep
	overflow    uint64
}

func newAttempts() attempts {
	return attempts{targets: map[endpointKey]*Attempt{}, established: map[endpointKey]uint64{}, clients: map[string]*Sweep{}}
}

func (at *attempts) add(r *Record, client, server string, port uint16) {
	reach := Reachability(r)
	k := endpointKey{r.Proto, r.Server}
	if reach == ReachEstablished {
		at.established[k]++
		return
	}
	if reach == "" {
		return
	}
	t := at.targets[k]
	if t == nil {
		if len(at.targets) >= maxAttemptTargets {
			at.overflow++
			return
		}
		t = &Attempt{Proto: r.Proto, Server: r.Server, Port: port, clients: map[string]struct{}{}}
		at.targets[k] = t
	}
	t.Service = minService(t.Service, r.Service)
	countReach(reach, &t.Refused, &t.Unanswered, &t.ICMPBlocked)
	spanOf(&t.First, &t.Last, r)
	if len(t.clients) < maxAttemptClients {
		t.clients[client] = struct{}{}
	}

	s := at.clients[client]
	if s == nil {
		s = &Sweep{Client: client, targets: map[endpointKey]struct{}{}, hosts: map[string]struct{}{}, ports: map[uint16]struct{}{}}
		at.clients[client] = s
	}
	countReach(reach, &s.Refused, &s.Unanswered, &s.ICMPBlocked)
	spanOf(&s.First, &s.Last, r)
	if len(s.targets) < maxSweepTargets {
		s.targets[k] = struct{}{}
		s.hosts[server] = struct{}{}
		s.ports[port] = struct{}{}
	}
}

func countReach(reach string, refused, unanswered, icmp *uint64) {
	switch reach {
	case ReachRefused:
		*refused++
	case ReachUnanswered:
		*unanswered++
	case ReachICMP:
		*icmp++
	}
}

func spanOf(first, last *Time, r *Record) {
	if first.IsZero() || r.First.Before(first.Time) {
		first.Time = r.First
	}
	if r.Last.After(last.Time) {
		last.Time = r.Last
	}
}

// summary returns the attempts (most failed flows first) and sweeps (most targets
// first), cut to top (0: all).
func (at *attempts) summary(top, sweepHosts, sweepPorts int) ([]Attempt, []Sweep) {
	// The order needs only the counts and the server: with a --top, the targets are
	// chosen first and only those get their client lists.
	type target struct {
		k endpointKey
		t *Attempt
	}
	order := func(x, y target) int {
		return cmp.Or(cmp.Compare(y.t.Failed(), x.t.Failed()), cmp.Compare(x.t.Proto, y.t.Proto),
			compareAddrs(HostOf(x.t.Proto, x.t.Server), HostOf(y.t.Proto, y.t.Server)), cmp.Compare(x.t.Port, y.t.Port), cmp.Compare(x.t.Server, y.t.Server))
	}
	var chosen []target
	for k, t := range at.targets {
		if top > 0 {
			chosen = keepTop(chosen, target{k, t}, top, order)
		} else {
			chosen = append(chosen, target{k, t})
		}
	}
	if top <= 0 {
		slices.SortFunc(chosen, order)
	}
	list := make([]Attempt, 0, len(chosen))
	for _, c := range chosen {
		k, t := c.k, c.t
		a := *t
		a.Established = at.established[k]
		a.ClientCount = uint64(len(t.clients))
		a.Clients = make([]string, 0, min(len(t.clients), attemptClientsShow))
		for c := range t.clients {
			a.Clients = append(a.Clients, c)
		}
		slices.SortFunc(a.Clients, compareAddrs)
		a.Clients = slices.Clip(a.Clients[:min(len(a.Clients), attemptClientsShow)])
		a.First.Time, a.Last.Time = a.First.UTC(), a.Last.UTC()
		a.clients = nil
		list = append(list, a)
	}
	sweeps := []Sweep{}
	for _, s := range at.clients {
		if len(s.hosts) < sweepHosts && len(s.ports) < sweepPorts {
			continue
		}
		c := *s
		c.Targets, c.Hosts, c.Ports = uint64(len(s.targets)), uint64(len(s.hosts)), uint64(len(s.ports))
		c.First.Time, c.Last.Time = c.First.UTC(), c.Last.UTC()
		c.targets, c.hosts, c.ports = nil, nil, nil
		sweeps = append(sweeps, c)
	}
	slices.SortFunc(sweeps, func(x, y Sweep) int {
		return cmp.Or(cmp.Compare(y.Targets, x.Targets), compareAddrs(x.Client, y.Client))
	})
	if top > 0 {
		sweeps = sweeps[:min(len(sweeps), top):min(len(sweeps), top)]
	}
	return list, sweeps
}

// attemptsSections are the human report's sections for failed attempts and sweeps.
func attemptsSections(s *Summary, top string) []section {
	num := func(n uint64) string { return strconv.FormatUint(n, 10) }
	sec := section{title: "Failed connection attempts" + top, empty: "No refused, unanswered or ICMP-blocked attempts.",
		cols: []column{{"Protocol", false}, {"Server", false}, {"Service", false}, {"Refused", true}, {"Unanswered", true},
			{"ICMP-blocked", true}, {"Answered", true}, {"Clients", true}, {"First clients", false}, {"Last seen", false}}}
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
