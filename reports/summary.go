package reports

import (
	"cmp"
	"encoding/binary"
	"errors"
	"iter"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
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
// New sections are new fields with omitempty. The JSON encoder writes the other fields
// with encoding/json and then the flows, as "flows", with the record appender; the
// loader reads them back with the record decoder.
type Summary struct {
	SchemaVersion int    `json:"schema_version"`
	Generator     string `json:"generator"`
	Top           int    `json:"top,omitempty"` // Options.Top the breakdowns were cut to; 0 = complete

	// Interrupted marks the report of a run that was cut short (a signal while its
	// inputs were read): it covers only what was read until then, and Reason says so
	// in words. Merge carries the mark on. Both are omitted when false and empty, so
	// that the report of a complete run is what it was before the mark existed.
	Interrupted       bool   `json:"interrupted,omitempty"`
	InterruptedReason string `json:"interrupted_reason,omitempty"`

	Totals      Totals          `json:"totals"`
	Inputs      []Input         `json:"inputs"`       // sorted by path, then first packet
	Protocols   []ProtoCount    `json:"protocols"`    // per protocol
	PortClasses []ClassCount    `json:"port_classes"` // per IANA class of the server port
	Services    []ServiceCount  `json:"services"`     // per service name; flows without a name are not counted
	ServerPorts []PortCount     `json:"server_ports"` // per protocol and server port (protocols with ports)
	Talkers     []Talker        `json:"talkers"`      // per host address, as client or server
	Ephemeral   []EphemeralPort `json:"ephemeral"`    // flows flagged as ephemeral/dynamic-range traffic, per server port
	States      []StateCount    `json:"states"`       // per protocol and connection state
	VeeamRules  []RuleCount     `json:"veeam_rules"`  // per Veeam rule that explains flows
	Hosts       []Host          `json:"hosts"`        // Veeam host roles, sorted by address
	// Attempts is the refused, unanswered and ICMP-blocked attempts per server address
	// and port, most failed flows first; Sweeps the clients that failed on at least
	// many distinct servers or ports (Options.SweepHosts). Both are cut to Top.
	Attempts         []Attempt `json:"attempts,omitempty"`
	AttemptsOverflow uint64    `json:"attempts_overflow,omitempty"` // failed flows not itemised (target cap)
	Sweeps           []Sweep   `json:"sweeps,omitempty"`
	// Tunnels is the traffic per tunnel layer, for captures with encapsulated packets
	// (cut to Top).
	Tunnels []TunnelCount `json:"tunnels,omitempty"`
	// Unexpected is the answered traffic nothing explains (see classify.Reason),
	// grouped by server, port and application protocol, largest first, cut to Top;
	// UnexpectedRest counts what is not listed.
	Unexpected     []Unexpected    `json:"unexpected,omitempty"`
	UnexpectedRest *UnexpectedRest `json:"unexpected_rest,omitempty"`
	// SkippedFiles are the files found in directory arguments that were not read
	// because they are not captures (see SkippedFile).
	SkippedFiles []SkippedFile   `json:"skipped_files,omitempty"`
	Flows        []classify.Flow `json:"-"` // every flow record (see SetFlowIter), in the order of capture.CompareFlows

	flowIter FlowIter // when set, the encoders take the records from it instead of Flows
}

// FlowIter calls yield for every flow record of a summary, in the order of
// capture.CompareFlows, and returns the first error yield or the iteration itself
// returns. The *classify.Flow is valid only during the call to yield. A FlowIter may be
// called more than once and yields the same records each time.
type FlowIter func(yield func(*classify.Flow) error) error

// SetFlowIter makes it the source of the summary's flow records for the encoders,
// instead of Flows (which it empties), for summaries whose records do not fit in
// memory. It does not change Totals.Flows, which must already count the records.
func (s *Summary) SetFlowIter(it FlowIter) {
	s.Flows = []classify.Flow{}
	s.flowIter = it
}

// EachFlow calls fn for every flow record of the summary in order (from the iterator
// set with SetFlowIter, else from Flows) and returns the first error. The *Record is
// valid only during the call.
func (s *Summary) EachFlow(fn func(*classify.Flow) error) error {
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
	// Decapsulated counts the decoded packets whose flow is inside a tunnel,
	// TunnelsTooDeep those nested deeper than capture.MaxTunnelDepth (the deeper
	// layers not entered) and TunnelPathsFull those keyed without their tunnel path.
	Decapsulated    uint64 `json:"decapsulated,omitempty"`
	TunnelsTooDeep  uint64 `json:"tunnels_too_deep,omitempty"`
	TunnelPathsFull uint64 `json:"tunnel_paths_full,omitempty"`
}

// Counts is what every breakdown entry carries.
type Counts struct {
	Flows   uint64 `json:"flows"`
	Packets uint64 `json:"packets"` // both directions
	Bytes   uint64 `json:"bytes"`   // both directions
}

func (c *Counts) add(f *classify.Flow) {
	c.Flows++
	c.Packets += f.Packets()
	c.Bytes += f.Bytes()
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

// PortCount is the traffic to one server port of one protocol. Service is the service
// name its flows give (see pickService: a Veeam or user-defined name before IANA's,
// which IANAService keeps).
type PortCount struct {
	Proto       string `json:"proto"`
	Port        uint16 `json:"port"`
	PortClass   string `json:"port_class"`
	Service     string `json:"service"`
	IANAService string `json:"iana_service"`
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

	addr netip.Addr // Addr as a value, while the Aggregator sums
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
	IANAService string   `json:"iana_service"`
	Flags       []string `json:"flags"`
	Unexplained uint64   `json:"unexplained"`
	Veeam       uint64   `json:"veeam"`
	First       Time     `json:"first,omitzero"`
	Last        Time     `json:"last,omitzero"`
	Counts
}

// TunnelCount is the traffic inside one tunnel layer: one encapsulation type and ID
// between two outer addresses, oriented like the flows inside (OuterClient is the
// outer source of the packets their clients sent: the clients' tunnel endpoint, or the
// mirroring device of a mirror session). Counts are the inner flows and their packets
// and bytes (whole frames); a flow in nested tunnels counts in each of its layers.
// This is what a firewall between the two outer addresses carries.
type TunnelCount struct {
	Type        string  `json:"type"`
	ID          *uint32 `json:"id,omitempty"` // the VNI, GRE key or ERSPAN session, for the layers that have one
	OuterClient string  `json:"outer_client,omitempty"`
	OuterServer string  `json:"outer_server,omitempty"`
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
//
// Its maps are keyed by values (protocol numbers, ports, addresses, rules), never by
// strings made from them: the breakdowns' strings are made once per entry, by Summary.
type Aggregator struct {
	opts    Options
	inputs  []Input
	skipped []SkippedFile
	evicted uint64
	spilled uint64
	hosts   []Host
	flows   []classify.Flow
	nflows  uint64 // records added, kept or not

	first, last time.Time // of the flows

	protos   [256]*Counts // by protocol number
	classes  [4]*Counts   // by ports.Class
	services map[string]*Counts
	ports    map[uint32]*PortCount // by portKey
	talkers4 map[uint32]int32      // index in talked of an IPv4 host: a key of 4 bytes keeps the map in cache
	talkers  map[addrKey]int32     // of the others
	talked   []talkerAcc
	ephem    map[uint32]*ephemAcc // by portKey
	states   map[uint32]*Counts   // by stateKey
	rules    []*Counts            // by veeam.Match
	tunnels  map[capture.Tunnel]*Counts
	att      attempts
	unexp    unexpectedAgg
	touched  uint64 // what AddBatch read ahead, kept so that the reads are not dropped
}

// portKey is a protocol and server port as one word, a map key Go hashes fast.
func portKey(proto uint8, port uint16) uint32 { return uint32(proto)<<16 | uint32(port) }

// stateKey is a protocol and connection state as one word.
func stateKey(proto uint8, s capture.State) uint32 { return uint32(proto)<<8 | uint32(s) }

// talkerAcc is a Talker being summed, without pointers: the hosts of a busy network
// are one slice that the garbage collector does not scan.
type talkerAcc struct {
	key addrKey
	Counts
	asClient, asServer, sent, received uint64
	sweep                              int32 // its Sweep as a client in attempts.sweeps, plus one (0: none yet)
}

// ephemAcc is an EphemeralPort being summed, with its flags as a set.
type ephemAcc struct {
	EphemeralPort
	flags classify.Flags
}

// NewAggregator returns an empty Aggregator.
func NewAggregator(o Options) *Aggregator {
	return &Aggregator{
		opts:     o,
		inputs:   []Input{},
		hosts:    []Host{},
		flows:    []classify.Flow{},
		services: map[string]*Counts{},
		ports:    map[uint32]*PortCount{},
		talkers4: map[uint32]int32{},
		talkers:  map[addrKey]int32{},
		ephem:    map[uint32]*ephemAcc{},
		states:   map[uint32]*Counts{},
		tunnels:  map[capture.Tunnel]*Counts{},
		att:      newAttempts(),
	}
}

// AddInput records the statistics of one input. The maps and slices are copied.
func (a *Aggregator) AddInput(s capture.InputStats) {
	in := Input{
		Path:            s.Path,
		Format:          s.Format,
		Compression:     s.Compression,
		Size:            s.Size,
		LinkTypes:       cloneMap(s.LinkTypes),
		Packets:         s.Packets,
		Bytes:           s.Bytes,
		Decoded:         s.Decoded,
		NonIP:           s.NonIP,
		Unsupported:     cloneMap(s.Unsupported),
		DecodeErrors:    s.DecodeErrors,
		Filtered:        s.Filtered,
		Fragments:       s.Fragments,
		Truncated:       s.Truncated,
		Warnings:        append([]string{}, s.Warnings...),
		KernelReceived:  s.KernelReceived,
		KernelDropped:   s.KernelDropped,
		Decapsulated:    s.Decapsulated,
		TunnelsTooDeep:  s.TunnelsTooDeep,
		TunnelPathsFull: s.TunnelPathsFull,
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

// Add folds one classified flow into the aggregates and keeps a copy for
// Summary.Flows (unless Options.DiscardFlows). It is O(1) amortised and allocates only
// when it meets a new breakdown key or the record slice grows.
func (a *Aggregator) Add(f *classify.Flow) {
	ci, si := a.talkers2(f)
	a.add(f, ci, si)
}

// addAhead is the number of flows whose hosts AddBatch looks up before it adds them.
const addAhead = 32

// AddBatch is Add of each of fs, in order. It looks up the hosts of addAhead flows at
// a time and reads their entries before it adds the flows, so that the cache misses
// of a network of many hosts overlap rather than come one after the other: 15 % off
// the aggregation of 500k flows among 65k hosts. Hosts get their entries in the order
// Add gives them.
func (a *Aggregator) AddBatch(fs []classify.Flow) {
	var ids [2 * addAhead]int32 // client and server of each flow, in a.talked
	for len(fs) > 0 {
		b := fs[:min(len(fs), addAhead)]
		fs = fs[len(b):]
		for i := range b {
			ids[2*i], ids[2*i+1] = a.talkers2(&b[i])
		}
		var touched uint64
		for _, id := range ids[:2*len(b)] {
			touched += a.talked[id].Flows
		}
		a.touched += touched
		for i := range b {
			a.add(&b[i], ids[2*i], ids[2*i+1])
		}
	}
}

// talkers2 returns the indexes in a.talked of f's client and server, made on first
// use, the client's first.
func (a *Aggregator) talkers2(f *classify.Flow) (client, server int32) {
	client = a.talker(f.Client.Addr())
	if f.Server.Addr() == f.Client.Addr() {
		return client, client
	}
	return client, a.talker(f.Server.Addr())
}

// add is Add, with the indexes in a.talked of f's client ci and server si.
func (a *Aggregator) add(f *classify.Flow, ci, si int32) {
	a.nflows++
	if !a.opts.DiscardFlows {
		a.flows = append(a.flows, *f)
		f = &a.flows[len(a.flows)-1]
	}

	if a.first.IsZero() || f.First.Before(a.first) {
		a.first = f.First
	}
	if f.Last.After(a.last) {
		a.last = f.Last
	}
	slotOf(&a.protos[f.Proto]).add(f)
	slotOf(&a.classes[f.PortClass&3]).add(f)
	if f.Service != "" {
		getOrNew(a.services, f.Service).add(f)
	}
	getOrNew(a.states, stateKey(f.Proto, f.State)).add(f)

	hasPort := capture.HasPorts(f.Proto)
	port := f.Server.Port()
	if hasPort {
		pc := getOrNew(a.ports, portKey(f.Proto, port))
		pc.Port = port
		pc.add(f)
		pc.PortClass = f.PortClass.String()
		pc.Service = pickService(pc.Service, f.Service, f.IANAService)
		pc.IANAService = minService(pc.IANAService, f.IANAService)
	} else {
		port = 0
	}

	tc := &a.talked[ci]
	tc.add(f)
	tc.asClient++
	tc.sent += f.Flow.Bytes[capture.ToServer]
	tc.received += f.Flow.Bytes[capture.ToClient]
	if si != ci {
		a.talked[si].add(f)
	}
	ts := &a.talked[si]
	ts.asServer++
	ts.sent += f.Flow.Bytes[capture.ToClient]
	ts.received += f.Flow.Bytes[capture.ToServer]
	a.att.add(f, port, &a.talked[ci].sweep)
	a.unexp.add(f)

	if f.Flags.Ephemeral() {
		e := getOrNew(a.ephem, portKey(f.Proto, port))
		e.Port = port
		e.add(f)
		e.PortClass = f.PortClass.String()
		e.Service = pickService(e.Service, f.Service, f.IANAService)
		e.IANAService = minService(e.IANAService, f.IANAService)
		if f.Flags.Has(classify.FlagUnexplained) {
			e.Unexplained++
		}
		if f.Flags.Has(classify.FlagVeeam) {
			e.Veeam++
		}
		if e.First.IsZero() || f.First.Before(e.First.Time) {
			e.First.Time = f.First
		}
		if f.Last.After(e.Last.Time) {
			e.Last.Time = f.Last
		}
		e.flags = e.flags.Union(f.Flags.EphemeralOnly())
	}

	for i := range f.Tunnel.Len() {
		getOrNew(a.tunnels, f.Tunnel.At(i)).add(f)
	}
	for _, m := range f.Veeam {
		if int(m) >= len(a.rules) {
			a.rules = append(a.rules, make([]*Counts, int(m)+1-len(a.rules))...)
		}
		slotOf(&a.rules[m]).add(f)
	}
}

// talker returns the index in a.talked of addr's entry, made on first use.
func (a *Aggregator) talker(addr netip.Addr) int32 {
	if addr.Is4() {
		b := addr.As4()
		k := binary.BigEndian.Uint32(b[:])
		i, ok := a.talkers4[k]
		if !ok {
			i = a.newTalker(addr)
			a.talkers4[k] = i
		}
		return i
	}
	k := keyOf(addr)
	i, ok := a.talkers[k]
	if !ok {
		i = a.newTalker(addr)
		a.talkers[k] = i
	}
	return i
}

// newTalker adds an entry for addr to a.talked and returns its index.
func (a *Aggregator) newTalker(addr netip.Addr) int32 {
	a.talked = append(a.talked, talkerAcc{key: keyOf(addr)})
	return int32(len(a.talked) - 1)
}

// pickService is the service name of a port that has name have so far and gets a flow
// named s, whose IANA name is iana: a name that is not IANA's (the Veeam service of
// flows Veeam rules explain, a user-defined service) wins over IANA's, so that a port
// with Veeam traffic is called by its Veeam service, and otherwise the smallest
// non-empty name (minService), so the result does not depend on the order flows were
// added in (which Merge changes).
func pickService(have, s, iana string) string {
	if have == "" || s == "" || have == s {
		return minService(have, s)
	}
	if haveNamed, sNamed := have != iana, s != iana; haveNamed != sNamed {
		if sNamed {
			return s
		}
		return have
	}
	return minService(have, s)
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
	// The counters of inputs read by this process cannot reach 2^64; those of saved
	// summaries are checked by the loader and the Merger.
	_ = sumInputs(t, a.inputs, a.first, a.last)
	t.Flows = a.nflows
	t.EvictedFlows = a.evicted
	t.SpilledFlows = a.spilled

	top := a.opts.Top
	s.Protocols = breakdown(slots(a.protos[:]), func(k int, c *Counts) ProtoCount { return ProtoCount{capture.ProtoName(uint8(k)), *c} },
		func(x, y ProtoCount) int { return cmp.Compare(x.Proto, y.Proto) }, 0)
	s.PortClasses = breakdown(slots(a.classes[:]), func(k int, c *Counts) ClassCount { return ClassCount{ports.Class(k).String(), *c} },
		func(x, y ClassCount) int { return cmp.Compare(x.PortClass, y.PortClass) }, 0)
	s.Services = breakdown(maps.All(a.services), func(k string, c *Counts) ServiceCount { return ServiceCount{k, *c} },
		func(x, y ServiceCount) int { return cmp.Compare(x.Service, y.Service) }, top)
	s.ServerPorts = breakdown(maps.All(a.ports), func(k uint32, p *PortCount) PortCount {
		c := *p
		c.Proto = capture.ProtoName(uint8(k >> 16))
		return c
	}, comparePortCounts, top)
	// Talkers are ordered by their addresses as values (as compareAddrs orders their
	// strings); only the entries kept get their strings.
	s.Talkers = breakdown(sliceAll(a.talked), func(_ int, t *talkerAcc) Talker {
		return Talker{AsClient: t.asClient, AsServer: t.asServer, BytesSent: t.sent, BytesReceived: t.received,
			Counts: t.Counts, addr: t.key.addr()}
	}, func(x, y Talker) int { return x.addr.Compare(y.addr) }, top)
	for i := range s.Talkers {
		t := &s.Talkers[i]
		t.Addr, t.addr = t.addr.String(), netip.Addr{} // a summary holds only what it encodes
	}
	s.Ephemeral = breakdown(maps.All(a.ephem), func(k uint32, e *ephemAcc) EphemeralPort {
		c := e.EphemeralPort
		c.Proto = capture.ProtoName(uint8(k >> 16))
		c.Flags = e.flags.Names()
		nonNil(&c.Flags)
		return c
	}, func(x, y EphemeralPort) int {
		return cmp.Or(cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.Port, y.Port))
	}, top)
	s.States = breakdown(maps.All(a.states), func(k uint32, c *Counts) StateCount {
		return StateCount{capture.ProtoName(uint8(k >> 8)), capture.State(k).String(), *c}
	}, func(x, y StateCount) int { return cmp.Or(cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.State, y.State)) }, 0)
	s.Attempts, s.Sweeps = a.att.summary(top, cmp.Or(a.opts.SweepHosts, DefaultSweepHosts), cmp.Or(a.opts.SweepPorts, DefaultSweepPorts))
	s.AttemptsOverflow = a.att.overflow
	s.Unexpected, s.UnexpectedRest = a.unexp.summary(top)
	s.VeeamRules = breakdown(slots(a.rules), func(m int, c *Counts) RuleCount {
		r := veeam.Match(m).Rule()
		return RuleCount{Rule: r.ID, Service: r.Service, From: r.From, To: r.To, Counts: *c}
	}, func(x, y RuleCount) int { return cmp.Compare(x.Rule, y.Rule) }, top)
	if len(a.tunnels) > 0 {
		type layer struct {
			TunnelCount
			key capture.Tunnel
		}
		ls := breakdown(maps.All(a.tunnels), func(t capture.Tunnel, c *Counts) layer { return layer{TunnelCount{Counts: *c}, t} },
			func(x, y layer) int { return x.key.Compare(y.key) }, top)
		s.Tunnels = make([]TunnelCount, len(ls))
		for i, l := range ls {
			s.Tunnels[i] = tunnelCountOf(l.key, l.Counts)
		}
	}
	return s
}

// tunnelCountOf is the summary entry of tunnel layer t.
func tunnelCountOf(t capture.Tunnel, c Counts) TunnelCount {
	tc := TunnelCount{Type: t.Type.String(), Counts: c}
	if t.HasID {
		id := t.ID
		tc.ID = &id
	}
	if t.Client.IsValid() {
		tc.OuterClient = t.Client.String()
	}
	if t.Server.IsValid() {
		tc.OuterServer = t.Server.String()
	}
	return tc
}

// breakdown turns an aggregate map into a list sorted by bytes (descending), then by
// byKey, cut to top entries when top > 0.
func breakdown[K any, V any, E interface{ counts() Counts }](all iter.Seq2[K, *V], mk func(K, *V) E, byKey func(x, y E) int, top int) []E {
	order := func(x, y E) int {
		if c := cmp.Compare(y.counts().Bytes, x.counts().Bytes); c != 0 {
			return c
		}
		return byKey(x, y) // only on ties: keys may be costly to compare
	}
	var out []E
	if top <= 0 {
		for k, v := range all {
			out = append(out, mk(k, v))
		}
		slices.SortFunc(out, order)
		return nonNilSlice(out)
	}
	// Keep the best top in order as they come instead of sorting them all: the top
	// entries of many (talkers, ports).
	out = make([]E, 0, top+1)
	for k, v := range all {
		out = keepTop(out, mk(k, v), top, order)
	}
	return out[:len(out):len(out)]
}

// nonNilSlice is s, or an empty slice for nil (lists encode as []).
func nonNilSlice[E any](s []E) []E {
	if s == nil {
		return []E{}
	}
	return s
}

// slots yields the index and entry of every entry of s that is set.
func slots[V any](s []*V) iter.Seq2[int, *V] {
	return func(yield func(int, *V) bool) {
		for i, v := range s {
			if v != nil && !yield(i, v) {
				return
			}
		}
	}
}

// sliceAll yields the index and address of every element of s.
func sliceAll[V any](s []V) iter.Seq2[int, *V] {
	return func(yield func(int, *V) bool) {
		for i := range s {
			if !yield(i, &s[i]) {
				return
			}
		}
	}
}

// slotOf is the entry *p, made on first use.
func slotOf[V any](p **V) *V {
	if *p == nil {
		*p = new(V)
	}
	return *p
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

// counts are an entry's counts, by value: returning the address of a value receiver's
// counts allocated at every comparison of breakdown's sort.
func (c ProtoCount) counts() Counts    { return c.Counts }
func (c ClassCount) counts() Counts    { return c.Counts }
func (c ServiceCount) counts() Counts  { return c.Counts }
func (c PortCount) counts() Counts     { return c.Counts }
func (c Talker) counts() Counts        { return c.Counts }
func (c EphemeralPort) counts() Counts { return c.Counts }
func (c StateCount) counts() Counts    { return c.Counts }
func (c RuleCount) counts() Counts     { return c.Counts }
func (c TunnelCount) counts() Counts   { return c.Counts }

func comparePortCounts(x, y PortCount) int {
	return cmp.Or(cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.Port, y.Port))
}

// sortRecords puts records in the order of capture.CompareFlows (first packet time,
// protocol number, client and server as addresses, ...), the order in which analyze
// writes the flows of a spooled run, so that a summary lists its flows the same way
// whether they were kept in memory, spooled to disk or merged from saved reports. The
// sort is stable: records equal in every field CompareFlows reads keep their order.
func sortRecords(fs []classify.Flow) {
	if len(fs) < 2 {
		return
	}
	idx := make([]int32, len(fs))
	for i := range fs {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(x, y int32) int { return capture.CompareFlows(&fs[x].Flow, &fs[y].Flow) })
	sorted := make([]classify.Flow, len(fs))
	for i, j := range idx {
		sorted[i] = fs[j]
	}
	copy(fs, sorted)
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

// MarkInterrupted marks the summary as the report of a run that was cut short, for
// reason (see Summary.Interrupted).
func (s *Summary) MarkInterrupted(reason string) {
	s.Interrupted, s.InterruptedReason = true, cmp.Or(reason, "interrupted")
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
	nonNil(&s.Unexpected)
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
}

func nonNil[T any](p *[]T) {
	if *p == nil {
		*p = []T{}
	}
}
