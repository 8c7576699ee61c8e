package veeam

//go:generate go run ./internal/veeamconv -in ../../../shared/reference/veeam-ports.yaml -additions additions.yaml -out veeam.yaml
//go:generate go test -run ^TestVeeamGenerated$ . -update

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"
)

// Pre10Upgraded is the version qualifier of components added before v10 and upgraded
// in place, which keep the 2500-5000 transmission range. A version that starts with a
// digit is a release ("12" is 12.0-12.3, "13" is 13.x); any other is such a qualifier.
const Pre10Upgraded = "pre-10-upgraded"

// veeamCurrentVersions are the releases a Matrix covers when Options.Versions names
// none. It is never written to.
var veeamCurrentVersions = []string{"12", "13"}

// veeamDefaultTransmission is the Data Mover transmission-channel range of installs made
// with v10 or later; Options.DataMoverRange replaces it.
var veeamDefaultTransmission = ports.Span{Lo: 2500, Hi: 3300}

// Role is one role of the Veeam matrix, such as "backup-server" or "esxi". A rule
// written for a role applies to the role's descendants (Parents, transitively).
type Role struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Parents     []string `json:"parents"` // direct parents; empty for a root
	// ThirdParty marks a role whose listeners run software that is not Veeam's (DNS,
	// NTP, SQL Server, vCenter, ESXi, NFS shares, ...; additions.yaml lists them). The
	// ports such roles accept are generic service ports: see Matrix.ExplainFor.
	ThirdParty bool `json:"third_party,omitempty"`
}

// Rule is one fact of the Veeam matrix: a host in role From opens connections to a host
// in role To on one of Ports (destination ports) over Protocol. Every rule keeps the
// public page it was read on (Source). Rules returned by a Matrix are shared and must not
// be modified.
type Rule struct {
	ID          string       `json:"id"`
	From        string       `json:"from"`     // role that opens the connection
	To          string       `json:"to"`       // role that accepts it
	Protocol    string       `json:"protocol"` // "tcp", "udp" or "both"
	Ports       []ports.Span `json:"ports"`    // destination ports on To, after Options
	Service     string       `json:"service"`
	Description string       `json:"description"`
	Source      string       `json:"source"`   // URL of the documentation page
	Versions    []string     `json:"versions"` // releases and qualifiers the rule holds for
	Notes       string       `json:"notes,omitempty"`
	Verified    []string     `json:"verified,omitempty"` // documentation generations actually read
	AlsoSee     []string     `json:"also_see,omitempty"` // corroborating URLs
	Caveats     []string     `json:"caveats,omitempty"`  // keys of Matrix.Caveat
	// Succeeding marks a rule whose ports are the ones a service takes when its
	// documented port is busy ("1058+" in Veeam's tables), within a bound the rule's
	// notes give: an addition of the project (additions.yaml). Firewall rules written
	// from a policy open them only on request (policy rules --succeeding-ports).
	Succeeding bool `json:"succeeding,omitempty"`
	// Deployment lists the roles for which the rule is needed only while Veeam deploys
	// its components (and may be closed afterwards), where Veeam says so; an addition of
	// the project (additions.yaml). Empty: needed in operation.
	Deployment []string `json:"deployment,omitempty"`

	from, to int   // indexes of From and To in the matrix's roles
	match    Match // the rule as a flow's match: its position among the compiled rules by id
}

// hasProto reports whether r applies to IP protocol proto.
func (r *Rule) hasProto(proto uint8) bool {
	switch r.Protocol {
	case "tcp":
		return proto == capture.ProtoTCP
	case "udp":
		return proto == capture.ProtoUDP
	case "both":
		return proto == capture.ProtoTCP || proto == capture.ProtoUDP
	}
	return false
}

// singlePort reports whether r names port as a single port, not inside a range.
func (r *Rule) singlePort(port uint16) bool {
	for _, s := range r.Ports {
		if s.Lo == port && s.Hi == port {
			return true
		}
	}
	return false
}

// Options adapts the matrix to an installation; its zero value gives the current
// versions with Veeam's default ports. It comes from the `veeam` section of
// portclass.yaml.
type Options struct {
	// Versions selects rules by their versions: releases ("12", "13") and qualifiers
	// ("pre-10-upgraded"). A rule is active when one of its releases is selected (the
	// current releases when Versions names none) and every qualifier it carries is
	// selected, so ["pre-10-upgraded"] means the current releases plus the 2500-5000
	// transmission range of components added before v10.
	Versions []string `mapstructure:"versions"`
	// DataMoverRange replaces the Data Mover transmission-channel range 2500-3300 in every
	// rule that uses it, e.g. "2500-5000" or a custom range set per Linux server.
	DataMoverRange string `mapstructure:"data_mover_range"`
	// Ports replaces ports an administrator can change at setup, by key (see
	// PortKeys): {"backup-service": 9500} moves every rule on 9392 towards a backup
	// server to 9500.
	Ports map[string]uint16 `mapstructure:"ports"`
}

// veeamConfigurablePorts lists the ports Options.Ports can change: the ones the
// reference's "configurable" caveat names (VBR installer, Enterprise Manager installer,
// registry values of Veeam KB4519, the SSH port of a credential record and the vPower NFS
// ports of a mount server). A key replaces each of its default ports in the rules whose
// To role is (a descendant of) to, or in every rule when to is "". It is never written
// to.
var veeamConfigurablePorts = [...]struct {
	key      string
	defaults []uint16
	to       string
	what     string
}{
	{"backup-service", []uint16{9392}, "backup-server", "Veeam Backup Service (VBR installer)"},
	{"catalog-service", []uint16{9393}, "backup-server", "Veeam Guest Catalog Service (VBR installer)"},
	{"secure-connections", []uint16{9401}, "backup-server", "secure connections port for mount servers (VBR installer)"},
	{"rest-api", []uint16{9419}, "backup-server", "VBR REST API (VBR installer)"},
	{"installer", []uint16{6160}, "", "Veeam Installer / Deployer Service (registry, Veeam KB4519)"},
	{"data-mover", []uint16{6162}, "", "Veeam Data Mover service (registry, Veeam KB4519)"},
	{"ssh", []uint16{22}, "", "SSH (per credential record)"},
	{"enterprise-manager-http", []uint16{9080}, "enterprise-manager", "Enterprise Manager web UI, HTTP (EM installer)"},
	{"enterprise-manager-https", []uint16{9443}, "enterprise-manager", "Enterprise Manager web UI, HTTPS (EM installer)"},
	{"enterprise-manager-service", []uint16{9394}, "enterprise-manager", "Enterprise Manager service (EM installer)"},
	{"enterprise-manager-rest-https", []uint16{9398}, "enterprise-manager", "Enterprise Manager REST API, HTTPS (EM installer)"},
	{"enterprise-manager-rest-http", []uint16{9399}, "enterprise-manager", "Enterprise Manager REST API, HTTP (EM installer)"},
	{"vpower-nfs-mount", []uint16{1058, 1063}, "mount-server", "vPower NFS mount port (mount server settings)"},
	{"vpower-nfs", []uint16{2049}, "mount-server", "vPower NFS port (mount server settings)"},
}

// PortKeys returns the keys Options.Ports accepts, sorted.
func PortKeys() []string {
	keys := make([]string, len(veeamConfigurablePorts))
	for i, c := range veeamConfigurablePorts {
		keys[i] = c.key
	}
	sort.Strings(keys)
	return keys
}

// Matrix is the Veeam Backup & Replication port matrix: roles with their hierarchy and
// rules, filtered and adjusted by Options, with an index from (protocol, port) to
// rules. A Matrix is immutable once built and safe for concurrent use; its zero value is
// not usable (use DefaultMatrix and With).
//
// A Matrix holds no maps, only slices searched by bisection: so the default matrix is
// static data the linker lays out (veeam_gen.go) and costs nothing at start-up, where
// building its maps and index took 1-2 ms and ~120 page faults of fresh heap.
type Matrix struct {
	title     string
	caveats   []veeamCaveat // file order
	roles     []*Role       // file order
	byName    []int         // indexes into roles, sorted by name
	parents   [][]int       // parents[i]: the indexes of roles[i].Parents
	anc       [][]uint64    // anc[i]: bitset of the ancestors of roles[i], itself included
	ancN      []int         // ancN[i]: the number of roles in anc[i]
	anyRole   int           // index of the role "any", -1 if the matrix has none
	component int           // index of the role "veeam-component", -1 if none
	all       []*Rule       // every rule as loaded, file order
	rules     []*Rule       // active rules after Options, file order
	byID      []*Rule       // the active rules sorted by id
	opts      Options       // normalized
	known     []string      // every version named by a rule, sorted
	tcp       veeamIndex
	udp       veeamIndex
}

// veeamIndex maps ports to the rules that name them for one protocol. Segment i covers
// ports starts[i] to starts[i+1]-1 (the last one up to 65535); rules[i] and matches[i]
// are sorted by rule id and are nil when no rule names the segment. generic[i] says
// that segment i is one port that a rule names to a third-party role (Role.ThirdParty):
// a generic service port such as DNS, NTP, SQL Server or NFS (see ExplainFor).
type veeamIndex struct {
	starts  []uint32
	rules   [][]*Rule
	matches [][]Match
	generic []bool
}

// DefaultMatrix returns the matrix of veeam.yaml with default Options. It is
// veeamDefaultMatrix: the matrix built from veeam.yaml by the generator, compiled into Go by
// TestVeeamGenerated (go generate) as static data, so that start-up neither parses YAML
// (that took 20-25 ms) nor builds the matrix (1-2 ms, mostly page faults on fresh heap).
// TestVeeamGenerated (loader_test.go: the generator) guarantees that it is what veeam.yaml builds.
func DefaultMatrix() *Matrix { return &veeamDefaultMatrix }

// veeamCaveat is one caveat of the matrix: a key rules cite and its text.
type veeamCaveat struct {
	Key  string `yaml:"key"`
	Text string `yaml:"text"`
}

// With returns a copy of m adapted to o: the version filter, the Data Mover range and
// changed ports, applied to the rules as loaded (so options never accumulate over
// repeated calls). Rules whose ports changed get a note saying so. Errors name the
// option: an unknown version or port key lists the valid ones. Options that normalize
// to m's own give m itself (a Matrix is immutable): so the default configuration
// rebuilds nothing at start-up.
func (m *Matrix) With(o Options) (*Matrix, error) {
	norm, err := m.normalize(o)
	if err != nil {
		return nil, err
	}
	// m.opts.Versions is empty only in buildMatrix's matrix that has no rules yet, and
	// norm.Versions never is.
	if slices.Equal(norm.Versions, m.opts.Versions) && norm.DataMoverRange == m.opts.DataMoverRange &&
		maps.Equal(norm.Ports, m.opts.Ports) {
		return m, nil
	}
	n := &Matrix{
		title: m.title, caveats: m.caveats, roles: m.roles, byName: m.byName, parents: m.parents, anc: m.anc,
		ancN: m.ancN, anyRole: m.anyRole, component: m.component,
		all: m.all, known: m.known, opts: norm,
	}
	selected := make(map[string]bool, len(norm.Versions))
	for _, v := range norm.Versions {
		selected[v] = true
	}
	var dm ports.Span
	if norm.DataMoverRange != "" {
		dm.Lo, dm.Hi, _ = ports.ParseRange(norm.DataMoverRange) // checked by normalize
	}
	for _, r := range m.all {
		if !veeamActive(r.Versions, selected) {
			continue
		}
		var notes []string
		spans, cloned := r.Ports, false
		changed := func() { // copy on first write: r is shared with m
			if !cloned {
				spans, cloned = slices.Clone(r.Ports), true
			}
		}
		if norm.DataMoverRange != "" && dm != veeamDefaultTransmission {
			for i, s := range r.Ports {
				if s == veeamDefaultTransmission {
					changed()
					spans[i] = dm
					notes = append(notes, fmt.Sprintf("range %s replaced by %s (veeam.data_mover_range)", s, dm))
				}
			}
		}
		for _, c := range veeamConfigurablePorts {
			p, ok := norm.Ports[c.key]
			if !ok || (c.to != "" && !m.IsA(r.To, c.to)) {
				continue
			}
			for i, s := range r.Ports {
				if s.Lo == s.Hi && slices.Contains(c.defaults, s.Lo) && s.Lo != p {
					changed()
					spans[i] = ports.Span{Lo: p, Hi: p}
					notes = append(notes, fmt.Sprintf("port %d replaced by %d (veeam.ports.%s)", s.Lo, p, c.key))
				}
				// A succeeding-port range follows the documented port it succeeds.
				if r.Succeeding && s.Lo > 0 && slices.Contains(c.defaults, s.Lo-1) && s.Lo-1 != p && int(p)+1+int(s.Hi-s.Lo) <= 65535 {
					changed()
					spans[i] = ports.Span{Lo: p + 1, Hi: p + 1 + (s.Hi - s.Lo)}
					notes = append(notes, fmt.Sprintf("range %s replaced by %s, after port %d (veeam.ports.%s)", s, spans[i], p, c.key))
				}
			}
		}
		rule := r
		if len(notes) > 0 {
			c := *r
			c.Ports = spans
			c.Notes = strings.TrimSpace(r.Notes + " Changed by the configuration: " + strings.Join(notes, "; ") + ".")
			rule = &c
		}
		n.rules = append(n.rules, rule)
	}
	n.byID = slices.Clone(n.rules)
	slices.SortFunc(n.byID, func(a, b *Rule) int { return strings.Compare(a.ID, b.ID) })
	n.tcp = n.buildIndex(capture.ProtoTCP)
	n.udp = n.buildIndex(capture.ProtoUDP)
	return n, nil
}

// normalize validates o and fills in defaults.
func (m *Matrix) normalize(o Options) (Options, error) {
	var n Options
	release := false
	for _, v := range o.Versions {
		v = strings.TrimSpace(v)
		if !slices.Contains(m.known, v) {
			return n, fmt.Errorf("veeam.versions: unknown version %q (valid: %s)", v, strings.Join(m.known, ", "))
		}
		if !slices.Contains(n.Versions, v) {
			n.Versions = append(n.Versions, v)
		}
		release = release || veeamIsRelease(v)
	}
	if !release {
		n.Versions = append(n.Versions, veeamCurrentVersions...)
	}
	sort.Strings(n.Versions)
	if s := strings.TrimSpace(o.DataMoverRange); s != "" {
		if _, _, err := ports.ParseRange(s); err != nil {
			return n, fmt.Errorf("veeam.data_mover_range: %w", err)
		}
		n.DataMoverRange = s
	}
	for k, p := range o.Ports {
		key := strings.ToLower(strings.TrimSpace(k))
		if !slices.Contains(PortKeys(), key) {
			return n, fmt.Errorf("veeam.ports: unknown key %q (valid: %s)", k, strings.Join(PortKeys(), ", "))
		}
		if p == 0 {
			return n, fmt.Errorf("veeam.ports.%s: port 0 is not a port", k)
		}
		if n.Ports == nil {
			n.Ports = make(map[string]uint16)
		}
		n.Ports[key] = p
	}
	return n, nil
}

// veeamIsRelease reports whether version v is a release ("12") rather than a qualifier.
func veeamIsRelease(v string) bool { return v != "" && v[0] >= '0' && v[0] <= '9' }

// veeamActive reports whether a rule with versions vs is active for the selected set:
// one of its releases is selected (or it names none) and all its qualifiers are.
func veeamActive(vs []string, selected map[string]bool) bool {
	hasRelease, releaseOK := false, false
	for _, v := range vs {
		if veeamIsRelease(v) {
			hasRelease = true
			releaseOK = releaseOK || selected[v]
		} else if !selected[v] {
			return false
		}
	}
	return !hasRelease || releaseOK
}

// buildIndex cuts the port space of proto into segments where the set of rules is
// constant, so that Match is one binary search.
func (m *Matrix) buildIndex(proto uint8) veeamIndex {
	bounds := []uint32{0}
	var rs []*Rule
	for _, r := range m.rules {
		if !r.hasProto(proto) {
			continue
		}
		rs = append(rs, r)
		for _, s := range r.Ports {
			bounds = append(bounds, uint32(s.Lo), uint32(s.Hi)+1)
		}
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	if bounds[len(bounds)-1] == 65536 {
		bounds = bounds[:len(bounds)-1]
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	// Each rule joins the sets of the segments its spans cover, in id order, so every
	// set comes out sorted.
	sets := make([][]*Rule, len(bounds))
	for _, r := range rs {
		for _, sp := range r.Ports {
			first, _ := slices.BinarySearch(bounds, uint32(sp.Lo))
			for k := first; k < len(bounds) && bounds[k] <= uint32(sp.Hi); k++ {
				if n := len(sets[k]); n == 0 || sets[k][n-1] != r {
					sets[k] = append(sets[k], r)
				}
			}
		}
	}
	var ix veeamIndex
	for k, b := range bounds {
		set := sets[k]
		// Merge with the previous segment when the set is the same.
		if n := len(ix.rules) - 1; n >= 0 && slices.Equal(ix.rules[n], set) {
			continue
		}
		var ms []Match
		if len(set) > 0 {
			ms = make([]Match, len(set))
			for i, r := range set {
				ms[i] = r.match
			}
		}
		ix.starts = append(ix.starts, b)
		ix.rules = append(ix.rules, set)
		ix.matches = append(ix.matches, ms)
	}
	// A segment is generic when a rule to a third-party role names each of its ports
	// itself (segments of single ports; a merged one may hold a few).
	ix.generic = make([]bool, len(ix.starts))
	for i, lo := range ix.starts {
		hi := uint32(65535)
		if i+1 < len(ix.starts) {
			hi = ix.starts[i+1] - 1
		}
		if hi-lo > 16 {
			continue
		}
		for _, r := range ix.rules[i] {
			all := m.roles[r.to].ThirdParty
			for p := lo; all && p <= hi; p++ {
				all = r.singlePort(uint16(p))
			}
			ix.generic[i] = ix.generic[i] || all
		}
	}
	return ix
}

// find returns the segment of port.
func (ix *veeamIndex) find(port uint16) int {
	i, j := 0, len(ix.starts)
	for i < j {
		h := int(uint(i+j) >> 1)
		if ix.starts[h] <= uint32(port) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i - 1
}

func (m *Matrix) index(proto uint8) *veeamIndex {
	switch proto {
	case capture.ProtoTCP:
		return &m.tcp
	case capture.ProtoUDP:
		return &m.udp
	}
	return nil
}

// Match returns the active rules that name port for IP protocol proto (tcp or udp),
// sorted by id, or nil. The slice is shared: do not modify it. It does not allocate.
func (m *Matrix) Match(proto uint8, port uint16) []*Rule {
	ix := m.index(proto)
	if ix == nil || len(ix.starts) == 0 {
		return nil
	}
	return ix.rules[ix.find(port)]
}

// segment returns the rules of the index that name the server port of f and their
// matches (shared, sorted by rule id), or nils.
func (m *Matrix) segment(f *capture.Flow) ([]*Rule, []Match, bool) {
	if f == nil || !capture.HasPorts(f.Proto) {
		return nil, nil, false
	}
	ix := m.index(f.Proto)
	if ix == nil || len(ix.starts) == 0 {
		return nil, nil, false
	}
	i := ix.find(f.Server.Port())
	return ix.rules[i], ix.matches[i], ix.generic[i] || veeamGeneralPort(f.Server.Port())
}

// Generic reports whether port is a generic service port for IP protocol proto: a
// general-purpose port any server may run (SSH, HTTP(S), SMB, RPC, RDP, ...) or one that
// a rule names to a third-party role (DNS, NTP, SQL Server, VMware NFC, NFS, ...). A
// flow there is Veeam traffic only when a Veeam component takes part (ExplainFor), and
// it makes no host a Veeam host on its own (Inferer).
func (m *Matrix) Generic(proto uint8, port uint16) bool {
	if veeamGeneralPort(port) {
		return true
	}
	ix := m.index(proto)
	if ix == nil || len(ix.starts) == 0 {
		return false
	}
	return ix.generic[ix.find(port)]
}

// Signature reports whether port is a Veeam signature port for IP protocol proto: one
// that an active rule names itself (not only in a range) and that is not Generic, such
// as 6160, 6162, 9392 or 1058. Only such ports make a host a Veeam component from its
// traffic, and only they are Veeam traffic between hosts of unknown roles.
func (m *Matrix) Signature(proto uint8, port uint16) bool {
	if m.Generic(proto, port) {
		return false
	}
	for _, r := range m.Match(proto, port) {
		if r.singlePort(port) {
			return true
		}
	}
	return false
}

// Explain returns the Veeam rules whose protocol and ports match the server port of f,
// sorted by rule id, or nil: nil too for protocols without ports. It is the function a
// Classifier calls through Options.Explain; the returned slice belongs to the caller.
// Explain knows nothing of the hosts' roles; Refine narrows the result once they are
// known.
func (m *Matrix) Explain(f *capture.Flow) []Match {
	_, ms, _ := m.segment(f)
	if len(ms) == 0 {
		return nil
	}
	return slices.Clone(ms)
}

// ExplainFor is Explain narrowed to the roles of the flow's hosts (from an Inventory or
// an Inferer; nil when unknown): the rules consistent with the known roles (Refine),
// under three more conditions that keep Veeam labels off traffic that is not Veeam's:
//
//   - Between two hosts of unknown roles only an answered flow (the port was open, as
//     the inference reads it: a scan's probe is no Veeam traffic) to a Veeam signature
//     port counts (Signature:
//     a port a rule names itself, not drawn from a range such as the Data Mover
//     channels 2500-3300 or Windows dynamic RPC 49152-65535, and not a generic service
//     port): 6162 is Veeam traffic on the port's word, udp/53, tcp/443 or tcp/2700 are
//     not.
//   - On a generic service port (Generic: SSH, HTTP(S), SMB, RPC, RDP and the ports of
//     third-party roles: DNS, NTP, SMTP, SQL Server, LDAP, Kerberos, VMware NFC, NFS,
//     ...) a rule needs a Veeam component among the flow's two hosts, known by its
//     roles: a PC's DNS query to the DNS server the backup server uses is no Veeam
//     traffic, the backup server's is. With one host unknown, the known one must be a
//     Veeam component and the rule's role for the unknown one a third-party role (a
//     backup server's NTP to a server nothing else identifies is "backup-server-to-ntp";
//     its SMB to an unknown host is not component deployment); general-purpose ports
//     (SSH, HTTP(S), SMB, RPC, RDP, WinRM) never count with an unknown host.
//   - On other ports with one host unknown, that host is held to the port's word: the
//     rule names the port itself, or the port is in the dynamic range 49152-65535 where
//     no service lives (a backup server's dynamic RPC to a guest it processes), or the
//     rule's role for it is "any". So a proxy's tcp/3128 to a web proxy is no Data
//     Mover channel (2500-3300).
//
// It is the function to plug into Options.Explain once roles are known
// (Inferer.Explain is the same, faster). The returned slice belongs to the caller.
func (m *Matrix) ExplainFor(f *capture.Flow, clientRoles, serverRoles []string) []Match {
	rules, ms, generic := m.segment(f)
	if len(ms) == 0 {
		return nil
	}
	port := f.Server.Port()
	if len(clientRoles) == 0 && len(serverRoles) == 0 {
		if !veeamOpen(f) {
			return nil
		}
		return slices.Clone(m.unknownRoles(port, rules, ms, generic)) // the caller's own
	}
	component := func(roles []string) bool {
		for _, r := range roles {
			if m.IsA(r, "veeam-component") {
				return true
			}
		}
		return false
	}
	cComp, sComp := component(clientRoles), component(serverRoles)
	ms = m.Refine(ms, clientRoles, serverRoles) // ms itself when all are kept: not modified below
	out := ms[:0:0]
	for _, v := range ms {
		r := v.Rule()
		r, _ = m.Rule(r.ID) // this matrix's rule (its ports follow the options)
		if r == nil {
			continue
		}
		if m.keepRule(r, port, generic, len(clientRoles) > 0, len(serverRoles) > 0, cComp, sComp) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// keepRule is ExplainFor's test of rule r, already consistent with the known roles, for
// a flow to port (generic: Generic) whose client and server roles are known or not
// (cKnown, sKnown) and hold a Veeam component or not (cComp, sComp). Both hosts unknown
// is unknownRoles.
func (m *Matrix) keepRule(r *Rule, port uint16, generic, cKnown, sKnown, cComp, sComp bool) bool {
	if cKnown && sKnown {
		return !generic || cComp || sComp
	}
	unknown, knownComp := r.to, cComp
	if !cKnown {
		unknown, knownComp = r.from, sComp
	}
	switch {
	case veeamGeneralPort(port):
		return false
	case generic:
		return knownComp && m.roles[unknown].ThirdParty
	}
	return unknown == m.anyRole || r.singlePort(port) || port >= 49152
}

// unknownRoles is ExplainFor between two hosts of unknown roles: the matches (shared,
// with their rules) that name port itself, unless it is a generic port.
func (m *Matrix) unknownRoles(port uint16, rules []*Rule, ms []Match, generic bool) []Match {
	if generic {
		return nil
	}
	n := 0
	for _, r := range rules {
		if r.singlePort(port) {
			n++
		}
	}
	switch n {
	case 0:
		return nil
	case len(rules):
		return ms[:n:n] // shared and read-only: no allocation
	}
	out := make([]Match, 0, n)
	for i, r := range rules {
		if r.singlePort(port) {
			out = append(out, ms[i])
		}
	}
	return out
}

// Rules returns the active rules (after Options) in file order. The slice and the
// rules are shared: do not modify them.
func (m *Matrix) Rules() []*Rule { return m.rules }

// AllRules returns every rule as loaded, whatever the options, in file order. Shared.
func (m *Matrix) AllRules() []*Rule { return m.all }

// Rule returns the active rule with id.
func (m *Matrix) Rule(id string) (*Rule, bool) {
	i, ok := slices.BinarySearchFunc(m.byID, id, func(r *Rule, id string) int { return strings.Compare(r.ID, id) })
	if !ok {
		return nil, false
	}
	return m.byID[i], true
}

// Roles returns the roles in file order. Shared: do not modify.
func (m *Matrix) Roles() []*Role { return m.roles }

// Role returns the role called name.
func (m *Matrix) Role(name string) (*Role, bool) {
	i := m.roleIndex(name)
	if i < 0 {
		return nil, false
	}
	return m.roles[i], true
}

// Options returns the options m was built with, normalized: Versions sorted and never
// empty.
func (m *Matrix) Options() Options { return m.opts }

// Versions returns every version some rule names, sorted.
func (m *Matrix) Versions() []string { return slices.Clone(m.known) }

// Caveat returns the text of a caveat key that rules cite, or "".
func (m *Matrix) Caveat(key string) string {
	for _, c := range m.caveats {
		if c.Key == key {
			return c.Text
		}
	}
	return ""
}

// Title is the matrix's title line.
func (m *Matrix) Title() string { return m.title }

// IsA reports whether role is ancestor or one of its ancestors (parents, transitively).
// Every role is an "any". Unknown roles are only themselves.
func (m *Matrix) IsA(role, ancestor string) bool {
	if role == ancestor || ancestor == "any" {
		return true
	}
	i, j := m.roleIndex(role), m.roleIndex(ancestor)
	if i < 0 || j < 0 {
		return false
	}
	return m.anc[i][j/64]&(1<<(j%64)) != 0
}

// Ancestors returns the ancestors of role (not role itself), in file order.
func (m *Matrix) Ancestors(role string) []string {
	i := m.roleIndex(role)
	if i < 0 {
		return nil
	}
	var out []string
	for j, r := range m.roles {
		if j != i && m.anc[i][j/64]&(1<<(j%64)) != 0 {
			out = append(out, r.Name)
		}
	}
	return out
}

// Children returns the roles whose direct parents include role, in file order.
func (m *Matrix) Children(role string) []string {
	var out []string
	for _, r := range m.roles {
		if slices.Contains(r.Parents, role) {
			out = append(out, r.Name)
		}
	}
	return out
}

// veeamSideOK reports whether a rule written for ruleRole applies to a host known to
// play one of hostRoles: ruleRole is "any", or one of hostRoles is ruleRole or a
// descendant of it (a rule for a parent role applies to its children). A host with no
// known role does not constrain.
func (m *Matrix) veeamSideOK(ruleRole string, hostRoles []string) bool {
	if len(hostRoles) == 0 || ruleRole == "any" {
		return true
	}
	for _, h := range hostRoles {
		if h == "any" || m.IsA(h, ruleRole) {
			return true
		}
	}
	return false
}

// veeamSideLoose is veeamSideOK for partial knowledge: it also accepts a rule written for
// a descendant of a host's role, since a host known as "veeam-component-linux" may well
// be the "repository" a rule names. The inference uses it for peers' roles.
func (m *Matrix) veeamSideLoose(ruleRole string, hostRoles []string) bool {
	if m.veeamSideOK(ruleRole, hostRoles) {
		return true
	}
	for _, h := range hostRoles {
		if m.IsA(ruleRole, h) {
			return true
		}
	}
	return false
}

// Refine keeps the matches consistent with the roles of the flow's two hosts: those whose
// From is one of clientRoles or an ancestor of one, and whose To is one of serverRoles or
// an ancestor of one (a rule for a parent role applies to its children); role "any"
// matches anything. A side with no known roles does not constrain. It is deliberately
// strict the other way: a host known only by an abstract role (say "veeam-component")
// does not take rules written for its possible children (say "backup-server"), so that
// unrelated traffic of a half-identified host stays unexplained. The result is matches itself when nothing is dropped,
// a new slice otherwise, and nil when nothing is kept.
func (m *Matrix) Refine(matches []Match, clientRoles, serverRoles []string) []Match {
	if len(clientRoles) == 0 && len(serverRoles) == 0 {
		return matches
	}
	keep := 0
	for _, v := range matches {
		if r := v.Rule(); m.veeamSideOK(r.From, clientRoles) && m.veeamSideOK(r.To, serverRoles) {
			keep++
		}
	}
	switch keep {
	case len(matches):
		return matches
	case 0:
		return nil
	}
	out := make([]Match, 0, keep)
	for _, v := range matches {
		if r := v.Rule(); m.veeamSideOK(r.From, clientRoles) && m.veeamSideOK(r.To, serverRoles) {
			out = append(out, v)
		}
	}
	return out
}
