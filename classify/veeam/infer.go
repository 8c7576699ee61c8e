package veeam

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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

// Entries yields every (role, prefix) entry, sorted by role, then prefix. Prefixes are
// masked and IPv4 unmapped.
func (h *HostSet) Entries() iter.Seq2[string, netip.Prefix] {
	return func(yield func(string, netip.Prefix) bool) {
		if h == nil {
			return
		}
		for _, e := range h.entries {
			if !yield(e.role, e.prefix) {
				return
			}
		}
	}
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
			return nil, fmt.Errorf("inventory: %w", m.UnknownRole(role))
		}
		for _, e := range inv[role] {
			p, err := ParseHostPrefix(e)
			if err != nil {
				return nil, fmt.Errorf("inventory: role %s: entry %q: %w", role, e, err)
			}
			hs.entries = append(hs.entries, hostSetEntry{role, p})
		}
	}
	return hs, nil
}

// ParseHostPrefix parses "192.0.2.10", "2001:db8::1" or "192.0.2.0/24"; IPv4-mapped
// IPv6 addresses become IPv4, and host bits of a prefix are cleared.
func ParseHostPrefix(s string) (netip.Prefix, error) {
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
	// inferMaxRounds bounds the rounds of one pass of the fixed-point iteration of
	// Hosts, inferMaxPasses its passes (a pass ends when the roles settle and hosts
	// without a Veeam component among their peers are dropped).
	inferMaxRounds = 6
	inferMaxPasses = 4
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
// Only flows that show a port was open count (veeamOpen: the server answered, by
// capture.OutcomeOf, but for TCP seen from the server's side alone). Flows without
// Veeam matches are not recorded. Hosts declared in the inventory are not
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
//     esxi; 6162 from a backup server → veeam-component, a managed server). On a
//     generic service port (Matrix.Generic: the ports of third-party roles, udp/53 →
//     dns-server, udp/123 → ntp-server, tcp/1433 → sql-server, tcp/902 → esxi) only
//     peers known as Veeam components count, through the rules whose From fits their
//     roles: a PC's DNS server is no "dns-server", the DNS server of the backup server
//     and its proxies is, and a host that answers NTP to a proxy is no "ntp-server"
//     (the matrix's NTP clients are the backup server and the appliances).
//     General-purpose ports (SSH, HTTP(S), RPC, SMB, RDP, WinRM, ...) do not count: any
//     server runs them; clues 4 and 7 read them in context.
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
// Veeam hosts. Two rules keep Veeam roles off networks that merely use Veeam's port
// numbers or share its generic services, decided for issue 14 from what a careful
// analyst would say:
//
//   - A host is a Veeam component (veeam-component or a descendant) only when it runs
//     Veeam software by its own traffic: it accepted a Veeam signature port
//     (Matrix.Signature: 6160, 6162, 9392, 6166, ...; not a generic port, not a port
//     only drawn from a range) or it fans out as a backup server (clue 3). Opening
//     connections alone (a Data Mover client, NFC reads from ESXi) makes no component:
//     any client can open them.
//   - A host is a Veeam host (any role) only when a Veeam component is among its
//     peers, by the roles of the last round (declared roles count). When the roles
//     settle, hosts without one lose their roles for good and the rounds go on
//     without them (at most inferMaxPasses passes), so a console whose backup server
//     was dropped is dropped too.
//
// So a random network where many servers answer 9392 and 6162 among everything else
// (synth's flows scenario) has no Veeam host: each such server's peers are clients that
// accept nothing Veeam, while in a deployment the backup server's peers are managed
// servers that accept 6160/6162. A capture that shows only a console reaching a backup
// server names neither (the backup server's peers show no component).
//
// Memory is bounded: at most InferMaxPortsPerHost groups and InferMaxPeersPerHost peer
// items per host, and SetMaxHosts hosts (DefaultInferMaxHosts); what does not fit is
// counted in Stats.
type Inferer struct {
	m        *Matrix
	declared *HostSet
	maxHosts int
	// Every address of an open flow with Veeam rules gets an id, its index in addrs and
	// hostOf: hosts with evidence (hostOf set) and their peers (nil: declared, or over
	// maxHosts). Peers are kept as ids, 8 bytes each without pointers, and the
	// inference's nodes are the ids.
	ids    map[netip.Addr]int32 // IPv6 addresses
	ids4   map[uint32]int32     // IPv4 addresses, most of them: the map's 32-bit fast path
	addrs  []netip.Addr
	hostOf []*veeamHost
	nhosts int
	// log holds the evidence not yet recorded into hostOf: AddFlow appends to it,
	// and it is recorded (fold) only when compute needs the hosts' evidence, or when
	// it reaches inferMaxLog entries. Recording is a cache miss or two per flow on a
	// busy network (a host's evidence is one of tens of thousands), and the common
	// case, a network without Veeam components, needs none of it (noComponentsLog).
	log      evidenceLog
	recorded bool   // record ran: hostOf and the counters hold evidence
	touch    uint16 // what fold read of its hosts ahead of recording (kept, so that the reads are)
	// sets are the rule lists of the log's evidence, setOf their index by protocol,
	// application protocol and server port (-1: no rules).
	sets  []ruleSet
	setOf map[uint32]int32

	seenDecl   map[netip.Addr]bool
	clientOnly map[string]bool // roles that are never a rule's To
	stats      InferStats

	mu     sync.Mutex  // guards the computation below, so readers may share an Inferer
	rounds int         // rounds the last compute took
	fresh  atomic.Bool // result is up to date: set under mu, read without it
	result []HostRoles
	roles  map[netip.Addr][]string
	lists  map[netip.Addr]*roleList // the same roles with their sets, for Explain

	declLists sync.Map // netip.Addr → *roleList of its declared roles, for Explain
}

// veeamHost is the evidence kept for one host.
type veeamHost struct {
	groups []veeamGroup
	peers  []veeamPeer
	// Room for the first group and peers, which is all most hosts have: the host is
	// then one allocation.
	group1 [1]veeamGroup
	peers2 [2]veeamPeer
	// full holds the peers once there are InferMaxPeersPerHost of them (a busy server:
	// a DNS server with thousands of clients), so that each further flow is a lookup
	// rather than a scan of them all.
	full map[veeamPeer]struct{}
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
	node  int32 // the peer's id (Inferer.ids)
	group uint8
}

// NewInferer returns an Inferer for m; declared may be nil.
func (m *Matrix) NewInferer(declared *HostSet) *Inferer {
	in := &Inferer{
		m: m, declared: declared, maxHosts: DefaultInferMaxHosts,
		ids: make(map[netip.Addr]int32), ids4: make(map[uint32]int32), seenDecl: make(map[netip.Addr]bool), setOf: make(map[uint32]int32),
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
	in.mu.Lock()
	in.fold()
	in.mu.Unlock()
	s := in.stats
	s.Hosts = in.nhosts
	return s
}

// veeamOpen reports whether f shows that its server port was open, as evidence for the
// inference: the server answered (capture.OutcomeOf), with two exceptions on TCP. A
// flow seen from the server's side only (RSTRH, SHR: a SYN-ACK and nothing of the
// client) is not evidence: one-sided captures would otherwise give every host they
// show a role from its ports alone. A reset from the server (RSTR) counts even without
// a SYN-ACK seen: Zeek gives RSTR to established connections.
func veeamOpen(f *capture.Flow) bool {
	if f.Proto == capture.ProtoTCP {
		switch f.State {
		case capture.RSTRH, capture.SHR:
			return false
		case capture.RSTR:
			return true
		}
	}
	return capture.OutcomeOf(f).Answered()
}

// Add records f as evidence if it shows an open port and has Veeam matches (from
// Matrix.Explain, possibly refined). It keeps no reference to f or matches.
func (in *Inferer) Add(f *capture.Flow, matches []Match) {
	in.stats.Flows++
	if f == nil || len(matches) == 0 || !capture.HasPorts(f.Proto) || !veeamOpen(f) {
		return
	}
	in.addRules(f, in.rulesFor(f.Proto, f.Server.Port(), matches))
}

// AddFlow is Add(f, m.Explain(f)) for the Inferer's matrix m, without the copy of the
// matches: what the pipeline calls for every finished flow. Only the rules whose
// service fits the protocol recognised in f's payload count (HTTP to 5432 is no
// evidence of a PostgreSQL server). It does not allocate once f's hosts and ports are
// known, but to keep the fitting rules of a port whose rules fit only in part.
func (in *Inferer) AddFlow(f *capture.Flow) {
	in.stats.Flows++
	if f == nil || !capture.HasPorts(f.Proto) || !veeamOpen(f) {
		return
	}
	// The rules whose service fits the flow's protocol (segment), which depend on the
	// protocol, the server port and the application protocol alone: looked up once.
	k := uint32(f.Proto)<<24 | uint32(f.App)<<16 | uint32(f.Server.Port())
	set, ok := in.setOf[k]
	if !ok {
		set = in.newSet(f)
		in.setOf[k] = set
	}
	if set < 0 {
		return
	}
	if in.log.n >= inferMaxLog {
		in.fold()
	}
	in.stats.Evidence++
	if in.fresh.Load() { // a load, not a store, for every flow of evidence
		in.fresh.Store(false)
	}
	c, s := f.Client.Addr().Unmap(), f.Server.Addr().Unmap()
	*in.log.add() = evidence{client: c.As16(), server: s.As16(), kinds: kindOf(c) | kindOf(s)<<4,
		set: uint32(set), port: f.Server.Port(), proto: f.Proto}
}

// newSet adds the rule list of f's server port to sets and returns its index, or -1
// when there are no rules.
func (in *Inferer) newSet(f *capture.Flow) int32 {
	rules, _, _ := in.m.segment(f)
	if len(rules) == 0 {
		return -1
	}
	port := f.Server.Port()
	opens := func(id string) bool {
		r, ok := in.m.Rule(id)
		return ok && r.singlePort(port) && slices.Contains(rules, r)
	}
	in.sets = append(in.sets, ruleSet{
		rules:     rules,
		signature: in.m.signatureGroup(&veeamGroup{proto: f.Proto, port: port, rules: rules}),
		installer: opens(ruleInstaller),
		dataMover: opens(ruleDataMover),
	})
	return int32(len(in.sets) - 1)
}

// ruleSet is the rules of a server port, and what accepting or opening it says about
// the grounding of a host (see noComponents).
type ruleSet struct {
	rules     []*Rule
	signature bool // a Veeam signature port: grounds the server
	installer bool // the installer's port: grounds the client
	dataMover bool // the Data Mover's: grounds a client that opens it to three hosts
}

// addRules records open flow f with the rules that match its server port, after the
// evidence of the log, in the order the flows came.
func (in *Inferer) addRules(f *capture.Flow, rules []*Rule) {
	if len(rules) == 0 {
		return
	}
	in.fold()
	port := f.Server.Port()
	in.stats.Evidence++
	in.fresh.Store(false)
	c, s := f.Client.Addr().Unmap(), f.Server.Addr().Unmap()
	ci, si := in.id(c), in.id(s)
	in.record(c, ci, true, f.Proto, port, rules, si)
	in.record(s, si, false, f.Proto, port, rules, ci)
}

// evidence is one open flow with Veeam rules, waiting in Inferer.log: 40 bytes, and
// no pointers for the garbage collector to scan. The addresses are kept as they are
// (ids are given as the log is recorded, in the order the flows came).
type evidence struct {
	client, server [16]byte // As16
	set            uint32   // the rules: Inferer.sets[set]
	port           uint16
	kinds          uint8 // the address families, 4 or 6: client (low nibble) and server
	proto          uint8
}

func kindOf(a netip.Addr) uint8 {
	if a.Is4() {
		return 4
	}
	return 6
}

// addrs returns the client and server addresses of e.
func (e *evidence) addrs() (netip.Addr, netip.Addr) {
	of := func(b *[16]byte, kind uint8) netip.Addr {
		if kind == 4 {
			return netip.AddrFrom4([4]byte(b[12:]))
		}
		return netip.AddrFrom16(*b)
	}
	return of(&e.client, e.kinds&0xf), of(&e.server, e.kinds>>4)
}

// inferMaxLog bounds Inferer.log: 40 bytes an entry, 20 MB. Tests lower it.
var inferMaxLog = 1 << 19

// evidenceLog is the log's entries in chunks of logChunk: it grows without moving what
// it holds. As one slice grown by append it took 9 % of a one-core run of the
// flow-heavy capture (400k entries): each larger array copied the last and faulted in
// its pages.
type evidenceLog struct {
	chunks [][]evidence // full but the last; kept, cleared, when the log is emptied
	n      int          // entries
}

const logChunk = 4096 // entries: 160 KB a chunk

// add returns the new last entry.
func (l *evidenceLog) add() *evidence {
	c := l.n / logChunk
	if c == len(l.chunks) {
		l.chunks = append(l.chunks, make([]evidence, logChunk))
	}
	e := &l.chunks[c][l.n%logChunk]
	l.n++
	return e
}

// all yields the entries in the order they were added.
func (l *evidenceLog) all(yield func(*evidence) bool) {
	for c := 0; c*logChunk < l.n; c++ {
		chunk := l.chunks[c][:min(logChunk, l.n-c*logChunk)]
		for i := range chunk {
			if !yield(&chunk[i]) {
				return
			}
		}
	}
}

// reset empties the log, keeping its chunks.
func (l *evidenceLog) reset() {
	for c := 0; c*logChunk < l.n; c++ {
		clear(l.chunks[c])
	}
	l.n = 0
}

// fold records the evidence of the log, in order.
//
// It goes through the log in batches of foldBatch entries: first the ids of a batch
// (made in log order, as one entry at a time would make them), then a read of each
// known host's last group and last peer, which recording scans, then the records, in
// log order. The reads are independent of
// each other, so the processor fetches the hosts of a whole batch from memory at once,
// where recording one entry at a time waited for each host in turn (a host is one of
// tens of thousands on a busy network): the records then find them in the cache.
func (in *Inferer) fold() {
	type side struct {
		c, s   netip.Addr
		ci, si int32
	}
	var (
		batch [foldBatch]side
		ents  [foldBatch]*evidence
		n     int
	)
	flush := func() {
		var touch uint16
		for i := range n {
			for _, id := range [2]int32{batch[i].ci, batch[i].si} {
				if id >= 0 {
					if h := in.hostOf[id]; h != nil && len(h.groups) > 0 {
						touch += h.groups[len(h.groups)-1].port
						if len(h.peers) > 0 {
							touch += uint16(h.peers[len(h.peers)-1].node)
						}
					}
				}
			}
		}
		in.touch += touch
		for i := range n {
			e, b := ents[i], &batch[i]
			rules := in.sets[e.set].rules
			in.record(b.c, b.ci, true, e.proto, e.port, rules, b.si)
			in.record(b.s, b.si, false, e.proto, e.port, rules, b.ci)
		}
		n = 0
	}
	for e := range in.log.all {
		c, s := e.addrs()
		batch[n] = side{c, s, in.id(c), in.id(s)}
		ents[n] = e
		if n++; n == foldBatch {
			flush()
		}
	}
	flush()
	in.log.reset()
}

// foldBatch is the entries fold looks its hosts up for at once.
const foldBatch = 32

// id returns the id of addr, made on first use; -1 when there are already twice
// maxHosts ids (hosts and peers).
func (in *Inferer) id(addr netip.Addr) int32 {
	var k4 uint32
	if addr.Is4() {
		b := addr.As4()
		k4 = binary.BigEndian.Uint32(b[:])
		if i, ok := in.ids4[k4]; ok {
			return i
		}
	} else if i, ok := in.ids[addr]; ok {
		return i
	}
	if len(in.addrs) >= 2*in.maxHosts {
		return -1
	}
	i := int32(len(in.addrs))
	if addr.Is4() {
		in.ids4[k4] = i
	} else {
		in.ids[addr] = i
	}
	in.addrs = append(in.addrs, addr)
	in.hostOf = append(in.hostOf, nil)
	return i
}

// rulesFor returns the rules of the index for (proto, port) that are among matches: the
// shared index slice when all are, so the common case does not allocate.
func (in *Inferer) rulesFor(proto uint8, port uint16, matches []Match) []*Rule {
	shared := in.m.Match(proto, port)
	if len(matches) == len(shared) {
		// The common case: matches is Explain's, the same rules in the same order.
		same := true
		for i, r := range shared {
			if matches[i] != r.match {
				same = false
				break
			}
		}
		if same {
			return shared
		}
	}
	n := 0
	for _, r := range shared {
		if slices.Contains(matches, r.match) {
			n++
		}
	}
	if n == len(shared) {
		return shared
	}
	out := make([]*Rule, 0, n)
	for _, r := range shared {
		if slices.Contains(matches, r.match) {
			out = append(out, r)
		}
	}
	return out
}

// record adds the evidence of one open flow to the host addr (id self): it opened
// (out) or accepted the flow to port, with the matching rules, from or to the peer of
// id peer (-1: none kept).
func (in *Inferer) record(addr netip.Addr, self int32, out bool, proto uint8, port uint16, rules []*Rule, peer int32) {
	in.recorded = true
	if len(in.declared.RolesOf(addr)) > 0 {
		if !in.seenDecl[addr] && len(in.seenDecl) < in.maxHosts {
			in.seenDecl[addr] = true
		}
		return
	}
	if self < 0 {
		in.stats.DroppedHosts++
		return
	}
	h := in.hostOf[self]
	if h == nil {
		if in.nhosts >= in.maxHosts {
			in.stats.DroppedHosts++
			return
		}
		h = &veeamHost{}
		h.groups, h.peers = h.group1[:0], h.peers2[:0]
		in.hostOf[self] = h
		in.nhosts++
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
	if peer < 0 {
		in.stats.DroppedEvidence++
		return
	}
	p := veeamPeer{node: peer, group: uint8(gi)}
	if h.full != nil { // a busy host: look its peers up instead of scanning them all
		if _, ok := h.full[p]; !ok {
			in.stats.DroppedEvidence++
		}
		return
	}
	if slices.Contains(h.peers, p) {
		return
	}
	if len(h.peers) >= InferMaxPeersPerHost {
		h.full = make(map[veeamPeer]struct{}, len(h.peers))
		for _, q := range h.peers {
			h.full[q] = struct{}{}
		}
		in.stats.DroppedEvidence++
		return
	}
	h.peers = append(h.peers, p)
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

// Explain is m.ExplainFor(f, in.RolesOf(client), in.RolesOf(server)) for the
// Inferer's matrix m: the Veeam rules that explain f once the roles of its hosts are
// known, the function to plug into Options.Explain after the last Add. It is faster
// (role sets, no copy of the rules before refining them) and safe for concurrent use
// like RolesOf. The result is read-only: when every rule of the server port's segment
// is kept, it is the matrix's own slice, so that most flows cost no allocation.
func (in *Inferer) Explain(f *capture.Flow) []Match {
	rules, ms, generic := in.m.segment(f)
	if len(ms) == 0 {
		return nil
	}
	m := in.m
	c, s := in.listOf(f.Client.Addr()), in.listOf(f.Server.Addr())
	port := f.Server.Port()
	if c == nil && s == nil {
		if !veeamOpen(f) {
			return nil
		}
		return m.unknownRoles(port, rules, ms, generic)
	}
	cComp, sComp := has(c, m.component), has(s, m.component)
	keepRule := func(r *Rule) bool {
		if !m.sideOK(r.from, c) || !m.sideOK(r.to, s) {
			return false
		}
		return m.keepRule(r, port, generic, c != nil, s != nil, cComp, sComp)
	}
	keep := 0
	for _, r := range rules {
		if keepRule(r) {
			keep++
		}
	}
	switch keep {
	case 0:
		return nil
	case len(rules):
		return ms[:keep:keep] // the index's own slice, read-only: no allocation
	}
	out := make([]Match, 0, keep)
	for i, r := range rules {
		if keepRule(r) {
			out = append(out, ms[i])
		}
	}
	return out
}

// listOf is RolesOf(addr) with the roles' sets, or nil.
func (in *Inferer) listOf(addr netip.Addr) *roleList {
	addr = addr.Unmap()
	if in.declared.Len() > 0 {
		if d := in.declared.RolesOf(addr); len(d) > 0 {
			if l, ok := in.declLists.Load(addr); ok {
				return l.(*roleList)
			}
			l, _ := in.declLists.LoadOrStore(addr, in.m.newRoleList(d))
			return l.(*roleList)
		}
	}
	in.compute()
	return in.lists[addr]
}

// Hosts returns every host with a declared or inferred role, sorted by address: hosts
// the flows showed, plus single addresses declared in the inventory even if unseen.
// Computing it may take a moment for many hosts; the result is cached until the next
// Add. The slice is shared until then: do not modify it.
func (in *Inferer) Hosts() []HostRoles {
	in.compute()
	return in.result
}

// veeamScore holds the points of one host in one round, by role index, in tenths of a
// point, as integers, so that sums do not depend on order; and, when text is set, the
// evidence lines. Rounds that only decide roles leave text unset: the lines are written
// once, in a last pass over the final round (see compute).
type veeamScore struct {
	own  []int
	ev   [][]veeamEvidence
	text bool
	// n counts the additions since reset: while it is 0 every role has no points (most
	// hosts score nothing), and reset, any and the clues that read all of own skip them.
	n int
}

type veeamEvidence struct {
	w    int // tenths of a point
	text string
	line *veeamLine // a line about peers on ports, merged with others of its kind; nil: text
}

// veeamLine is an evidence line about peers on ports: "<verb> <ports> <prep> <peers><tail>",
// e.g. "opens tcp/6162 to 3 peers: a, b, c (rule r)". Lines with the same verb, prep,
// labels and tail (which names the rule) are one line, with their ports and peers
// merged: each rule is cited once per host and direction.
type veeamLine struct {
	verb, prep string
	one, many  string // what the peers are (veeamPeersAs), "" for plain peers
	tail       string
	ports      []veeamPortKey
	peers      []netip.Addr
}

type veeamPortKey struct {
	proto uint8
	port  uint16
}

func (l *veeamLine) key() string {
	return l.verb + "\x00" + l.prep + "\x00" + l.one + "\x00" + l.many + "\x00" + l.tail
}

func (l *veeamLine) String() string {
	peers := veeamPeers(l.peers)
	if l.one != "" {
		peers = veeamPeersAs(l.one, l.many, l.peers)
	}
	return l.verb + " " + veeamPortsText(l.ports) + " " + l.prep + " " + peers + l.tail
}

// merge adds o's ports and peers to l.
func (l *veeamLine) merge(o *veeamLine) {
	for _, p := range o.ports {
		if !slices.Contains(l.ports, p) {
			l.ports = append(l.ports, p)
		}
	}
	for _, p := range o.peers {
		if !slices.Contains(l.peers, p) {
			l.peers = append(l.peers, p)
		}
	}
}

// veeamPortsText renders ports as "tcp/6160, tcp/6162" or "tcp/2500-2503", by protocol
// and port.
func veeamPortsText(ps []veeamPortKey) string {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b veeamPortKey) int {
		return cmp.Or(cmp.Compare(a.proto, b.proto), cmp.Compare(a.port, b.port))
	})
	var parts []string
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1].proto == ps[i].proto && ps[j+1].port == ps[j].port+1 {
			j++
		}
		t := capture.ProtoName(ps[i].proto) + "/" + strconv.Itoa(int(ps[i].port))
		if j > i {
			t += "-" + strconv.Itoa(int(ps[j].port))
		}
		parts = append(parts, t)
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

func (s *veeamScore) reset(n int, text bool) {
	if cap(s.own) < n {
		s.own = make([]int, n)
		s.ev = make([][]veeamEvidence, n)
	}
	if s.n > 0 || len(s.own) != n {
		s.own = s.own[:n]
		clear(s.own)
	}
	if s.text || len(s.ev) != n { // evidence lines are written only with text
		s.ev = s.ev[:n]
		for i := range s.ev {
			s.ev[i] = s.ev[i][:0]
		}
	}
	s.text, s.n = text, 0
}

// any reports whether some role has points.
func (s *veeamScore) any() bool {
	if s.n == 0 {
		return false
	}
	for _, p := range s.own {
		if p != 0 {
			return true
		}
	}
	return false
}

// add gives role w points (rounded to tenths) and returns them; 0 (nothing added) for
// no points, no role (-1) or "any". The caller then writes the evidence line with note
// when s.text.
func (s *veeamScore) add(role, anyRole int, w float64) int {
	t := int(math.Round(w * 10))
	if t <= 0 || role < 0 || role == anyRole {
		return 0
	}
	s.own[role] += t
	s.n++
	return t
}

// note records the evidence line of points t just added to role.
func (s *veeamScore) note(role, t int, text string) {
	s.ev[role] = append(s.ev[role], veeamEvidence{w: t, text: text})
}

// notePeers records an evidence line about peers on group g's port (see veeamLine).
func (s *veeamScore) notePeers(role, t int, g *veeamGroup, l veeamLine) {
	l.ports = []veeamPortKey{{g.proto, g.port}}
	s.ev[role] = append(s.ev[role], veeamEvidence{w: t, line: &l})
}

// Role indexes the clues name; -1 when the matrix lacks one (its clue then gives
// nothing).
type clueRoles struct {
	component, componentWindows, componentLinux, backupServer, cdpProxy int
	proxy, proxyVMware, repository, esxi, vcenter                       int
}

// Bits of the rules the clues look for, per group (see inferGroup.clue).
const (
	clueInstaller uint16 = 1 << iota
	clueDataMover
	clueWindowsDeploy
	clueWindowsRPC
	clueLinuxSSH
	clueProxyToRepo
	clueProxyESXi902
	clueVCenter443
	clueRDP
)

var clueRuleIDs = [...]struct {
	id  string
	bit uint16
}{
	{ruleInstaller, clueInstaller}, {ruleDataMover, clueDataMover}, {ruleWindowsDeploy, clueWindowsDeploy},
	{ruleWindowsRPC, clueWindowsRPC}, {ruleLinuxSSH, clueLinuxSSH}, {ruleProxyToRepo, clueProxyToRepo},
	{ruleProxyESXi902, clueProxyESXi902}, {ruleVCenter443, clueVCenter443}, {ruleRDP, clueRDP},
}

// inferRun is the state of one computation: every address the evidence names, the
// hosts with evidence prepared for scoring, and the roles of every address in the
// current round.
type inferRun struct {
	in      *Inferer
	m       *Matrix
	cr      clueRoles
	nodes   []inferNode
	hosts   []inferHost // sorted by address
	roles   []*roleList // per node: its roles in this round (nil: none)
	lists   roleLists
	sc      veeamScore
	scratch roleBits
	spec    []int
	// per group being scored: the role each distinct peer role list gives (clues 1-2)
	memo  []peerRole
	accs  []roleAcc
	rr    []reportedRole // roleListOf's buffers
	cbuf  []int
	sides []int   // peerRole's scratch
	cands []*Rule // likewise
}

// inferNode is an address: a host with evidence or a peer of one.
type inferNode struct {
	addr     netip.Addr
	declared *roleList // roles from the inventory, nil if none
	host     int       // index in inferRun.hosts, -1 for a peer without evidence
}

// inferHost is a host with evidence, with what does not change between rounds.
type inferHost struct {
	addr       netip.Addr
	node       int
	h          *veeamHost
	order      []int // group indexes: accepted first, by protocol and port
	groups     []inferGroup
	peers      []int32 // nodes of all its peers, each once
	acceptsAny bool
	// grounded: the host accepted a Veeam signature port or fans out as a backup
	// server (clue 3), so it may be a Veeam component (see Inferer, "Veeam hosts").
	grounded bool
	outClues uint16 // the clue rules among its out-groups' rules
	// clue 3: the hosts it opened the installer and Data Mover ports to
	installer, dataMover fan
}

// inferGroup is a group of a host prepared for scoring.
type inferGroup struct {
	rules     []*Rule // the group's rules (veeamGroup.rules)
	peers     []int32 // nodes of its peers, in recording order
	single    []*Rule // its rules that name the port itself, not in a range
	generic   bool    // the port is a generic service port (Matrix.Generic)
	signature bool    // an accepted Veeam signature port (Matrix.Signature): grounds a component
	clue      uint16  // clue rules among its rules
	// out and general are the group's direction and whether its port is a general-purpose
	// service (veeamGeneralPort), kept here so that scoring the clues reads the prepared
	// group alone
	out, general bool
}

type fan struct {
	peers []netip.Addr
	group int // the group of the lowest such port
}

// peerRole memoizes clues 1-2 for one peer role list in one group.
type peerRole struct {
	pr   *roleList
	role int    // -1: the peer gives nothing
	cite string // the rule the evidence cites (text rounds only)
}

type roleAcc struct {
	role  int
	n     int
	peers []netip.Addr
	rules []string
}

// prepare builds a run from the recorded evidence.
func (in *Inferer) prepare() *inferRun {
	m := in.m
	x := &inferRun{in: in, m: m, lists: roleLists{m: m}}
	x.cr = clueRoles{
		component: m.roleIndex("veeam-component"), componentWindows: m.roleIndex("veeam-component-windows"),
		componentLinux: m.roleIndex("veeam-component-linux"), backupServer: m.roleIndex("backup-server"),
		cdpProxy: m.roleIndex("cdp-proxy"), proxy: m.roleIndex("backup-proxy"),
		proxyVMware: m.roleIndex("backup-proxy-vmware"), repository: m.roleIndex("repository"),
		esxi: m.roleIndex("esxi"), vcenter: m.roleIndex("vcenter"),
	}
	x.scratch = make(roleBits, (len(m.roles)+63)/64)
	x.spec = make([]int, len(m.roles))
	// The nodes are the ids; the hosts, those with evidence, in address order.
	x.nodes = make([]inferNode, len(in.addrs))
	hostIDs := make([]int32, 0, in.nhosts)
	for i, a := range in.addrs {
		x.nodes[i] = inferNode{addr: a, host: -1}
		if in.declared != nil {
			x.nodes[i].declared = x.lists.get(in.declared.RolesOf(a))
		}
		if in.hostOf[i] != nil {
			hostIDs = append(hostIDs, int32(i))
		}
	}
	slices.SortFunc(hostIDs, func(a, b int32) int { return in.addrs[a].Compare(in.addrs[b]) })
	x.hosts = make([]inferHost, len(hostIDs))
	for i, id := range hostIDs {
		x.nodes[id].host = i
		x.hosts[i] = inferHost{addr: in.addrs[id], node: int(id), h: in.hostOf[id]}
	}
	seen := make([]int32, len(x.nodes)) // the host (+1) that last listed each node as a peer
	// What a group's rules say does not depend on the host: hosts share it, keyed by
	// the rules (the matrix's shared slices, mostly), the port and the direction.
	type groupKey struct {
		first *Rule
		n     int
		port  uint16
		out   bool
	}
	static := map[groupKey]inferGroup{}
	groupOf := func(g *veeamGroup) inferGroup {
		k := groupKey{nil, len(g.rules), g.port, g.out}
		if len(g.rules) > 0 {
			k.first = g.rules[0]
		}
		if ig, ok := static[k]; ok && (len(g.rules) == 0 || slices.Equal(ig.rules, g.rules)) {
			return ig
		}
		ig := inferGroup{rules: g.rules, generic: m.Generic(g.proto, g.port), out: g.out, general: veeamGeneralPort(g.port)}
		for _, r := range g.rules {
			if r.singlePort(g.port) {
				ig.single = append(ig.single, r)
			}
			for _, c := range clueRuleIDs {
				if r.ID == c.id {
					ig.clue |= c.bit
				}
			}
		}
		ig.signature = m.signatureGroup(g)
		static[k] = ig
		return ig
	}
	// The hosts' prepared groups, group orders and peer lists come out of three arrays,
	// in host order: three allocations instead of four a host, and the rounds, which
	// visit the hosts in that order, read them in the order they lie in memory.
	ng, np := 0, 0
	for i := range x.hosts {
		ng += len(x.hosts[i].h.groups)
		np += len(x.hosts[i].h.peers)
	}
	groupSlab, orderSlab, peerSlab := make([]inferGroup, ng), make([]int, ng), make([]int32, 2*np)
	carve := func(s *[]int32, n int) []int32 {
		out := (*s)[:n:n]
		*s = (*s)[n:]
		return out
	}
	var counts []int
	for i := range x.hosts {
		ih := &x.hosts[i]
		h := ih.h
		n := len(h.groups)
		ih.order = h.sortedGroupsInto(orderSlab[:n:n])
		ih.groups, groupSlab, orderSlab = groupSlab[:n:n], groupSlab[n:], orderSlab[n:]
		fans := uint16(0)
		for gi := range h.groups {
			g := &h.groups[gi]
			ih.groups[gi] = groupOf(g)
			if !g.out {
				ih.acceptsAny = true
				ih.grounded = ih.grounded || ih.groups[gi].signature
			} else {
				fans |= ih.groups[gi].clue
			}
		}
		// The peers of all groups in one array, each group's in recording order.
		counts = append(counts[:0], make([]int, len(h.groups))...)
		for _, p := range h.peers {
			counts[p.group]++
		}
		all := carve(&peerSlab, len(h.peers))
		ih.peers = carve(&peerSlab, len(h.peers))[:0] // distinct peers: at most as many
		off := 0
		for gi, n := range counts {
			ih.groups[gi].peers = all[off : off : off+n]
			off += n
		}
		for _, p := range h.peers {
			ih.groups[p.group].peers = append(ih.groups[p.group].peers, p.node)
			if seen[p.node] != int32(i+1) {
				seen[p.node] = int32(i + 1)
				ih.peers = append(ih.peers, p.node)
			}
		}
		ih.outClues = fans
		ih.installer, ih.dataMover = in.fans(h, ih.order, fans)
		ih.grounded = ih.grounded || ih.fansOut()
	}
	x.roles = make([]*roleList, len(x.nodes))
	return x
}

// setRoles makes hostRoles (by host) and the declared roles the roles of this round,
// and marks in changed the nodes whose roles changed since the last round.
func (x *inferRun) setRoles(hostRoles []*roleList, changed []bool) {
	for i := range x.nodes {
		n := &x.nodes[i]
		var l *roleList
		switch {
		case n.declared != nil:
			l = n.declared
		case n.host >= 0:
			l = hostRoles[n.host]
		}
		changed[i] = l != x.roles[i]
		x.roles[i] = l
	}
}

// dirty reports whether the roles of host hi or of one of its peers changed.
func (x *inferRun) dirty(hi int, changed []bool) bool {
	ih := &x.hosts[hi]
	if changed[ih.node] {
		return true
	}
	for _, p := range ih.peers {
		if changed[p] {
			return true
		}
	}
	return false
}

// compute runs the rounds and fills in.result and in.roles.
func (in *Inferer) compute() {
	if in.fresh.Load() {
		return // every Explain but the first: no lock taken twice a flow
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.fresh.Load() {
		return
	}
	// The evidence of the last round, with the roles it was computed from.
	final := make(map[netip.Addr][]HostRole)
	in.roles = make(map[netip.Addr][]string)
	in.lists = make(map[netip.Addr]*roleList)
	in.rounds = 0
	fromLog := inferShortcut && !in.recorded
	skip := fromLog && in.noComponentsLog()
	if !skip {
		in.fold()
		// When the log (all the evidence, more than recording keeps) has grounded
		// hosts with a grounded peer, so has the recorded evidence unless its caps
		// dropped them: noComponents is not asked again. In that rare case the
		// rounds run and give no host a role, as noComponents would have said.
		skip = inferShortcut && !fromLog && in.noComponents()
	}
	if !skip {
		in.runRounds(final)
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
	in.fresh.Store(true)
}

// runRounds runs the rounds of the inference and fills final, in.roles and in.lists
// with the hosts that have roles.
func (in *Inferer) runRounds(final map[netip.Addr][]HostRole) {
	x := in.prepare()
	prev := make([]*roleList, len(x.hosts))
	changed := make([]bool, len(x.nodes))
	suppressed := make([]bool, len(x.hosts))
	for round, pass := 0, 0; round < inferMaxRounds*inferMaxPasses; round++ {
		x.setRoles(prev, changed)
		next := make([]*roleList, len(x.hosts))
		for hi := range x.hosts {
			// A host whose roles and peers' roles did not change since the last
			// round scores as it did then.
			if round > 0 && !x.dirty(hi, changed) {
				next[hi] = prev[hi]
				continue
			}
			if suppressed[hi] || x.silent(hi) {
				next[hi] = nil
				continue
			}
			x.score(hi, false)
			next[hi] = x.roleListOf()
		}
		in.rounds = round + 1
		same := slices.Equal(next, prev)
		prev = next
		if same || round+1 == inferMaxRounds*(pass+1) {
			// Settled (or out of rounds for this pass): hosts without a Veeam
			// component among their peers lose their roles, and the rounds go on
			// without them.
			pass++
			if !x.support(prev, suppressed) {
				break
			}
		}
	}
	// Out of rounds, the last may have left hosts without a component among their
	// peers: they lose their roles too, so that every host reported has one (which
	// noComponents relies on).
	x.support(prev, suppressed)
	x.setRoles(prev, changed)
	for hi, l := range prev {
		if l == nil {
			continue
		}
		x.score(hi, true)
		a := x.hosts[hi].addr
		final[a] = x.m.veeamReport(&x.sc, x.spec)
		in.roles[a] = l.names
		in.lists[a] = l
	}
}

// support drops the roles of the hosts of roles (by host, changed in place) that have
// no Veeam component among their peers, by the roles of roles and the declared ones,
// until every host left has one (a dropped host may have been another's only
// component), and marks them in suppressed. It reports whether it dropped any.
func (x *inferRun) support(roles []*roleList, suppressed []bool) bool {
	comp := func(n int32) bool {
		nd := &x.nodes[n]
		if nd.declared != nil {
			return has(nd.declared, x.cr.component)
		}
		return nd.host >= 0 && has(roles[nd.host], x.cr.component)
	}
	dropped := false
	for again := true; again; {
		again = false
		for hi, l := range roles {
			if l == nil {
				continue
			}
			if !slices.ContainsFunc(x.hosts[hi].peers, comp) {
				roles[hi], suppressed[hi] = nil, true
				again, dropped = true, true
			}
		}
	}
	return dropped
}

// silent reports whether host hi certainly scores nothing this round, without scoring
// it: most hosts of a busy network only open connections to hosts that are no Veeam
// component, and only clues on accepted ports, on the fan-out and VMware proxy ports,
// or on the host's own roles could give them a role otherwise (see score). The
// clues that stay: an opener is given roles by peers that are Veeam components only.
func (x *inferRun) silent(hi int) bool {
	ih := &x.hosts[hi]
	if ih.acceptsAny || ih.outClues&(clueInstaller|clueDataMover|clueProxyESXi902) != 0 || x.roles[ih.node] != nil {
		return false
	}
	for _, p := range ih.peers {
		if has(x.roles[p], x.cr.component) {
			return false
		}
	}
	return true
}

// peerAddrs returns the addresses of nodes ns.
func (x *inferRun) peerAddrs(ns []int32) []netip.Addr {
	out := make([]netip.Addr, len(ns))
	for i, n := range ns {
		out[i] = x.nodes[n].addr
	}
	return out
}

// has reports whether roles l (nil: none) hold an a (anyIsA).
func has(l *roleList, a int) bool { return l != nil && l.up.has(a) }

// managed reports whether roles say "a managed Veeam server other than a backup server".
func (x *inferRun) managed(l *roleList) bool {
	return has(l, x.cr.component) && !has(l, x.cr.backupServer)
}

// score applies the clues (see Inferer) to host hi into x.sc, with evidence lines
// when text is set.
func (x *inferRun) score(hi int, text bool) {
	m, in, cr := x.m, x.in, &x.cr
	ih := &x.hosts[hi]
	h := ih.h
	sc := &x.sc
	sc.reset(len(m.roles), text)
	self := x.roles[ih.node]

	// Clues 1 and 2: listener and opener.
	for _, gi := range ih.order {
		ig := &ih.groups[gi]
		general := ig.general
		if general && !ig.out {
			continue
		}
		x.memo, x.accs = x.memo[:0], x.accs[:0]
		for _, pn := range ig.peers {
			pr := x.roles[pn]
			k := slices.IndexFunc(x.memo, func(e peerRole) bool { return e.pr == pr })
			if k < 0 {
				role, cite := x.peerRole(ih, gi, pr, self, general, text)
				x.memo = append(x.memo, peerRole{pr, role, cite})
				k = len(x.memo) - 1
			}
			e := &x.memo[k]
			if e.role < 0 {
				continue
			}
			a := slices.IndexFunc(x.accs, func(a roleAcc) bool { return a.role == e.role })
			if a < 0 {
				x.accs = append(x.accs, roleAcc{role: e.role})
				a = len(x.accs) - 1
			}
			ac := &x.accs[a]
			ac.n++
			if text {
				ac.peers = append(ac.peers, x.nodes[pn].addr)
				if !slices.Contains(ac.rules, e.cite) {
					ac.rules = append(ac.rules, e.cite)
				}
			}
		}
		verb, prep := "accepts", "from"
		if ig.out {
			verb, prep = "opens", "to"
		}
		for _, ac := range x.accs {
			if t := sc.add(ac.role, m.anyRole, math.Min(float64(ac.n), 3)); t > 0 && text {
				sc.notePeers(ac.role, t, &h.groups[gi], veeamLine{verb: verb, prep: prep, peers: slices.Clone(ac.peers), tail: " (" + veeamRulesText(ac.rules) + ")"})
			}
		}
	}

	// Clue 3: backup server fan-out.
	if ps := ih.installer.peers; len(ps) > 0 {
		if t := sc.add(cr.backupServer, m.anyRole, math.Min(0.5*float64(len(ps)), 2.5)); t > 0 && text {
			sc.notePeers(cr.backupServer, t, &h.groups[ih.installer.group], veeamLine{verb: "opens", prep: "to", peers: ps, tail: " (rule " + ruleInstaller + ")"})
		}
	}
	if ps := ih.dataMover.peers; len(ps) >= 3 {
		if t := sc.add(cr.backupServer, m.anyRole, math.Min(0.2*float64(len(ps)), 1)); t > 0 && text {
			sc.notePeers(cr.backupServer, t, &h.groups[ih.dataMover.group], veeamLine{verb: "opens", prep: "to", peers: ps, tail: " (rule " + ruleDataMover + ")"})
		}
	}

	// Clue 4: managed Windows or Linux server.
	fromBS := func(mask uint16) (peers []int32, label int, seen bool) {
		label = -1
		for _, gi := range ih.order {
			ig := &ih.groups[gi]
			if ig.out || ig.clue&mask == 0 {
				continue
			}
			seen = true
			for _, p := range ig.peers {
				if has(x.roles[p], cr.backupServer) && !slices.Contains(peers, p) {
					peers = append(peers, p)
					if label < 0 {
						label = gi
					}
				}
			}
		}
		return peers, label, seen
	}
	if managed, _, _ := fromBS(clueInstaller | clueDataMover); len(managed) > 0 {
		win, wl, _ := fromBS(clueWindowsDeploy | clueWindowsRPC)
		_, _, anyWin := fromBS(clueWindowsDeploy) // SMB/RPC from anyone
		ssh, sl, _ := fromBS(clueLinuxSSH)
		switch {
		case len(win) > 0:
			if t := sc.add(cr.componentWindows, m.anyRole, 1); t > 0 && text {
				sc.notePeers(cr.componentWindows, t, &h.groups[wl], veeamLine{verb: "accepts", prep: "from", one: "backup server", many: "backup servers", peers: x.peerAddrs(win), tail: " on a managed server (rule " + ruleWindowsDeploy + ")"})
			}
		case len(ssh) > 0 && !anyWin:
			if t := sc.add(cr.componentLinux, m.anyRole, 1); t > 0 && text {
				sc.notePeers(cr.componentLinux, t, &h.groups[sl], veeamLine{verb: "accepts", prep: "from", one: "backup server", many: "backup servers", peers: x.peerAddrs(ssh), tail: " and no SMB/RPC on a managed server (rule " + ruleLinuxSSH + ")"})
			}
		}
	}
	if has(self, cr.component) && !has(self, cr.componentLinux) {
		for _, gi := range ih.order {
			if !ih.groups[gi].out && ih.groups[gi].clue&clueRDP != 0 {
				if t := sc.add(cr.componentWindows, m.anyRole, 1); t > 0 && text {
					sc.notePeers(cr.componentWindows, t, &h.groups[gi], veeamLine{verb: "accepts", prep: "(RDP) from", peers: x.peerAddrs(ih.groups[gi].peers), tail: " on a Veeam server (rule " + ruleRDP + ")"})
				}
				break
			}
		}
	}

	// Clue 5: data path between two managed servers.
	if x.managed(self) {
		for _, gi := range ih.order {
			if ih.groups[gi].clue&clueProxyToRepo == 0 {
				continue
			}
			role, other := cr.repository, cr.proxy
			verb, prep := "accepts", "from"
			if ih.groups[gi].out {
				role, other = other, role
				verb, prep = "opens", "to"
			}
			var w float64
			var ps []int32
			for _, p := range ih.groups[gi].peers {
				pr := x.roles[p]
				if !x.managed(pr) {
					continue
				}
				ps = append(ps, p)
				if has(pr, other) {
					w++
				} else {
					w += 0.5
				}
			}
			if len(ps) > 0 {
				if t := sc.add(role, m.anyRole, math.Min(w, 3)); t > 0 && text {
					sc.notePeers(role, t, &h.groups[gi], veeamLine{verb: verb, prep: prep, one: "managed server", many: "managed servers", peers: x.peerAddrs(ps), tail: ": Data Mover path between managed servers (rule " + ruleProxyToRepo + ")"})
				}
			}
		}
	}

	// Clue 6: VMware proxy.
	if !has(self, cr.backupServer) && !has(self, cr.cdpProxy) {
		for _, gi := range ih.order {
			if !ih.groups[gi].out || ih.groups[gi].clue&clueProxyESXi902 == 0 {
				continue
			}
			var ps []int32
			for _, p := range ih.groups[gi].peers {
				if pr := x.roles[p]; pr == nil || has(pr, cr.esxi) {
					ps = append(ps, p)
				}
			}
			if len(ps) > 0 {
				if t := sc.add(cr.proxyVMware, m.anyRole, math.Min(float64(len(ps)), 3)); t > 0 && text {
					sc.notePeers(cr.proxyVMware, t, &h.groups[gi], veeamLine{verb: "opens", prep: "to", one: "ESXi host", many: "ESXi hosts", peers: x.peerAddrs(ps), tail: " and is no backup server (rule " + ruleProxyESXi902 + ")"})
				}
			}
		}
	}

	// Clue 7: vSphere targets.
	accepts902 := false
	for _, gi := range ih.order {
		if !ih.groups[gi].out && ih.groups[gi].clue&clueProxyESXi902 != 0 {
			accepts902 = true
		}
	}
	veeamSpecific := false
	for role, p := range sc.own {
		if sc.n == 0 {
			break // no points yet
		}
		if p > 0 && m.isA(role, cr.component) {
			veeamSpecific = true
			break
		}
	}
	for _, gi := range ih.order {
		if ih.groups[gi].out || ih.groups[gi].clue&clueVCenter443 == 0 {
			continue
		}
		g := &h.groups[gi]
		var ps []int32
		w := 0.0
		for _, p := range ih.groups[gi].peers {
			switch pr := x.roles[p]; {
			case has(pr, cr.backupServer):
				w++
			case has(pr, cr.proxyVMware):
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

		switch {
		case accepts902:
			if t := sc.add(cr.esxi, m.anyRole, w); t > 0 && text {
				sc.notePeers(cr.esxi, t, g, veeamLine{verb: "accepts", prep: "from", one: "vSphere client", many: "vSphere clients", peers: x.peerAddrs(ps), tail: " (backup server or VMware proxy) and tcp/902 (rule proxy-to-esxi-443)"})
			}
		case !veeamSpecific:
			if t := sc.add(cr.vcenter, m.anyRole, w); t > 0 && text {
				sc.notePeers(cr.vcenter, t, g, veeamLine{verb: "accepts", prep: "from", one: "vSphere client", many: "vSphere clients", peers: x.peerAddrs(ps), tail: " (backup server or VMware proxy), no tcp/902 and nothing Veeam-specific (rule " + ruleVCenter443 + ")"})
			}
		}
	}

	if sc.n == 0 {
		return // no points: clue 8 combines points, and grounding takes points away
	}

	// Clue 8: combination of two parents.
	for ri, r := range m.roles {
		parents := m.parents[ri]
		if len(parents) < 2 {
			continue
		}
		w := math.MaxInt
		for _, p := range parents {
			w = min(w, sc.own[p])
		}
		if w < 10 {
			continue
		}
		blocked := false
		for role, pts := range sc.own {
			if pts < 10 || m.isA(role, ri) || slices.Contains(parents, role) {
				continue
			}
			for _, p := range parents {
				if m.isA(role, p) {
					blocked = true
				}
			}
		}
		if !blocked {
			if t := sc.add(ri, m.anyRole, float64(w)/10); t > 0 && text {
				sc.note(ri, t, fmt.Sprintf("is both %s", strings.Join(r.Parents, " and ")))
			}
		}
	}

	// A Veeam component runs Veeam software: without a signature port it accepted and
	// without a backup server's fan-out, the clues that opening connections gives
	// (a Data Mover client, a VMware proxy's NFC reads) make no component.
	if !ih.grounded {
		for role, p := range sc.own {
			if p != 0 && m.isA(role, cr.component) {
				sc.own[role] = 0
				if text {
					sc.ev[role] = sc.ev[role][:0]
				}
			}
		}
	}
	_ = in
}

// peerRole is clues 1 and 2 for one peer of group gi of host ih, known by roles pr:
// the role the peer gives the host (-1: none) and, with text, the rule to cite. On a
// generic service port (DNS, NTP, SQL Server, VMware NFC, NFS, ...) only a peer known
// as a Veeam component counts, through the rules whose From fits its roles: the DNS
// server of a backup server is a "dns-server", the DNS server of a PC is not, and an
// NTP server is one only for a rule whose clients (the backup server) were among its
// clients.
func (x *inferRun) peerRole(ih *inferHost, gi int, pr, self *roleList, general, text bool) (int, string) {
	m, in := x.m, x.in
	ig := &ih.groups[gi]
	if (ig.out || ig.generic) && !has(pr, x.cr.component) {
		return -1, ""
	}
	sides, cands := x.sides[:0], x.cands[:0]
	defer func() { x.sides, x.cands = sides[:0], cands[:0] }()
	for _, r := range ig.single {
		switch {
		case ig.out:
			if m.isA(r.to, x.cr.component) && m.sideLoose(r.to, pr) {
				cands = append(cands, r)
				sides = append(sides, r.from)
			}
		case ig.generic:
			if m.sideOK(r.from, pr) {
				cands = append(cands, r)
				sides = append(sides, r.to)
			}
		case m.sideLoose(r.from, pr):
			cands = append(cands, r)
			sides = append(sides, r.to)
		}
	}
	if len(cands) == 0 {
		return -1, ""
	}
	role := m.commonRole(sides, x.scratch)
	if role < 0 && ig.out && !ih.acceptsAny {
		only := -1
		for _, s := range sides {
			if in.clientOnly[m.roles[s].Name] && s != only {
				if only >= 0 {
					only = -1
					break
				}
				only = s
			}
		}
		role = only
	}
	if role < 0 || role == m.anyRole || (general && !in.clientOnly[m.roles[role].Name]) {
		return -1, ""
	}
	if !text {
		return role, ""
	}
	return role, m.veeamCite(cands, ig.out, role, self, pr)
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
func (m *Matrix) veeamCite(cands []*Rule, out bool, role int, self, peer *roleList) string {
	sides := func(r *Rule) (host, other int) {
		if out {
			return r.from, r.to
		}
		return r.to, r.from
	}
	known := func(l *roleList) bool { return l != nil && len(l.names) > 0 }
	for _, r := range cands {
		if h, o := sides(r); h == role && known(peer) && m.sideOK(o, peer) {
			return r.ID
		}
	}
	for _, r := range cands {
		if h, o := sides(r); known(self) && known(peer) && m.sideOK(h, self) && m.sideOK(o, peer) {
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

// signatureGroup reports whether group g accepted a Veeam signature port (see
// Matrix.Signature): the evidence that grounds a component.
func (m *Matrix) signatureGroup(g *veeamGroup) bool {
	return !g.out && !m.Generic(g.proto, g.port) && slices.ContainsFunc(g.rules, func(r *Rule) bool { return r.singlePort(g.port) })
}

// fans returns the hosts h opened the installer and the Data Mover ports to (clue 3),
// for the clue rules among its out-groups' rules (outClues), its groups in order.
func (in *Inferer) fans(h *veeamHost, order []int, outClues uint16) (installer, dataMover fan) {
	if r, ok := in.m.Rule(ruleInstaller); ok && outClues&clueInstaller != 0 {
		installer.peers, installer.group = in.fanOut(h, order, r, true)
	}
	if r, ok := in.m.Rule(ruleDataMover); ok && outClues&clueDataMover != 0 {
		dataMover.peers, dataMover.group = in.fanOut(h, order, r, true)
	}
	return installer, dataMover
}

// fansOut reports whether the host fans out as a backup server (clue 3): the
// installer port to one host or the Data Mover port to three.
func (ih *inferHost) fansOut() bool {
	return len(ih.installer.peers) > 0 || len(ih.dataMover.peers) >= 3
}

// inferShortcut lets compute skip the rounds when noComponents says they find
// nothing; tests turn it off to compare.
var inferShortcut = true

// noComponents reports, before any round, that the rounds can give no host a role:
// no address is declared a Veeam component, and no host is grounded (see Inferer,
// "Veeam hosts") with a grounded host among its peers. A component must be grounded
// and, once the rounds settle, have a component among its peers; every other host
// needs a component among its peers. So the components of the result, each with
// another among its peers, lie within the largest set of grounded hosts that all have
// a peer in it, which this computes by dropping grounded hosts without a grounded peer
// until none is left to drop: when it is empty, so is the result. On a busy network
// that merely uses Veeam's port numbers (synth's flows scenario: 1,389 grounded
// servers among 65k hosts, none of which talk to each other) this skips every round.
func (in *Inferer) noComponents() bool {
	if in.declaredComponent() {
		return false
	}
	grounded := make([]bool, len(in.addrs))
	var ground []int32
	for id, h := range in.hostOf {
		if h == nil {
			continue
		}
		clues := uint16(0)
		sig := false
		for gi := range h.groups {
			g := &h.groups[gi]
			sig = sig || in.m.signatureGroup(g)
			if g.out {
				for _, r := range g.rules {
					switch r.ID {
					case ruleInstaller:
						clues |= clueInstaller
					case ruleDataMover:
						clues |= clueDataMover
					}
				}
			}
		}
		if !sig && clues != 0 {
			ih := inferHost{}
			ih.installer, ih.dataMover = in.fans(h, h.sortedGroups(), clues)
			sig = ih.fansOut()
		}
		if sig {
			grounded[id] = true
			ground = append(ground, int32(id))
		}
	}
	return pruneGrounded(grounded, ground, func(mark []bool) {
		for id, h := range in.hostOf {
			if grounded[id] && slices.ContainsFunc(h.peers, func(p veeamPeer) bool { return grounded[p.node] }) {
				mark[id] = true
			}
		}
	})
}

// noComponentsLog is noComponents for the evidence of the log, none of which is
// recorded yet: what it reads is what recording would keep and more (no caps), so
// when it finds no grounded host with a grounded peer, recording would not either.
func (in *Inferer) noComponentsLog() bool {
	if in.declared.Len() > 0 {
		return false // declared components are looked for in the recorded evidence
	}
	type addr struct {
		b    [16]byte
		kind uint8
	}
	// The grounded hosts get local numbers.
	local := map[addr]int32{}
	var ground []int32
	ground1 := func(a addr) {
		if _, ok := local[a]; !ok {
			local[a] = int32(len(local))
			ground = append(ground, local[a])
		}
	}
	var movers map[addr][]addr // the Data Mover ports' servers by client
	for e := range in.log.all {
		c, s := addr{e.client, e.kinds & 0xf}, addr{e.server, e.kinds >> 4}
		set := &in.sets[e.set]
		if set.signature {
			ground1(s)
		}
		if set.installer {
			ground1(c)
		}
		if set.dataMover {
			if movers == nil {
				movers = map[addr][]addr{}
			}
			if ps := movers[c]; !slices.Contains(ps, s) {
				movers[c] = append(ps, s)
			}
		}
	}
	for c, ps := range movers {
		if len(ps) >= 3 {
			ground1(c)
		}
	}
	grounded := make([]bool, len(local))
	for _, id := range ground {
		grounded[id] = true
	}
	return pruneGrounded(grounded, ground, func(mark []bool) {
		for e := range in.log.all {
			ci, ok := local[addr{e.client, e.kinds & 0xf}]
			if !ok || !grounded[ci] {
				continue
			}
			if si, ok := local[addr{e.server, e.kinds >> 4}]; ok && grounded[si] {
				mark[ci], mark[si] = true, true
			}
		}
	})
}

// declaredComponent reports whether an address of the evidence is declared a Veeam
// component in the inventory.
func (in *Inferer) declaredComponent() bool {
	if in.declared.Len() == 0 {
		return false
	}
	comp := in.m.roleIndex("veeam-component")
	for _, a := range in.addrs {
		for _, r := range in.declared.RolesOf(a) {
			if in.m.isA(in.m.roleIndex(r), comp) {
				return true
			}
		}
	}
	return false
}

// pruneGrounded drops from ground (the ids set in grounded) the hosts without a
// grounded peer, which withPeer marks, until none is dropped, and reports whether none
// is left.
func pruneGrounded(grounded []bool, ground []int32, withPeer func(mark []bool)) bool {
	mark := make([]bool, len(grounded))
	for len(ground) > 0 {
		clear(mark)
		withPeer(mark)
		kept := ground[:0]
		for _, id := range ground {
			if mark[id] {
				kept = append(kept, id)
			} else {
				grounded[id] = false
			}
		}
		if len(kept) == len(ground) {
			break
		}
		ground = kept
	}
	return len(ground) == 0
}

// fanOut returns the distinct hosts h opened one of r's single ports to (not its ranges),
// and the group of the lowest such port (-1 if none).
func (in *Inferer) fanOut(h *veeamHost, order []int, r *Rule, out bool) ([]netip.Addr, int) {
	var ps []netip.Addr
	first := -1
	for _, gi := range order {
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
		if first < 0 {
			first = gi
		}
		for _, p := range in.groupPeers(h, gi) {
			if !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
	}
	return ps, first
}

// veeamCands fills spec with each role's points plus its descendants' and returns the
// roles reaching one point (10 tenths), in file order.
func (m *Matrix) veeamCands(sc *veeamScore, spec []int) []int {
	return m.appendCands(nil, sc, spec)
}

// appendCands is veeamCands appending to dst.
func (m *Matrix) appendCands(dst []int, sc *veeamScore, spec []int) []int {
	clear(spec)
	for x, p := range sc.own {
		if p == 0 {
			continue
		}
		for w, set := range m.anc[x] {
			for ; set != 0; set &= set - 1 {
				spec[w*64+bits.TrailingZeros64(set)] += p
			}
		}
		if m.anyRole >= 0 && !roleBits(m.anc[x]).has(m.anyRole) {
			spec[m.anyRole] += p // every role is an "any"
		}
	}
	cands := dst
	for r, s := range spec {
		if s >= 10 {
			cands = append(cands, r)
		}
	}
	return cands
}

type reportedRole struct {
	role  int
	total int
	conf  float64
}

// veeamRoles is the roles a host's points report: the most specific of those reaching
// one point with their own, their ancestors' and their descendants' points, by
// confidence then name.
func (m *Matrix) veeamRoles(sc *veeamScore, spec []int) []reportedRole {
	var cands []int
	return m.appendRoles(nil, &cands, sc, spec)
}

// appendRoles is veeamRoles appending to dst, with *cands as the candidates' buffer.
func (m *Matrix) appendRoles(dst []reportedRole, cands *[]int, sc *veeamScore, spec []int) []reportedRole {
	*cands = m.appendCands((*cands)[:0], sc, spec)
	out := dst
	start := len(out)
	for _, c := range *cands {
		moreSpecific := false
		for _, d := range *cands {
			if d != c && m.isA(d, c) {
				moreSpecific = true
				break
			}
		}
		if moreSpecific {
			continue
		}
		total := 0
		for role, p := range sc.own {
			if p > 0 && (m.isA(role, c) || m.isA(c, role)) {
				total += p
			}
		}
		conf := math.Min(1-math.Pow(0.5, float64(total)/10), 0.99)
		conf = math.Round(conf*100) / 100
		out = append(out, reportedRole{c, total, conf})
	}
	slices.SortStableFunc(out[start:], func(a, b reportedRole) int {
		return cmp.Or(cmp.Compare(b.conf, a.conf), strings.Compare(m.roles[a.role].Name, m.roles[b.role].Name))
	})
	return out
}

// roleListOf is the interned list of the roles the last score gives, nil for none,
// without allocating once the list is known.
func (x *inferRun) roleListOf() *roleList {
	if !x.sc.any() {
		return nil // most hosts score nothing
	}
	x.rr = x.m.appendRoles(x.rr[:0], &x.cbuf, &x.sc, x.spec)
	return x.lists.getRoles(x.rr)
}

// veeamReport turns a host's points and evidence into its reported roles (see Inferer).
func (m *Matrix) veeamReport(sc *veeamScore, spec []int) []HostRole {
	roles := m.veeamRoles(sc, spec)
	if len(roles) == 0 {
		return nil
	}
	out := make([]HostRole, 0, len(roles))
	type ranked struct {
		veeamEvidence
		rank int // 0: the role or a descendant; 1: an ancestor
	}
	var ev []ranked
	for _, rr := range roles {
		c := rr.role
		ev = ev[:0]
		for role, p := range sc.own {
			if p == 0 {
				continue
			}
			rank := 0
			switch {
			case m.isA(role, c):
			case m.isA(c, role):
				rank = 1
			default:
				continue
			}
			for _, e := range sc.ev[role] {
				ev = append(ev, ranked{e, rank})
			}
		}
		// One line per rule and direction: lines of one kind merge their ports and
		// peers (the strongest rank, the points added up).
		merged := ev[:0]
		at := map[string]int{}
		for _, e := range ev {
			if e.line == nil {
				merged = append(merged, e)
				continue
			}
			k := e.line.key()
			if i, ok := at[k]; ok {
				m := &merged[i]
				m.w += e.w
				m.rank = min(m.rank, e.rank)
				m.line.merge(e.line)
				continue
			}
			at[k] = len(merged)
			l := *e.line
			l.ports, l.peers = slices.Clone(l.ports), slices.Clone(l.peers)
			e.line = &l
			merged = append(merged, e)
		}
		ev = merged
		for i := range ev {
			if ev[i].line != nil {
				ev[i].text = ev[i].line.String()
			}
		}
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
		out = append(out, HostRole{Role: m.roles[c].Name, Confidence: rr.conf, Evidence: lines})
	}
	return out
}

// sortedGroups returns the indexes of h.groups ordered by direction (accepted first),
// protocol and port, so that scoring does not depend on the order flows arrived in.
func (h *veeamHost) sortedGroups() []int {
	if len(h.groups) == 1 {
		return oneGroup // most hosts: no allocation
	}
	return h.sortedGroupsInto(make([]int, len(h.groups)))
}

// sortedGroupsInto is sortedGroups into idx, of len(h.groups).
func (h *veeamHost) sortedGroupsInto(idx []int) []int {
	// An insertion sort on one key a group (hosts have a few, InferMaxPortsPerHost at
	// most, and no two alike): a fifth of what a sort with a comparison function took.
	key := func(g *veeamGroup) uint32 {
		k := uint32(g.proto)<<16 | uint32(g.port)
		if g.out {
			k |= 1 << 24
		}
		return k
	}
	var keys [InferMaxPortsPerHost]uint32
	for i := range h.groups {
		k := key(&h.groups[i])
		j := i
		for ; j > 0 && keys[j-1] > k; j-- {
			keys[j], idx[j] = keys[j-1], idx[j-1]
		}
		keys[j], idx[j] = k, i
	}
	return idx
}

// oneGroup is the order of a host's only group. Read-only.
var oneGroup = []int{0}

// groupPeers returns the peers recorded for group gi of h.
func (in *Inferer) groupPeers(h *veeamHost, gi int) []netip.Addr {
	var out []netip.Addr
	for _, p := range h.peers {
		if int(p.group) == gi {
			out = append(out, in.addrs[p.node])
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
