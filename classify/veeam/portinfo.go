package veeam

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/internal/suggest"
)

// ErrUnknownRole is wrapped by errors about a role name the matrix does not know.
var ErrUnknownRole = errors.New("unknown Veeam role")

// ErrUnknownQuery is wrapped by DescribePorts' error for a query that is neither a port,
// a range nor a known service name.
var ErrUnknownQuery = errors.New("not a port, a port range or a known service name")

// portInfoMaxIANA is the most IANA entries a PortEntry lists; IANACount has them all.
const portInfoMaxIANA = 20

// PortInfo answers `portclass ports QUERY`: what the ports a query names are.
type PortInfo struct {
	Query string      `json:"query"`
	Ports []PortEntry `json:"ports"` // one per port or range the query names
	// VeeamServices lists, for a service-name query, the Veeam rules whose service name
	// contains the query (case-insensitive) or whose id is the query.
	VeeamServices []RuleRef `json:"veeam_services,omitempty"`
}

// PortEntry describes one port or range: the Veeam rules first (a port Veeam uses is
// named by its Veeam service in reports, see ServiceName), then IANA's view.
type PortEntry struct {
	Proto string     `json:"proto"` // "tcp", "udp", "sctp", "dccp" or "any"
	Ports ports.Span `json:"ports"`
	// Service is the Veeam service a flow to the port gets when all its rules explain
	// it (ServiceName of Veeam on a single port), "" for a range or no rule.
	Service   string        `json:"service,omitempty"`
	Veeam     []RuleRef     `json:"veeam,omitempty"`     // every active rule using one of these ports, by id
	Classes   []string      `json:"classes"`             // IANA port classes the ports fall in
	IANA      []IANAService `json:"iana,omitempty"`      // at most 20, by port then protocol
	IANACount int           `json:"iana_count"`          // all IANA entries on these ports
	Ephemeral []string      `json:"ephemeral,omitempty"` // names of the OS ephemeral ranges it overlaps
}

// IANAService is one IANA registry entry.
type IANAService struct {
	Name        string     `json:"name"`
	Proto       string     `json:"proto"`
	Ports       ports.Span `json:"ports"`
	Description string     `json:"description,omitempty"`
}

// RuleRef is a Veeam rule as `portclass ports` shows it.
type RuleRef struct {
	Rule      string   `json:"rule"`
	From      string   `json:"from"`
	To        string   `json:"to"`
	Protocol  string   `json:"protocol"`
	Ports     string   `json:"ports"` // "6162, 2500-3300"
	Service   string   `json:"service"`
	Versions  []string `json:"versions"`
	Source    string   `json:"source"`
	Notes     string   `json:"notes,omitempty"`
	Direction string   `json:"direction,omitempty"` // for a role: "inbound" or "outbound"
	// Succeeding: the ports a service takes when its documented port is busy
	// (Rule.Succeeding); firewall rules open them only on request.
	Succeeding bool `json:"succeeding,omitempty"`
	// DeploymentOnly: for the role described, the rule is needed only while Veeam
	// deploys its components (Rule.Deployment), where Veeam says so.
	DeploymentOnly bool `json:"deployment_only,omitempty"`
	// Verified is the documentation generations the rule was read on ("13": the v13
	// page; a "12" in Versions without one here was carried back to v12).
	Verified []string `json:"verified,omitempty"`
}

func ruleRef(r *Rule) RuleRef {
	return RuleRef{
		Rule: r.ID, From: r.From, To: r.To, Protocol: r.Protocol, Ports: ports.JoinSpans(r.Ports),
		Service: r.Service, Versions: r.Versions, Source: r.Source, Notes: r.Notes,
		Succeeding: r.Succeeding, Verified: r.Verified,
	}
}

// veeamProtoNumbers maps query prefixes to IP protocol numbers.
var veeamProtoNumbers = map[string]uint8{"tcp": capture.ProtoTCP, "udp": capture.ProtoUDP, "sctp": capture.ProtoSCTP, "dccp": 33}

// DescribePorts says what query is. query is a port ("6162"), a range ("2500-3300"),
// either with a protocol prefix ("tcp/6162", "udp/53"), or a service name: IANA names
// (exact, any case, via ServicesByName) and Veeam service names (substring, any case) or
// rule ids. For each port or range: the IANA classes, the IANA entries, the ephemeral
// ranges it overlaps (names from ephemeral) and every active Veeam rule that uses one of
// its ports. An error wraps ErrUnknownQuery.
func (m *Matrix) DescribePorts(query string, ephemeral []ports.Range) (*PortInfo, error) {
	q := strings.TrimSpace(query)
	info := &PortInfo{Query: q, Ports: []PortEntry{}}
	proto := "any"
	rest := q
	if p, r, ok := strings.Cut(q, "/"); ok {
		if _, known := veeamProtoNumbers[strings.ToLower(p)]; !known {
			return nil, fmt.Errorf("ports %q: protocol %q: want tcp, udp, sctp or dccp: %w", query, p, ErrUnknownQuery)
		}
		proto, rest = strings.ToLower(p), strings.TrimSpace(r)
	}
	if rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		lo, hi, err := ports.ParseRange(rest)
		if err != nil {
			return nil, fmt.Errorf("ports %q: %w", query, err)
		}
		info.Ports = append(info.Ports, m.portEntry(proto, ports.Span{Lo: lo, Hi: hi}, ephemeral))
		return info, nil
	}
	if rest == "" {
		return nil, fmt.Errorf("ports %q: empty: %w", query, ErrUnknownQuery)
	}
	// A service name: IANA entries grouped by port span.
	var spans []ports.Span
	protos := map[ports.Span][]string{}
	for _, s := range ports.ByName(rest) {
		pn := capture.ProtoName(s.Proto)
		if s.Proto == 33 {
			pn = "dccp"
		}
		if proto != "any" && pn != proto {
			continue
		}
		sp := ports.Span{Lo: s.Lo, Hi: s.Hi}
		if _, ok := protos[sp]; !ok {
			spans = append(spans, sp)
		}
		protos[sp] = append(protos[sp], pn)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].Lo < spans[j].Lo })
	for _, sp := range spans {
		p := proto
		if ps := protos[sp]; len(ps) == 1 {
			p = ps[0]
		}
		info.Ports = append(info.Ports, m.portEntry(p, sp, ephemeral))
	}
	lq := strings.ToLower(rest)
	for _, r := range m.rulesByID() {
		if (strings.Contains(strings.ToLower(r.Service), lq) || r.ID == rest) && (proto == "any" || r.Protocol == proto || r.Protocol == "both") {
			info.VeeamServices = append(info.VeeamServices, ruleRef(r))
		}
	}
	if len(info.Ports) == 0 && len(info.VeeamServices) == 0 {
		return nil, fmt.Errorf("ports %q: %w", query, ErrUnknownQuery)
	}
	return info, nil
}

// rulesByID returns the active rules sorted by id.
func (m *Matrix) rulesByID() []*Rule {
	rs := slices.Clone(m.rules)
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	return rs
}

// portEntry describes span for proto ("any" for all).
func (m *Matrix) portEntry(proto string, span ports.Span, ephemeral []ports.Range) PortEntry {
	e := PortEntry{Proto: proto, Ports: span}
	for _, c := range []ports.Class{ports.ClassWellKnown, ports.ClassRegistered, ports.ClassDynamic} {
		lo, hi := veeamClassSpan(c)
		if span.Overlaps(ports.Span{Lo: lo, Hi: hi}) {
			e.Classes = append(e.Classes, c.String())
		}
	}
	for _, r := range ephemeral {
		if span.Overlaps(ports.Span{Lo: r.Lo, Hi: r.Hi}) {
			e.Ephemeral = append(e.Ephemeral, r.Name)
		}
	}
	// IANA entries: walk the span, jumping over each entry found.
	for _, pn := range []string{"tcp", "udp", "sctp", "dccp"} {
		if proto != "any" && proto != pn {
			continue
		}
		num := veeamProtoNumbers[pn]
		for p := uint32(span.Lo); p <= uint32(span.Hi); {
			s, ok := ports.Lookup(num, uint16(p))
			if !ok {
				p++
				continue
			}
			e.IANACount++
			if len(e.IANA) < portInfoMaxIANA || span.Lo == span.Hi {
				e.IANA = append(e.IANA, IANAService{Name: s.Name, Proto: pn, Ports: ports.Span{Lo: s.Lo, Hi: s.Hi}, Description: s.Description})
			}
			p = uint32(s.Hi) + 1
		}
	}
	sort.SliceStable(e.IANA, func(i, j int) bool { return e.IANA[i].Ports.Lo < e.IANA[j].Ports.Lo })
	var ms []Match
	for _, r := range m.rulesByID() {
		if proto != "any" && r.Protocol != proto && r.Protocol != "both" {
			continue
		}
		for _, s := range r.Ports {
			if s.Overlaps(span) {
				e.Veeam = append(e.Veeam, ruleRef(r))
				ms = append(ms, r.match)
				break
			}
		}
	}
	if span.Lo == span.Hi {
		e.Service = ServiceName(ms, span.Lo)
	}
	return e
}

// veeamClassSpan returns the ports of class c.
func veeamClassSpan(c ports.Class) (lo, hi uint16) {
	switch c {
	case ports.ClassWellKnown:
		return 0, 1023
	case ports.ClassRegistered:
		return 1024, 49151
	case ports.ClassDynamic:
		return 49152, 65535
	}
	return 1, 0
}

// RoleInfo answers `portclass ports --role R`: what a role must accept and may open.
type RoleInfo struct {
	Role        string   `json:"role"`
	Description string   `json:"description"`
	Parents     []string `json:"parents"`
	Ancestors   []string `json:"ancestors"` // transitive, file order
	Children    []string `json:"children"`
	// Accepts and Opens summarize the ports of Inbound and Outbound: "tcp/6162",
	// "tcp/2500-3300", sorted by protocol and port.
	Accepts  []string  `json:"accepts"`
	Opens    []string  `json:"opens"`
	Inbound  []RuleRef `json:"inbound"`  // rules whose To is the role or an ancestor, by id
	Outbound []RuleRef `json:"outbound"` // rules whose From is the role, an ancestor or "any", by id
	// Windows and Linux are, for a Veeam component of either operating system (a
	// VMware proxy, a mount server, a gateway, a tape server, ...), the inbound rules
	// of a Windows or Linux managed server it then also takes: SMB, RPC and dynamic RPC
	// for Windows deployment, SSH for Linux. Empty for roles of one OS, whose Inbound
	// has them already, and for roles that are no Veeam component.
	Windows []RuleRef `json:"windows,omitempty"`
	Linux   []RuleRef `json:"linux,omitempty"`
}

// DescribeRole lists the rules a host in role takes part in: inbound (To is the role or
// one of its ancestors) and outbound (From is the role, an ancestor or "any"). An
// unknown role gives an error wrapping ErrUnknownRole that suggests close names.
func (m *Matrix) DescribeRole(role string) (*RoleInfo, error) {
	role = strings.TrimSpace(role)
	r, ok := m.Role(role)
	if !ok {
		return nil, m.UnknownRole(role)
	}
	info := &RoleInfo{
		Role: r.Name, Description: r.Description, Parents: r.Parents,
		Ancestors: m.Ancestors(role), Children: m.Children(role),
	}
	in, out := map[string]bool{}, map[string]bool{}
	ref := func(rule *Rule, dir string) RuleRef {
		x := ruleRef(rule)
		x.Direction = dir
		for _, d := range rule.Deployment {
			x.DeploymentOnly = x.DeploymentOnly || m.IsA(role, d)
		}
		return x
	}
	osOf := func(os string) bool { return m.IsA(role, os) }
	component := m.IsA(role, "veeam-component")
	bothOS := component && !osOf("veeam-component-windows") && !osOf("veeam-component-linux")
	for _, rule := range m.rulesByID() {
		if m.IsA(role, rule.To) {
			info.Inbound = append(info.Inbound, ref(rule, "inbound"))
			veeamAddPorts(in, rule)
		}
		if rule.From == "any" || m.IsA(role, rule.From) {
			info.Outbound = append(info.Outbound, ref(rule, "outbound"))
			veeamAddPorts(out, rule)
		}
		if bothOS {
			switch rule.To {
			case "veeam-component-windows":
				r := ref(rule, "inbound")
				for _, d := range rule.Deployment {
					r.DeploymentOnly = r.DeploymentOnly || d == rule.To
				}
				info.Windows = append(info.Windows, r)
			case "veeam-component-linux":
				r := ref(rule, "inbound")
				for _, d := range rule.Deployment {
					r.DeploymentOnly = r.DeploymentOnly || d == rule.To
				}
				info.Linux = append(info.Linux, r)
			}
		}
	}
	info.Accepts = veeamSortedPorts(in)
	info.Opens = veeamSortedPorts(out)
	return info, nil
}

func veeamAddPorts(set map[string]bool, r *Rule) {
	protos := []string{r.Protocol}
	if r.Protocol == "both" {
		protos = []string{"tcp", "udp"}
	}
	for _, p := range protos {
		for _, s := range r.Ports {
			set[p+"/"+s.String()] = true
		}
	}
}

// veeamSortedPorts sorts "tcp/6162" keys by protocol, then first port, then last.
func veeamSortedPorts(set map[string]bool) []string {
	type k struct {
		proto string
		span  ports.Span
		text  string
	}
	var ks []k
	for t := range set {
		p, s, _ := strings.Cut(t, "/")
		var sp ports.Span
		_ = sp.UnmarshalText([]byte(s))
		ks = append(ks, k{p, sp, t})
	}
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.proto != b.proto {
			return a.proto < b.proto
		}
		if a.span.Lo != b.span.Lo {
			return a.span.Lo < b.span.Lo
		}
		return a.span.Hi < b.span.Hi
	})
	out := make([]string, len(ks))
	for i, x := range ks {
		out[i] = x.text
	}
	return out
}

// unknownRole builds the error for an unknown role name, suggesting close names.
func (m *Matrix) UnknownRole(name string) error {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	ln := strings.ToLower(name)
	for _, r := range m.roles {
		d := suggest.Distance(ln, r.Name)
		if d <= max(2, len(ln)/4) || (ln != "" && (strings.Contains(r.Name, ln) || strings.Contains(ln, r.Name))) {
			cs = append(cs, cand{r.Name, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	if len(cs) == 0 {
		names := make([]string, len(m.roles))
		for i, r := range m.roles {
			names[i] = r.Name
		}
		return fmt.Errorf("%w %q (known roles: %s)", ErrUnknownRole, name, strings.Join(names, ", "))
	}
	var names []string
	for i, c := range cs {
		if i == 5 {
			break
		}
		names = append(names, c.name)
	}
	return fmt.Errorf("%w %q (did you mean %s?)", ErrUnknownRole, name, strings.Join(names, ", "))
}
