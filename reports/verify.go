package reports

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/policy"
)

// VerifyReport is what `portclass verify` reports: the verdict of every required flow of
// a policy, the traffic the policy forbids or does not document, and the documented
// traffic by rule, with the evidence (hosts, port, states, packets, first and last
// seen). It is built from a policy.Verification by NewVerifyReport and written by a
// VerifyEncoder. The JSON field names are a contract, like the flow record's; lists are
// never nil.
type VerifyReport struct {
	SchemaVersion int    `json:"schema_version"`
	Generator     string `json:"generator"`

	// Interrupted marks the verification of a run cut short (see Summary.Interrupted):
	// flows not read could not be checked. Omitted when false and empty.
	Interrupted       bool   `json:"interrupted,omitempty"`
	InterruptedReason string `json:"interrupted_reason,omitempty"`

	Policy         string           `json:"policy"`         // the policy file
	VeeamVersions  []string         `json:"veeam_versions"` // versions of the Veeam matrix rules were derived for; empty when none were
	Result         string           `json:"result"`         // "pass" or "fail" (exit code 0 or 1)
	FailOn         []string         `json:"fail_on"`        // the finding kinds that fail: blocked, forbidden, undocumented, not-tested
	Findings       VerifyFindings   `json:"findings"`
	Totals         Totals           `json:"totals"`
	Inputs         []Input          `json:"inputs"`
	Required       []RequiredFlow   `json:"required"`     // every required check, by rule, then from, to, port
	Forbidden      []TrafficGroup   `json:"forbidden"`    // by rule, then bytes (descending)
	Undocumented   []TrafficGroup   `json:"undocumented"` // by bytes (descending)
	Documented     []RuleTraffic    `json:"documented"`   // every rule that is required or allowed, in policy order
	ICMPErrorFlows uint64           `json:"icmp_error_flows"`
	Rules          []VerifyRuleInfo `json:"rules"` // every rule of the policy, in match order
}

// MarkInterrupted marks the report as the verification of a run that was cut short,
// for reason (see VerifyReport.Interrupted).
func (r *VerifyReport) MarkInterrupted(reason string) {
	r.Interrupted, r.InterruptedReason = true, cmp.Or(reason, "interrupted")
}

// VerifyFindings counts the verdicts; Result is "fail" when a kind in FailOn is not 0.
type VerifyFindings struct {
	RequiredOK        int `json:"required_ok"`
	Blocked           int `json:"blocked"`            // required checks blocked-unanswered, -refused or -icmp
	NotTested         int `json:"not_tested"`         // required checks with no attempt
	Forbidden         int `json:"forbidden"`          // forbidden traffic groups that were answered
	ForbiddenAttempts int `json:"forbidden_attempts"` // forbidden traffic groups that were only attempted
	Undocumented      int `json:"undocumented"`       // undocumented traffic groups
}

// VerifyRuleInfo describes one rule of the policy as it was resolved.
type VerifyRuleInfo struct {
	Name   string   `json:"name"`
	Expect string   `json:"expect"`
	From   []string `json:"from"`
	To     []string `json:"to"`
	Proto  string   `json:"proto"`
	Ports  string   `json:"ports"` // "" for every port
	Note   string   `json:"note,omitempty"`
	Source string   `json:"source,omitempty"` // the Veeam documentation page of a derived rule
	Line   int      `json:"line,omitempty"`   // line in the policy file; 0 for derived rules
}

// RequiredFlow is the verdict of one required (from, to, protocol, port).
type RequiredFlow struct {
	Rule    string `json:"rule"`
	From    string `json:"from"`  // address, prefix or "any"
	To      string `json:"to"`    // address, prefix or "any"
	Proto   string `json:"proto"` // tcp, udp, ...
	Port    string `json:"port"`  // "6162", or a range ("2500-3300") not tested at all; "" without ports
	Verdict string `json:"verdict"`
	Summary string `json:"summary"` // the evidence in one line
	VerifyEvidence
}

// TrafficGroup is the flows of one (rule, protocol, client, server, server port).
type TrafficGroup struct {
	Rule    string `json:"rule,omitempty"`   // first matching rule; "" for undocumented traffic
	Expect  string `json:"expect,omitempty"` // its expectation
	Proto   string `json:"proto"`
	Client  string `json:"client"`
	Server  string `json:"server"`
	Port    uint16 `json:"port"` // server port; 0 for protocols without ports
	Service string `json:"service"`
	Outcome string `json:"outcome"` // ok or blocked-*, over the group's flows
	Finding bool   `json:"finding"` // counts as a finding (forbidden and answered, or undocumented)
	Summary string `json:"summary"`
	VerifyEvidence
}

// RuleTraffic is the documented traffic of one rule.
type RuleTraffic struct {
	Rule    string         `json:"rule"`
	Expect  string         `json:"expect"`
	Flows   uint64         `json:"flows"`
	Packets uint64         `json:"packets"`
	Bytes   uint64         `json:"bytes"`
	First   Time           `json:"first,omitzero"`
	Last    Time           `json:"last,omitzero"`
	Groups  []TrafficGroup `json:"groups"` // by bytes (descending)
}

// VerifyEvidence is the flows behind a verdict.
type VerifyEvidence struct {
	Flows      uint64       `json:"flows"`
	OK         uint64       `json:"ok"`                 // flows established or answered
	Unanswered uint64       `json:"blocked_unanswered"` // flows with attempts only
	Refused    uint64       `json:"blocked_refused"`    // flows refused by a RST
	ICMP       uint64       `json:"blocked_icmp"`       // flows an ICMP error quoted
	Packets    uint64       `json:"packets"`
	Bytes      uint64       `json:"bytes"`
	First      Time         `json:"first,omitzero"`
	Last       Time         `json:"last,omitzero"`
	States     []StateFlows `json:"states"`      // most flows first
	ICMPErrors []VerifyICMP `json:"icmp_errors"` // most messages first
	Clients    []string     `json:"clients"`     // distinct clients seen (at most 8)
	Servers    []string     `json:"servers"`     // distinct servers seen (at most 8)
	MorePeers  bool         `json:"more_peers,omitempty"`
}

// StateFlows is the number of flows in one connection state.
type StateFlows struct {
	State string `json:"state"`
	Flows uint64 `json:"flows"`
}

// VerifyICMP is an ICMP error message kind that quoted flows of a verdict.
type VerifyICMP struct {
	Type    uint8  `json:"type"`
	Code    uint8  `json:"code"`
	V6      bool   `json:"v6,omitempty"`
	From    string `json:"from"`
	Count   uint32 `json:"count"`
	Meaning string `json:"meaning"` // e.g. "communication administratively prohibited"
}

// VerifyOptions gives NewVerifyReport what the verification does not hold.
type VerifyOptions struct {
	FailOn  policy.FailOn
	Service func(proto uint8, port uint16) string // service name of a server port, "" if none; nil: none
}

// NewVerifyReport builds the report of v; s (may be nil) gives the totals and inputs.
func NewVerifyReport(v *policy.Verification, s *Summary, o VerifyOptions) *VerifyReport {
	r := &VerifyReport{
		SchemaVersion: SchemaVersion, Generator: Generator, Policy: v.Policy.File,
		FailOn: o.FailOn.Names(), Inputs: []Input{}, Required: []RequiredFlow{}, Forbidden: []TrafficGroup{},
		Undocumented: []TrafficGroup{}, Documented: []RuleTraffic{}, ICMPErrorFlows: v.ICMPErrorFlows,
		Rules: []VerifyRuleInfo{},
	}
	if s != nil {
		r.Totals, r.Inputs = s.Totals, s.Inputs
	}
	r.VeeamVersions = []string{}
	if v.Policy.VeeamDerived() {
		r.VeeamVersions = slices.Clone(v.Policy.Matrix().Options().Versions)
	}
	f := v.Findings()
	r.Findings = VerifyFindings{RequiredOK: f.OK, Blocked: f.Blocked, NotTested: f.NotTested,
		Forbidden: f.Forbidden, ForbiddenAttempts: f.Attempts, Undocumented: f.Undocumented}
	r.Result = "pass"
	if f.Fail(o.FailOn) {
		r.Result = "fail"
	}
	for _, pr := range v.Policy.Rules {
		info := VerifyRuleInfo{Name: pr.Name, Expect: pr.Expect.String(), Proto: pr.ProtoName(),
			Ports: pr.PortsString(), Note: pr.Note, Line: pr.Line, From: termTexts(pr.From), To: termTexts(pr.To)}
		if pr.Veeam != nil {
			info.Source = pr.Veeam.Source
		}
		r.Rules = append(r.Rules, info)
		if pr.Expect != policy.ExpectForbidden {
			r.Documented = append(r.Documented, RuleTraffic{Rule: pr.Name, Expect: pr.Expect.String(), Groups: []TrafficGroup{}})
		}
	}
	for i := range v.Required {
		r.Required = append(r.Required, requiredFlow(&v.Required[i]))
	}
	byRule := map[string]*RuleTraffic{}
	for i := range r.Documented {
		byRule[r.Documented[i].Rule] = &r.Documented[i]
	}
	for i := range v.Traffic {
		g := trafficGroup(&v.Traffic[i], o.Service)
		switch v.Traffic[i].Class {
		case policy.TrafficForbidden:
			r.Forbidden = append(r.Forbidden, g)
		case policy.TrafficUndocumented:
			r.Undocumented = append(r.Undocumented, g)
		case policy.TrafficDocumented:
			rt := byRule[g.Rule]
			rt.Flows += g.Flows
			rt.Packets += g.Packets
			rt.Bytes += g.Bytes
			if rt.First.IsZero() || g.First.Before(rt.First.Time) {
				rt.First = g.First
			}
			if g.Last.After(rt.Last.Time) {
				rt.Last = g.Last
			}
			rt.Groups = append(rt.Groups, g)
		}
	}
	largest := func(a, b TrafficGroup) int { return cmp.Compare(b.Bytes, a.Bytes) }
	slices.SortStableFunc(r.Undocumented, largest)
	for i := range r.Documented {
		slices.SortStableFunc(r.Documented[i].Groups, largest)
	}
	// Forbidden groups arrive by rule; within a rule, largest first.
	slices.SortStableFunc(r.Forbidden, func(a, b TrafficGroup) int {
		return cmp.Or(cmp.Compare(ruleIndexOf(v, a.Rule), ruleIndexOf(v, b.Rule)), largest(a, b))
	})
	return r
}

func ruleIndexOf(v *policy.Verification, name string) int {
	return slices.IndexFunc(v.Policy.Rules, func(r *policy.Rule) bool { return r.Name == name })
}

func termTexts(ts []policy.Term) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Text
	}
	return out
}

func evidenceOf(e *policy.Evidence) VerifyEvidence {
	ve := VerifyEvidence{
		Flows: e.Flows, OK: e.Outcomes[policy.OutcomeOK], Unanswered: e.Outcomes[policy.OutcomeUnanswered],
		Refused: e.Outcomes[policy.OutcomeRefused], ICMP: e.Outcomes[policy.OutcomeICMP],
		Packets: e.Packets, Bytes: e.Bytes, First: Time{e.First.UTC()}, Last: Time{e.Last.UTC()},
		States: []StateFlows{}, ICMPErrors: []VerifyICMP{}, Clients: addrStrings(e.Clients),
		Servers: addrStrings(e.Servers), MorePeers: e.MorePeers,
	}
	if e.First.IsZero() {
		ve.First, ve.Last = Time{}, Time{}
	}
	for _, s := range e.States {
		ve.States = append(ve.States, StateFlows{s.State, s.Flows})
	}
	for _, ie := range e.ICMPErrors {
		vi := VerifyICMP{Type: ie.Type, Code: ie.Code, V6: ie.V6, Count: ie.Count, Meaning: classify.ICMPErrorMeaning(ie.V6, ie.Type, ie.Code)}
		if ie.From.IsValid() {
			vi.From = ie.From.String()
		}
		ve.ICMPErrors = append(ve.ICMPErrors, vi)
	}
	return ve
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func requiredFlow(c *policy.RequiredCheck) RequiredFlow {
	rf := RequiredFlow{Rule: c.Rule.Name, From: c.From.Label, To: c.To.Label, Proto: capture.ProtoName(c.Proto),
		Verdict: c.Verdict.String(), VerifyEvidence: evidenceOf(&c.Evidence)}
	if capture.HasPorts(c.Proto) {
		rf.Port = c.Ports.String()
	}
	rf.Summary = evidenceSummary(c.Proto, c.Verdict, &rf.VerifyEvidence, !c.From.Host(), !c.To.Host())
	return rf
}

func trafficGroup(g *policy.TrafficGroup, service func(uint8, uint16) string) TrafficGroup {
	tg := TrafficGroup{Proto: capture.ProtoName(g.Proto), Client: g.Client.String(), Server: g.Server.String(),
		Port: g.Port, Outcome: g.Outcome().String(), VerifyEvidence: evidenceOf(&g.Evidence)}
	if g.Rule != nil {
		tg.Rule, tg.Expect = g.Rule.Name, g.Rule.Expect.String()
	}
	if service != nil && capture.HasPorts(g.Proto) {
		tg.Service = service(g.Proto, g.Port)
	}
	switch g.Class {
	case policy.TrafficUndocumented:
		tg.Finding = true
	case policy.TrafficForbidden:
		tg.Finding = g.Outcome() == policy.OutcomeOK
	}
	tg.Summary = evidenceSummary(g.Proto, g.Outcome(), &tg.VerifyEvidence, false, false)
	return tg
}

// evidenceSummary says in one line why a verdict is what it is.
func evidenceSummary(proto uint8, o policy.Outcome, e *VerifyEvidence, clients, servers bool) string {
	var parts []string
	attempt := "attempt"
	if proto == capture.ProtoTCP {
		attempt = "SYN"
	}
	switch o {
	case policy.OutcomeNotTested:
		return "no attempt in the capture"
	case policy.OutcomeOK:
		parts = append(parts, plural(e.OK, "flow")+" established")
		if failed := e.Flows - e.OK; failed > 0 {
			parts = append(parts, plural(failed, "flow")+" failed")
		}
	case policy.OutcomeICMP:
		for _, ie := range e.ICMPErrors {
			kind := "ICMP"
			if ie.V6 {
				kind = "ICMPv6"
			}
			parts = append(parts, fmt.Sprintf("%s %d/%d %s from %s (%d)", kind, ie.Type, ie.Code, ie.Meaning, ie.From, ie.Count))
		}
	case policy.OutcomeRefused:
		parts = append(parts, "RST answered the SYN ("+plural(e.Refused, "flow")+")")
	case policy.OutcomeUnanswered:
		parts = append(parts, plural(e.Packets, attempt)+", no answer")
	}
	if clients && len(e.Clients) > 0 {
		parts = append(parts, "clients "+peerList(e.Clients, e.MorePeers))
	}
	if servers && len(e.Servers) > 0 {
		parts = append(parts, "servers "+peerList(e.Servers, e.MorePeers))
	}
	return strings.Join(parts, "; ")
}

// plural is "1 flow" or "3 flows".
func peerList(ps []string, more bool) string {
	s := strings.Join(ps, ", ")
	if more {
		s += ", ..."
	}
	return s
}

// VerifyJSON writes the report as indented JSON, safe to print on a terminal (see JSON).
type VerifyJSON struct{}

// Encode implements Encoder[*VerifyReport].
func (VerifyJSON) Encode(w io.Writer, r *VerifyReport) error {
	if r == nil {
		return errors.New("encode json: nil report")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	if _, err := w.Write(jsonTerminalSafe(buf.Bytes())); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	return nil
}

// VerifyText writes the report for a firewall administrator: the result, then the
// blocked required flows, forbidden and undocumented traffic, every required check by
// rule and the documented traffic by rule, each as an aligned table. Every cell goes
// through the terminal escaper. Width fits the lines to a terminal as Text's does.
type VerifyText struct {
	Width int
}

// Encode implements Encoder[*VerifyReport].
func (t VerifyText) Encode(w io.Writer, r *VerifyReport) error {
	if r == nil {
		return errors.New("encode text: nil report")
	}
	if err := writeText(w, verifyDoc(r), t.Width); err != nil {
		return fmt.Errorf("encode text: %w", err)
	}
	return nil
}

// VerifyMarkdown writes the same sections as VerifyText as Markdown tables, every cell
// escaped for Markdown.
type VerifyMarkdown struct{}

// Encode implements Encoder[*VerifyReport].
func (VerifyMarkdown) Encode(w io.Writer, r *VerifyReport) error {
	if r == nil {
		return errors.New("encode markdown: nil report")
	}
	if err := writeMarkdown(w, verifyDoc(r)); err != nil {
		return fmt.Errorf("encode markdown: %w", err)
	}
	return nil
}

// verifyDoc is the human report of a verification.
func verifyDoc(r *VerifyReport) *doc {
	d := &doc{title: "portclass verify", kv: verifyOverview(r), secs: verifySections(r)}
	if r.Interrupted {
		d.incomplete, d.reason = "verification", r.InterruptedReason
	}
	return d
}

// verifyOverview is the header of the human report.
func verifyOverview(r *VerifyReport) [][2]string {
	f := r.Findings
	itoa := strconv.Itoa
	result := "PASS"
	if r.Result == "fail" {
		result = "FAIL (exit code 1)"
	}
	failOn := strings.Join(r.FailOn, ", ")
	if failOn == "" {
		failOn = "none"
	}
	kv := [][2]string{
		{"Result", result},
		{"Fails on", failOn},
		{"Policy", r.Policy},
		{"Rules", rulesText(r)},
		{"Inputs", itoa(r.Totals.Inputs)},
		{"Packets read", strconv.FormatUint(r.Totals.Packets, 10)},
		{"Flows", strconv.FormatUint(r.Totals.Flows, 10)},
		{"Required", fmt.Sprintf("%d ok, %d blocked, %d not tested", f.RequiredOK, f.Blocked, f.NotTested)},
		{"Forbidden", fmt.Sprintf("%d answered, %d only attempted", f.Forbidden, f.ForbiddenAttempts)},
		{"Undocumented", itoa(f.Undocumented) + " (client, server, port) groups"},
	}
	if !r.Totals.First.IsZero() {
		kv = append(kv, [2]string{"Time span", stamp(r.Totals.First.Time) + " to " + stamp(r.Totals.Last.Time)})
	}
	for _, in := range r.Inputs {
		if in.Truncated {
			kv = append(kv, [2]string{"Warning", in.Path + ": truncated at offset " + strconv.FormatInt(in.TruncatedAt, 10)})
		}
	}
	return kv
}

// rulesText says where the policy's rules come from.
func rulesText(r *VerifyReport) string {
	written, derived := 0, 0
	for _, ri := range r.Rules {
		if ri.Line > 0 {
			written++
		} else {
			derived++
		}
	}
	s := plural(uint64(written), "rule") + " in the policy file"
	if len(r.VeeamVersions) > 0 {
		s += fmt.Sprintf(", %d derived from the Veeam matrix (versions %s)", derived, strings.Join(r.VeeamVersions, ", "))
	}
	return s
}

// verifySections lists the human report's sections in order.
func verifySections(r *VerifyReport) []section {
	num := func(n uint64) string { return strconv.FormatUint(n, 10) }
	port := func(proto, p string) string {
		if p == "" {
			return proto
		}
		return proto + "/" + p
	}
	reqCols := []column{{"Verdict", false}, {"Rule", false}, {"From", false}, {"To", false}, {"Port", false},
		{"Flows", true}, {"Packets", true}, {"States", false}, {"First seen", false}, {"Last seen", false}, {"Evidence", false}}
	reqRow := func(q *RequiredFlow) []string {
		return []string{q.Verdict, q.Rule, q.From, q.To, port(q.Proto, q.Port), num(q.Flows), num(q.Packets),
			statesText(q.States), secondStamp(q.First), secondStamp(q.Last), q.Summary}
	}
	grpCols := func(rule bool) []column {
		c := []column{{"Client", false}, {"Server", false}, {"Port", false}, {"Service", false}, {"Outcome", false},
			{"Flows", true}, {"Packets", true}, {"Bytes", true}, {"States", false}, {"First seen", false},
			{"Last seen", false}, {"Evidence", false}}
		if rule {
			c = append([]column{{"Rule", false}}, c...)
		}
		return c
	}
	grpRow := func(g *TrafficGroup, rule bool) []string {
		p := g.Proto
		if g.Port != 0 || g.Proto == "tcp" || g.Proto == "udp" || g.Proto == "sctp" {
			p += "/" + strconv.Itoa(int(g.Port))
		}
		row := []string{g.Client, g.Server, p, orDash(g.Service, "-"), g.Outcome, num(g.Flows), num(g.Packets),
			humanBytes(g.Bytes), statesText(g.States), secondStamp(g.First), secondStamp(g.Last), g.Summary}
		if rule {
			row = append([]string{g.Rule}, row...)
		}
		return row
	}
	evidence := []string{"Evidence"}
	var out []section

	sec := section{title: "Blocked required flows", empty: "None: every required flow that was tried worked.", cols: reqCols, below: evidence}
	var rules []string
	for i := range r.Required {
		if q := &r.Required[i]; strings.HasPrefix(q.Verdict, "blocked-") {
			sec.rows = append(sec.rows, reqRow(q))
			rules = append(rules, q.Rule)
		}
	}
	sec.notes = ruleNotes(r, rules)
	out = append(out, sec)

	sec = section{title: "Forbidden traffic", empty: "None.", cols: grpCols(true), below: evidence}
	rules = rules[:0]
	for i := range r.Forbidden {
		sec.rows = append(sec.rows, grpRow(&r.Forbidden[i], true))
		rules = append(rules, r.Forbidden[i].Rule)
	}
	sec.notes = ruleNotes(r, rules)
	if r.Findings.ForbiddenAttempts > 0 {
		sec.notes = append(sec.notes, "forbidden traffic that was refused, unanswered or blocked by ICMP is listed but is no finding: the block works")
	}
	out = append(out, sec)

	sec = section{title: "Undocumented traffic (largest first)", empty: "None: every flow matches a rule.", cols: grpCols(false), below: evidence}
	for i := range r.Undocumented {
		sec.rows = append(sec.rows, grpRow(&r.Undocumented[i], false))
	}
	if r.ICMPErrorFlows > 0 {
		sec.notes = append(sec.notes, "ICMP error messages no rule matches are not listed ("+plural(r.ICMPErrorFlows, "flow")+
			"): they show on the flows they quote")
	}
	out = append(out, sec)

	sec = section{title: "Required flows by rule", empty: "The policy has no required rules.", cols: reqCols, below: evidence}
	for i := range r.Required {
		sec.rows = append(sec.rows, reqRow(&r.Required[i]))
	}
	out = append(out, sec)

	sec = section{title: "Documented traffic by rule", empty: "No flow matched a required or allowed rule.",
		cols: []column{{"Rule", false}, {"Expect", false}, {"Flows", true}, {"Packets", true}, {"Bytes", true},
			{"First seen", false}, {"Last seen", false}, {"Hosts", false}}, below: []string{"Hosts"}}
	var unused []string
	for i := range r.Documented {
		d := &r.Documented[i]
		if d.Flows == 0 {
			unused = append(unused, d.Rule)
			continue
		}
		var pairs []string
		for j, g := range d.Groups {
			if j == 3 {
				pairs = append(pairs, fmt.Sprintf("... (%d more)", len(d.Groups)-3))
				break
			}
			pairs = append(pairs, g.Client+" -> "+g.Server+" "+g.Proto+"/"+strconv.Itoa(int(g.Port)))
		}
		sec.rows = append(sec.rows, []string{d.Rule, d.Expect, num(d.Flows), num(d.Packets), humanBytes(d.Bytes),
			secondStamp(d.First), secondStamp(d.Last), strings.Join(pairs, ", ")})
	}
	if len(unused) > 0 {
		sec.notes = append(sec.notes, fmt.Sprintf("%s documented no flow (no traffic, or an earlier rule matched it first): %s",
			plural(uint64(len(unused)), "rule"), strings.Join(unused, ", ")))
	}
	out = append(out, sec)
	return out
}

// ruleNotes are the notes of the named rules, each once, in the order given: what a
// blocked or forbidden rule is for ("Veeam Data Mover", "the hardened repository is
// managed by the backup server only") and, for a rule derived from the Veeam matrix,
// the documentation page it comes from.
func ruleNotes(r *VerifyReport, names []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		for i := range r.Rules {
			ri := &r.Rules[i]
			if ri.Name != n || (ri.Note == "" && ri.Source == "") {
				continue
			}
			line := n + ": " + ri.Note
			switch {
			case ri.Note == "":
				line = n + ": see " + ri.Source
			case ri.Source != "":
				line += " (" + ri.Source + ")"
			}
			out = append(out, line)
			break
		}
	}
	return out
}

// statesText renders state counts as "SF:2, REJ:1".
func statesText(ss []StateFlows) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.State + ":" + strconv.FormatUint(s.Flows, 10)
	}
	return strings.Join(parts, ", ")
}

// shortStamp is an instant to the second, "-" when zero: the human tables are wide.
// secondStamp is t to the second, or "-" for the zero time.
func secondStamp(t Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
