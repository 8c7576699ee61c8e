package veeam

import "slices"

// Match is a Veeam rule that explains a flow: the rule's position among the rules
// compiled into this build (veeam.yaml), ordered by rule id, so that sorting matches
// sorts them by id. Two bytes instead of the rule's strings, which only the report
// encoders need. Matrices made from the compiled one with other Options keep every
// rule's Match (their rules differ only in ports and notes).
type Match uint16

// Rule returns the compiled rule m names (with the default Options). It panics for a
// Match that no rule has: every Match comes from a rule or from MatchOf.
func (m Match) Rule() *Rule { return veeamByID[m] }

// ID is the rule's id, e.g. "backup-server-to-component-datamover".
func (m Match) ID() string { return veeamByID[m].ID }

// String is the rule's id.
func (m Match) String() string { return m.ID() }

// MatchOf returns the Match of the compiled rule with id, and false if there is none.
func MatchOf(id string) (Match, bool) {
	i, ok := slices.BinarySearchFunc(veeamByID[:], id, func(r *Rule, id string) int {
		switch {
		case r.ID < id:
			return -1
		case r.ID > id:
			return 1
		}
		return 0
	})
	return Match(i), ok
}

// ServiceName is the service a flow to port that the Veeam rules ms explain is called
// in reports (classify.Verdict.Service): the service name of one of them, "" for none.
// Several rules often explain one flow (a backup server's 6162 to a Linux repository
// is "backup-server-to-component-datamover" and "backup-server-to-repo-linux"), so the
// name is chosen in this documented order:
//
//  1. rules that name port itself before rules that cover it only by a range (the
//     rule of tcp/9392 before one of 2500-5000);
//  2. among those, the service name most of them share (on 6162 between hosts of
//     unknown roles, "Veeam Data Mover" over the one-off names of the few rules that
//     cite the same port under another name);
//  3. then the name of the rule with the fewest port entries, a rule about this port
//     rather than one listing several services ("SSH" over "SSH + Deployer + Data
//     Mover" for tcp/22);
//  4. then the first rule by id.
//
// It reads the compiled rules (Match.Rule): with ports changed by Options a rule whose
// single port moved counts as a range in step 1. It does not allocate for up to
// eight distinct names.
func ServiceName(ms []Match, port uint16) string {
	switch len(ms) {
	case 0:
		return ""
	case 1:
		return ms[0].Rule().Service
	}
	type cand struct {
		name  string
		n     int // rules of step 1's class with this name
		spans int // the fewest port entries among them
		first Match
	}
	var buf [8]cand
	cands := buf[:0]
	single := false
	for _, m := range ms {
		single = single || m.Rule().singlePort(port)
	}
	for _, m := range ms {
		r := m.Rule()
		if single && !r.singlePort(port) {
			continue
		}
		k := -1
		for i := range cands {
			if cands[i].name == r.Service {
				k = i
				break
			}
		}
		if k < 0 {
			if len(cands) == cap(cands) && len(cands) == len(buf) {
				cands = append(make([]cand, 0, 2*len(buf)), cands...)
			}
			cands = append(cands, cand{name: r.Service, n: 1, spans: len(r.Ports), first: m})
			continue
		}
		c := &cands[k]
		c.n++
		if len(r.Ports) < c.spans || len(r.Ports) == c.spans && m < c.first {
			c.spans, c.first = len(r.Ports), m
		}
	}
	best := 0
	for i := 1; i < len(cands); i++ {
		a, b := &cands[i], &cands[best]
		switch {
		case a.n != b.n:
			if a.n > b.n {
				best = i
			}
		case a.spans != b.spans:
			if a.spans < b.spans {
				best = i
			}
		case a.first < b.first:
			best = i
		}
	}
	return cands[best].name
}
