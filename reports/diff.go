package reports

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
)

// ReachUnknown is how a diff counts the flows whose reachability [Reachability]
// cannot tell (one-way UDP, ICMP, TCP picked up mid-stream).
const ReachUnknown = "unknown"

// reachOf is Reachability, with ReachUnknown for a flow that cannot tell.
func reachOf(o capture.Outcome) string {
	if reach := Reachability(o); reach != "" {
		return reach
	}
	return ReachUnknown
}

func blocked(reach string) bool {
	return reach == ReachRefused || reach == ReachICMP || reach == ReachUnanswered
}

// Kinds of difference between two captures for one conversation.
const (
	ChangeBlocked = "blocked" // answered before; after, only blocked attempts
	ChangeOpened  = "opened"  // only blocked attempts before; answered after
	ChangeChanged = "changed" // both sides have it, with another mix of outcomes
	ChangeNew     = "new"     // only after
	ChangeGone    = "gone"    // only before
	ChangeSame    = "same"    // the same outcomes (the volume may differ)
)

// Changes lists the kinds of difference in report order (the most urgent first).
func Changes() []string {
	return []string{ChangeBlocked, ChangeOpened, ChangeChanged, ChangeNew, ChangeGone, ChangeSame}
}

// changeMeaning explains each kind of difference in the human reports.
var changeMeaning = map[string]string{
	ChangeBlocked: "answered before, only blocked attempts after",
	ChangeOpened:  "only blocked attempts before, answered after",
	ChangeChanged: "another mix of outcomes (e.g. unanswered became refused, or partly blocked)",
	ChangeNew:     "only after",
	ChangeGone:    "only before",
	ChangeSame:    "the same outcomes (volumes may differ)",
}

// Diff compares the conversations of two summaries, "before" and "after" (typically
// captures taken before and after a firewall change). A conversation is keyed by
// protocol, client address, server address and server port: client ports are
// ephemeral and do not count, and neither does the VLAN. Build it with [Compare].
//
// The field order is the JSON order; new fields are only appended.
type Diff struct {
	SchemaVersion int         `json:"schema_version"`
	Generator     string      `json:"generator"`
	Before        DiffSource  `json:"before"`
	After         DiffSource  `json:"after"`
	Counts        DiffCounts  `json:"counts"`
	Ports         []DiffPort  `json:"ports"`   // server ports with differences (all with DiffOptions.Unchanged), by protocol and port
	Entries       []DiffEntry `json:"entries"` // conversations that differ (all with Unchanged), by protocol, port, change, server, client
	Options       DiffOptions `json:"options"`
	// Interrupted is set when a side is the report of an interrupted run
	// (Summary.Interrupted): its conversations are only those read before it
	// stopped. The side's own fields say which and why. Omitted when false.
	Interrupted   bool `json:"interrupted,omitempty"`
	conversations map[convKey]*DiffEntry
}

// DiffOptions configures Compare.
type DiffOptions struct {
	// Unchanged also lists the conversations (and ports) that did not change.
	Unchanged bool `json:"unchanged"`
}

// DiffSource describes one side of a diff.
type DiffSource struct {
	Source        string   `json:"source"` // what the user named (a capture, a directory or a JSON summary); set by the caller
	Kind          string   `json:"kind"`   // "capture" or "summary"; set by the caller
	Inputs        []string `json:"inputs"` // the capture files analysed, from the summary
	Flows         uint64   `json:"flows"`
	Conversations int      `json:"conversations"`
	// ICMPErrorFlows counts the flows of ICMP error messages (classify.IsICMPError):
	// they are not conversations of their own but show on the flows they quote
	// (DiffSide.ICMPErrors, and the icmp-blocked reachability), as in verify.
	ICMPErrorFlows uint64 `json:"icmp_error_flows,omitempty"`
	First          Time   `json:"first,omitzero"` // of the flows
	Last           Time   `json:"last,omitzero"`
	// Interrupted and InterruptedReason are the summary's (Summary.Interrupted).
	Interrupted       bool   `json:"interrupted,omitempty"`
	InterruptedReason string `json:"interrupted_reason,omitempty"`
}

// DiffCounts counts conversations by kind of difference. Differences is the number
// of conversations that are not the same.
type DiffCounts struct {
	Blocked     int `json:"blocked"`
	Opened      int `json:"opened"`
	Changed     int `json:"changed"`
	New         int `json:"new"`
	Gone        int `json:"gone"`
	Same        int `json:"same"`
	Differences int `json:"differences"`
}

// Of returns the count of one kind of difference.
func (c *DiffCounts) Of(change string) int {
	switch change {
	case ChangeBlocked:
		return c.Blocked
	case ChangeOpened:
		return c.Opened
	case ChangeChanged:
		return c.Changed
	case ChangeNew:
		return c.New
	case ChangeGone:
		return c.Gone
	case ChangeSame:
		return c.Same
	}
	return 0
}

func (c *DiffCounts) add(change string) {
	switch change {
	case ChangeBlocked:
		c.Blocked++
	case ChangeOpened:
		c.Opened++
	case ChangeChanged:
		c.Changed++
	case ChangeNew:
		c.New++
	case ChangeGone:
		c.Gone++
	case ChangeSame:
		c.Same++
		return
	}
	c.Differences++
}

// DiffPort sums the conversations to one server port of one protocol (port 0 for
// protocols without ports).
type DiffPort struct {
	Proto     string `json:"proto"`
	Port      uint16 `json:"port"`
	Service   string `json:"service"`
	PortClass string `json:"port_class"`
	DiffCounts
	Before Counts `json:"before"` // flows, packets and bytes of all its conversations
	After  Counts `json:"after"`
}

// DiffEntry is one conversation and how it fared on each side. Before is nil for a
// new conversation, After for one that is gone.
type DiffEntry struct {
	Change    string    `json:"change"`
	Proto     string    `json:"proto"`
	Client    string    `json:"client"` // address only
	Server    string    `json:"server"` // address only
	Port      uint16    `json:"port"`   // server port, 0 for protocols without ports
	Service   string    `json:"service"`
	PortClass string    `json:"port_class"`
	Before    *DiffSide `json:"before"`
	After     *DiffSide `json:"after"`
}

// DiffSide is a conversation's flows on one side.
type DiffSide struct {
	// Reach is the reachability of all its flows (Reachability, or ReachUnknown), or
	// ReachMixed when they differ.
	Reach string `json:"reach"`
	Counts
	States     map[string]uint64 `json:"states"` // flows per connection state
	ReachFlows map[string]uint64 `json:"reach_flows"`
	ICMPErrors []ICMPError       `json:"icmp_errors"` // summed by type, code and sender
	Veeam      []string          `json:"veeam"`       // rules that explained its flows, sorted
	First      Time              `json:"first,omitzero"`
	Last       Time              `json:"last,omitzero"`
}

// ReachMixed is DiffSide.Reach when a conversation's flows fared differently.
const ReachMixed = "mixed"

type convKey struct {
	proto          uint8
	client, server netip.Addr
	port           uint16
}

// Compare compares the conversations of before and after. It reads each summary's
// records once through EachFlow (so summaries that stream their records from disk
// work) and holds one entry per conversation, which shares the records' strings (as
// an Aggregator's breakdowns do). It fails when a summary does not carry
// its flow records.
func Compare(before, after *Summary, o DiffOptions) (*Diff, error) {
	d := &Diff{SchemaVersion: SchemaVersion, Generator: Generator, Options: o, conversations: map[convKey]*DiffEntry{}}
	for i, s := range []*Summary{before, after} {
		name := [...]string{"before", "after"}[i]
		if s == nil {
			return nil, fmt.Errorf("diff: %s: nil summary", name)
		}
		src := &d.Before
		if i == 1 {
			src = &d.After
		}
		for _, in := range s.Inputs {
			src.Inputs = append(src.Inputs, in.Path)
		}
		nonNil(&src.Inputs)
		if s.Interrupted {
			src.Interrupted, src.InterruptedReason = true, s.InterruptedReason
			d.Interrupted = true
		}
		if err := d.add(s, i == 1, src); err != nil {
			return nil, fmt.Errorf("diff: %s: %w", name, err)
		}
		if src.Flows != s.Totals.Flows {
			return nil, fmt.Errorf("diff: %s: %w (it counts %d flows, carries %d records)", name, ErrNoFlowRecords, s.Totals.Flows, src.Flows)
		}
	}
	d.finish()
	return d, nil
}

// ErrNoFlowRecords is returned (wrapped) by Compare for a summary written without its
// flow records (--no-flows): conversations cannot be compared without them.
var ErrNoFlowRecords = errors.New("summary has no flow records (written with --no-flows?)")

func (d *Diff) add(s *Summary, after bool, src *DiffSource) error {
	seen := map[convKey]bool{}
	return s.EachFlow(func(r *classify.Flow) error {
		src.Flows++
		if src.First.IsZero() || r.First.Before(src.First.Time) {
			src.First = Time{r.First}
		}
		if r.Last.After(src.Last.Time) {
			src.Last = Time{r.Last}
		}
		if classify.IsICMPError(&r.Flow) {
			// A firewall's "administratively prohibited" is how a conversation it
			// blocks fares, not a conversation of the firewall's.
			src.ICMPErrorFlows++
			return nil
		}
		var port uint16
		if capture.HasPorts(r.Proto) {
			port = r.Server.Port()
		}
		k := convKey{r.Proto, r.Client.Addr(), r.Server.Addr(), port}
		if !seen[k] {
			seen[k] = true
			src.Conversations++
		}
		e := d.conversations[k]
		if e == nil {
			e = &DiffEntry{Proto: capture.ProtoName(k.proto), Client: k.client.String(), Server: k.server.String(), Port: port}
			d.conversations[k] = e
		}
		e.Service = minService(e.Service, r.Service)
		if e.PortClass == "" {
			e.PortClass = r.PortClass.String()
		}
		side := &e.Before
		if after {
			side = &e.After
		}
		if *side == nil {
			*side = &DiffSide{States: map[string]uint64{}, ReachFlows: map[string]uint64{}, ICMPErrors: []ICMPError{}, Veeam: []string{}}
		}
		(*side).add(r)
		return nil
	})
}

func (s *DiffSide) add(r *classify.Flow) {
	s.Counts.add(r)
	s.States[r.State.String()]++
	s.ReachFlows[reachOf(r.Outcome)]++
	for _, ce := range r.ICMPErrors {
		e := icmpErrorOf(ce)
		i := slices.IndexFunc(s.ICMPErrors, func(x ICMPError) bool {
			return x.Type == e.Type && x.Code == e.Code && x.V6 == e.V6 && x.From == e.From
		})
		if i < 0 {
			s.ICMPErrors = append(s.ICMPErrors, e)
			continue
		}
		s.ICMPErrors[i].Count += e.Count
	}
	for _, m := range r.Veeam {
		if id := m.ID(); !slices.Contains(s.Veeam, id) {
			s.Veeam = append(s.Veeam, id)
		}
	}
	if s.First.IsZero() || r.First.Before(s.First.Time) {
		s.First = Time{r.First}
	}
	if r.Last.After(s.Last.Time) {
		s.Last = Time{r.Last}
	}
}

// finish classifies every conversation, counts and sorts.
func (d *Diff) finish() {
	ports := map[diffPortKey]*DiffPort{}
	d.Entries = []DiffEntry{}
	for _, e := range d.conversations {
		for _, s := range []*DiffSide{e.Before, e.After} {
			if s == nil {
				continue
			}
			slices.Sort(s.Veeam)
			slices.SortFunc(s.ICMPErrors, func(x, y ICMPError) int {
				return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Type, y.Type), cmp.Compare(x.Code, y.Code), cmp.Compare(x.From, y.From))
			})
			s.Reach = ReachMixed
			if len(s.ReachFlows) == 1 {
				for r := range s.ReachFlows {
					s.Reach = r
				}
			}
		}
		e.Change = classifyChange(e.Before, e.After)
		d.Counts.add(e.Change)
		p := ports[diffPortKey{e.Proto, e.Port}]
		if p == nil {
			p = &DiffPort{Proto: e.Proto, Port: e.Port}
			ports[diffPortKey{e.Proto, e.Port}] = p
		}
		p.Service = minService(p.Service, e.Service)
		if p.PortClass == "" {
			p.PortClass = e.PortClass
		}
		p.DiffCounts.add(e.Change)
		if e.Before != nil {
			p.Before.Flows += e.Before.Flows
			p.Before.Packets += e.Before.Packets
			p.Before.Bytes += e.Before.Bytes
		}
		if e.After != nil {
			p.After.Flows += e.After.Flows
			p.After.Packets += e.After.Packets
			p.After.Bytes += e.After.Bytes
		}
		if e.Change != ChangeSame || d.Options.Unchanged {
			d.Entries = append(d.Entries, *e)
		}
	}
	d.conversations = nil
	d.Ports = []DiffPort{}
	for _, p := range ports {
		if p.Differences > 0 || d.Options.Unchanged {
			d.Ports = append(d.Ports, *p)
		}
	}
	slices.SortFunc(d.Ports, func(x, y DiffPort) int {
		return cmp.Or(cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.Port, y.Port))
	})
	rank := map[string]int{}
	for i, c := range Changes() {
		rank[c] = i
	}
	slices.SortFunc(d.Entries, func(x, y DiffEntry) int {
		return cmp.Or(cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.Port, y.Port), cmp.Compare(rank[x.Change], rank[y.Change]),
			compareAddrs(x.Server, y.Server), compareAddrs(x.Client, y.Client))
	})
}

// classifyChange decides the kind of difference of a conversation from its two sides.
func classifyChange(before, after *DiffSide) string {
	switch {
	case before == nil:
		return ChangeNew
	case after == nil:
		return ChangeGone
	}
	okB, okA := before.ReachFlows[ReachEstablished] > 0, after.ReachFlows[ReachEstablished] > 0
	switch {
	case okB && !okA && anyBlocked(after):
		return ChangeBlocked
	case !okB && okA && anyBlocked(before):
		return ChangeOpened
	}
	if len(before.ReachFlows) != len(after.ReachFlows) {
		return ChangeChanged
	}
	for r := range before.ReachFlows {
		if after.ReachFlows[r] == 0 {
			return ChangeChanged
		}
	}
	return ChangeSame
}

func anyBlocked(s *DiffSide) bool {
	for r, n := range s.ReachFlows {
		if n > 0 && blocked(r) {
			return true
		}
	}
	return false
}

// Endpoint is the conversation's server as "addr:port", "[addr]:port" or the bare
// address for protocols without ports.
func (e *DiffEntry) Endpoint() string {
	if !hasPorts(e.Proto) {
		return e.Server
	}
	host := e.Server
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.FormatUint(uint64(e.Port), 10)
}

// VeeamRules returns the sorted union of the Veeam rules that explained the
// conversation's flows on either side.
func (e *DiffEntry) VeeamRules() []string {
	var rules []string
	for _, s := range []*DiffSide{e.Before, e.After} {
		if s != nil {
			rules = append(rules, s.Veeam...)
		}
	}
	slices.Sort(rules)
	return slices.Compact(rules)
}

// PortLabel names a server port as "tcp/6162", or the protocol alone without ports.
func PortLabel(proto string, port uint16) string {
	if !hasPorts(proto) {
		return proto
	}
	return proto + "/" + strconv.FormatUint(uint64(port), 10)
}

// StatesString renders a side's connection states as "SF ×12, REJ ×3" (most flows
// first) followed by its ICMP errors ("icmp 3/13 from 192.0.2.1 ×2"); "-" for a side
// without flows.
func (s *DiffSide) StatesString() string {
	if s == nil {
		return "-"
	}
	type sc struct {
		state string
		n     uint64
	}
	var states []sc
	for st, n := range s.States {
		states = append(states, sc{st, n})
	}
	slices.SortFunc(states, func(x, y sc) int { return cmp.Or(cmp.Compare(y.n, x.n), cmp.Compare(x.state, y.state)) })
	parts := make([]string, 0, len(states)+len(s.ICMPErrors))
	for _, st := range states {
		parts = append(parts, orDash(st.state, "-")+" ×"+strconv.FormatUint(st.n, 10))
	}
	for _, e := range s.ICMPErrors {
		proto := "icmp"
		if e.V6 {
			proto = "icmpv6"
		}
		parts = append(parts, proto+" "+strconv.FormatUint(uint64(e.Type), 10)+"/"+strconv.FormatUint(uint64(e.Code), 10)+
			" from "+e.From+" ×"+strconv.FormatUint(uint64(e.Count), 10))
	}
	return strings.Join(parts, ", ")
}

// sideSpan renders the time span of a source for the report header.
func sideSpan(first, last Time) string {
	if first.IsZero() {
		return "no flows"
	}
	return stamp(first.Time) + " – " + stamp(last.Time) + " (" + last.Sub(first.Time).Round(time.Millisecond).String() + ")"
}

// diffPortKey is a protocol (by name) and server port.
type diffPortKey struct {
	proto string
	port  uint16
}

// hasPorts reports whether flows of the protocol named proto carry ports.
func hasPorts(proto string) bool {
	p, ok := capture.ParseProtoName(proto)
	return ok && capture.HasPorts(p)
}
