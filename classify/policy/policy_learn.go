package policy

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

// LearnOptions configures a Learner. The zero value uses the defaults.
type LearnOptions struct {
	// MinConfidence is the confidence an inferred role needs to enter the inventory
	// (declared roles always do); 0 means 0.5.
	MinConfidence float64
	// MaxClients is the longest from list a learned rule gets; a rule with more clients
	// is written "from: any" with the count in its note. 0 means 16.
	MaxClients int
	// Service names a server port for rule names and notes ("" if none); nil means
	// IANA's names (LookupService).
	Service func(proto uint8, port uint16) string
	// Comment is written at the top of the policy (e.g. which captures it was learned
	// from); lines are prefixed with "# ".
	Comment string
}

// Learner writes a policy from what flows show: the hosts' Veeam roles (declared or
// inferred) as the inventory with the Veeam rules derived between them, and one
// required rule per group of established flows the Veeam rules do not cover: flows to
// the same server port grouped by their set of servers and clients, then rules with the
// same hosts merged across ports. Only flows that show an open port (an answered outcome)
// are learned; attempts are not. The result is meant for review, not for blind use:
// what was seen working is written as required.
//
// A Learner is not safe for concurrent use; memory grows with the distinct (protocol,
// server port, server, client) combinations.
type Learner struct {
	o        LearnOptions
	m        *veeam.Matrix
	hosts    []veeam.HostRoles
	inv      veeam.Inventory
	derived  *Policy // nil without inventory
	groups   map[learnPort]map[netip.Addr]map[netip.Addr]*learnStats
	covered  uint64 // flows the Veeam rules documented
	learned  uint64 // flows that went into rules
	skipped  uint64 // flows not learned: attempts, ICMP errors
	first    time.Time
	last     time.Time
	inferred map[string]string // "role addr" → evidence comment
}

type learnPort struct {
	proto uint8
	port  uint16
}

type learnStats struct {
	flows, bytes uint64
}

// NewLearner returns a Learner for the matrix m (with the installation's options) and
// the hosts' roles (from an Inferer).
func NewLearner(m *veeam.Matrix, hosts []veeam.HostRoles, o LearnOptions) (*Learner, error) {
	if o.MinConfidence == 0 {
		o.MinConfidence = 0.5
	}
	if o.MaxClients == 0 {
		o.MaxClients = 16
	}
	if o.Service == nil {
		o.Service = func(proto uint8, port uint16) string {
			s, _ := ports.Lookup(proto, port)
			return s.Name
		}
	}
	l := &Learner{o: o, m: m, hosts: hosts, inv: veeam.Inventory{}, inferred: map[string]string{},
		groups: map[learnPort]map[netip.Addr]map[netip.Addr]*learnStats{}}
	for _, h := range hosts {
		for _, r := range h.Roles {
			if !r.Declared && r.Confidence < o.MinConfidence {
				continue
			}
			a := h.Addr.Unmap().String()
			if !slices.Contains(l.inv[r.Role], a) {
				l.inv[r.Role] = append(l.inv[r.Role], a)
			}
			what := "declared"
			if !r.Declared {
				what = "inferred " + strconv.FormatFloat(r.Confidence, 'f', 2, 64)
				if len(r.Evidence) > 0 {
					what += ": " + r.Evidence[0]
				}
			}
			l.inferred[r.Role+" "+a] = what
		}
	}
	if len(l.inv) > 0 {
		hs, err := m.ParseInventory(l.inv)
		if err != nil {
			return nil, fmt.Errorf("learn: %w", err)
		}
		ld := &policyLoader{file: "learned", m: m, p: &Policy{File: "learned", matrix: m, inventory: l.inv, hosts: hs},
			groups: map[string]*Group{}}
		if err := ld.derive(&veeamSection{expect: ExpectRequired}); err != nil {
			return nil, fmt.Errorf("learn: %w", err)
		}
		for i, r := range ld.p.Rules {
			r.Index = i
		}
		l.derived = ld.p
	}
	return l, nil
}

// Add learns from one classified flow.
func (l *Learner) Add(cf *classify.Flow) {
	f := &cf.Flow
	if FlowOutcome(cf.Outcome) != OutcomeOK || classify.IsICMPError(f) {
		l.skipped++
		return
	}
	if l.first.IsZero() || f.First.Before(l.first) {
		l.first = f.First
	}
	if f.Last.After(l.last) {
		l.last = f.Last
	}
	if l.derived != nil && l.derived.Match(f) != nil {
		l.covered++
		return
	}
	l.learned++
	k := learnPort{f.Proto, 0}
	if capture.HasPorts(f.Proto) {
		k.port = f.Server.Port()
	}
	servers := l.groups[k]
	if servers == nil {
		servers = map[netip.Addr]map[netip.Addr]*learnStats{}
		l.groups[k] = servers
	}
	s := f.Server.Addr().Unmap()
	clients := servers[s]
	if clients == nil {
		clients = map[netip.Addr]*learnStats{}
		servers[s] = clients
	}
	c := f.Client.Addr().Unmap()
	st := clients[c]
	if st == nil {
		st = &learnStats{}
		clients[c] = st
	}
	st.flows++
	st.bytes += f.Bytes[0] + f.Bytes[1]
}

// learnRule is a rule being built.
type learnRule struct {
	proto          uint8
	ports          []uint16
	from, to       []netip.Addr
	flows, bytes   uint64
	clientsOverCap bool
}

// rules groups what was learned into rules.
func (l *Learner) rules() []*learnRule {
	ports := make([]learnPort, 0, len(l.groups))
	for k := range l.groups {
		ports = append(ports, k)
	}
	slices.SortFunc(ports, func(a, b learnPort) int { return cmp.Or(cmp.Compare(a.proto, b.proto), cmp.Compare(a.port, b.port)) })
	var out []*learnRule
	for _, k := range ports {
		// Servers with the same set of clients share a rule.
		bySet := map[string]*learnRule{}
		var order []string
		servers := make([]netip.Addr, 0, len(l.groups[k]))
		for s := range l.groups[k] {
			servers = append(servers, s)
		}
		slices.SortFunc(servers, netip.Addr.Compare)
		for _, s := range servers {
			clients := make([]netip.Addr, 0, len(l.groups[k][s]))
			for c := range l.groups[k][s] {
				clients = append(clients, c)
			}
			slices.SortFunc(clients, netip.Addr.Compare)
			key := addrsKey(clients)
			r := bySet[key]
			if r == nil {
				r = &learnRule{proto: k.proto, ports: []uint16{k.port}, from: clients}
				bySet[key] = r
				order = append(order, key)
			}
			r.to = append(r.to, s)
			for _, st := range l.groups[k][s] {
				r.flows += st.flows
				r.bytes += st.bytes
			}
		}
		for _, key := range order {
			out = append(out, bySet[key])
		}
	}
	// Rules with the same protocol and hosts are merged across ports.
	var merged []*learnRule
	for _, r := range out {
		i := slices.IndexFunc(merged, func(m *learnRule) bool {
			return m.proto == r.proto && capture.HasPorts(r.proto) && slices.Equal(m.from, r.from) && slices.Equal(m.to, r.to)
		})
		if i < 0 {
			merged = append(merged, r)
			continue
		}
		merged[i].ports = append(merged[i].ports, r.ports...)
		merged[i].flows += r.flows
		merged[i].bytes += r.bytes
	}
	for _, r := range merged {
		if len(r.from) > l.o.MaxClients {
			r.clientsOverCap = true
		}
	}
	return merged
}

func addrsKey(as []netip.Addr) string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString(a.String())
		b.WriteByte(' ')
	}
	return b.String()
}

// Write writes the learned policy as YAML that Load reads back.
func (l *Learner) Write(w io.Writer) error {
	root := &yaml.Node{Kind: yaml.MappingNode}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
	var head []string
	for _, line := range strings.Split(strings.TrimSpace(l.o.Comment), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			head = append(head, oneLine(line))
		}
	}
	head = append(head,
		fmt.Sprintf("Learned from %d established flows: %d documented by the Veeam rules between the roles below, %d in the rules below; %d attempts and ICMP errors not learned.",
			l.covered+l.learned, l.covered, l.learned, l.skipped),
		"Review before use: what was seen working is written as required; remove what should not be there,",
		"and check the inferred roles. portclass verify CAPTURE --policy THIS-FILE checks a capture against it.")
	root.HeadComment = strings.Join(head, "\n")
	addKV(root, "version", intNode(Version))
	if len(l.inv) > 0 {
		inv := &yaml.Node{Kind: yaml.MappingNode}
		roles := make([]string, 0, len(l.inv))
		for r := range l.inv {
			roles = append(roles, r)
		}
		slices.SortFunc(roles, func(a, b string) int { return cmp.Compare(l.m.RoleIndex(a), l.m.RoleIndex(b)) })
		for _, role := range roles {
			seq := &yaml.Node{Kind: yaml.SequenceNode}
			addrs := slices.Clone(l.inv[role])
			slices.SortFunc(addrs, func(a, b string) int { return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b)) })
			for _, a := range addrs {
				n := strNode(a)
				n.LineComment = oneLine(truncate(l.inferred[role+" "+a], 160))
				seq.Content = append(seq.Content, n)
			}
			addKV(inv, role, seq)
		}
		addKV(root, "inventory", inv)
		vs := &yaml.Node{Kind: yaml.MappingNode}
		addKV(vs, "enabled", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		addKV(vs, "versions", flowSeq(l.m.Options().Versions))
		if l.m.Options().DataMoverRange != "" {
			addKV(vs, "data_mover_range", strNode(l.m.Options().DataMoverRange))
		}
		if len(l.m.Options().Ports) > 0 {
			pm := &yaml.Node{Kind: yaml.MappingNode}
			for _, k := range veeam.PortKeys() {
				if p, ok := l.m.Options().Ports[k]; ok {
					addKV(pm, k, intNode(int(p)))
				}
			}
			addKV(vs, "ports", pm)
		}
		vsKey := strNode("veeam")
		vsKey.HeadComment = "Every Veeam rule between the roles of the inventory is required (veeam.allowed lists rule ids that are only allowed)."
		root.Content = append(root.Content, vsKey, vs)
	}
	rules := &yaml.Node{Kind: yaml.SequenceNode}
	names := map[string]bool{}
	for _, r := range l.rules() {
		rules.Content = append(rules.Content, l.ruleNode(r, names))
	}
	if len(rules.Content) > 0 || len(l.inv) == 0 {
		addKV(root, "rules", rules)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	return nil
}

// ruleNode renders one learned rule with a unique name.
func (l *Learner) ruleNode(r *learnRule, names map[string]bool) *yaml.Node {
	proto := capture.ProtoName(r.proto)
	slices.Sort(r.ports)
	name := proto
	var services []string
	for i, p := range r.ports {
		if !capture.HasPorts(r.proto) {
			break
		}
		if i < 3 {
			name += "-" + strconv.Itoa(int(p))
		}
		if s := l.o.Service(r.proto, p); s != "" && !slices.Contains(services, s) {
			services = append(services, s)
		}
	}
	if len(r.ports) > 3 && capture.HasPorts(r.proto) {
		name += fmt.Sprintf("-and-%d-more", len(r.ports)-3)
	} else if len(services) == 1 {
		name += "-" + nameSafe(services[0])
	}
	name = truncate(name, 56)
	base := name
	for i := 2; names[name]; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	names[name] = true
	n := &yaml.Node{Kind: yaml.MappingNode}
	addKV(n, "name", strNode(name))
	note := fmt.Sprintf("learned: %d flows, %d bytes", r.flows, r.bytes)
	if r.flows == 1 {
		note = fmt.Sprintf("learned: 1 flow, %d bytes", r.bytes)
	}
	if r.clientsOverCap {
		addKV(n, "from", strNode("any"))
		note += fmt.Sprintf(", %d clients", len(r.from))
	} else {
		addKV(n, "from", addrSeq(r.from))
	}
	addKV(n, "to", addrSeq(r.to))
	addKV(n, "proto", strNode(proto))
	if capture.HasPorts(r.proto) {
		ps := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, p := range r.ports {
			ps.Content = append(ps.Content, intNode(int(p)))
			if ports.ClassOf(p) == ports.ClassDynamic {
				note += fmt.Sprintf("; %d is a dynamic port: check that it is fixed", p)
			}
		}
		addKV(n, "ports", ps)
	}
	addKV(n, "expect", strNode(ExpectRequired.String()))
	if len(services) > 0 {
		note += "; service " + strings.Join(services, ", ")
	}
	addKV(n, "note", strNode(note))
	return n
}

// nameSafe keeps the characters a policy name may hold.
func nameSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return -1
	}, s)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= 3
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }

// oneLine makes s fit a YAML comment line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
}

func addKV(m *yaml.Node, k string, v *yaml.Node) { m.Content = append(m.Content, strNode(k), v) }

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func intNode(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func flowSeq(ss []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range ss {
		n.Content = append(n.Content, strNode(s))
	}
	return n
}

func addrSeq(as []netip.Addr) *yaml.Node {
	ss := make([]string, len(as))
	for i, a := range as {
		ss[i] = a.String()
	}
	return flowSeq(ss)
}
