package reports

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/classify"
)

// Unexpected is the unexpected traffic (see classify.Reason) to one server address and
// port, of one application protocol: the flows nothing explains, grouped. The
// section lists the largest first.
type Unexpected struct {
	Proto       string   `json:"proto"`
	Client      string   `json:"client,omitempty"` // the only client; "" when there are several
	ClientCount uint64   `json:"client_count"`     // distinct clients, counted up to 1024
	Server      string   `json:"server"`           // the server's address
	Port        uint16   `json:"port"`
	Service     string   `json:"service"`      // the port's service name, shown but never an explanation
	App         string   `json:"app_protocol"` // recognised from the payload, "" when not
	Reasons     []string `json:"reasons"`      // the union of its flows' reasons
	First       Time     `json:"first,omitzero"`
	Last        Time     `json:"last,omitzero"`
	Counts

	key     unexpectedKey
	reasons classify.Reasons
	clients smallSet[netip.Addr]
}

// UnexpectedRest is the unexpected traffic a summary does not list: the groups beyond
// its Top, and those beyond the section's memory bound.
type UnexpectedRest struct {
	Groups uint64 `json:"groups"`
	Counts
}

// unexpectedKey is what the unexpected section groups flows by: the server port as it
// is (also for protocols without ports) and the application protocol.
type unexpectedKey = endpointKey

// maxUnexpected bounds the groups the section keeps while summing; the flows of
// further groups are counted in the rest.
const maxUnexpected = 100_000

// unexpectedAgg sums the unexpected section.
type unexpectedAgg struct {
	groups   map[unexpectedKey]*Unexpected
	overflow UnexpectedRest
}

// add counts f when it is unexpected traffic.
func (u *unexpectedAgg) add(f *classify.Flow) {
	if f.Unexpected == 0 {
		return
	}
	k := unexpectedKey{addr: keyOf(f.Server.Addr()), port: f.Server.Port(), proto: f.Proto, app: uint8(f.App)}
	g := u.groups[k]
	if g == nil {
		if u.groups == nil {
			u.groups = map[unexpectedKey]*Unexpected{}
		}
		if len(u.groups) >= maxUnexpected {
			u.overflow.add(f)
			return
		}
		g = &Unexpected{key: k}
		u.groups[k] = g
	}
	g.add(f)
	g.reasons |= f.Unexpected
	g.Service = minService(g.Service, f.Service)
	g.clients.add(f.Client.Addr(), maxAttemptClients)
	spanOf(&g.First, &g.Last, f)
}

// summary returns the groups, largest first, cut to top (0: all), and what is left
// out (nil when nothing is).
func (u *unexpectedAgg) summary(top int) ([]Unexpected, *UnexpectedRest) {
	order := func(x, y *Unexpected) int {
		if c := cmp.Compare(y.Bytes, x.Bytes); c != 0 {
			return c // most groups: the rest is not computed
		}
		return cmp.Or(cmp.Compare(x.key.proto, y.key.proto),
			x.key.server().Compare(y.key.server()), cmp.Compare(x.key.app, y.key.app))
	}
	all := make([]*Unexpected, 0, len(u.groups))
	for _, g := range u.groups {
		all = append(all, g)
	}
	slices.SortFunc(all, order)
	rest := u.overflow
	if top > 0 && len(all) > top {
		for _, g := range all[top:] {
			rest.Groups++
			rest.Flows += g.Flows
			rest.Packets += g.Packets
			rest.Bytes += g.Bytes
		}
		all = all[:top]
	}
	list := make([]Unexpected, 0, len(all))
	for _, g := range all {
		e := *g
		e.Proto = capture.ProtoName(g.key.proto)
		e.Server = g.key.addr.addr().String()
		e.Port = g.key.port
		e.App = appid.Protocol(g.key.app).String()
		e.Reasons = g.reasons.Names()
		e.ClientCount = uint64(g.clients.len())
		if e.ClientCount == 1 {
			for c := range g.clients.all() {
				e.Client = c.String()
			}
		}
		e.First.Time, e.Last.Time = e.First.UTC(), e.Last.UTC()
		e.key, e.reasons, e.clients = unexpectedKey{}, 0, smallSet[netip.Addr]{}
		list = append(list, e)
	}
	if rest == (UnexpectedRest{}) {
		return list, nil
	}
	return list, &rest
}

// unexpectedSection is the human report's unexpected traffic section.
func unexpectedSection(s *Summary, top string) section {
	num := func(n uint64) string { return strconv.FormatUint(n, 10) }
	sec := section{title: "Unexpected traffic" + top,
		empty: "Nothing unexpected: the policy, a Veeam rule between hosts with roles or the baseline explains every answered flow.",
		cols: []column{{"Protocol", false}, {"Server", false}, {"Port", true}, {"Service", false}, {"App", false}, {"Clients", false},
			{"Reasons", false}, {"Flows", true}, {"Packets", true}, {"Bytes", true}, {"First seen", false}, {"Last seen", false}}}
	for _, u := range s.Unexpected {
		clients := u.Client
		if u.ClientCount != 1 {
			clients = num(u.ClientCount) + " clients"
		}
		sec.rows = append(sec.rows, []string{u.Proto, u.Server, num(uint64(u.Port)), orDash(u.Service, "-"), orDash(u.App, "-"), clients,
			strings.Join(u.Reasons, ", "), num(u.Flows), num(u.Packets), humanBytes(u.Bytes), stamp(u.First.Time), stamp(u.Last.Time)})
	}
	if r := s.UnexpectedRest; r != nil {
		sec.notes = append(sec.notes, num(r.Groups)+" more groups ("+num(r.Flows)+" flows, "+humanBytes(r.Bytes)+") not listed (--top).")
	}
	return sec
}
