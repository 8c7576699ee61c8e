package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
)

// Evidence sums the flows behind a verdict. Slices are sorted and capped (see the
// fields); the zero value is empty.
type Evidence struct {
	Flows          uint64
	Outcomes       [OutcomeNotTested]uint64 // flows per outcome, indexed by Outcome (OK .. ICMP)
	Packets, Bytes uint64                   // both directions
	First, Last    time.Time                // zero without flows
	States         []StateCount             // most flows first, then by name
	ICMPErrors     []capture.ICMPError      // merged by (v6, type, code, from); at most EvidenceMaxICMP
	Clients        []netip.Addr             // distinct clients, sorted; at most EvidenceMaxPeers
	Servers        []netip.Addr             // distinct servers, sorted; at most EvidenceMaxPeers
	MorePeers      bool                     // some client or server was left out of the lists
}

// StateCount is the number of flows in one connection state.
type StateCount struct {
	State string
	Flows uint64
}

// Caps on the lists an Evidence keeps, so that memory does not grow with the capture.
const (
	EvidenceMaxICMP  = 8
	EvidenceMaxPeers = 8
)

func (e *Evidence) add(f *capture.Flow, o Outcome) {
	e.Flows++
	if o > OutcomeUnknown && o < OutcomeNotTested {
		e.Outcomes[o]++
	}
	e.Packets += f.Packets[0] + f.Packets[1]
	e.Bytes += f.Bytes[0] + f.Bytes[1]
	if e.First.IsZero() || f.First.Before(e.First) {
		e.First = f.First
	}
	if f.Last.After(e.Last) {
		e.Last = f.Last
	}
	st := f.State.String()
	if i := slices.IndexFunc(e.States, func(s StateCount) bool { return s.State == st }); i >= 0 {
		e.States[i].Flows++
	} else {
		e.States = append(e.States, StateCount{st, 1})
	}
	for _, ie := range f.ICMPErrors {
		i := slices.IndexFunc(e.ICMPErrors, func(x capture.ICMPError) bool {
			return x.V6 == ie.V6 && x.Type == ie.Type && x.Code == ie.Code && x.From == ie.From
		})
		switch {
		case i >= 0:
			e.ICMPErrors[i].Count += ie.Count
		case len(e.ICMPErrors) < EvidenceMaxICMP:
			e.ICMPErrors = append(e.ICMPErrors, ie)
		}
	}
	e.Clients = e.addPeer(e.Clients, f.Client.Addr().Unmap())
	e.Servers = e.addPeer(e.Servers, f.Server.Addr().Unmap())
}

func (e *Evidence) addPeer(ps []netip.Addr, a netip.Addr) []netip.Addr {
	i, found := slices.BinarySearchFunc(ps, a, netip.Addr.Compare)
	switch {
	case found:
	case len(ps) < EvidenceMaxPeers:
		ps = slices.Insert(ps, i, a)
	default:
		e.MorePeers = true
	}
	return ps
}

// sortLists puts States and ICMPErrors in their documented order.
func (e *Evidence) sortLists() {
	slices.SortFunc(e.States, func(a, b StateCount) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), strings.Compare(a.State, b.State))
	})
	slices.SortFunc(e.ICMPErrors, func(a, b capture.ICMPError) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Code, b.Code), a.From.Compare(b.From))
	})
}

// Outcome is the verdict of the flows together: ok when any flow was ok (the path works,
// even if some attempts failed), else blocked-icmp, blocked-refused, blocked-unanswered
// in that order (the most explicit evidence first), else not-tested (no flow, or only
// flows whose outcome is unknown).
func (e *Evidence) Outcome() Outcome {
	for _, o := range []Outcome{OutcomeOK, OutcomeICMP, OutcomeRefused, OutcomeUnanswered} {
		if e.Outcomes[o] > 0 {
			return o
		}
	}
	return OutcomeNotTested
}

// RequiredCheck is the verdict of one required (from, to, protocol, port): the flows
// from a host of From to a host of To on that port, and what became of them.
type RequiredCheck struct {
	Rule     *Rule
	From, To Unit
	Proto    uint8
	Ports    ports.Span // the port checked; a whole range when none of its ports was tried
	Verdict  Outcome
	Evidence
}

// TrafficClass says how the policy sees a group of flows.
type TrafficClass uint8

const (
	TrafficUnknown      TrafficClass = iota
	TrafficDocumented                // the first matching rule is required or allowed
	TrafficForbidden                 // the first matching rule is forbidden
	TrafficUndocumented              // no rule matches
)

var trafficNames = [...]string{"", "documented", "forbidden", "undocumented"}

func (c TrafficClass) String() string {
	if int(c) < len(trafficNames) {
		return trafficNames[c]
	}
	return ""
}

// TrafficGroup is the flows of one (first matching rule, protocol, client, server,
// server port).
type TrafficGroup struct {
	Class          TrafficClass
	Rule           *Rule // nil for undocumented traffic
	Proto          uint8
	Client, Server netip.Addr
	Port           uint16 // server port; 0 for protocols without ports
	Evidence
}

// Verification is the result of checking flows against a policy.
type Verification struct {
	Policy   *Policy
	Required []RequiredCheck // by rule, then from and to unit, then port
	Traffic  []TrafficGroup  // by class, rule, protocol, client, server, port
	Flows    uint64          // flows checked
	// ICMPErrorFlows counts flows of ICMP error messages no rule matched; they are not
	// traffic of their own (see IsICMPError) and show up on the flows they quote.
	ICMPErrorFlows uint64
}

// Verifier checks flows against a policy. Add every flow, then call Result. A Verifier
// is not safe for concurrent use; its memory grows with the number of distinct (rule,
// client, server, port) groups, not with the number of flows.
type Verifier struct {
	p        *Policy
	required map[reqKey]*RequiredCheck
	ranges   map[reqKey][]uint16 // (rule, from, to, span) of a range → ports seen
	groups   map[groupKey]*TrafficGroup
	flows    uint64
	icmp     uint64
}

type reqKey struct {
	rule, from, to, span int
	port                 uint16 // for a range span, the port seen; 0 otherwise
}

type groupKey struct {
	rule           int // -1 for undocumented
	proto          uint8
	client, server netip.Addr
	port           uint16
}

// NewVerifier returns a Verifier for p.
func (p *Policy) NewVerifier() *Verifier {
	return &Verifier{p: p, required: map[reqKey]*RequiredCheck{}, ranges: map[reqKey][]uint16{}, groups: map[groupKey]*TrafficGroup{}}
}

// checkSpans are the spans a required rule is checked over: its ports, or one
// pseudo-port 0 for protocols without ports.
func checkSpans(r *Rule) []ports.Span {
	if r.Ports == nil {
		return []ports.Span{{Lo: 0, Hi: 0}}
	}
	return r.Ports
}

// selfPair reports whether a check from u to v would be a host talking to itself,
// which never crosses a network.
func selfPair(u, v Unit) bool { return u.Host() && v.Host() && u.Prefix == v.Prefix }

// Add checks one classified flow.
func (v *Verifier) Add(cf *classify.Flow) {
	v.flows++
	f, o := &cf.Flow, FlowOutcome(cf.Outcome)
	var first *Rule
	for _, r := range v.p.Rules {
		if !r.Matches(f) {
			continue
		}
		if first == nil {
			first = r
		}
		if r.Expect == ExpectRequired {
			v.addRequired(r, f, o)
		}
	}
	if first == nil && classify.IsICMPError(f) {
		v.icmp++
		return
	}
	k := groupKey{rule: -1, proto: f.Proto, client: f.Client.Addr().Unmap(), server: f.Server.Addr().Unmap()}
	if capture.HasPorts(f.Proto) {
		k.port = f.Server.Port()
	}
	class := TrafficUndocumented
	if first != nil {
		k.rule = first.Index
		class = TrafficDocumented
		if first.Expect == ExpectForbidden {
			class = TrafficForbidden
		}
	}
	g := v.groups[k]
	if g == nil {
		g = &TrafficGroup{Class: class, Rule: first, Proto: k.proto, Client: k.client, Server: k.server, Port: k.port}
		v.groups[k] = g
	}
	g.add(f, o)
}

func (v *Verifier) addRequired(r *Rule, f *capture.Flow, o Outcome) {
	client, server, port := f.Client.Addr(), f.Server.Addr(), f.Server.Port()
	si := slices.IndexFunc(checkSpans(r), func(s ports.Span) bool { return s.Contains(port) })
	if si < 0 {
		return
	}
	span := checkSpans(r)[si]
	for fi, fu := range r.fromUnits {
		if !fu.Contains(client) {
			continue
		}
		for ti, tu := range r.toUnits {
			if !tu.Contains(server) || selfPair(fu, tu) {
				continue
			}
			k := reqKey{r.Index, fi, ti, si, 0}
			if span.Lo != span.Hi {
				k.port = port
				rk := reqKey{r.Index, fi, ti, si, 0}
				if ps := v.ranges[rk]; !slices.Contains(ps, port) {
					v.ranges[rk] = append(ps, port)
				}
			}
			c := v.required[k]
			if c == nil {
				c = &RequiredCheck{Rule: r, From: fu, To: tu, Proto: f.Proto, Ports: ports.Span{Lo: port, Hi: port}}
				v.required[k] = c
			}
			c.add(f, o)
		}
	}
}

// Result returns the verification of the flows added so far: every required check
// (observed or not-tested) and every traffic group, in their documented order.
func (v *Verifier) Result() *Verification {
	res := &Verification{Policy: v.p, Flows: v.flows, ICMPErrorFlows: v.icmp}
	for _, r := range v.p.Rules {
		if r.Expect != ExpectRequired {
			continue
		}
		for fi, fu := range r.fromUnits {
			for ti, tu := range r.toUnits {
				if selfPair(fu, tu) {
					continue
				}
				for si, span := range checkSpans(r) {
					add := func(k reqKey, span ports.Span) {
						c := RequiredCheck{Rule: r, From: fu, To: tu, Proto: r.Proto, Ports: span, Verdict: OutcomeNotTested}
						if seen := v.required[k]; seen != nil {
							c = *seen
							c.Verdict = c.Outcome()
						}
						c.sortLists()
						res.Required = append(res.Required, c)
					}
					k := reqKey{r.Index, fi, ti, si, 0}
					tried := v.ranges[k]
					if span.Lo == span.Hi || len(tried) == 0 {
						add(k, span)
						continue
					}
					slices.Sort(tried)
					for _, p := range tried {
						k.port = p
						add(k, ports.Span{Lo: p, Hi: p})
					}
				}
			}
		}
	}
	for _, g := range v.groups {
		g.sortLists()
		res.Traffic = append(res.Traffic, *g)
	}
	slices.SortFunc(res.Traffic, func(a, b TrafficGroup) int {
		return cmp.Or(cmp.Compare(a.Class, b.Class), cmp.Compare(ruleIndex(a.Rule), ruleIndex(b.Rule)),
			cmp.Compare(a.Proto, b.Proto), a.Client.Compare(b.Client), a.Server.Compare(b.Server), cmp.Compare(a.Port, b.Port))
	})
	return res
}

func ruleIndex(r *Rule) int {
	if r == nil {
		return -1
	}
	return r.Index
}

// FailOn is the set of finding kinds that make verify fail (exit code 1).
type FailOn uint8

const (
	FailBlocked      FailOn = 1 << iota // a required check is blocked-*
	FailForbidden                       // forbidden traffic was answered (it got through)
	FailUndocumented                    // traffic no rule matches
	FailNotTested                       // a required check had no attempt

	// FailDefault is what verify fails on unless told otherwise.
	FailDefault = FailBlocked | FailForbidden | FailUndocumented
)

var failNames = []struct {
	name string
	f    FailOn
}{{"blocked", FailBlocked}, {"forbidden", FailForbidden}, {"undocumented", FailUndocumented}, {"not-tested", FailNotTested}}

// ParseFailOn parses a comma-separated list of blocked, forbidden, undocumented and
// not-tested, or "none" (never fail on findings) or "all".
func ParseFailOn(s string) (FailOn, error) {
	var out FailOn
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(strings.ToLower(w))
		switch w {
		case "", "none":
			continue
		case "all":
			out |= FailBlocked | FailForbidden | FailUndocumented | FailNotTested
			continue
		}
		i := slices.IndexFunc(failNames, func(n struct {
			name string
			f    FailOn
		}) bool {
			return n.name == w
		})
		if i < 0 {
			return 0, fmt.Errorf("%q is not blocked, forbidden, undocumented, not-tested, all or none", w)
		}
		out |= failNames[i].f
	}
	return out, nil
}

// Names lists the kinds in f, in a fixed order.
func (f FailOn) Names() []string {
	out := []string{}
	for _, n := range failNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// Findings counts what a verification found, whatever FailOn says.
type Findings struct {
	Blocked      int // required checks blocked-*
	NotTested    int // required checks not tested
	OK           int // required checks ok
	Forbidden    int // forbidden traffic groups that were answered
	Attempts     int // forbidden traffic groups that were only attempted (refused, unanswered, ICMP)
	Undocumented int // undocumented traffic groups
}

// Findings counts the verification's findings.
func (v *Verification) Findings() Findings {
	var f Findings
	for _, c := range v.Required {
		switch {
		case c.Verdict == OutcomeOK:
			f.OK++
		case c.Verdict.Blocked():
			f.Blocked++
		default:
			f.NotTested++
		}
	}
	for _, g := range v.Traffic {
		switch g.Class {
		case TrafficForbidden:
			if g.Outcome() == OutcomeOK {
				f.Forbidden++
			} else {
				f.Attempts++
			}
		case TrafficUndocumented:
			f.Undocumented++
		}
	}
	return f
}

// Fail reports whether the findings include a kind fo fails on.
func (f Findings) Fail(fo FailOn) bool {
	return fo&FailBlocked != 0 && f.Blocked > 0 || fo&FailForbidden != 0 && f.Forbidden > 0 ||
		fo&FailUndocumented != 0 && f.Undocumented > 0 || fo&FailNotTested != 0 && f.NotTested > 0
}
