package classify

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/portclass/portclass/capture"
)

// Inventory is the `inventory` section of portclass.yaml: Veeam role → host addresses
// or CIDR prefixes, e.g. {"backup-server": ["192.0.2.10"], "repository-linux":
// ["192.0.2.32/30"]}. Declared roles override inference.
type Inventory map[string][]string

// HostSet is a validated Inventory. The zero value and nil hold no hosts. It is
// immutable and safe for concurrent use.
type HostSet struct {
	entries []hostSetEntry // sorted by role, then prefix
}

type hostSetEntry struct {
	role   string
	prefix netip.Prefix // masked; IPv4 unmapped
}

// ParseInventory validates inv against the matrix's roles: every role must exist and
// every entry be an address or a CIDR prefix. Errors name the role and the entry.
func (m *Matrix) ParseInventory(inv Inventory) (*HostSet, error) {
	roles := make([]string, 0, len(inv))
	for r := range inv {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	hs := &HostSet{}
	for _, role := range roles {
		if _, ok := m.Role(role); !ok {
			return nil, fmt.Errorf("inventory: %w", m.unknownRole(role))
		}
		for _, e := range inv[role] {
			p, err := parseHostPrefix(e)
			if err != nil {
				return nil, fmt.Errorf("inventory: role %s: entry %q: %w", role, e, err)
			}
			hs.entries = append(hs.entries, hostSetEntry{role, p})
		}
	}
	return hs, nil
}

// parseHostPrefix parses "192.0.2.10", "2001:db8::1" or "192.0.2.0/24"; IPv4-mapped
// IPv6 addresses become IPv4, and host bits of a prefix are cleared.
func parseHostPrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR prefix: %w", err)
		}
		a := p.Addr()
		bits := p.Bits()
		if a.Is4In6() {
			if bits < 96 {
				return netip.Prefix{}, fmt.Errorf("IPv4-mapped prefix shorter than /96")
			}
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a.WithZone(""), bits).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an address or CIDR prefix: %w", err)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// RolesOf returns the roles declared for addr (every entry whose prefix contains it),
// sorted, or nil. It scans the entries: inventories are short.
func (h *HostSet) RolesOf(addr netip.Addr) []string {
	if h == nil {
		return nil
	}
	addr = addr.Unmap()
	var out []string
	for _, e := range h.entries {
		if e.prefix.Contains(addr) && !slices.Contains(out, e.role) {
			out = append(out, e.role)
		}
	}
	return out
}

// declaredAs returns the prefix under which addr was declared as role.
func (h *HostSet) declaredAs(addr netip.Addr, role string) netip.Prefix {
	for _, e := range h.entries {
		if e.role == role && e.prefix.Contains(addr) {
			return e.prefix
		}
	}
	return netip.Prefix{}
}

// Len returns the number of (role, prefix) entries.
func (h *HostSet) Len() int {
	if h == nil {
		return 0
	}
	return len(h.entries)
}

// HostRoles is what the inference says about one host: its roles, most likely first.
type HostRoles struct {
	Addr  netip.Addr `json:"addr"`
	Roles []HostRole `json:"roles"`
}

// HostRole is one role of a host. Confidence is in [0, 0.99] with two decimals for
// inferred roles and 1 for declared ones. Evidence holds at most five short lines, the
// strongest first, naming the flows (peers, ports) and the rules that point to the role.
type HostRole struct {
	Role       string   `json:"role"`
	Confidence float64  `json:"confidence"`
	Declared   bool     `json:"declared,omitempty"`
	Evidence   []string `json:"evidence"`
}

// InferStats counts what an Inferer kept and dropped.
type InferStats struct {
	Flows           uint64 `json:"flows"`            // flows given to Add
	Evidence        uint64 `json:"evidence"`         // of those, established flows with Veeam matches (recorded)
	Hosts           int    `json:"hosts"`            // hosts holding evidence
	DroppedHosts    uint64 `json:"dropped_hosts"`    // flow ends not recorded: MaxHosts reached
	DroppedEvidence uint64 `json:"dropped_evidence"` // (port, peer) items not recorded: a host's caps reached
}

// Per-host caps of the evidence an Inferer keeps, and the default host cap.
const (
	// InferMaxPortsPerHost caps the distinct (direction, protocol, port) groups per host.
	InferMaxPortsPerHost = 64
	// InferMaxPeersPerHost caps the distinct (group, peer) items per host.
	InferMaxPeersPerHost = 128
	// DefaultInferMaxHosts is the default cap on hosts with evidence; see SetMaxHosts.
	DefaultInferMaxHosts = 100_000
	// inferMaxRounds bounds the fixed-point iteration of Hosts.
	inferMaxRounds = 6
	// inferEvidenceLines is the most evidence lines a HostRole carries.
	inferEvidenceLines = 5
)

// Rule ids the inference clues look for (see Inferer). If the matrix lacks one, the clue
// that needs it stays silent.
const (
	ruleInstaller     = "backup-server-to-component-installer"
	ruleDataMover     = "backup-server-to-component-datamover"
	ruleWindowsDeploy = "backup-server-to-windows-deploy"
	ruleWindowsRPC    = "backup-server-to-windows-dynrpc"
	ruleLinuxSSH      = "backup-server-to-linux-ssh"
	ruleProxyToRepo   = "proxy-to-repository"
	ruleProxyESXi902  = "proxy-to-esxi-902"
	ruleVCenter443    = "backup-server-to-vcenter"
	ruleRDP           = "admin-to-backup-server-rdp"
)

// Inferer infers, from flows alone, the Veeam roles hosts most likely play. Give it every
// finished flow with the matches Matrix.Explain found (Add), then ask Hosts or RolesOf.
// Add must not run concurrently with any other method; Hosts and RolesOf may be called
// from several goroutines at once.
//
// Only flows that show a port was open count: TCP flows in states S1, SF, S2, S3, RSTO
// and RSTR, or OTH with packets both ways; other protocols with packets both ways. Flows
// without Veeam matches are not recorded. Hosts declared in the inventory are not
// inferred: their declared roles are reported (Declared, confidence 1) and used as the
// peers' roles of the others.
//
// Scoring. Each clue below gives a role points on a host; a role's confidence is
// 1 - 0.5^p, where p sums the points of the role, of its ancestors and of its
// descendants (capped at 0.99). A role is reported when the points of the role and its
// descendants reach 1 (so its confidence is at least 0.5), and only the most specific of
// the reported roles on one branch are kept (backup-proxy-vmware rather than
// backup-proxy). Peers' roles come from the previous round; rounds repeat until no
// host's roles change (at most 6), so identified backup servers then let their peers be
// identified, and so on. "Per peer" means per distinct peer address; each clue counts at
// most 3 points per port.
//
//  1. Listener: a host accepts a port from a peer, and the rules naming that port itself
//     (not in a range: a port drawn from 2500-3300 or 49152-65535 says nothing alone)
//     whose From fits the peer's known roles all lead To one role or its descendants: 1
//     point per peer for the most specific common role (9392 → backup-server; 902 →
//     esxi; 6162 from a backup server → veeam-component, a managed server). When every
//     such rule leads to one third-party role (udp/53 → dns-server, udp/123 →
//     ntp-server), that role counts whoever the peer is. General-purpose ports (SSH,
//     HTTP(S), RPC, SMB, RDP, WinRM, ...) do not count: any server runs them; clues 4
//     and 7 read them in context.
//  2. Opener: the same for the ports a host opens to a peer known to be a Veeam
//     component, on the From roles of the rules that lead to a Veeam component (9392 to
//     a backup server). Opening a connection to a third-party service (SQL, SMTP,
//     vCenter) says nothing: any host may. When several From roles remain and exactly
//     one of them never accepts connections in the matrix (console, rest-client, ...)
//     and the host accepts no Veeam traffic, that one (9392 from a plain PC → console).
//     On general-purpose ports only such never-accepting roles count (3389 to a backup
//     server → admin-workstation).
//  3. Backup server fan-out: opening the installer port (6160) to N hosts gives
//     backup-server 0.5 per host (at most 2.5); opening the Data Mover port (6162) to at
//     least 3 hosts, 0.2 per host (at most 1). Proxies open 6162 too, but rarely to 3
//     hosts, and never 6160.
//  4. Managed Windows or Linux: a managed server (one that accepts 6160 or 6162 from a
//     backup server) that also accepts SMB/RPC (445, 135, 137, 139 or dynamic RPC) from
//     a backup server is veeam-component-windows (1 point); one that accepts SSH from a
//     backup server and no SMB/RPC at all is veeam-component-linux (1 point). A Veeam
//     server that accepts RDP (3389) is veeam-component-windows too (1 point).
//  5. Data path: Data Mover traffic (6162, 2500-3300) between two managed servers
//     neither of which is a backup server is a proxy → repository path: the opener gets
//     backup-proxy and the acceptor repository, 0.5 per peer, 1 when the peer is
//     already known as the other end.
//  6. VMware proxy: a host that is not a backup server or CDP proxy and opens 902 to an
//     ESXi host (or a host not yet known) is backup-proxy-vmware, 1 point per peer.
//  7. vSphere: a host that accepts 443 from backup servers or VMware proxies is esxi if
//     it also accepts 902, else vcenter if it accepts nothing Veeam-specific: 1 point per
//     backup server, 0.5 per VMware proxy (object storage or a licensing endpoint looks
//     the same on the wire: declare such hosts in the inventory).
//  8. Combination: a role with two parents (repository-linux = repository +
//     veeam-component-linux) gets the smaller of its parents' own points when both have
//     at least 1 and no other child of either parent has 1.
//
// Memory is bounded: at most InferMaxPortsPerHost groups and InferMaxPeersPerHost peer
// items per host, and SetMaxHosts hosts (DefaultInferMaxHosts); what does not fit is
// counted in Stats.
type Inferer struct {
	m          *Matrix
	declared   *HostSet
	maxHosts   int
	hosts      map[netip.Addr]*veeamHost
	seenDecl   map[netip.Addr]bool
	clientOnly map[string]bool // roles that are never a rule's To
	stats      InferStats

	mu     sync.Mutex // guards the computation below, so readers may share an Inferer
	rounds int        // rounds the last compute took
	fresh  bool       // result is up to date
	result []HostRoles
	roles  map[netip.Addr][]string
}

// veeamHost is the evidence kept for one host.
type veeamHost struct {
	groups []veeamGroup
	peers  []veeamPeer
}

// veeamGroup is the flows of one host on one (direction, protocol, server port).
type veeamGroup struct {
	out   bool // the host opened the flows (it was the client)
	proto uint8
	port  uint16  // the server port
	rules []*Rule // the matching rules, sorted by id
	flows uint32
}

type veeamPeer struct {
	addr  netip.Addr
	group uint8
}

// NewInferer returns an Inferer for m; declared may be nil.
func (m *Matrix) NewInferer(declared *HostSet) *Inferer {
	in := &Inferer{
		m: m, declared: declared, maxHosts: DefaultInferMaxHosts,
		hosts: make(map[netip.Addr]*veeamHost), seenDecl: make(map[netip.Addr]bool),
		clientOnly: make(map[string]bool),
	}
	isTo := make(map[string]bool)
	for _, r := range m.rules {
		isTo[r.To] = true
	}
	for _, r := range m.roles {
		if !isTo[r.Name] && r.Name != "any" {
			in.clientOnly[r.Name] = true
		}
	}
	return in
}

// SetMaxHosts sets the cap on hosts with evidence (n <= 0 means DefaultInferMaxHosts).
func (in *Inferer) SetMaxHosts(n int) {
	if n <= 0 {
		n = DefaultInferMaxHosts
	}
	in.maxHosts = n
}

// Stats returns the counters.
func (in *Inferer) Stats() InferStats {
	s := in.stats
	s.Hosts = len(in.hosts)
	return s
}

// veeamOpen reports whether f shows that its server port was open.
func veeamOpen(f *capture.Flow) bool {
	both := f.Packets[capture.ToServer] > 0 && f.Packets[capture.ToClient] > 0
	if f.Proto == capture.ProtoTCP {
		switch f.State {
		case capture.S1, capture.SF, capture.S2, capture.S3, capture.RSTO, capture.RSTR:
			return true
		case capture.OTH, capture.StateUnknown:
			return both
		}
		return false
	}
	return both
}

// Add records f as evidence if it shows an open port and has Veeam matches (from
// Matrix.Explain, possibly refined). It keeps no reference to f or matches.
func (in *Inferer) Add(f *capture.Flow, matches []VeeamMatch) {
	in.stats.Flows++
	if f == nil || len(matches) == 0 || !capture.HasPorts(f.Proto) || !veeamOpen(f) {
		return
	}
	port := f.Server.Port()
	rules := in.rulesFor(f.Proto, port, matches)
	if len(rules) == 0 {
		return
	}
	in.stats.Evidence++
	in.fresh = false
	c, s := f.Client.Addr().Unmap(), f.Server.Addr().Unmap()
	in.record(c, true, f.Proto, port, rules, s)
	in.record(s, false, f.Proto, port, rules, c)
}

// rulesFor returns the rules of the index for (proto, port) that are among matches: the
// shared index slice when all are, so the common case does not allocate.
func (in *Inferer) rulesFor(proto uint8, port uint16, matches []VeeamMatch) []*Rule {
	shared := in.m.Match(proto, port)
	n := 0
	for _, r := range shared {
		if veeamHasRule(matches, r.ID) {
			n++
		}
	}
	if n == len(shared) {
		return shared
	}
	out := make([]*Rule, 0, n)
	for _, r := range shared {
		if veeamHasRule(matches, r.ID) {
			out = append(out, r)
		}
	}
	return out
}

func veeamHasRule(ms []VeeamMatch, id string) bool {
	for _, v := range ms {
		if v.Rule == id {
			return true
		}
	}
	return false
}

func (in *Inferer) record(addr netip.Addr, out bool, proto uint8, port uint16, rules []*Rule, peer netip.Addr) {
	if len(in.declared.RolesOf(addr)) > 0 {
		if !in.seenDecl[addr] && len(in.seenDecl) < in.maxHosts {
			in.seenDecl[addr] = true
		}
		return
	}
	h := in.hosts[addr]
	if h == nil {
		if len(in.hosts) >= in.maxHosts {
			in.stats.DroppedHosts++
			return
		}
		h = &veeamHost{}
		in.hosts[addr] = h
	}
	gi := -1
	for i := range h.groups {
		if g := &h.groups[i]; g.out == out && g.proto == proto && g.port == port {
			gi = i
			break
		}
	}
	if gi < 0 {
		if len(h.groups) >= InferMaxPortsPerHost {
			in.stats.DroppedEvidence++
			return
		}
		h.groups = append(h.groups, veeamGroup{out: out, proto: proto, port: port, rules: rules})
		gi = len(h.groups) - 1
	}
	h.groups[gi].flows++
	for _, p := range h.peers {
		if int(p.group) == gi && p.addr == peer {
			return
		}
	}
	if len(h.peers) >= InferMaxPeersPerHost {
		in.stats.DroppedEvidence++
		return
	}
	h.peers = append(h.peers, veeamPeer{addr: peer, group: uint8(gi)})
}

// RolesOf returns the roles of addr: declared ones if the inventory names it, else the
// inferred roles (confidence >= 0.5), most likely first; nil if none. The slice is shared
// until the next Add: do not modify it.
func (in *Inferer) RolesOf(addr netip.Addr) []string {
	addr = addr.Unmap()
	if d := in.declared.RolesOf(addr); len(d) > 0 {
		return d
	}
	in.compute()
	return in.roles[addr]
}

// Hosts returns every host with a declared or inferred role, sorted by address: hosts
// the flows showed, plus single addresses declared in the inventory even if unseen.
// Computing it may take a moment for many hosts; the result is cached until the next
// Add. The slice is shared until then: do not modify it.
func (in *Inferer) Hosts() []HostRoles {
	in.compute()
	return in.result
}

// veeamScore holds the points and evidence lines of one host in one round. Points are
// kept in tenths, as integers, so that sums do not depend on map order.
type veeamScore struct {
	own map[string]int
	ev  map[string][]veeamEvidence
}

type veeamEvidence struct {
	w    int // tenths of a point
	text string
}

// add gives role w points (rounded to tenths) with an evidence line.
func (s *veeamScore) add(role string, w float64, text string) {
	t := int(math.Round(w * 10))
	if t <= 0 || role == "" || role == "any" {
		return
	}
	if s.own == nil {
		s.own = make(map[string]int)
		s.ev = make(map[string][]veeamEvidence)
	}
	s.own[role] += t
	s.ev[role] = append(s.ev[role], veeamEvidence{t, text})
}

// compute runs the rounds and fills in.result and in.roles.
func (in *Inferer) compute() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.fresh {
		return
	}
	addrs := make([]netip.Addr, 0, len(in.hosts))
	for a := range in.hosts {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)

	prev := map[netip.Addr][]string{}
	var final map[netip.Addr][]HostRole
	for round := 0; round < inferMaxRounds; round++ {
		rolesOf := func(a netip.Addr) []string {
			if d := in.declared.RolesOf(a); len(d) > 0 {
				return d
			}
			return prev[a]
		}
		next := make(map[netip.Addr][]string, len(addrs))
		reports := make(map[netip.Addr][]HostRole, len(addrs))
		for _, a := range addrs {
			sc := in.score(a, in.hosts[a], rolesOf)
			rep := in.m.veeamReport(&sc)
			if len(rep) == 0 {
				continue
			}
			reports[a] = rep
			names := make([]string, len(rep))
			for i, r := range rep {
				names[i] = r.Role
			}
			next[a] = names
		}
		final = reports
		in.rounds = round + 1
		same := len(next) == len(prev)
		for a, n := range next {
			if !slices.Equal(n, prev[a]) {
				same = false
				break
			}
		}
		prev = next
		if same {
			break
		}
	}

	// Declared hosts: seen ones, plus single addresses.
	decl := make(map[netip.Addr]bool)
	for a := range in.seenDecl {
		decl[a] = true
	}
	if in.declared != nil {
		for _, e := range in.declared.entries {
			if e.prefix.IsSingleIP() {
				decl[e.prefix.Addr()] = true
			}
		}
	}
	var out []HostRoles
	for a := range decl {
		var hr []HostRole
		for _, r := range in.declared.RolesOf(a) {
			hr = append(hr, HostRole{
				Role: r, Confidence: 1, Declared: true,
				Evidence: []string{"declared in the inventory as " + in.declared.declaredAs(a, r).String()},
			})
		}
		out = append(out, HostRoles{Addr: a, Roles: hr})
	}
	for a, rep := range final {
		out = append(out, HostRoles{Addr: a, Roles: rep})
	}
	slices.SortFunc(out, func(x, y HostRoles) int { return x.Addr.Compare(y.Addr) })
	in.result = out
	in.roles = prev
	in.fresh = true
}

// sortedGroups returns the indexes of h.groups ordered by direction (accepted first),
// protocol and port, so that scoring does not depend on the order flows arrived in.
func (h *veeamHost) sortedGroups() []int {
	idx := make([]int, len(h.groups))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		ga, gb := &h.groups[a], &h.groups[b]
		if ga.out != gb.out {
			if gb.out {
				return -1
			}
			return 1
		}
		if ga.proto != gb.proto {
			return int(ga.proto) - int(gb.proto)
		}
		return int(ga.port) - int(gb.port)
	})
	return idx
}

// groupPeers returns the peers recorded for group gi of h.
func (h *veeamHost) groupPeers(gi int) []netip.Addr {
	var out []netip.Addr
	for _, p := range h.peers {
		if int(p.group) == gi {
			out = append(out, p.addr)
		}
	}
	return out
}

func (g *veeamGroup) hasRule(id string) bool {
	for _, r := range g.rules {
		if r.ID == id {
			return true
		}
	}
	return false
}

// label is "tcp/6162".
func (g *veeamGroup) label() string {
	return capture.ProtoName(g.proto) + "/" + strconv.Itoa(int(g.port))
}

// veeamPeers renders peers for an evidence line: "192.0.2.10" or "3 peers: a, b, c" or
// "7 peers: a, b, c, ...".
func veeamPeers(ps []netip.Addr) string {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, netip.Addr.Compare)
	if len(ps) == 1 {
		return ps[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d peers: ", len(ps))
	for i, p := range ps {
		if i == 3 {
			b.WriteString(", ...")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

func veeamRulesText(ids []string) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if len(ids) == 1 {
		return "rule " + ids[0]
	}
	if len(ids) > 3 {
		ids = append(ids[:3:3], "...")
	}
	return "rules " + strings.Join(ids, ", ")
}

func (m *Matrix) anyIsA(roles []string, ancestor string) bool {
	for _, r := range roles {
		if m.IsA(r, ancestor) {
			return true
		}
	}
	return false
}

// veeamManaged reports whether roles say "a managed Veeam server other than a backup
// server".
func (m *Matrix) veeamManaged(roles []string) bool {
	return m.anyIsA(roles, "veeam-component") && !m.anyIsA(roles, "backup-server")
}

// score applies the clues (see Inferer) to host a.
func (in *Inferer) score(a netip.Addr, h *veeamHost, rolesOf func(netip.Addr) []string) veeamScore {
	m := in.m
	var sc veeamScore
	order := h.sortedGroups()
	self := rolesOf(a)
	acceptsAny := false
	for _, g := range h.groups {
		if !g.out {
			acceptsAny = true
			break
		}
	}

	// Clues 1 and 2: listener and opener.
	for _, gi := range order {
		g := &h.groups[gi]
		type acc struct {
			peers []netip.Addr
			rules []string
		}
		accs := map[string]*acc{}
		var roles []string
		general := veeamGeneralPort(g.port)
		if general && !g.out {
			continue
		}
		single := make([]*Rule, 0, len(g.rules)) // rules naming the port itself, not a range
		for _, r := range g.rules {
			if r.singlePort(g.port) {
				single = append(single, r)
			}
		}
		// service is the role every rule of an accepted port leads to, when that role is
		// a third-party service (dns-server, ntp-server, esxi): a host answering NTP is
		// an NTP server whoever asks, so it holds even for peers no rule fits.
		service := ""
		if !g.out && !general && len(single) > 0 {
			var tos []string
			for _, r := range single {
				tos = append(tos, r.To)
			}
			if c := m.veeamCommon(tos); c != "any" && !m.IsA(c, "veeam-component") {
				service = c
			}
		}
		for _, p := range h.groupPeers(gi) {
			pr := rolesOf(p)
			if g.out && !m.anyIsA(pr, "veeam-component") {
				continue
			}
			var sides []string
			var cands []*Rule
			for _, r := range single {
				if g.out && m.IsA(r.To, "veeam-component") && m.veeamSideLoose(r.To, pr) {
					cands = append(cands, r)
					sides = append(sides, r.From)
				} else if !g.out && m.veeamSideLoose(r.From, pr) {
					cands = append(cands, r)
					sides = append(sides, r.To)
				}
			}
			role := m.veeamCommon(sides)
			if role == "" && service != "" {
				role, cands, sides = service, nil, nil
				for _, r := range single {
					cands, sides = append(cands, r), append(sides, r.To)
				}
			}
			if len(cands) == 0 {
				continue
			}
			if role == "" && g.out && !acceptsAny {
				only := ""
				for _, s := range sides {
					if in.clientOnly[s] && s != only {
						if only != "" {
							only = ""
							break
						}
						only = s
					}
				}
				role = only
			}
			if role == "" || role == "any" || (general && !in.clientOnly[role]) {
				continue
			}
			id := m.veeamCite(cands, g.out, role, self, pr)
			ac := accs[role]
			if ac == nil {
				ac = &acc{}
				accs[role] = ac
				roles = append(roles, role)
			}
			ac.peers = append(ac.peers, p)
			if !slices.Contains(ac.rules, id) {
				ac.rules = append(ac.rules, id)
			}
		}
		verb, prep := "accepts", "from"
		if g.out {
			verb, prep = "opens", "to"
		}
		for _, role := range roles {
			ac := accs[role]
			sc.add(role, math.Min(float64(len(ac.peers)), 3),
				fmt.Sprintf("%s %s %s %s (%s)", verb, g.label(), prep, veeamPeers(ac.peers), veeamRulesText(ac.rules)))
		}
	}

	// Clue 3: backup server fan-out.
	if r, ok := m.Rule(ruleInstaller); ok {
		if ps, label := in.fanOut(h, r, true); len(ps) > 0 {
			sc.add("backup-server", math.Min(0.5*float64(len(ps)), 2.5),
				fmt.Sprintf("opens %s to %s (rule %s)", label, veeamPeers(ps), r.ID))
		}
	}
	if r, ok := m.Rule(ruleDataMover); ok {
		if ps, label := in.fanOut(h, r, true); len(ps) >= 3 {
			sc.add("backup-server", math.Min(0.2*float64(len(ps)), 1),
				fmt.Sprintf("opens %s to %s (rule %s)", label, veeamPeers(ps), r.ID))
		}
	}

	// Clue 4: managed Windows or Linux server.
	fromBS := func(ids ...string) (peers []netip.Addr, label string, seen bool) {
		for _, gi := range order {
			g := &h.groups[gi]
			if g.out {
				continue
			}
			hit := false
			for _, id := range ids {
				hit = hit || g.hasRule(id)
			}
			if !hit {
				continue
			}
			seen = true
			for _, p := range h.groupPeers(gi) {
				if m.anyIsA(rolesOf(p), "backup-server") && !slices.Contains(peers, p) {
					peers = append(peers, p)
					if label == "" {
						label = g.label()
					}
				}
			}
		}
		return peers, label, seen
	}
	if managed, _, _ := fromBS(ruleInstaller, ruleDataMover); len(managed) > 0 {
		win, wl, _ := fromBS(ruleWindowsDeploy, ruleWindowsRPC)
		_, _, anyWin := fromBS(ruleWindowsDeploy) // SMB/RPC from anyone
		ssh, sl, _ := fromBS(ruleLinuxSSH)
		switch {
		case len(win) > 0:
			sc.add("veeam-component-windows", 1, fmt.Sprintf("accepts %s from %s on a managed server (rule %s)", wl, veeamPeersAs("backup server", "backup servers", win), ruleWindowsDeploy))
		case len(ssh) > 0 && !anyWin:
			sc.add("veeam-component-linux", 1, fmt.Sprintf("accepts %s from %s and no SMB/RPC on a managed server (rule %s)", sl, veeamPeersAs("backup server", "backup servers", ssh), ruleLinuxSSH))
		}
	}
	if m.anyIsA(self, "veeam-component") && !m.anyIsA(self, "veeam-component-linux") {
		for _, gi := range order {
			if g := &h.groups[gi]; !g.out && g.hasRule(ruleRDP) {
				sc.add("veeam-component-windows", 1, fmt.Sprintf("accepts %s (RDP) from %s on a Veeam server (rule %s)", g.label(), veeamPeers(h.groupPeers(gi)), ruleRDP))
				break
			}
		}
	}

	// Clue 5: data path between two managed servers.
	if m.veeamManaged(self) {
		for _, gi := range order {
			g := &h.groups[gi]
			if !g.hasRule(ruleProxyToRepo) {
				continue
			}
			role, other := "repository", "backup-proxy"
			verb, prep := "accepts", "from"
			if g.out {
				role, other = other, role
				verb, prep = "opens", "to"
			}
			var w float64
			var ps []netip.Addr
			for _, p := range h.groupPeers(gi) {
				pr := rolesOf(p)
				if !m.veeamManaged(pr) {
					continue
				}
				ps = append(ps, p)
				if m.anyIsA(pr, other) {
					w++
				} else {
					w += 0.5
				}
			}
			if len(ps) > 0 {
				sc.add(role, math.Min(w, 3), fmt.Sprintf("%s %s %s %s: Data Mover path between managed servers (rule %s)", verb, g.label(), prep, veeamPeersAs("managed server", "managed servers", ps), ruleProxyToRepo))
			}
		}
	}

	// Clue 6: VMware proxy.
	if !m.anyIsA(self, "backup-server") && !m.anyIsA(self, "cdp-proxy") {
		for _, gi := range order {
			g := &h.groups[gi]
			if !g.out || !g.hasRule(ruleProxyESXi902) {
				continue
			}
			var ps []netip.Addr
			for _, p := range h.groupPeers(gi) {
				if pr := rolesOf(p); len(pr) == 0 || m.anyIsA(pr, "esxi") {
					ps = append(ps, p)
				}
			}
			if len(ps) > 0 {
				sc.add("backup-proxy-vmware", math.Min(float64(len(ps)), 3),
					fmt.Sprintf("opens %s to %s and is no backup server (rule %s)", g.label(), veeamPeersAs("ESXi host", "ESXi hosts", ps), ruleProxyESXi902))
			}
		}
	}

	// Clue 7: vSphere targets.
	accepts902 := false
	for _, gi := range order {
		if g := &h.groups[gi]; !g.out && g.hasRule(ruleProxyESXi902) {
			accepts902 = true
		}
	}
	veeamSpecific := false
	for role, p := range sc.own {
		if p > 0 && m.IsA(role, "veeam-component") {
			veeamSpecific = true
		}
	}
	for _, gi := range order {
		g := &h.groups[gi]
		if g.out || !g.hasRule(ruleVCenter443) {
			continue
		}
		var ps []netip.Addr
		w := 0.0
		for _, p := range h.groupPeers(gi) {
			switch pr := rolesOf(p); {
			case m.anyIsA(pr, "backup-server"):
				w++
			case m.anyIsA(pr, "backup-proxy-vmware"):
				w += 0.5
			default:
				continue
			}
			ps = append(ps, p)
		}
		if len(ps) == 0 {
			continue
		}
		w = math.Min(w, 3)
		who := veeamPeersAs("vSphere client", "vSphere clients", ps) + " (backup server or VMware proxy)"
		switch {
		case accepts902:
			sc.add("esxi", w, fmt.Sprintf("accepts %s from %s and tcp/902 (rule %s)", g.label(), who, "proxy-to-esxi-443"))
		case !veeamSpecific:
			sc.add("vcenter", w, fmt.Sprintf("accepts %s from %s, no tcp/902 and nothing Veeam-specific (rule %s)", g.label(), who, ruleVCenter443))
		}
	}

	// Clue 8: combination of two parents.
	for _, r := range m.roles {
		if len(r.Parents) < 2 {
			continue
		}
		w := math.MaxInt
		for _, p := range r.Parents {
			w = min(w, sc.own[p])
		}
		if w < 10 {
			continue
		}
		blocked := false
		for role, pts := range sc.own {
			if pts < 10 || m.IsA(role, r.Name) || slices.Contains(r.Parents, role) {
				continue
			}
			for _, p := range r.Parents {
				if m.IsA(role, p) {
					blocked = true
				}
			}
		}
		if !blocked {
			sc.add(r.Name, float64(w)/10, fmt.Sprintf("is both %s", strings.Join(r.Parents, " and ")))
		}
	}
	return sc
}

// veeamGeneralPort reports whether port is a general-purpose service that any server
// may run (FTP, SSH, Telnet, HTTP, HTTPS and alternates, RPC, NetBIOS, SMB, RDP, WinRM):
// clue 1 ignores it and clue 2 counts it only for roles that never accept connections.
func veeamGeneralPort(port uint16) bool {
	switch port {
	case 20, 21, 22, 23, 80, 135, 137, 138, 139, 443, 445, 3389, 5985, 5986, 8008, 8080, 8443:
		return true
	}
	return false
}

// veeamPeersAs renders peers with what they are: "backup server 192.0.2.10" or
// "2 backup servers: a, b".
func veeamPeersAs(one, many string, ps []netip.Addr) string {
	if len(ps) == 1 {
		return one + " " + ps[0].String()
	}
	return strings.Replace(veeamPeers(ps), "peers", many, 1)
}

// veeamCite picks the rule an evidence line cites among the candidates of one peer: the
// first (by id) whose host side is the inferred role and whose peer side fits the peer's
// known roles, else whose both sides fit the known roles, else whose host side is the
// role, else the first.
func (m *Matrix) veeamCite(cands []*Rule, out bool, role string, self, peer []string) string {
	sides := func(r *Rule) (host, other string) {
		if out {
			return r.From, r.To
		}
		return r.To, r.From
	}
	for _, r := range cands {
		if h, o := sides(r); h == role && len(peer) > 0 && m.veeamSideOK(o, peer) {
			return r.ID
		}
	}
	for _, r := range cands {
		if h, o := sides(r); len(self) > 0 && len(peer) > 0 && m.veeamSideOK(h, self) && m.veeamSideOK(o, peer) {
			return r.ID
		}
	}
	for _, r := range cands {
		if h, _ := sides(r); h == role {
			return r.ID
		}
	}
	return cands[0].ID
}

// fanOut returns the distinct hosts h opened one of r's single ports to (not its ranges),
// and the label of the lowest such port.
func (in *Inferer) fanOut(h *veeamHost, r *Rule, out bool) ([]netip.Addr, string) {
	var ps []netip.Addr
	label := ""
	for _, gi := range h.sortedGroups() {
		g := &h.groups[gi]
		if g.out != out || !g.hasRule(r.ID) {
			continue
		}
		single := false
		for _, s := range r.Ports {
			single = single || (s.Lo == s.Hi && s.Lo == g.port)
		}
		if !single {
			continue
		}
		if label == "" {
			label = g.label()
		}
		for _, p := range h.groupPeers(gi) {
			if !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
	}
	return ps, label
}

// veeamCommon returns the most specific role that every role in roles is or descends
// from, or "" if there is none. Among incomparable candidates (possible with several
// parents) it takes the one with the most ancestors, then the first in file order.
func (m *Matrix) veeamCommon(roles []string) string {
	if len(roles) == 0 {
		return ""
	}
	var set []uint64
	for _, r := range roles {
		i, ok := m.roleIdx[r]
		if !ok {
			return ""
		}
		if set == nil {
			set = slices.Clone(m.anc[i])
			continue
		}
		for w := range set {
			set[w] &= m.anc[i][w]
		}
	}
	best, bestN := -1, -1
	for j := range m.roles {
		if set[j/64]&(1<<(j%64)) == 0 {
			continue
		}
		n := 0
		for _, w := range m.anc[j] {
			for ; w != 0; w &= w - 1 {
				n++
			}
		}
		if n > bestN {
			best, bestN = j, n
		}
	}
	if best < 0 {
		return ""
	}
	return m.roles[best].Name
}

// veeamReport turns a host's points into its reported roles (see Inferer).
func (m *Matrix) veeamReport(sc *veeamScore) []HostRole {
	if len(sc.own) == 0 {
		return nil
	}
	var cands []string
	for _, r := range m.roles {
		spec := 0
		for role, p := range sc.own {
			if m.IsA(role, r.Name) {
				spec += p
			}
		}
		if spec >= 10 {
			cands = append(cands, r.Name)
		}
	}
	var out []HostRole
	for _, c := range cands {
		moreSpecific := false
		for _, d := range cands {
			if d != c && m.IsA(d, c) {
				moreSpecific = true
				break
			}
		}
		if moreSpecific {
			continue
		}
		total := 0
		type ranked struct {
			veeamEvidence
			rank int // 0: the role or a descendant; 1: an ancestor
		}
		var ev []ranked
		for role, p := range sc.own {
			rank := 0
			switch {
			case m.IsA(role, c):
			case m.IsA(c, role):
				rank = 1
			default:
				continue
			}
			total += p
			for _, e := range sc.ev[role] {
				ev = append(ev, ranked{e, rank})
			}
		}
		conf := math.Min(1-math.Pow(0.5, float64(total)/10), 0.99)
		conf = math.Round(conf*100) / 100
		sort.SliceStable(ev, func(i, j int) bool {
			if ev[i].rank != ev[j].rank {
				return ev[i].rank < ev[j].rank
			}
			if ev[i].w != ev[j].w {
				return ev[i].w > ev[j].w
			}
			return ev[i].text < ev[j].text
		})
		var lines []string
		for _, e := range ev {
			if len(lines) == inferEvidenceLines {
				break
			}
			if !slices.Contains(lines, e.text) {
				lines = append(lines, e.text)
			}
		}
		out = append(out, HostRole{Role: c, Confidence: conf, Evidence: lines})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Confidence != out[j].Confidence {
			return out[i].Confidence > out[j].Confidence
		}
		return out[i].Role < out[j].Role
	})
	return out
}
