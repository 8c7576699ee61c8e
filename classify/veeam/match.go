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
