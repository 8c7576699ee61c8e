package veeam

import (
	"math/bits"
	"slices"
	"strings"
)

// Role sets by index. The matrix's roles are numbered in file order, and every
// question the inference and Refine ask about role names ("is this an X?", "does a
// rule for X apply to a host known as Y?") becomes a test on bitsets computed once,
// instead of map lookups by name for every pair (which made inference 20-25 µs per
// flow on the benchmark capture).

// roleBits is a set of roles, one bit per role index; its length is the matrix's
// words.
type roleBits []uint64

func (b roleBits) has(i int) bool { return i >= 0 && b[i>>6]&(1<<(i&63)) != 0 }

func (b roleBits) set(i int) { b[i>>6] |= 1 << (i & 63) }

func (b roleBits) intersects(o roleBits) bool {
	for i := range b {
		if b[i]&o[i] != 0 {
			return true
		}
	}
	return false
}

// roleList is a list of role names (a host's roles, as RolesOf gives them) with the
// sets the clues test: the roles themselves, and the roles with all their ancestors
// plus "any" when the list is not empty, so that up.has(a) says whether one of the
// roles is an a (IsA). Names the matrix does not know count only for "any", as in IsA.
type roleList struct {
	names []string
	set   roleBits
	up    roleBits
}

// roleIndex returns the index of role name, or -1.
// RoleIndex returns the position of the role called name in the matrix's file order
// (Roles), or -1 if there is none: the order in which role lists are written.
func (m *Matrix) RoleIndex(name string) int { return m.roleIndex(name) }

func (m *Matrix) roleIndex(name string) int {
	i, ok := slices.BinarySearchFunc(m.byName, name, func(i int, name string) int { return strings.Compare(m.roles[i].Name, name) })
	if !ok {
		return -1
	}
	return m.byName[i]
}

// newRoleList computes the sets of names.
func (m *Matrix) newRoleList(names []string) *roleList {
	words := (len(m.roles) + 63) / 64
	bits := make(roleBits, 2*words)
	l := &roleList{names: names, set: bits[:words:words], up: bits[words:]}
	for _, n := range names {
		i := m.roleIndex(n)
		if i < 0 {
			continue
		}
		l.set.set(i)
		for w, a := range m.anc[i] {
			l.up[w] |= a
		}
	}
	if len(names) > 0 && m.anyRole >= 0 {
		l.up.set(m.anyRole)
	}
	return l
}

// isA is IsA by index: role i is j or descends from it, or j is "any".
func (m *Matrix) isA(i, j int) bool {
	if i < 0 || j < 0 {
		return false
	}
	return j == m.anyRole || m.anc[i][j>>6]&(1<<(j&63)) != 0
}

// sideOK is veeamSideOK for rule role r and a host's roles l (nil when none).
func (m *Matrix) sideOK(r int, l *roleList) bool {
	if l == nil || len(l.names) == 0 || r == m.anyRole {
		return true
	}
	return l.set.has(m.anyRole) || l.up.has(r)
}

// sideLoose is veeamSideLoose by index.
func (m *Matrix) sideLoose(r int, l *roleList) bool {
	return m.sideOK(r, l) || roleBits(m.anc[r]).intersects(l.set)
}

// commonRole is veeamCommon by index: the most specific role every role of roles is or
// descends from (the one with the most ancestors, then the first in file order), or
// -1. scratch holds the matrix's words.
func (m *Matrix) commonRole(roles []int, scratch roleBits) int {
	if len(roles) == 0 {
		return -1
	}
	copy(scratch, m.anc[roles[0]])
	for _, r := range roles[1:] {
		for w := range scratch {
			scratch[w] &= m.anc[r][w]
		}
	}
	best, bestN := -1, -1
	for w, set := range scratch {
		for ; set != 0; set &= set - 1 {
			j := w*64 + bits.TrailingZeros64(set)
			if n := m.ancN[j]; n > bestN {
				best, bestN = j, n
			}
		}
	}
	return best
}

// roleLists interns role lists by their names, so that lists are compared by pointer
// and their sets computed once.
type roleLists struct {
	m     *Matrix
	by    map[string]*roleList // by names
	byKey map[string]*roleList // by role indexes (getRoles)
	key   []byte               // reused: a lookup allocates nothing
}

// getRoles is get of the names of rr's roles, keyed by their indexes: a list already
// known costs no allocation.
func (r *roleLists) getRoles(rr []reportedRole) *roleList {
	if len(rr) == 0 {
		return nil
	}
	r.key = append(r.key[:0], 1) // not a name: the byKey keys and the name keys never meet
	for _, x := range rr {
		r.key = append(r.key, byte(x.role>>8), byte(x.role))
	}
	if l, ok := r.byKey[string(r.key)]; ok {
		return l
	}
	names := make([]string, len(rr))
	for i, x := range rr {
		names[i] = r.m.roles[x.role].Name
	}
	l := r.get(names)
	if r.byKey == nil {
		r.byKey = make(map[string]*roleList)
	}
	r.key = append(r.key[:0], 1)
	for _, x := range rr {
		r.key = append(r.key, byte(x.role>>8), byte(x.role))
	}
	r.byKey[string(r.key)] = l
	return l
}

func (r *roleLists) get(names []string) *roleList {
	if len(names) == 0 {
		return nil
	}
	r.key = r.key[:0]
	for _, n := range names {
		r.key = append(r.key, n...)
		r.key = append(r.key, 0)
	}
	if l, ok := r.by[string(r.key)]; ok {
		return l
	}
	if r.by == nil {
		r.by = make(map[string]*roleList)
	}
	l := r.m.newRoleList(names)
	r.by[string(r.key)] = l
	return l
}
