package reports

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
)

// Generator is the summary's "generator" value.
const Generator = "portclass"

// ErrSchemaVersion is returned (wrapped) by [LoadSummary] and [Merge] for a summary
// whose schema_version this build does not read.
var ErrSchemaVersion = errors.New("unsupported schema_version")

// Summary is the aggregate report of one or more inputs: totals, per-input statistics,
// breakdowns of the flows and every flow record. Build it with an [Aggregator], read it
// back with [LoadSummary] and combine summaries with [Merge].
//
// Breakdown lists are sorted by bytes (descending), then by their key fields; Top N
// (see [Options]) is applied to Services, ServerPorts, Talkers, Ephemeral and
// VeeamRules, never to the small fixed sets (Protocols, PortClasses, States), to Hosts
// or to Flows. No slice is nil in a Summary made by this package, so empty lists encode
// as [].
//
// New sections are new fields with omitempty. Flows must stay the last field: the JSON
// encoder writes the other fields with encoding/json and appends the flows with the
// record appender.
type Summary struct {
	SchemaVersion int             `json:"schema_version"`
	Generator     string          `json:"generator"`
	Top           int             `json:"top,omitempty"` // Options.Top the breakdowns were cut to; 0 = complete
	Totals        Totals          `json:"totals"`
	Inputs        []Input         `json:"inputs"`       // sorted by path, then first packet
	Protocols     []ProtoCount    `json:"protocols"`    // per protocol
	PortClasses   []ClassCount    `json:"port_classes"` // per IANA class of the server port
	Services      []ServiceCount  `json:"services"`     // per service name; flows without a name are not counted
	ServerPorts   []PortCount     `json:"server_ports"` // per protocol and server port (protocols with ports)
	Talkers       []Talker        `json:"talkers"`      // per host address, as client or server
	Ephemeral     []EphemeralPort `json:"ephemeral"`    // flows flagged as ephemeral/dynamic-range traffic, per server port
	States        []StateCount    `json:"states"`       // per protocol and connection state
	VeeamRules    []RuleCount     `json:"veeam_rules"`  // per Veeam rule that explains flows
	Hosts         []Host          `json:"hosts"`        // Veeam host roles, sorted by address
	// Attempts is the refused, unanswered and ICMP-blocked attempts per server address
	// and port, most failed flows first; Sweeps the clients that failed on at least
	// many distinct servers or ports (Options.SweepHosts). Both are cut to Top.
	Attempts         []Attempt `json:"attempts,omitempty"`
	AttemptsOverflow uint64    `json:"attempts_overflow,omitempty"` // failed flows not itemised (target cap)
	Sweeps           []Sweep   `json:"sweeps,omitempty"`
	// SkippedFiles are the files found in directory arguments that were not read
	// because they are not captures (see SkippedFile).
	SkippedFiles []SkippedFile `json:"skipped_files,omitempty"`
	Flows        []Record      `json:"flows,omitempty"`

	flowIter FlowIter // when set, the encoders take the records from it instead of Flows
}

// FlowIter calls yield for every flow record of a summary, in the order of
// capture.CompareFlows, and returns the first error yield or the iteration itself
// returns. The *Record is valid only during the call to yield. A FlowIter may be
// called more than once and yields the same records each time.
type FlowIter func(yield func(*Record) error) error

// SetFlowIter makes it the source of the summary's flow records for the encoders,
// instead of Flows (which it empties), for summaries whose records do not fit in
// memory. It does not change Totals.Flows, which must already count the records.
func (s *Summary) SetFlowIter(it FlowIter) {
	s.Flows = []Record{}
	s.flowIter = it
}

// EachFlow calls fn for every flow record of the summary in order (from the iterator
// set with SetFlowIter, else from Flows) and returns the first error. The *Record is
// valid only during the call.
func (s *Summary) EachFlow(fn func(*Record) error) error {
	if s.flowIter != nil {
		return s.flowIter(fn)
	}
	for i := range s.Flows {
		if err := fn(&s.Flows[i]); err != nil {
			return err
		}
	}
	return nil
}

// SkippedFile is a file of a directory argument that was not read: not a capture (a
// manifest, a checksum list, an empty file). Reason is why, without the path.
type SkippedFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Totals sums the inputs and the flows of a summary.
type Totals struct {
	Inputs          int     `json:"inputs"`
	Packets         uint64  `json:"packets"` // packet records read from all inputs
	Bytes           uint64  `json:"bytes"`   // their original wire lengths
	Flows           uint64  `json:"flows"`   // flow records (len(Summary.Flows))
	Decoded         uint64  `json:"decoded"`
	NonIP           uint64  `json:"non_ip"`
	DecodeErrors    uint64  `json:"decode_errors"`
	Filtered        uint64  `json:"filtered"`
	Unsupported     uint64  `json:"unsupported"`             // packets of link types portclass cannot decode
	EvictedFlows    uint64  `json:"evicted_flows"`           // flows pushed out early by the flow table's memory cap
	SpilledFlows    uint64  `json:"spilled_flows,omitempty"` // flows that waited in a temporary file (more than --spill-after)
	First           Time    `json:"first,omitzero"`
	Last            Time    `json:"last,omitzero"`
	DurationSeconds float64 `json:"duration_seconds"` // Last − First
}

// Input is the statistics of one input (file, stdin or interface); see capture.InputStats
// for the meaning of each field. Maps and slices are never nil.
type Input struct {
	Path           string            `json:"path"`
	Format         string            `json:"format"`
	Compression    string            `json:"compression"`
	Size           int64             `json:"size"`
	LinkTypes      map[string]uint64 `json:"link_types"`
	Packets        uint64            `json:"packets"`
	Bytes          uint64            `json:"bytes"`
	Decoded        uint64            `json:"decoded"`
	NonIP          uint64            `json:"non_ip"`
	Unsupported    map[string]uint64 `json:"unsupported"`
	DecodeErrors   uint64            `json:"decode_errors"`
	Filtered       uint64            `json:"filtered"`
	Fragments      uint64            `json:"fragments"`
	Truncated      bool              `json:"truncated"`
	TruncatedAt    int64             `json:"truncated_at,omitempty"`
	Warnings       []string          `json:"warnings"`
	First          Time              `json:"first,omitzero"`
	Last           Time              `json:"last,omitzero"`
	KernelReceived uint64            `json:"kernel_received,omitempty"`
	KernelDropped  uint64            `json:"kernel_dropped,omitempty"`
}

// Counts is what every breakdown entry carries.
type Counts struct {
	Flows   uint64 `json:"flows"`
	Packets uint64 `json:"packets"` // both directions
	Bytes   uint64 `json:"bytes"`   // both directions
}

func (c *Counts) add(r *Record) {
	c.Flows++
	c.Packets += r.Packets()
	c.Bytes += r.Bytes()
}

// ProtoCount is the traffic of one protocol.
type ProtoCount struct {
	Proto string `json:"proto"`
	Counts
}

// ClassCount is the traffic whose server port is in one IANA class ("" for protocols
// without ports).
type ClassCount struct {
	PortClass string `json:"port_class"`
	Counts
}

// ServiceCount is the traffic of one service name (over all protocols and ports).
type ServiceCount struct {
	Service string `json:"service"`
	Counts
}

// PortCount is the traffic to one server port of one protocol. Service is the smallest
// non-empty service name among its flows (they normally all agree).
type PortCount struct {
	Proto     string `json:"proto"`
	Port      uint16 `json:"port"`
	PortClass string `json:"port_class"`
	Service   string `json:"service"`
	Counts
}

// Talker is the traffic of one host address. Bytes is the bytes of the flows it took
// part in, which is BytesSent+BytesReceived except for flows from a host to itself.
type Talker struct {
	Addr          string `json:"addr"`
	AsClient      uint64 `json:"as_client"` // flows it opened
	AsServer      uint64 `json:"as_server"` // flows it accepted
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	Counts
}

// EphemeralPort is the traffic to one server port of flows that classify flagged as
// ephemeral-range traffic (dynamic-server-port, server-ephemeral:*, both-ephemeral or
// unexplained-ephemeral). Flags is the sorted union of those flags over its flows;
// Unexplained and Veeam count the flows flagged unexplained-ephemeral and veeam.
type EphemeralPort struct {
	Proto       string   `json:"proto"`
	Port        uint16   `json:"port"`
	PortClass   string   `json:"port_class"`
	Service     string   `json:"service"`
	Flags       []string `json:"flags"`
	Unexplained uint64   `json:"unexplained"`
	Veeam       uint64   `json:"veeam"`
	First       Time     `json:"first,omitzero"`
	Last        Time     `json:"last,omitzero"`
	Counts
}

// StateCount is the traffic of one protocol in one connection state.
type StateCount struct {
	Proto string `json:"proto"`
	State string `json:"state"`
	Counts
}

// RuleCount is the traffic explained by one Veeam rule.
type RuleCount struct {
	Rule    string `json:"rule"`
	Service string `json:"service"`
	From    string `json:"from"`
	To      string `json:"to"`
	Counts
}

// Host is one address with the Veeam roles classify inferred or the inventory declared.
type Host struct {
	Addr  string     `json:"addr"`
	Roles []HostRole `json:"roles"` // declared first, then by confidence (descending), then role
}

// HostRole is one role of a host with how sure classify is and why.
type HostRole struct {
	Role       string   `json:"role"`       // role name in the Veeam matrix vocabulary
	Confidence float64  `json:"confidence"` // 0..1
	Declared   bool     `json:"declared"`   // from the inventory rather than inferred
	Evidence   []string `json:"evidence"`   // short human-readable lines
}

// Time is an instant that encodes as TimeLayout in UTC (nine fractional digits, so
// timestamps sort as strings) and is omitted from JSON when zero (omitzero).
type Time struct{ time.Time }

// MarshalJSON writes t in TimeLayout, or null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := append(make([]byte, 0, 32), '"')
	return append(appendTime(b, t.Time), '"'), nil
}

// UnmarshalJSON reads any RFC 3339 time (or null) and keeps it in UTC.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var tt time.Time
	if err := tt.UnmarshalJSON(b); err != nil {
		return err
	}
	*t = Time{tt.UTC()}
	return nil
}

// Options configures an Aggregator.
type Options struct {
	// Top keeps only the first Top entries of the long breakdown lists (services, server
	// ports, talkers, ephemeral, Veeam rules); Top <= 0 keeps them all.
	Top int
	// DiscardFlows folds records into the aggregates without keeping them: the
	// Summary's Flows is then empty and the caller attaches the records with
	// [Summary.SetFlowIter] (analyze does so for runs with more flows than it keeps in
	// memory). Totals.Flows still counts every record added.
	DiscardFlows bool
	// SweepHosts and SweepPorts are the distinct servers, or distinct ports, with
	// failed attempts from which a client is listed in Sweeps; 0 means
	// DefaultSweepHosts and DefaultSweepPorts.
	SweepHosts, SweepPorts int
}

// Aggregator folds flow records and input statistics into a Summary. The zero value is
// not usable; call NewAggregator. It is not safe for concurrent use: give each worker
// its own Aggregator and Merge their summaries, or serialise the calls.
type Aggregator struct {
	opts    Options
	inputs  []Input
	skipped []SkippedFile
	evicted uint64
	spilled uint64
	hosts   []Host
	flows   []Record
	nflows  uint64 // records added, kept or not

	first, last time.Time // of the flows

	protos   map[string]*Counts
	classes  map[string]*Counts
	services map[string]*Counts
	ports    map[portKey]*PortCount
	talkers  map[string]*Talker
	ephem    map[portKey]*EphemeralPort
	states   map[stateKey]*Counts
	rules    map[string]*RuleCount
	att      attempts
}

type portKey struct {
	proto string
	port  uint16
}

type stateKey struct{ proto, state string }

// NewAggregator returns an empty Aggregator.
func NewAggregator(o Options) *Aggregator {
	return &Aggregator{
		opts:     o,
		inputs:   []Input{},
		hosts:    []Host{},
		flows:    []Record{},
		protos:   map[string]*Counts{},
		classes:  map[string]*Counts{},
		services: map[string]*Counts{},
		ports:    map[portKey]*PortCount{},
		talkers:  map[string]*Talker{},
		ephem:    map[portKey]*EphemeralPort{},
		states:   map[stateKey]*Counts{},
		rules:    map[string]*RuleCount{},
		att:      newAttempts(),
	}
}

// AddInput records the statistics of one input. The maps and slices are copied.
func (a *Aggregator) AddInput(s capture.InputStats) {
	in := Input{
		Path:           s.Path,
		Format:         s.Format,
		Compression:    s.Compression,
		Size:           s.Size,
		LinkTypes:      cloneMap(s.LinkTypes),
		Packets:        s.Packets,
		Bytes:          s.Bytes,
		Decoded:        s.Decoded,
		NonIP:          s.NonIP,
		Unsupported:    cloneMap(s.Unsupported),
		DecodeErrors:   s.DecodeErrors,
		Filtered:       s.Filtered,
		Fragments:      s.Fragments,
		Truncated:      s.Truncated,
		Warnings:       append([]string{}, s.Warnings...),
		KernelReceived: s.KernelReceived,
		KernelDropped:  s.KernelDropped,
	}
	if s.Truncated {
		in.TruncatedAt = s.TruncatedAt
	}
	if s.FirstTS != 0 {
		in.First = Time{time.Unix(0, s.FirstTS).UTC()}
	}
	if s.LastTS != 0 {
		in.Last = Time{time.Unix(0, s.LastTS).UTC()}
	}
	a.inputs = append(a.inputs, in)
}

func cloneMap(m map[string]uint64) map[string]uint64 {
	c := make(map[string]uint64, len(m))
	maps.Copy(c, m)
	return c
}

// AddEvicted counts n flows the flow table evicted early (they are also added as
// records, with end "evicted"; this is the table's own count).
func (a *Aggregator) AddEvicted(n uint64) { a.evicted += n }

// AddSpilled counts n flows that waited on disk rather than in memory (the report is
// the same; the count says that memory was short).
func (a *Aggregator) AddSpilled(n uint64) { a.spilled += n }

// AddSkipped lists files of the run's directories that were not read.
func (a *Aggregator) AddSkipped(f ...SkippedFile) { a.skipped = append(a.skipped, f...) }

// SetHosts sets the Veeam host roles of the summary. Hosts with the same address are
// combined as Merge combines them. The slice is copied, the strings are shared.
func (a *Aggregator) SetHosts(h []Host) { a.hosts = normaliseHosts(h) }

// Add folds one flow record into the aggregates and keeps it for Summary.Flows (unless
// Options.DiscardFlows). It is O(1) amortised and allocates only when it meets a new
// breakdown key or the record slice grows; map keys share the record's strings.
func (a *Aggregator) Add(rec Record) {
	a.nflows++
	r := &rec
	if !a.opts.DiscardFlows {
		a.flows = append(a.flows, rec)
		r = &a.flows[len(a.flows)-1]
	}

	if a.first.IsZero() || r.First.Before(a.first) {
		a.first = r.First
	}
	if r.Last.After(a.last) {
		a.last = r.Last
	}
	getOrNew(a.protos, r.Proto).add(r)
	getOrNew(a.classes, r.PortClass).add(r)
	if r.Service != "" {
		getOrNew(a.services, r.Service).add(r)
	}
	getOrNew(a.states, stateKey{r.Proto, r.State}).add(r)

	port, hasPort := PortOf(r.Proto, r.Server)
	if hasPort {
		pc := getOrNew(a.ports, portKey{r.Proto, port})
		pc.Proto, pc.Port = r.Proto, port
		pc.add(r)
		pc.PortClass = r.PortClass
		pc.Service = minService(pc.Service, r.Service)
	}

	client, server := HostOf(r.Proto, r.Client), HostOf(r.Proto, r.Server)
	tc := getOrNew(a.talkers, client)
	tc.Addr = client
	tc.add(r)
	tc.AsClient++
	tc.BytesSent += r.BytesToServer
	tc.BytesReceived += r.BytesToClient
	ts := tc
	if server != client {
		ts = getOrNew(a.talkers, server)
		ts.Addr = server
		ts.add(r)
	}
	ts.AsServer++
	ts.BytesSent += r.BytesToClient
	ts.BytesReceived += r.BytesToServer
	a.att.add(r, client, server, port)

	var ephemeral, unexplained, veeam bool
	for _, f := range r.Flags {
		switch {
		case f == classify.FlagUnexplained:
			unexplained, ephemeral = true, true
		case f == classify.FlagVeeam:
			veeam = true
		case isEphemeralFlag(f):
			ephemeral = true
		}
	}
	if ephemeral {
		e := getOrNew(a.ephem, portKey{r.Proto, port})
		e.Proto, e.Port = r.Proto, port
		e.add(r)
		e.PortClass = r.PortClass
		e.Service = minService(e.Service, r.Service)
		if unexplained {
			e.Unexplained++
		}
		if veeam {
			e.Veeam++
		}
		if e.First.IsZero() || r.First.Before(e.First.Time) {
			e.First.Time = r.First
		}
		if r.Last.After(e.Last.Time) {
			e.Last.Time = r.Last
		}
		for _, f := range r.Flags {
			if isEphemeralFlag(f) && !slices.Contains(e.Flags, f) {
				e.Flags = append(e.Flags, f)
			}
		}
	}

	for i := range r.Veeam {
		m := &r.Veeam[i]
		rc := a.rules[m.Rule]
		if rc == nil {
			rc = &RuleCount{Rule: m.Rule, Service: m.Service, From: m.From, To: m.To}
			a.rules[m.Rule] = rc
		}
		rc.add(r)
	}
}

// isEphemeralFlag reports whether flag is one of the flags that put a flow in the
// ephemeral section.
func isEphemeralFlag(f string) bool {
	return f == classify.FlagDynamicServer || f == classify.FlagBothEphemeral ||
		f == classify.FlagUnexplained || strings.HasPrefix(f, classify.FlagServerEphemeral+":")
}

// minService keeps the smallest non-empty name, so the result does not depend on the
// order flows were added in (which Merge changes).
func minService(have, s string) string {
	if have == "" || (s != "" && s < have) {
		return s
	}
	return have
}

func getOrNew[K comparable, V any](m map[K]*V, k K) *V {
	p := m[k]
	if p == nil {
		p = new(V)
		m[k] = p
	}
	return p
}

// Summary returns the summary of everything added so far. It sorts the aggregator's
// records in place and the Summary shares them (and the input and host slices) with
// the Aggregator; adding more afterwards is allowed but changes what the returned
// Summary sees, so call Summary again instead.
func (a *Aggregator) Summary() *Summary {
	sortRecords(a.flows)
	slices.SortStableFunc(a.inputs, compareInputs)

	s := &Summary{
		SchemaVersion: SchemaVersion,
		Generator:     Generator,
		Top:           max(a.opts.Top, 0),
		Inputs:        a.inputs,
		SkippedFiles:  a.skipped,
		Hosts:         a.hosts,
		Flows:         a.flows,
	}
	t := &s.Totals
	t.Inputs = len(a.inputs)
	t.Flows = a.nflows
	t.EvictedFlows = a.evicted
	t.SpilledFlows = a.spilled
	first, last := a.first, a.last
	for i := range a.inputs {
		in := &a.inputs[i]
		t.Packets += in.Packets
		t.Bytes += in.Bytes
		t.Decoded += in.Decoded
		t.NonIP += in.NonIP
		t.DecodeErrors += in.DecodeErrors
		t.Filtered += in.Filtered
		for _, n := range in.Unsupported {
			t.Unsupported += n
		}
		if !in.First.IsZero() && (first.IsZero() || in.First.Before(first)) {
			first = in.First.Time
		}
		if in.Last.After(last) {
			last = in.Last.Time
		}
	}
	t.First, t.Last = Time{first.UTC()}, Time{last.UTC()}
	if !first.IsZero() {
		t.DurationSeconds = last.Sub(first).Seconds()
	}

	top := a.opts.Top
	s.Protocols = breakdown(a.protos, func(k string, c *Counts) ProtoCount { return ProtoCount{k, *c} },
		func(x, y ProtoCount) int { return cmp.Compare(x.Proto, y.Proto) }, 0)
	s.PortClasses = breakdown(a.classes, func(k string, c *Counts) ClassCount { return ClassCount{k, *c} },
		func(x, y ClassCount) int { return cmp.Compare(x.PortClass, y.PortClass) }, 0)
	s.Services = breakdown(a.services, func(k string, c *Counts) ServiceCount { return ServiceCount{k, *c} },
		func(x, y ServiceCount) int { return cmp.Compare(x.Service, y.Service) }, top)
	s.ServerPorts = breakdown(a.ports, func(_ portKey, p *PortCount) PortCount { return *p },
		comparePortCounts, top)
	s.Talkers = breakdown(a.talkers, func(_ string, t *Talker) Talker { return *t },
		func(x, y Talker) int { return compareAddrs(x.Addr, y.Addr) }, top)
	s.Ephemeral = breakdown(a.ephem, func(_ portKey, e *EphemeralPort) EphemeralPort {
		c := *e
		c.Flags = slices.Sorted(slices.Values(e.Flags))
		nonNil(&c.Flags)
		return c
	}, func(x, y EphemeralPort) int {
		return cmp.Or(cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.Port, y.Port))
	}, top)
	s.States = breakdown(a.states, func(k stateKey, c *Counts) StateCount { return StateCount{k.proto, k.state, *c} },
		func(x, y StateCount) int { return cmp.Or(cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.State, y.State)) }, 0)
	s.Attempts, s.Sweeps = a.att.summary(top, cmp.Or(a.opts.SweepHosts, DefaultSweepHosts), cmp.Or(a.opts.SweepPorts, DefaultSweepPorts))
	s.AttemptsOverflow = a.att.overflow
	s.VeeamRules = breakdown(a.rules, func(_ string, r *RuleCount) RuleCount { return *r },
		func(x, y RuleCount) int { return cmp.Compare(x.Rule, y.Rule) }, top)
	return s
}

// breakdown turns an aggregate map into a list sorted by bytes (descending), then by
// byKey, cut to top entries when top > 0.
func breakdown[K comparable, V any, E interface{ counts() *Counts }](m map[K]*V, mk func(K, *V) E, byKey func(x, y E) int, top int) []E {
	order := func(x, y E) int {
		return cmp.Or(cmp.Compare(y.counts().Bytes, x.counts().Bytes), byKey(x, y))
	}
	if top <= 0 || len(m) <= top {
		out := make([]E, 0, len(m))
		for k, v := range m {
			out = append(out, mk(k, v))
		}
		slices.SortFunc(out, order)
		return out
	}
	// The top entries of many (talkers, ports): keep the best top in order as they
	// come instead of sorting them all.
	out := make([]E, 0, top+1)
	for k, v := range m {
		out = keepTop(out, mk(k, v), top, order)
	}
	return out[:len(out):len(out)]
}

// keepTop inserts e into best, the best top entries so far in order, and drops what
// falls beyond top. With a total order (keys break ties) the entries kept over a
// whole set are those of sorting it and cutting, without sorting it.
func keepTop[E any](best []E, e E, top int, order func(x, y E) int) []E {
	if len(best) == top && order(e, best[top-1]) >= 0 {
		return best
	}
	i, _ := slices.BinarySearchFunc(best, e, order)
	best = slices.Insert(best, i, e)
	if len(best) > top {
		best = best[:top]
	}
	return best
}

func (c ProtoCount) counts() *Counts    { return &c.Counts }
func (c ClassCount) counts() *Counts    { return &c.Counts }
func (c ServiceCount) counts() *Counts  { return &c.Counts }
func (c PortCount) counts() *Counts     { return &c.Counts }
func (c Talker) counts() *Counts        { return &c.Counts }
func (c EphemeralPort) counts() *Counts { return &c.Counts }
func (c StateCount) counts() *Counts    { return &c.Counts }
func (c RuleCount) counts() *Counts     { return &c.Counts }

func comparePortCounts(x, y PortCount) int {
	return cmp.Or(cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.Port, y.Port))
}

// sortRecords puts records in the order of capture.CompareFlows (first packet time,
// protocol number, client and server as addresses, ...), the order in which analyze
// writes the flows of a spooled run, so that a summary lists its flows the same way
// whether they were kept in memory, spooled to disk or merged from saved reports.
// Strings that do not parse (a hand-edited report) sort as zero values and then as
// strings, so the order stays total and deterministic.
func sortRecords(rs []Record) {
	if len(rs) < 2 {
		return
	}
	keys := make([]capture.Flow, len(rs))
	idx := make([]int32, len(rs))
	for i := range rs {
		keys[i] = recordKey(&rs[i])
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(x, y int32) int {
		return cmp.Or(capture.CompareFlows(&keys[x], &keys[y]), compareRecordStrings(&rs[x], &rs[y]))
	})
	sorted := make([]Record, len(rs))
	for i, j := range idx {
		sorted[i] = rs[j]
	}
	copy(rs, sorted)
}

// recordKey is the part of a capture.Flow that CompareFlows looks at, parsed back from r.
func recordKey(r *Record) capture.Flow {
	f := capture.Flow{
		VLAN:    r.VLAN,
		First:   r.First,
		Last:    r.Last,
		Input:   r.Input,
		State:   capture.ParseState(r.State),
		End:     capture.ParseEndReason(r.End),
		Packets: [2]uint64{r.PacketsToServer, r.PacketsToClient},
		Bytes:   [2]uint64{r.BytesToServer, r.BytesToClient},
	}
	f.Proto, _ = capture.ParseProtoName(r.Proto)
	f.Client = parseEndpoint(r.Client)
	f.Server = parseEndpoint(r.Server)
	return f
}

// parseEndpoint is the inverse of endpoint: "addr:port", "[addr]:port" or a bare
// address (port 0); the zero AddrPort for anything else.
func parseEndpoint(s string) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 0)
	}
	return netip.AddrPort{}
}

// compareRecordStrings breaks ties between records whose parsed keys are equal but
// whose strings differ (only possible for strings that do not parse).
func compareRecordStrings(x, y *Record) int {
	return cmp.Or(
		cmp.Compare(x.Proto, y.Proto),
		cmp.Compare(x.Client, y.Client),
		cmp.Compare(x.Server, y.Server),
		cmp.Compare(x.State, y.State),
		cmp.Compare(x.End, y.End),
	)
}

func compareInputs(x, y Input) int {
	return cmp.Or(
		cmp.Compare(x.Path, y.Path),
		x.First.Compare(y.First.Time),
		x.Last.Compare(y.Last.Time),
		cmp.Compare(x.Format, y.Format),
		cmp.Compare(x.Compression, y.Compression),
		cmp.Compare(x.Size, y.Size),
		cmp.Compare(x.Packets, y.Packets),
		cmp.Compare(x.Bytes, y.Bytes),
	)
}

// compareAddrs orders address strings as addresses (IPv4 before IPv6, numerically);
// strings that do not parse sort after all addresses, as strings.
func compareAddrs(x, y string) int {
	a, errA := netip.ParseAddr(x)
	b, errB := netip.ParseAddr(y)
	switch {
	case errA == nil && errB == nil:
		return cmp.Or(a.Compare(b), cmp.Compare(x, y))
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(x, y)
}

// normaliseHosts copies h, combines entries with the same address (and, within a host,
// the same role: declared if either is, the higher confidence, the union of the
// evidence in first-seen order) and sorts hosts by address and roles declared first,
// then by confidence (descending), then by name.
func normaliseHosts(h []Host) []Host {
	out := make([]Host, 0, len(h))
	index := map[string]int{}
	for _, host := range h {
		i, ok := index[host.Addr]
		if !ok {
			i = len(out)
			index[host.Addr] = i
			out = append(out, Host{Addr: host.Addr, Roles: []HostRole{}})
		}
		for _, r := range host.Roles {
			j := slices.IndexFunc(out[i].Roles, func(x HostRole) bool { return x.Role == r.Role })
			if j < 0 {
				out[i].Roles = append(out[i].Roles, HostRole{Role: r.Role, Confidence: r.Confidence,
					Declared: r.Declared, Evidence: append([]string{}, r.Evidence...)})
				continue
			}
			have := &out[i].Roles[j]
			have.Declared = have.Declared || r.Declared
			have.Confidence = max(have.Confidence, r.Confidence)
			for _, e := range r.Evidence {
				if !slices.Contains(have.Evidence, e) {
					have.Evidence = append(have.Evidence, e)
				}
			}
		}
	}
	for i := range out {
		slices.SortFunc(out[i].Roles, func(x, y HostRole) int {
			if x.Declared != y.Declared {
				if x.Declared {
					return -1
				}
				return 1
			}
			return cmp.Or(cmp.Compare(y.Confidence, x.Confidence), cmp.Compare(x.Role, y.Role))
		})
	}
	slices.SortFunc(out, func(x, y Host) int { return compareAddrs(x.Addr, y.Addr) })
	return out
}

// Merge combines two summaries into the summary of all their inputs and flows. It is
// exact: the result equals the summary an Aggregator would build from the union of the
// inputs and records of a and b (it rebuilds every breakdown from the records, sums
// inputs and evicted counts). The exception is Hosts, which Merge combines address by
// address (see SetHosts) rather than inferring roles again from all flows.
//
// The result is cut to the larger Top of the two, or complete if either is complete.
// It fails when a summary is nil, has another schema_version, or does not carry all its
// flow records (totals.flows differs from the number of records). a and b are not
// modified; the result shares their strings and input maps.
func Merge(a, b *Summary) (*Summary, error) {
	top := 0
	if a != nil && b != nil && a.Top > 0 && b.Top > 0 {
		top = max(a.Top, b.Top)
	}
	return MergeAll(Options{Top: top}, a, b)
}

// MergeAll combines any number of summaries as [Merge] combines two, in one pass over
// all their records (merging n summaries pairwise would rebuild the aggregates n−1
// times). The breakdowns are rebuilt with o: cut to o.Top entries (<= 0: complete),
// sweeps with o's thresholds; o.DiscardFlows is ignored. Errors name the summary by
// its 1-based position in ss.
func MergeAll(o Options, ss ...*Summary) (*Summary, error) {
	n := 0
	for i, s := range ss {
		if s == nil {
			return nil, fmt.Errorf("merge: summary %d is nil", i+1)
		}
		if s.SchemaVersion != SchemaVersion {
			return nil, fmt.Errorf("merge: summary %d: %w %d (this portclass reads %d)", i+1, ErrSchemaVersion, s.SchemaVersion, SchemaVersion)
		}
		if s.Totals.Flows != uint64(len(s.Flows)) {
			return nil, fmt.Errorf("merge: summary %d: totals.flows is %d but it has %d flow records, cannot merge exactly", i+1, s.Totals.Flows, len(s.Flows))
		}
		n += len(s.Flows)
	}
	o.DiscardFlows = false
	agg := NewAggregator(o)
	agg.flows = make([]Record, 0, n)
	var hosts []Host
	for _, s := range ss {
		agg.inputs = append(agg.inputs, s.Inputs...)
		agg.evicted += s.Totals.EvictedFlows
		agg.spilled += s.Totals.SpilledFlows
		agg.skipped = append(agg.skipped, s.SkippedFiles...)
		for i := range s.Flows {
			agg.Add(s.Flows[i])
		}
		hosts = append(hosts, s.Hosts...)
	}
	agg.hosts = normaliseHosts(hosts)
	return agg.Summary(), nil
}

// LoadSummary reads a summary written by the JSON encoder. It rejects input that is not
// a portclass summary or has a schema_version other than SchemaVersion (ErrSchemaVersion),
// and reports where decoding failed by byte offset.
func LoadSummary(r io.Reader) (*Summary, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var probe struct {
		SchemaVersion *int   `json:"schema_version"`
		Generator     string `json:"generator"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("read summary: %w", jsonWhere(err))
	}
	switch {
	case probe.SchemaVersion == nil:
		return nil, errors.New("read summary: not a portclass summary: no schema_version field")
	case *probe.SchemaVersion != SchemaVersion:
		return nil, fmt.Errorf("read summary: %w %d (this portclass reads %d)", ErrSchemaVersion, *probe.SchemaVersion, SchemaVersion)
	}
	s := new(Summary)
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("read summary: %w", jsonWhere(err))
	}
	s.normalise()
	return s, nil
}

// jsonWhere adds the byte offset to encoding/json errors that know it.
func jsonWhere(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("at offset %d: %w", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("at offset %d, field %s: %w", typ.Offset, typ.Field, err)
	}
	return err
}

// normalise replaces the nil slices and maps a decoded summary may have by empty ones
// and puts record times in UTC, so that a loaded summary equals the one that was written.
func (s *Summary) normalise() {
	nonNil(&s.Inputs)
	nonNil(&s.Protocols)
	nonNil(&s.PortClasses)
	nonNil(&s.Services)
	nonNil(&s.ServerPorts)
	nonNil(&s.Talkers)
	nonNil(&s.Ephemeral)
	nonNil(&s.States)
	nonNil(&s.VeeamRules)
	nonNil(&s.Hosts)
	nonNil(&s.Attempts)
	nonNil(&s.Sweeps)
	nonNil(&s.Flows)
	for i := range s.Inputs {
		in := &s.Inputs[i]
		if in.LinkTypes == nil {
			in.LinkTypes = map[string]uint64{}
		}
		if in.Unsupported == nil {
			in.Unsupported = map[string]uint64{}
		}
		nonNil(&in.Warnings)
	}
	for i := range s.Ephemeral {
		nonNil(&s.Ephemeral[i].Flags)
	}
	for i := range s.Hosts {
		nonNil(&s.Hosts[i].Roles)
		for j := range s.Hosts[i].Roles {
			nonNil(&s.Hosts[i].Roles[j].Evidence)
		}
	}
	for i := range s.Flows {
		r := &s.Flows[i]
		r.First, r.Last = r.First.UTC(), r.Last.UTC() // a hand-edited file may use offsets
		nonNil(&r.Flags)
		nonNil(&r.Veeam)
		nonNil(&r.ICMPErrors)
	}
}

func nonNil[T any](p *[]T) {
	if *p == nil {
		*p = []T{}
	}
}
