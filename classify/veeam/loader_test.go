package veeam

// The generator's half of the matrix: veeam.yaml is read, validated and built here, by
// TestVeeamGenerated (go generate), which writes the result as veeam_gen.go. The
// package itself never parses YAML: DefaultMatrix is that compiled data.

import (
	"bytes"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portclass/portclass/classify/ports"
)

// veeamFile is the format of veeam.yaml (written by internal/veeamconv).
type veeamFile struct {
	Schema  int           `yaml:"schema"`
	Title   string        `yaml:"title"`
	Caveats []veeamCaveat `yaml:"caveats"`
	Roles   []veeamRole   `yaml:"roles"`
	Rules   []veeamRule   `yaml:"rules"`
}

type veeamRole struct {
	Name        string   `yaml:"name"`
	Parents     []string `yaml:"parents"`
	Description string   `yaml:"description"`
	ThirdParty  bool     `yaml:"third_party"`
}

type veeamRule struct {
	ID          string      `yaml:"id"`
	From        string      `yaml:"from"`
	To          string      `yaml:"to"`
	Protocol    string      `yaml:"protocol"`
	Ports       []veeamPort `yaml:"ports"`
	Service     string      `yaml:"service"`
	Description string      `yaml:"description"`
	Versions    []string    `yaml:"versions"`
	Verified    []string    `yaml:"verified"`
	Source      string      `yaml:"source"`
	AlsoSee     []string    `yaml:"also_see"`
	Caveats     []string    `yaml:"caveats"`
	Notes       string      `yaml:"notes"`
	Succeeding  bool        `yaml:"succeeding"`
	Deployment  []string    `yaml:"deployment"`
}

// veeamPort is one entry of a rule's ports as written: a port or "lo-hi" (Scalar), with
// its line for errors.
type veeamPort struct {
	Value  string
	Line   int
	Scalar bool
}

func (p *veeamPort) UnmarshalYAML(n *yaml.Node) error {
	*p = veeamPort{Value: n.Value, Line: n.Line, Scalar: n.Kind == yaml.ScalarNode}
	return nil
}

// LoadMatrix parses a matrix in veeam.yaml's format and validates it: schema 1; role
// names unique, parents known, no cycles; every rule with a unique id, known from and to
// roles, protocol tcp, udp or both, at least one port and every port or "lo-hi" range
// valid, at least one version, known caveat keys and an http(s) source URL. Errors name
// the rule id (or role) and the field. The result has default Options; see With.
func LoadMatrix(data []byte) (*Matrix, error) {
	f, err := parseVeeamFile(data)
	if err != nil {
		return nil, err
	}
	return buildMatrix(f)
}

func parseVeeamFile(data []byte) (*veeamFile, error) {
	var f veeamFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("veeam matrix: %w", err)
	}
	return &f, nil
}

// buildMatrix validates f (see LoadMatrix) and builds its matrix.
func buildMatrix(f *veeamFile) (*Matrix, error) {
	if f.Schema != 1 {
		return nil, fmt.Errorf("veeam matrix: schema %d, want 1", f.Schema)
	}
	m := &Matrix{title: f.Title, caveats: slices.Clone(f.Caveats)}
	roleIdx := make(map[string]int, len(f.Roles))
	for i, r := range f.Roles {
		if r.Name == "" {
			return nil, fmt.Errorf("veeam matrix: role %d: name: empty", i+1)
		}
		if _, dup := roleIdx[r.Name]; dup {
			return nil, fmt.Errorf("veeam matrix: role %s: name: duplicate", r.Name)
		}
		roleIdx[r.Name] = len(m.roles)
		m.roles = append(m.roles, &Role{Name: r.Name, Description: r.Description, Parents: append([]string{}, r.Parents...), ThirdParty: r.ThirdParty})
	}
	if len(m.roles) == 0 {
		return nil, fmt.Errorf("veeam matrix: no roles")
	}
	for _, r := range m.roles {
		for _, p := range r.Parents {
			if _, ok := roleIdx[p]; !ok {
				return nil, fmt.Errorf("veeam matrix: role %s: parents: unknown role %q", r.Name, p)
			}
		}
	}
	m.byName = make([]int, len(m.roles))
	m.parents = make([][]int, len(m.roles))
	for i, r := range m.roles {
		m.byName[i] = i
		m.parents[i] = make([]int, len(r.Parents))
		for k, p := range r.Parents {
			m.parents[i][k] = roleIdx[p]
		}
	}
	slices.SortFunc(m.byName, func(i, j int) int { return strings.Compare(m.roles[i].Name, m.roles[j].Name) })
	if err := m.buildAncestors(); err != nil {
		return nil, err
	}
	m.anyRole = m.roleIndex("any")
	m.component = m.roleIndex("veeam-component")
	versions := make(map[string]bool)
	seen := make(map[string]bool, len(f.Rules))
	for i, fr := range f.Rules {
		if fr.ID == "" {
			return nil, fmt.Errorf("veeam matrix: rule %d: id: empty", i+1)
		}
		if seen[fr.ID] {
			return nil, fmt.Errorf("veeam matrix: rule %s: id: duplicate", fr.ID)
		}
		seen[fr.ID] = true
		where := "veeam matrix: rule " + fr.ID
		if _, ok := roleIdx[fr.From]; !ok {
			return nil, fmt.Errorf("%s: from: unknown role %q", where, fr.From)
		}
		if _, ok := roleIdx[fr.To]; !ok {
			return nil, fmt.Errorf("%s: to: unknown role %q", where, fr.To)
		}
		switch fr.Protocol {
		case "tcp", "udp", "both":
		default:
			return nil, fmt.Errorf("%s: protocol: %q is not tcp, udp or both", where, fr.Protocol)
		}
		if len(fr.Ports) == 0 {
			return nil, fmt.Errorf("%s: ports: empty", where)
		}
		spans := make([]ports.Span, 0, len(fr.Ports))
		for _, n := range fr.Ports {
			if !n.Scalar {
				return nil, fmt.Errorf("%s: ports: line %d: not a port or range", where, n.Line)
			}
			lo, hi, err := ports.ParseRange(n.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: ports: line %d: %w", where, n.Line, err)
			}
			spans = append(spans, ports.Span{Lo: lo, Hi: hi})
		}
		if !strings.HasPrefix(fr.Source, "https://") && !strings.HasPrefix(fr.Source, "http://") {
			return nil, fmt.Errorf("%s: source: %q is not an http(s) URL", where, fr.Source)
		}
		if len(fr.Versions) == 0 {
			return nil, fmt.Errorf("%s: versions: empty", where)
		}
		for _, v := range fr.Versions {
			if strings.TrimSpace(v) == "" {
				return nil, fmt.Errorf("%s: versions: empty version", where)
			}
			versions[v] = true
		}
		for _, c := range fr.Caveats {
			if !slices.ContainsFunc(m.caveats, func(k veeamCaveat) bool { return k.Key == c }) {
				return nil, fmt.Errorf("%s: caveats: unknown caveat %q", where, c)
			}
		}
		for _, d := range fr.Deployment {
			if _, ok := roleIdx[d]; !ok {
				return nil, fmt.Errorf("%s: deployment: unknown role %q", where, d)
			}
		}
		if strings.TrimSpace(fr.Service) == "" {
			return nil, fmt.Errorf("%s: service: empty", where)
		}
		m.all = append(m.all, &Rule{
			ID: fr.ID, From: fr.From, To: fr.To, Protocol: fr.Protocol, Ports: spans,
			Service: fr.Service, Description: fr.Description, Source: fr.Source,
			Versions: fr.Versions, Notes: fr.Notes, Verified: fr.Verified,
			AlsoSee: fr.AlsoSee, Caveats: fr.Caveats, Succeeding: fr.Succeeding, Deployment: fr.Deployment,
			from: roleIdx[fr.From], to: roleIdx[fr.To],
		})
	}
	if len(m.all) == 0 {
		return nil, fmt.Errorf("veeam matrix: no rules")
	}
	byID := slices.Clone(m.all)
	slices.SortFunc(byID, func(a, b *Rule) int { return strings.Compare(a.ID, b.ID) })
	for i, r := range byID {
		r.match = Match(i)
	}
	for v := range versions {
		m.known = append(m.known, v)
	}
	sort.Strings(m.known)
	return m.With(Options{})
}

// buildAncestors fills m.anc, rejecting cycles in the role hierarchy.
func (m *Matrix) buildAncestors() error {
	n := len(m.roles)
	words := (n + 63) / 64
	m.anc = make([][]uint64, n)
	state := make([]uint8, n) // 0 new, 1 in progress, 2 done
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("veeam matrix: role %s: parents: cycle", m.roles[i].Name)
		case 2:
			return nil
		}
		state[i] = 1
		set := make([]uint64, words)
		set[i/64] |= 1 << (i % 64)
		for _, j := range m.parents[i] {
			if err := visit(j); err != nil {
				return err
			}
			for w := range set {
				set[w] |= m.anc[j][w]
			}
		}
		m.anc[i] = set
		state[i] = 2
		return nil
	}
	for i := range m.roles {
		if err := visit(i); err != nil {
			return err
		}
	}
	m.ancN = make([]int, n)
	for i, set := range m.anc {
		for _, w := range set {
			m.ancN[i] += bits.OnesCount64(w)
		}
	}
	return nil
}
