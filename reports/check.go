package reports

import (
	"fmt"
	"maps"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
)

// The checks of a loaded summary's sections other than the flow records (whose check
// is rawRecord.flow): each entry is held to what portclass writes, field by field, and
// an error is a *recordError naming the field, which the loader prefixes with the
// entry ("inputs[2].last"). The breakdowns are not compared with the records (merge
// and diff rebuild what they need from the records), but every name, address, port
// and time in them must be one portclass could have written. checkTotals then holds
// the totals to the inputs and the records.

// checkToken checks a short name of a vocabulary that may grow (an input format, a
// link type): letters, digits, '_', '-' and '.', at most 64 of them.
func checkToken(field, s string, empty bool) error {
	if s == "" {
		if empty {
			return nil
		}
		return fieldError(field, "empty")
	}
	if len(s) > 64 {
		return fieldError(field, "%.20q...: longer than 64 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fieldError(field, "%q: character %q at %d is not a letter, digit, '_', '-' or '.'", s, c, i)
		}
	}
	return nil
}

// checkSpan checks that an entry's last time is not before its first.
func checkSpan(first, last Time) error {
	if !first.IsZero() && !last.IsZero() && last.Before(first.Time) {
		return fieldError("last", "%s is before first %s (a duration of %v)", last.Format(TimeLayout), first.Format(TimeLayout), last.Sub(first.Time))
	}
	return nil
}

// checkProto parses a protocol name as written in field.
func checkProto(field, s string) (uint8, error) {
	p, ok := capture.ParseProtoName(s)
	if !ok {
		return 0, fieldError(field, "%q is not tcp, udp, sctp, icmp, icmpv6 or ip-N", s)
	}
	return p, nil
}

// checkAddr parses an address (no port, no zone) as written in field.
func checkAddr(field, s string) error {
	if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" {
		return fieldError(field, "%q is not an address", s)
	}
	return nil
}

// checkPortClass checks the class written for a server port of protocol proto.
func checkPortClass(proto uint8, port uint16, class string) error {
	want := ""
	if capture.HasPorts(proto) {
		want = ports.ClassOf(port).String()
	} else if port != 0 {
		return fieldError("port", "%d on a %s entry: %s has no ports", port, capture.ProtoName(proto), capture.ProtoName(proto))
	}
	if class != want {
		return fieldError("port_class", "%q, but server port %d is %q", class, port, want)
	}
	return nil
}

// checkCount checks a count of flows that cannot exceed the entry's flows.
func checkCount(field string, n, flows uint64) error {
	if n > flows {
		return fieldError(field, "%d is more than the entry's %d flows", n, flows)
	}
	return nil
}

func (in *Input) check() error {
	if in.Path == "" {
		return fieldError("path", "empty")
	}
	if err := checkToken("format", in.Format, true); err != nil {
		return err
	}
	if err := checkToken("compression", in.Compression, true); err != nil {
		return err
	}
	if in.Size < -1 {
		return fieldError("size", "%d: want the size in bytes, or -1 when unknown", in.Size)
	}
	for _, m := range [...]struct {
		name   string
		counts map[string]uint64
	}{{"link_types", in.LinkTypes}, {"unsupported", in.Unsupported}} {
		for _, k := range slices.Sorted(maps.Keys(m.counts)) { // the first bad name, always the same
			if err := checkToken(m.name, k, false); err != nil {
				return err
			}
		}
	}
	if in.TruncatedAt < 0 || in.TruncatedAt != 0 && !in.Truncated {
		return fieldError("truncated_at", "%d: want the offset where a truncated input ends", in.TruncatedAt)
	}
	if in.KernelDropped > in.KernelReceived {
		return fieldError("kernel_dropped", "%d is more than kernel_received %d (which counts the dropped packets too)", in.KernelDropped, in.KernelReceived)
	}
	return checkSpan(in.First, in.Last)
}

func (c *ProtoCount) check() error {
	_, err := checkProto("proto", c.Proto)
	return err
}

func (c *ClassCount) check() error {
	for k := range 4 {
		if c.PortClass == ports.Class(k).String() {
			return nil
		}
	}
	return fieldError("port_class", "%q is not well-known, registered, dynamic or \"\"", c.PortClass)
}

func (c *ServiceCount) check() error {
	if c.Service == "" {
		return fieldError("service", "empty (flows without a service name are not counted)")
	}
	return nil
}

func (c *PortCount) check() error {
	p, err := checkProto("proto", c.Proto)
	if err != nil {
		return err
	}
	if !capture.HasPorts(p) {
		return fieldError("proto", "%q has no ports", c.Proto)
	}
	return checkPortClass(p, c.Port, c.PortClass)
}

func (c *Talker) check() error {
	if err := checkAddr("addr", c.Addr); err != nil {
		return err
	}
	if err := checkCount("as_client", c.AsClient, c.Flows); err != nil {
		return err
	}
	if err := checkCount("as_server", c.AsServer, c.Flows); err != nil {
		return err
	}
	if sum, carry := bits.Add64(c.AsClient, c.AsServer, 0); carry == 0 && sum < c.Flows {
		return fieldError("flows", "%d, but the host opened %d and accepted %d", c.Flows, c.AsClient, c.AsServer)
	}
	return nil
}

func (c *EphemeralPort) check() error {
	p, err := checkProto("proto", c.Proto)
	if err != nil {
		return err
	}
	if err := checkPortClass(p, c.Port, c.PortClass); err != nil {
		return err
	}
	f, err := classify.ParseFlags(c.Flags...)
	if err != nil {
		return fieldError("flags", "%v", err)
	}
	if f.EphemeralOnly() != f {
		return fieldError("flags", "%v: only the ephemeral-range flags belong here", c.Flags)
	}
	if err := checkCount("unexplained", c.Unexplained, c.Flows); err != nil {
		return err
	}
	if err := checkCount("veeam", c.Veeam, c.Flows); err != nil {
		return err
	}
	return checkSpan(c.First, c.Last)
}

func (c *TunnelCount) check() error {
	// A tunnel layer is checked as the one layer of a record's tunnel list.
	_, err := tunnelPath([]rawTunnel{{Type: c.Type, ID: c.ID, OuterClient: c.OuterClient, OuterServer: c.OuterServer}})
	if re, ok := err.(*recordError); ok {
		re.field = strings.TrimPrefix(re.field, "tunnel[0].")
	}
	return err
}

func (c *StateCount) check() error {
	if _, err := checkProto("proto", c.Proto); err != nil {
		return err
	}
	if _, ok := parseName(c.State, capture.State.String, 0, 32); !ok {
		return fieldError("state", "%q is not a connection state", c.State)
	}
	return nil
}

func (c *RuleCount) check() error {
	_, err := veeamRuleOf("rule", c.Rule, c.Service, c.From, c.To)
	if re, ok := err.(*recordError); ok && re.field == "rule.rule" {
		re.field = "rule"
	}
	return err
}

func (h *Host) check() error {
	if err := checkAddr("addr", h.Addr); err != nil {
		return err
	}
	for i, r := range h.Roles {
		field := fmt.Sprintf("roles[%d]", i)
		// A role name, not necessarily one of this build's matrix: roles are only shown.
		if err := checkToken(field+".role", r.Role, false); err != nil {
			return err
		}
		if !(r.Confidence >= 0 && r.Confidence <= 1) {
			return fieldError(field+".confidence", "%v: want 0 to 1", r.Confidence)
		}
	}
	return nil
}

func (a *Attempt) check() error {
	p, err := checkProto("proto", a.Proto)
	if err != nil {
		return err
	}
	ep, err := parseEndpoint(p, a.Server)
	if err != nil {
		return fieldError("server", "%v", err)
	}
	if a.Port != ep.Port() {
		return fieldError("port", "%d, but the server is %s", a.Port, a.Server)
	}
	for i, c := range a.Clients {
		if err := checkAddr(fmt.Sprintf("clients[%d]", i), c); err != nil {
			return err
		}
	}
	if uint64(len(a.Clients)) > a.ClientCount {
		return fieldError("client_count", "%d, but %d clients are listed", a.ClientCount, len(a.Clients))
	}
	return checkSpan(a.First, a.Last)
}

func (s *Sweep) check() error {
	if err := checkAddr("client", s.Client); err != nil {
		return err
	}
	if s.Hosts > s.Targets || s.Ports > s.Targets {
		return fieldError("targets", "%d, fewer than its %d hosts or %d ports", s.Targets, s.Hosts, s.Ports)
	}
	return checkSpan(s.First, s.Last)
}

func (f *SkippedFile) check() error {
	if f.Path == "" {
		return fieldError("path", "empty")
	}
	if f.Reason == "" {
		return fieldError("reason", "empty")
	}
	return nil
}

// sumInputs sets t's input counters and time span from inputs, and widens the time
// span first–last (of the flow records; zero without records) by the inputs'. Its
// error names the input at which a counter's sum overflows 64 bits.
func sumInputs(t *Totals, inputs []Input, first, last time.Time) error {
	t.Inputs = 0
	t.Packets, t.Bytes, t.Decoded, t.NonIP, t.DecodeErrors, t.Filtered, t.Unsupported = 0, 0, 0, 0, 0, 0, 0
	err := addInputs(t, inputs)
	for i := range inputs {
		in := &inputs[i]
		if !in.First.IsZero() && (first.IsZero() || in.First.Before(first)) {
			first = in.First.Time
		}
		if in.Last.After(last) {
			last = in.Last.Time
		}
	}
	t.First, t.Last = Time{first.UTC()}, Time{last.UTC()}
	t.DurationSeconds = 0
	if !first.IsZero() {
		t.DurationSeconds = last.Sub(first).Seconds()
	}
	return err
}

// addInputs adds the counters of inputs to those of t. When a sum would overflow 64
// bits it stops there, with an error naming the input (its index in inputs) and the
// counter.
func addInputs(t *Totals, inputs []Input) error {
	for i := range inputs {
		in := &inputs[i]
		var unsupported, carry uint64
		for _, n := range in.Unsupported {
			if unsupported, carry = bits.Add64(unsupported, n, 0); carry != 0 {
				return fmt.Errorf("inputs[%d].unsupported: its counts add up to more than %d", i, uint64(math.MaxUint64))
			}
		}
		for _, c := range [...]struct {
			name string
			sum  *uint64
			n    uint64
		}{
			{"packets", &t.Packets, in.Packets}, {"bytes", &t.Bytes, in.Bytes}, {"decoded", &t.Decoded, in.Decoded},
			{"non_ip", &t.NonIP, in.NonIP}, {"decode_errors", &t.DecodeErrors, in.DecodeErrors},
			{"filtered", &t.Filtered, in.Filtered}, {"unsupported", &t.Unsupported, unsupported},
		} {
			if *c.sum, carry = bits.Add64(*c.sum, c.n, 0); carry != 0 {
				return fmt.Errorf("inputs[%d].%s: the inputs' %s add up to more than %d", i, c.name, c.name, uint64(math.MaxUint64))
			}
		}
		t.Inputs++
	}
	return nil
}

// checkTotals holds the totals to what the inputs and the records add up to, as the
// Aggregator made them. A summary without records (--no-flows) counts the records it
// left out in totals.flows; its time span is then at least that of its inputs.
func (l *loader) checkTotals() error {
	t := &l.s.Totals
	where := func(err error) error {
		return fmt.Errorf("%w (the totals at offset %d)", err, l.totalAt)
	}
	var want Totals
	if err := sumInputs(&want, l.s.Inputs, l.first, l.last); err != nil {
		return err
	}
	if t.Inputs != want.Inputs {
		return where(fmt.Errorf("totals.inputs is %d, but the summary lists %d inputs", t.Inputs, want.Inputs))
	}
	for _, c := range [...]struct {
		name      string
		got, want uint64
	}{
		{"packets", t.Packets, want.Packets}, {"bytes", t.Bytes, want.Bytes}, {"decoded", t.Decoded, want.Decoded},
		{"non_ip", t.NonIP, want.NonIP}, {"decode_errors", t.DecodeErrors, want.DecodeErrors},
		{"filtered", t.Filtered, want.Filtered}, {"unsupported", t.Unsupported, want.Unsupported},
	} {
		if c.got != c.want {
			return where(fmt.Errorf("totals.%s is %d, but the inputs' %s add up to %d", c.name, c.got, c.name, c.want))
		}
	}
	noRecords := l.records == 0 && t.Flows > 0
	if !noRecords && t.Flows != l.records {
		return where(fmt.Errorf("totals.flows is %d, but the summary carries %d flow records", t.Flows, l.records))
	}
	switch {
	case !noRecords && !t.First.Equal(want.First.Time):
		return where(fmt.Errorf("totals.first is %s, but the inputs and flow records start at %s", t.First.Format(TimeLayout), want.First.Format(TimeLayout)))
	case !noRecords && !t.Last.Equal(want.Last.Time):
		return where(fmt.Errorf("totals.last is %s, but the inputs and flow records end at %s", t.Last.Format(TimeLayout), want.Last.Format(TimeLayout)))
	case noRecords && !want.First.IsZero() && (t.First.IsZero() || t.First.After(want.First.Time) || t.Last.Before(want.Last.Time)):
		return where(fmt.Errorf("totals.first and last (%s to %s) do not cover the inputs' %s to %s",
			t.First.Format(TimeLayout), t.Last.Format(TimeLayout), want.First.Format(TimeLayout), want.Last.Format(TimeLayout)))
	}
	if err := checkSpan(t.First, t.Last); err != nil {
		return where(fmt.Errorf("totals.%w", err))
	}
	wantDuration := 0.0
	if !t.First.IsZero() {
		wantDuration = t.Last.Sub(t.First.Time).Seconds()
	}
	if t.DurationSeconds != wantDuration {
		return where(fmt.Errorf("totals.duration_seconds is %v, but last − first is %v", t.DurationSeconds, wantDuration))
	}
	return nil
}

func (u *Unexpected) check() error {
	p, err := checkProto("proto", u.Proto)
	if err != nil {
		return err
	}
	if !capture.HasPorts(p) {
		return fieldError("proto", "%s: only flows with ports are unexpected traffic", u.Proto)
	}
	if err := checkAddr("server", u.Server); err != nil {
		return err
	}
	if u.Client != "" {
		if err := checkAddr("client", u.Client); err != nil {
			return err
		}
		if u.ClientCount != 1 {
			return fieldError("client_count", "%d with one client named: a client is named only when it is the only one", u.ClientCount)
		}
	}
	if u.ClientCount == 0 || u.ClientCount > u.Flows {
		return fieldError("client_count", "%d for %d flows", u.ClientCount, u.Flows)
	}
	if u.Flows == 0 {
		return fieldError("flows", "0: a group has at least one flow")
	}
	if _, err := appid.ParseProtocol(u.App); err != nil {
		return fieldError("app_protocol", "%q is not an application protocol of this portclass", u.App)
	}
	rs, err := classify.ParseReasons(u.Reasons...)
	if err != nil {
		return fieldError("reasons", "%v", err)
	}
	if names := rs.Names(); len(names) == 0 || !slices.Equal(names, u.Reasons) {
		return fieldError("reasons", "%q: want at least one reason, each once, in the order %q", u.Reasons, names)
	}
	return checkSpan(u.First, u.Last)
}

func (r *UnexpectedRest) check() error {
	if (r.Groups == 0) != (r.Flows == 0) {
		return fieldError("unexpected_rest", "%d groups of %d flows", r.Groups, r.Flows)
	}
	return nil
}
