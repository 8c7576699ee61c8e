package reports

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
)

// Merge combines two summaries into the summary of all their inputs and flows. It is
// exact: the result equals the summary an Aggregator would build from the union of the
// inputs and records of a and b (it rebuilds every breakdown from the records, sums
// inputs and evicted counts). The exception is Hosts, which Merge combines address by
// address (see SetHosts) rather than inferring roles again from all flows.
//
// The result is cut to the larger Top of the two, or complete if either is complete.
// It fails when a summary is nil, has another schema_version, or does not carry all its
// flow records (totals.flows differs from the number of records), and when a sum
// would overflow 64 bits. a and b are not modified; the result shares their strings
// and input maps.
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
		if s.Totals.Flows != uint64(len(s.Flows)) {
			return nil, fmt.Errorf("merge: summary %d: totals.flows is %d but it has %d flow records, cannot merge exactly", i+1, s.Totals.Flows, len(s.Flows))
		}
		n += len(s.Flows)
	}
	o.DiscardFlows = false
	m := NewMerger(o)
	m.agg.flows = make([]classify.Flow, 0, n)
	for i, s := range ss {
		if err := m.AddSummary(s); err != nil {
			return nil, fmt.Errorf("merge: summary %d: %w", i+1, err)
		}
		for j := range s.Flows {
			if err := m.Add(&s.Flows[j]); err != nil {
				return nil, fmt.Errorf("merge: summary %d: flows[%d]: %w", i+1, j, err)
			}
		}
	}
	return m.Summary()
}

// Merger merges summaries given one at a time, each as its head (everything but the
// flow records: AddSummary) and its records (Add), so that a merge of saved summaries
// need not hold them, nor with Options.DiscardFlows any record, in memory: it holds the
// aggregates, the inputs and the hosts. Records are aggregated in the order they are
// added (the attempts section's caps depend on it), summary after summary, as
// MergeAll does. Sums that would overflow 64 bits are an error: a saved summary's
// counters are input, not facts. The zero value is not usable; call NewMerger. It is
// not safe for concurrent use.
type Merger struct {
	agg            *Aggregator
	hosts          []Host
	sums           Totals   // of the inputs added
	packets, bytes uint64   // of the records added, both directions
	reasons        []string // why the interrupted summaries were, each once
}

// NewMerger returns a Merger whose breakdowns are built with o (see MergeAll); with
// o.DiscardFlows the records are not kept, and the caller attaches them to the merged
// summary with SetFlowIter, in the order of capture.CompareFlows.
func NewMerger(o Options) *Merger {
	return &Merger{agg: NewAggregator(o)}
}

// AddSummary adds the head of s: its inputs, evicted and spilled counts, skipped files
// and hosts. Its records, if any, are not added: give them to Add.
func (m *Merger) AddSummary(s *Summary) error {
	if s.SchemaVersion != SchemaVersion {
		return fmt.Errorf("%w %d (this portclass reads %d)", ErrSchemaVersion, s.SchemaVersion, SchemaVersion)
	}
	a := m.agg
	var c1, c2 uint64
	a.evicted, c1 = bits.Add64(a.evicted, s.Totals.EvictedFlows, 0)
	a.spilled, c2 = bits.Add64(a.spilled, s.Totals.SpilledFlows, 0)
	if c1|c2 != 0 {
		return fmt.Errorf("totals.evicted_flows or spilled_flows: the summaries' counts add up to more than %d", uint64(math.MaxUint64))
	}
	if err := addInputs(&m.sums, s.Inputs); err != nil {
		return fmt.Errorf("%w (with the summaries before it)", err)
	}
	a.inputs = append(a.inputs, s.Inputs...)
	a.skipped = append(a.skipped, s.SkippedFiles...)
	m.hosts = append(m.hosts, s.Hosts...)
	if s.Interrupted && !slices.Contains(m.reasons, s.InterruptedReason) {
		m.reasons = append(m.reasons, s.InterruptedReason)
	}
	return nil
}

// Add aggregates one record (and keeps a copy, without Options.DiscardFlows). It fails
// when the packets or bytes of all records added so far would overflow 64 bits, which
// bounds every breakdown's sums too (a *recordError naming the field).
func (m *Merger) Add(f *classify.Flow) error {
	if err := addCounts(&m.packets, &m.bytes, f); err != nil {
		return fmt.Errorf("%w (with the summaries before it)", err)
	}
	m.agg.Add(f)
	return nil
}

// addCounts adds the packets and bytes of f (both directions) to *packets and *bytes.
// When a sum would overflow 64 bits it changes neither and returns a *recordError
// naming the field, packets_to_server or bytes_to_server.
func addCounts(packets, bytes *uint64, f *classify.Flow) error {
	p, c1 := bits.Add64(*packets, f.Flow.Packets[capture.ToServer], 0)
	p, c2 := bits.Add64(p, f.Flow.Packets[capture.ToClient], 0)
	b, c3 := bits.Add64(*bytes, f.Flow.Bytes[capture.ToServer], 0)
	b, c4 := bits.Add64(b, f.Flow.Bytes[capture.ToClient], 0)
	switch {
	case c1|c2 != 0:
		return fieldError("packets_to_server", "the records' packets add up to more than %d", uint64(math.MaxUint64))
	case c3|c4 != 0:
		return fieldError("bytes_to_server", "the records' bytes add up to more than %d", uint64(math.MaxUint64))
	}
	*packets, *bytes = p, b
	return nil
}

// Summary returns the merged summary, marked interrupted when a summary merged was
// (Summary.Interrupted: the merge is as incomplete).
func (m *Merger) Summary() (*Summary, error) {
	m.agg.hosts = normaliseHosts(m.hosts)
	s := m.agg.Summary()
	if len(m.reasons) > 0 {
		s.MarkInterrupted("merged from the report of an interrupted run: " + strings.Join(m.reasons, "; "))
	}
	return s, nil
}
