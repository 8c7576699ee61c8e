package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/internal/suggest"
)

// A policy says which traffic a network is meant to carry: hosts and their Veeam roles
// (inventory), named address groups, and rules "from → to, protocol, ports" that are
// required (must work), allowed (may happen) or forbidden (must not happen). Optionally
// it derives the required rules from the Veeam port matrix between the declared roles,
// so that a user only says which host plays which role. `portclass verify` checks
// captures against it, `portclass policy rules` turns it into firewall rules and
// `portclass policy learn` writes one from what a capture shows. The file format is
// documented in the README ("Policy file"); Load reads it.
//
// Decisions:
//   - Rules match in file order and the first match decides a flow's class, as in a
//     firewall, so that an exception ("allowed: admins → mgmt") can precede a broader
//     rule ("forbidden: any → mgmt"). Rules derived from the Veeam matrix come after the
//     user's rules: a user rule can always override the matrix.
//   - A required rule is checked per (from host, to host, protocol, port). Sides that are
//     not single hosts (a CIDR prefix, "any") are checked as one unit: "some host of
//     198.51.100.0/24 reached the server". A port range is checked per port seen in the
//     capture, or reported not-tested as a whole when no port of it was tried: nobody
//     can require every port of 2500-3300 to be tried.
//   - Roles follow the matrix's hierarchy: a rule "to: repository" covers the hosts
//     declared as repository-linux, since repository-linux is a repository.

// Version is the only policy file version this build reads ("version: 1"; the
// key may be left out).
const Version = 1

// Limits on a policy file: the YAML tree a loader builds takes 65 to 90 times the
// file's size in memory (a 20 MB policy of 200,000 rules took 1.1 GB), and verify
// tries the rules in order for every flow. A policy at both limits is verified in
// under 200 MB (183 MB measured, for 10,000 rules with lists of addresses and ports in
// 2 MB). A larger file is refused before it is parsed (ReadFile reads no more than
// one byte past the limit), more rules before any is built; the error says which
// limit.
const (
	MaxBytes = 2 << 20 // bytes of the policy file
	MaxRules = 10_000  // rules written in the file (the rules derived from the Veeam matrix are not counted)
)

// Expect is what a policy rule says about the traffic it matches. The zero value is
// ExpectUnknown, which no loaded rule has.
type Expect uint8

const (
	ExpectUnknown   Expect = iota
	ExpectRequired         // "required": must work; verify reports ok, blocked-* or not-tested
	ExpectAllowed          // "allowed": documented, may or may not happen
	ExpectForbidden        // "forbidden": must not happen
)

var expectNames = [...]string{"", "required", "allowed", "forbidden"}

// String is the policy file's name of e.
func (e Expect) String() string {
	if int(e) < len(expectNames) {
		return expectNames[e]
	}
	return ""
}

// ParseExpect is the inverse of Expect.String.
func ParseExpect(s string) (Expect, error) {
	for i, n := range expectNames {
		if i > 0 && n == s {
			return Expect(i), nil
		}
	}
	return ExpectUnknown, fmt.Errorf("%q is not required, allowed or forbidden", s)
}

// TermKind says what a word in a rule's from or to list named.
type TermKind uint8

const (
	TermUnknown TermKind = iota
	TermAny              // "any": every address
	TermAddress          // an address or a CIDR prefix
	TermGroup            // a name from the policy's groups
	TermRole             // a Veeam role: the inventory's hosts that play it or a descendant
)

// Term is one word of a rule's from or to list, resolved.
type Term struct {
	Text     string         // as written
	Kind     TermKind       // what it named
	Prefixes []netip.Prefix // the addresses it stands for (masked, IPv4 unmapped); nil for TermAny
}

// Unit is one side of a required check: a single host, a prefix or any address.
type Unit struct {
	Label  string       // the address ("192.0.2.10"), the prefix ("192.0.2.0/24") or "any"
	Prefix netip.Prefix // invalid for Any
	Any    bool
}

// Contains reports whether a is in the unit.
func (u Unit) Contains(a netip.Addr) bool { return u.Any || u.Prefix.Contains(a.Unmap()) }

// Host reports whether the unit is a single address.
func (u Unit) Host() bool { return !u.Any && u.Prefix.IsSingleIP() }

// Rule is one rule of a loaded policy. Rules are shared by the Policy and must not
// be modified.
type Rule struct {
	Name   string
	Index  int // position in Policy.Rules, which is the match order
	From   []Term
	To     []Term
	Proto  uint8        // IP protocol; 0 means any
	Ports  []ports.Span // destination ports; nil means every port (and protocols without ports)
	Expect Expect
	Note   string
	Veeam  *veeam.Rule // the matrix rule this rule was derived from, or nil for the user's rules
	Line   int         // line in the policy file; 0 for derived rules

	from, to           AddrSet
	fromUnits, toUnits []Unit
}

// FromUnits and ToUnits are the sides a required rule is checked between: the single
// hosts, prefixes and "any" its terms stand for, deduplicated, in order of appearance.
// Shared: do not modify.
func (r *Rule) FromUnits() []Unit { return r.fromUnits }

// ToUnits: see FromUnits.
func (r *Rule) ToUnits() []Unit { return r.toUnits }

// FromSet and ToSet are the addresses the rule's sides match. The prefixes are shared:
// do not modify them.
func (r *Rule) FromSet() AddrSet { return r.from }

// ToSet: see FromSet.
func (r *Rule) ToSet() AddrSet { return r.to }

// ProtoName is "tcp", "udp", ..., or "any".
func (r *Rule) ProtoName() string {
	if r.Proto == 0 {
		return "any"
	}
	return capture.ProtoName(r.Proto)
}

// PortsString is the rule's ports as "22, 2500-3300", or "" for every port.
func (r *Rule) PortsString() string { return ports.JoinSpans(r.Ports) }

// Matches reports whether flow f (client opens to server) matches the rule.
func (r *Rule) Matches(f *capture.Flow) bool {
	if r.Proto != 0 && r.Proto != f.Proto {
		return false
	}
	if r.Ports != nil && !spansContain(r.Ports, f.Server.Port()) {
		return false
	}
	return r.from.Contains(f.Client.Addr()) && r.to.Contains(f.Server.Addr())
}

func spansContain(spans []ports.Span, port uint16) bool {
	for _, s := range spans {
		if s.Contains(port) {
			return true
		}
	}
	return false
}

// AddrSet is the addresses of one side of a rule: the union of its terms.
type AddrSet struct {
	Any      bool           // every address
	Prefixes []netip.Prefix // otherwise; masked, IPv4 unmapped
}

// Contains reports whether a is in the set.
func (s *AddrSet) Contains(a netip.Addr) bool {
	if s.Any {
		return true
	}
	a = a.Unmap()
	for _, p := range s.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Policy is a loaded, validated policy. It is immutable and safe for concurrent use.
type Policy struct {
	File   string  // the name it was loaded under
	Rules  []*Rule // in match order: the file's rules, then the derived Veeam rules
	Groups []Group // sorted by name

	veeam     bool // Veeam rules derived
	matrix    *veeam.Matrix
	inventory veeam.Inventory
	hosts     *veeam.HostSet
}

// Group is a named set of addresses and prefixes.
type Group struct {
	Name    string
	Members []netip.Prefix
}

// Matrix returns the Veeam matrix the policy was resolved against (with the policy's
// Veeam options applied).
func (p *Policy) Matrix() *veeam.Matrix { return p.matrix }

// Inventory returns the policy's inventory (role → entries as written), a fresh copy.
func (p *Policy) Inventory() veeam.Inventory {
	out := make(veeam.Inventory, len(p.inventory))
	for r, es := range p.inventory {
		out[r] = slices.Clone(es)
	}
	return out
}

// Hosts returns the validated inventory.
func (p *Policy) Hosts() *veeam.HostSet { return p.hosts }

// VeeamDerived reports whether the policy derives rules from the Veeam matrix.
func (p *Policy) VeeamDerived() bool { return p.veeam }

// Match returns the first rule that matches f, or nil.
func (p *Policy) Match(f *capture.Flow) *Rule {
	for _, r := range p.Rules {
		if r.Matches(f) {
			return r
		}
	}
	return nil
}

// Options configures Load.
type Options struct {
	// Matrix is the Veeam matrix roles and derived rules come from; nil means
	// DefaultMatrix(). Only its rules as loaded are used: the options applied are Veeam
	// below, overridden by the policy's own veeam section.
	Matrix *veeam.Matrix
	// Veeam are the defaults of the policy's veeam options (the configuration's veeam
	// section): the policy's versions and data_mover_range replace them, its ports are
	// merged over them.
	Veeam veeam.Options
}

// Error is an error in a policy file, with the place and the field it concerns.
type Error struct {
	File   string
	Line   int    // 1-based; 0 when the error concerns the whole file
	Column int    // 1-based; 0 when unknown
	Field  string // e.g. "rules[2] (console).ports[1]"; "" for the whole file
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes every Error match ErrPolicy.
func (e *Error) Is(target error) bool { return target == ErrPolicy }

// ErrPolicy is matched (errors.Is) by every error Load returns, so that callers can
// tell a bad policy from other failures.
var ErrPolicy = errors.New("invalid policy")

// at returns the *Error for node n (nil: the whole file) and field.
func (l *policyLoader) at(n *yaml.Node, field, format string, args ...any) error {
	e := &Error{File: l.file, Field: field, Err: fmt.Errorf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// policyLoader reads one policy file.
type policyLoader struct {
	file   string
	m      *veeam.Matrix
	p      *Policy
	groups map[string]*Group
	names  map[string]int // rule name → line
}

// The policy file's keys.
var (
	policyTopKeys   = []string{"version", "inventory", "groups", "veeam", "rules"}
	policyVeeamKeys = []string{"enabled", "versions", "data_mover_range", "ports", "expect", "allowed", "exclude"}
	policyRuleKeys  = []string{"name", "from", "to", "proto", "ports", "expect", "note"}
)

// policyNamePattern is what rule and group names may contain: they appear in reports,
// firewall comments and rule names, so they stay plain.
func checkPolicyName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > 64 {
		return fmt.Errorf("%q is longer than 64 characters", s)
	}
	for i, r := range s {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			i > 0 && strings.ContainsRune("._:/@+-", r)
		if !ok {
			return fmt.Errorf("%q: character %q at %d; use letters, digits and . _ : / @ + - (not first)", s, r, i)
		}
	}
	return nil
}

// Load reads a policy from data; name (usually the file's path) is used in
// errors, which are *Error values naming the line, column and field, and wrap
// ErrPolicy. data of more than MaxBytes, or more than MaxRules rules, is refused
// (read a file with ReadFile, which stops after MaxBytes). Roles are checked against the matrix of o, addresses must parse, group
// names must not shadow roles, rule names must be unique, ports need tcp, udp or sctp,
// and required rules need ports (for those protocols) and sides that exist.
func Load(name string, data []byte, o Options) (*Policy, error) {
	l := &policyLoader{file: name, m: o.Matrix, groups: map[string]*Group{}, names: map[string]int{}}
	if l.m == nil {
		l.m = veeam.DefaultMatrix()
	}
	l.p = &Policy{File: name}
	if len(data) > MaxBytes {
		return nil, &Error{File: name, Err: fmt.Errorf("larger than the %d MiB (%d bytes) a policy may have", MaxBytes>>20, MaxBytes)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Err: errors.New("empty policy")}
		}
		return nil, &Error{File: name, Err: err}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, l.at(&extra, "", "a second YAML document; a policy is one document")
	} else if !errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Err: err}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, &Error{File: name, Err: errors.New("empty policy")}
		}
		root = root.Content[0]
	}
	top, err := l.mapping(root, "", policyTopKeys)
	if err != nil {
		return nil, err
	}
	if v, ok := top["version"]; ok {
		if v.val.Kind != yaml.ScalarNode || v.val.Value != strconv.Itoa(Version) {
			return nil, l.at(v.val, "version", "%q: this build reads version %d", v.val.Value, Version)
		}
	}
	veeam, err := l.veeamSection(top["veeam"], o.Veeam)
	if err != nil {
		return nil, err
	}
	if l.m, err = l.m.With(veeam.opts); err != nil {
		return nil, l.at(veeam.node, "", "%v", err)
	}
	l.p.matrix = l.m
	if err := l.inventory(top["inventory"]); err != nil {
		return nil, err
	}
	if err := l.groupsSection(top["groups"]); err != nil {
		return nil, err
	}
	if err := l.rules(top["rules"]); err != nil {
		return nil, err
	}
	if veeam.enabled {
		if err := l.derive(veeam); err != nil {
			return nil, err
		}
	}
	if len(l.p.Rules) == 0 {
		return nil, l.at(root, "rules", "the policy has no rules (write rules, or veeam: true with an inventory)")
	}
	for i, r := range l.p.Rules {
		r.Index = i
	}
	return l.p, nil
}

// ReadFile reads the policy file at path for Load, and no more than one byte past
// MaxBytes of it: Load refuses a larger file without the rest being read.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxBytes+1))
}

// entry is one key/value pair of a mapping.
type entry struct{ key, val *yaml.Node }

// resolve follows an alias.
func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// mapping checks that n is a mapping with only allowed keys (nil: any key), each once.
func (l *policyLoader) mapping(n *yaml.Node, field string, allowed []string) (map[string]entry, error) {
	n = resolve(n)
	where := field
	if where == "" {
		where = "policy"
	}
	if n.Kind != yaml.MappingNode {
		return nil, l.at(n, field, "%s must be a mapping (key: value), not %s", where, nodeKind(n))
	}
	out := make(map[string]entry, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, l.at(k, field, "a key must be a plain word, not %s", nodeKind(k))
		}
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			return nil, l.at(k, join(field, k.Value), "unknown key (valid: %s)", strings.Join(allowed, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, l.at(k, join(field, k.Value), "key given twice")
		}
		out[k.Value] = entry{k, v}
	}
	return out, nil
}

// keysInOrder returns the keys of a mapping node in file order.
func keysInOrder(n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	var ks []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		ks = append(ks, resolve(n.Content[i]))
	}
	return ks
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// scalar returns the text of a scalar node (not null).
func (l *policyLoader) scalar(n *yaml.Node, field string) (string, error) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", l.at(n, field, "want a value, not %s", nodeKind(n))
	}
	return n.Value, nil
}

// words returns the scalars of a node that is a scalar or a list of scalars, with the
// node of each (for errors) and the field name of each.
func (l *policyLoader) words(n *yaml.Node, field string) ([]string, []*yaml.Node, []string, error) {
	n = resolve(n)
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag != "!!null":
		return []string{n.Value}, []*yaml.Node{n}, []string{field}, nil
	case n.Kind == yaml.SequenceNode:
		var ws []string
		var ns []*yaml.Node
		var fs []string
		for i, c := range n.Content {
			f := fmt.Sprintf("%s[%d]", field, i+1)
			s, err := l.scalar(c, f)
			if err != nil {
				return nil, nil, nil, err
			}
			ws, ns, fs = append(ws, s), append(ns, resolve(c)), append(fs, f)
		}
		if len(ws) == 0 {
			return nil, nil, nil, l.at(n, field, "empty list")
		}
		return ws, ns, fs, nil
	}
	return nil, nil, nil, l.at(n, field, "want a value or a list of values, not %s", nodeKind(n))
}

// veeamSection is the policy's veeam key, read.
type veeamSection struct {
	node    *yaml.Node
	enabled bool
	opts    veeam.Options
	expect  Expect
	allowed map[string]bool
	exclude map[string]bool
	listed  []entry // allowed and exclude entries, to check ids once the matrix is built
}

func (l *policyLoader) veeamSection(e entry, defaults veeam.Options) (*veeamSection, error) {
	s := &veeamSection{node: e.val, opts: defaults, expect: ExpectRequired, allowed: map[string]bool{}, exclude: map[string]bool{}}
	s.opts.Ports = make(map[string]uint16, len(defaults.Ports))
	for k, v := range defaults.Ports {
		s.opts.Ports[k] = v
	}
	if e.val == nil {
		return s, nil
	}
	n := resolve(e.val)
	if n.Kind == yaml.ScalarNode {
		if n.Tag != "!!bool" {
			return nil, l.at(n, "veeam", "want true, false or a mapping, not %s", nodeKind(n))
		}
		s.enabled = n.Value == "true"
		return s, nil
	}
	kv, err := l.mapping(n, "veeam", policyVeeamKeys)
	if err != nil {
		return nil, err
	}
	s.enabled = true
	if v, ok := kv["enabled"]; ok {
		if v.val.Kind != yaml.ScalarNode || v.val.Tag != "!!bool" {
			return nil, l.at(v.val, "veeam.enabled", "want true or false, not %s", nodeKind(v.val))
		}
		s.enabled = v.val.Value == "true"
	}
	if v, ok := kv["versions"]; ok {
		ws, _, _, err := l.words(v.val, "veeam.versions")
		if err != nil {
			return nil, err
		}
		s.opts.Versions = ws
	}
	if v, ok := kv["data_mover_range"]; ok {
		r, err := l.scalar(v.val, "veeam.data_mover_range")
		if err != nil {
			return nil, err
		}
		if _, _, err := ports.ParseRange(r); err != nil {
			return nil, l.at(v.val, "veeam.data_mover_range", "%v", err)
		}
		s.opts.DataMoverRange = r
	}
	if v, ok := kv["ports"]; ok {
		pm, err := l.mapping(v.val, "veeam.ports", veeam.PortKeys())
		if err != nil {
			return nil, err
		}
		for _, k := range keysInOrder(v.val) {
			f := "veeam.ports." + k.Value
			txt, err := l.scalar(pm[k.Value].val, f)
			if err != nil {
				return nil, err
			}
			p, err := strconv.ParseUint(txt, 10, 16)
			if err != nil || p == 0 {
				return nil, l.at(pm[k.Value].val, f, "%q is not a port (1-65535)", txt)
			}
			s.opts.Ports[k.Value] = uint16(p)
		}
	}
	if v, ok := kv["expect"]; ok {
		txt, err := l.scalar(v.val, "veeam.expect")
		if err != nil {
			return nil, err
		}
		if s.expect, err = ParseExpect(txt); err != nil || s.expect == ExpectForbidden {
			return nil, l.at(v.val, "veeam.expect", "%q: derived rules are required or allowed", txt)
		}
	}
	for _, key := range []string{"allowed", "exclude"} {
		v, ok := kv[key]
		if !ok {
			continue
		}
		ws, _, _, err := l.words(v.val, "veeam."+key)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			if key == "allowed" {
				s.allowed[w] = true
			} else {
				s.exclude[w] = true
			}
		}
		s.listed = append(s.listed, v)
	}
	return s, nil
}

// inventory reads the inventory: role → addresses or prefixes.
func (l *policyLoader) inventory(e entry) error {
	l.p.inventory = veeam.Inventory{}
	if e.val == nil {
		l.p.hosts = &veeam.HostSet{}
		return nil
	}
	if _, err := l.mapping(e.val, "inventory", nil); err != nil {
		return err
	}
	n := resolve(e.val)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		field := "inventory." + k.Value
		if _, ok := l.m.Role(k.Value); !ok {
			if len(k.Value) > 64 { // no suggestions: the edit distance is quadratic
				return l.at(k, field, "%v %q", veeam.ErrUnknownRole, k.Value[:64]+"...")
			}
			return l.at(k, field, "%v", l.m.UnknownRole(k.Value))
		}
		ws, ns, fs, err := l.words(v, field)
		if err != nil {
			return err
		}
		for j, w := range ws {
			if _, err := veeam.ParseHostPrefix(w); err != nil {
				return l.at(ns[j], fs[j], "%q: %v", w, err)
			}
		}
		l.p.inventory[k.Value] = ws
	}
	hs, err := l.m.ParseInventory(l.p.inventory)
	if err != nil { // cannot happen: every entry was checked above
		return l.at(e.val, "inventory", "%v", err)
	}
	l.p.hosts = hs
	return nil
}

// groupsSection reads the named groups: name → addresses or prefixes.
func (l *policyLoader) groupsSection(e entry) error {
	if e.val == nil {
		return nil
	}
	if _, err := l.mapping(e.val, "groups", nil); err != nil {
		return err
	}
	n := resolve(e.val)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		field := "groups." + k.Value
		if err := checkPolicyName(k.Value); err != nil {
			return l.at(k, field, "name %v", err)
		}
		if k.Value == "any" {
			return l.at(k, field, `"any" is reserved: it means every address`)
		}
		if _, ok := l.m.Role(k.Value); ok {
			return l.at(k, field, "%q is a Veeam role; name the group differently", k.Value)
		}
		if _, err := veeam.ParseHostPrefix(k.Value); err == nil {
			return l.at(k, field, "%q is an address; name the group differently", k.Value)
		}
		ws, ns, fs, err := l.words(v, field)
		if err != nil {
			return err
		}
		g := &Group{Name: k.Value}
		for j, w := range ws {
			p, err := veeam.ParseHostPrefix(w)
			if err != nil {
				return l.at(ns[j], fs[j], "%q: %v (groups hold addresses and prefixes)", w, err)
			}
			if !slices.Contains(g.Members, p) {
				g.Members = append(g.Members, p)
			}
		}
		l.groups[g.Name] = g
	}
	for _, g := range l.groups {
		l.p.Groups = append(l.p.Groups, *g)
	}
	sort.Slice(l.p.Groups, func(i, j int) bool { return l.p.Groups[i].Name < l.p.Groups[j].Name })
	return nil
}

// rolePrefixes returns the inventory prefixes of hosts that play role or a descendant,
// sorted by address, deduplicated.
func (l *policyLoader) rolePrefixes(role string) []netip.Prefix {
	var out []netip.Prefix
	for r, p := range l.p.hosts.Entries() {
		if l.m.IsA(r, role) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// term resolves one word of a from or to list.
func (l *policyLoader) term(w string, n *yaml.Node, field string) (Term, error) {
	t := Term{Text: w}
	switch {
	case w == "any":
		t.Kind = TermAny
	case l.groups[w] != nil:
		t.Kind, t.Prefixes = TermGroup, l.groups[w].Members
	default:
		if _, ok := l.m.Role(w); ok {
			t.Kind, t.Prefixes = TermRole, l.rolePrefixes(w)
			if len(t.Prefixes) == 0 {
				return t, l.at(n, field, "no host of the inventory plays role %q (declare one under inventory:)", w)
			}
			break
		}
		p, err := veeam.ParseHostPrefix(w)
		if err != nil {
			return t, l.at(n, field, "%q is not a group, a Veeam role, an address, a CIDR prefix or any%s", w, l.suggest(w))
		}
		t.Kind, t.Prefixes = TermAddress, []netip.Prefix{p}
	}
	return t, nil
}

// suggest names groups and roles close to w.
func (l *policyLoader) suggest(w string) string {
	if len(w) > 64 { // the edit distance is quadratic; nobody mistypes 64 characters
		return ""
	}
	var cands []string
	lw := strings.ToLower(w)
	for name := range l.groups {
		if suggest.Close(lw, name) {
			cands = append(cands, name)
		}
	}
	for _, r := range l.m.Roles() {
		if suggest.Close(lw, r.Name) {
			cands = append(cands, r.Name)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	sort.Strings(cands)
	if len(cands) > 5 {
		cands = cands[:5]
	}
	return " (did you mean " + strings.Join(cands, ", ") + "?)"
}

// side builds the match set and the units of a side from its terms.
func side(terms []Term) (AddrSet, []Unit) {
	var s AddrSet
	var units []Unit
	for _, t := range terms {
		if t.Kind == TermAny {
			s.Any = true
			if !slices.ContainsFunc(units, func(u Unit) bool { return u.Any }) {
				units = append(units, Unit{Label: "any", Any: true})
			}
			continue
		}
		for _, p := range t.Prefixes {
			if !slices.Contains(s.Prefixes, p) {
				s.Prefixes = append(s.Prefixes, p)
			}
			if !slices.ContainsFunc(units, func(u Unit) bool { return !u.Any && u.Prefix == p }) {
				units = append(units, Unit{Label: prefixLabel(p), Prefix: p})
			}
		}
	}
	if s.Any {
		s.Prefixes = nil
	}
	return s, units
}

// prefixLabel is "192.0.2.10" for a single address and "192.0.2.0/24" otherwise.
func prefixLabel(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// rules reads the rules list.
func (l *policyLoader) rules(e entry) error {
	if e.val == nil {
		return nil
	}
	n := resolve(e.val)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return l.at(n, "rules", "want a list of rules, not %s", nodeKind(n))
	}
	if len(n.Content) > MaxRules {
		return l.at(n, "rules", "%d rules, more than the %d a policy may have", len(n.Content), MaxRules)
	}
	for i, rn := range n.Content {
		field := fmt.Sprintf("rules[%d]", i+1)
		kv, err := l.mapping(rn, field, policyRuleKeys)
		if err != nil {
			return err
		}
		rn = resolve(rn)
		r := &Rule{Line: rn.Line}
		ne, ok := kv["name"]
		if !ok {
			return l.at(rn, field+".name", "missing")
		}
		if r.Name, err = l.scalar(ne.val, field+".name"); err != nil {
			return err
		}
		if err := checkPolicyName(r.Name); err != nil {
			return l.at(ne.val, field+".name", "%v", err)
		}
		if strings.HasPrefix(r.Name, "veeam:") {
			return l.at(ne.val, field+".name", `names starting with "veeam:" are those of derived rules`)
		}
		if line, dup := l.names[r.Name]; dup {
			return l.at(ne.val, field+".name", "%q is also the name of the rule on line %d", r.Name, line)
		}
		l.names[r.Name] = rn.Line
		field += " (" + r.Name + ")"
		for _, key := range []string{"from", "to", "proto", "expect"} {
			if _, ok := kv[key]; !ok {
				return l.at(rn, field+"."+key, "missing")
			}
		}
		if r.From, err = l.terms(kv["from"].val, field+".from"); err != nil {
			return err
		}
		if r.To, err = l.terms(kv["to"].val, field+".to"); err != nil {
			return err
		}
		proto, err := l.scalar(kv["proto"].val, field+".proto")
		if err != nil {
			return err
		}
		proto = strings.ToLower(proto)
		if proto != "any" {
			var ok bool
			if r.Proto, ok = capture.ParseProtoName(proto); !ok || r.Proto == 0 {
				return l.at(kv["proto"].val, field+".proto", "%q is not tcp, udp, sctp, icmp, icmpv6, ip-N (an IP protocol number) or any", proto)
			}
		}
		txt, err := l.scalar(kv["expect"].val, field+".expect")
		if err != nil {
			return err
		}
		if r.Expect, err = ParseExpect(txt); err != nil {
			return l.at(kv["expect"].val, field+".expect", "%v", err)
		}
		if pe, ok := kv["ports"]; ok {
			if !capture.HasPorts(r.Proto) {
				return l.at(pe.val, field+".ports", "protocol %s has no ports (ports need tcp, udp or sctp)", proto)
			}
			if r.Ports, err = l.ports(pe.val, field+".ports"); err != nil {
				return err
			}
		} else if r.Expect == ExpectRequired && capture.HasPorts(r.Proto) {
			return l.at(rn, field+".ports", "missing: a required %s rule names the ports that must work", proto)
		}
		if r.Expect == ExpectRequired && r.Proto == 0 {
			return l.at(kv["proto"].val, field+".proto", "a required rule names its protocol, not any")
		}
		if ne, ok := kv["note"]; ok {
			if r.Note, err = l.scalar(ne.val, field+".note"); err != nil {
				return err
			}
		}
		r.from, r.fromUnits = side(r.From)
		r.to, r.toUnits = side(r.To)
		l.p.Rules = append(l.p.Rules, r)
	}
	return nil
}

// terms reads a from or to value.
func (l *policyLoader) terms(n *yaml.Node, field string) ([]Term, error) {
	ws, ns, fs, err := l.words(n, field)
	if err != nil {
		return nil, err
	}
	out := make([]Term, 0, len(ws))
	for i, w := range ws {
		t, err := l.term(w, ns[i], fs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// ports reads a ports value: a port, "lo-hi", a comma-separated list, or a list of those.
func (l *policyLoader) ports(n *yaml.Node, field string) ([]ports.Span, error) {
	ws, ns, fs, err := l.words(n, field)
	if err != nil {
		return nil, err
	}
	var out []ports.Span
	for i, w := range ws {
		for _, part := range strings.Split(w, ",") {
			lo, hi, err := ports.ParseRange(part)
			if err != nil {
				return nil, l.at(ns[i], fs[i], "%v", err)
			}
			s := ports.Span{Lo: lo, Hi: hi}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// derive adds a rule for every active matrix rule whose from and to roles are played
// by hosts of the inventory (or are "any"), after the user's rules.
func (l *policyLoader) derive(s *veeamSection) error {
	for _, v := range s.listed {
		ws, ns, fs, _ := l.words(v.val, "veeam."+v.key.Value)
		for i, id := range ws {
			if _, ok := l.m.Rule(id); !ok {
				return l.at(ns[i], fs[i], "%q is not a rule of the Veeam matrix for versions %s (see portclass ports)", id, strings.Join(l.m.Options().Versions, ", "))
			}
		}
	}
	l.p.veeam = true
	for _, mr := range l.m.Rules() {
		if s.exclude[mr.ID] {
			continue
		}
		from, to := l.roleTerm(mr.From), l.roleTerm(mr.To)
		if from == nil || to == nil {
			continue
		}
		expect := s.expect
		if s.allowed[mr.ID] {
			expect = ExpectAllowed
		}
		protos := []uint8{capture.ProtoTCP}
		switch mr.Protocol {
		case "udp":
			protos = []uint8{capture.ProtoUDP}
		case "both":
			protos = []uint8{capture.ProtoTCP, capture.ProtoUDP}
		}
		for _, proto := range protos {
			name := "veeam:" + mr.ID
			if len(protos) > 1 {
				name += "/" + capture.ProtoName(proto)
			}
			r := &Rule{Name: name, From: []Term{*from}, To: []Term{*to}, Proto: proto,
				Ports: mr.Ports, Expect: expect, Note: mr.Service, Veeam: mr}
			r.from, r.fromUnits = side(r.From)
			r.to, r.toUnits = side(r.To)
			l.p.Rules = append(l.p.Rules, r)
		}
	}
	return nil
}

// roleTerm is the term for a matrix rule's role, or nil when no host plays it.
func (l *policyLoader) roleTerm(role string) *Term {
	if role == "any" {
		return &Term{Text: "any", Kind: TermAny}
	}
	ps := l.rolePrefixes(role)
	if len(ps) == 0 {
		return nil
	}
	return &Term{Text: role, Kind: TermRole, Prefixes: ps}
}
