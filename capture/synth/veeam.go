package synth

import (
	"net/netip"
	"slices"
)

// VeeamHost is one host of the veeam scenario with the roles it is meant to have, in
// the role vocabulary of /work/shared/reference/veeam-ports.yaml.
type VeeamHost struct {
	Addr    netip.Addr
	Name    string
	Windows bool
	Roles   []string // most specific first; nil for hosts outside the Veeam setup
}

// VeeamFact is one connection the veeam scenario makes on purpose: Client opens it to
// Server (a TCP SYN or the first UDP datagram). Rules lists, sorted, the ids of the
// veeam-ports.yaml rules that explain it when hosts have the roles of VeeamHosts
// (ancestor roles included, all versions); nil means no Veeam rule explains it and
// it is there as noise.
type VeeamFact struct {
	Proto   uint8
	Client  netip.Addr
	Server  netip.AddrPort
	Rules   []string
	Meaning string
}

// The veeam scenario's hosts.
var (
	veeamBackup = netip.MustParseAddr("192.0.2.10")
	veeamProxy1 = netip.MustParseAddr("192.0.2.21")
	veeamProxy2 = netip.MustParseAddr("192.0.2.22")
	veeamRepo   = netip.MustParseAddr("192.0.2.30")
	veeamVC     = netip.MustParseAddr("192.0.2.40")
	veeamESXi   = netip.MustParseAddr("192.0.2.41")
	veeamAdmin  = netip.MustParseAddr("192.0.2.100")
	veeamDNS    = netip.MustParseAddr("192.0.2.53")
	veeamWeb    = netip.MustParseAddr("203.0.113.80")
	veeamOdd    = netip.MustParseAddr("198.51.100.7")
)

// VeeamHosts returns the hosts of the veeam scenario (a fresh copy).
func VeeamHosts() []VeeamHost {
	return []VeeamHost{
		{veeamBackup, "vbr01 (backup server)", true, []string{"backup-server", "veeam-component-windows"}},
		{veeamProxy1, "proxy01 (VMware proxy)", true, []string{"backup-proxy-vmware", "veeam-component-windows"}},
		{veeamProxy2, "proxy02 (VMware proxy)", true, []string{"backup-proxy-vmware", "veeam-component-windows"}},
		{veeamRepo, "repo01 (Linux repository)", false, []string{"repository-linux"}},
		{veeamVC, "vcenter01", false, []string{"vcenter"}},
		{veeamESXi, "esxi01", false, []string{"esxi"}},
		{veeamAdmin, "admin PC (console, RDP)", true, []string{"admin-workstation", "console"}},
		// dc01 also answers NTP, but only the proxy and the repository ask it, and the
		// matrix has NTP rules for the backup server and the appliances only.
		{veeamDNS, "dc01 (DNS, NTP)", true, []string{"dns-server"}},
		{veeamWeb, "web proxy on 8080 (not Veeam)", false, nil},
		{veeamOdd, "unknown host (not Veeam)", false, nil},
	}
}

// veeamStep is one line of the veeam scenario's plan: a fact and the traffic that
// shows it (count connections or exchanges, every apart, from at seconds).
type veeamStep struct {
	fact              VeeamFact
	at, every         float64 // seconds
	count             int
	rounds, req, resp int          // TCP shape, or UDP rounds
	shape             payloadShape // UDP
	name              uint8        // DNS name
}

func tcpFact(c, s netip.Addr, port uint16, meaning string, rules ...string) VeeamFact {
	return VeeamFact{ProtoTCP, c, netip.AddrPortFrom(s, port), rules, meaning}
}

func udpFact(c, s netip.Addr, port uint16, meaning string, rules ...string) VeeamFact {
	return VeeamFact{ProtoUDP, c, netip.AddrPortFrom(s, port), rules, meaning}
}

// veeamPlan is the scenario: a backup job window of about three minutes. Rules lists
// are checked against veeam-ports.yaml by TestVeeamFactsRules.
func veeamPlan() []veeamStep {
	B, P1, P2, R := veeamBackup, veeamProxy1, veeamProxy2, veeamRepo
	var plan []veeamStep
	add := func(f VeeamFact, at float64, rounds, req, resp int) {
		plan = append(plan, veeamStep{fact: f, at: at, count: 1, rounds: rounds, req: req, resp: resp})
	}
	dns := func(c netip.Addr, at float64, name uint8) {
		plan = append(plan, veeamStep{fact: udpFact(c, veeamDNS, 53, "name resolution", "any-to-dns-udp"),
			at: at, count: 3, every: 20, rounds: 2, shape: shapeDNS, name: name})
	}
	// Name resolution by every Veeam host before it starts talking.
	dns(B, 0.2, 4)
	dns(P1, 14, 3)
	dns(P2, 14.5, 3)
	dns(R, 16, 3)
	// The operator: console session and RDP to the backup server.
	add(tcpFact(veeamAdmin, B, 9392, "console to Veeam Backup Service", "console-to-backup-server-9392"), 1, 20, 1, 2)
	add(tcpFact(veeamAdmin, B, 3389, "RDP to the backup server", "admin-to-backup-server-rdp"), 2, 24, 1, 2)
	// Backup server checks and updates components on the Windows proxies: SMB admin
	// share, RPC endpoint mapper and the dynamic RPC port it hands out, the installer
	// service and the data mover.
	for i, p := range []netip.Addr{P1, P2} {
		t := 5 + float64(i)
		dyn := uint16(49668 + 44*i)
		add(tcpFact(B, p, 445, "component deployment over SMB", "backup-server-to-windows-deploy"), t, 4, 1, 2)
		add(tcpFact(B, p, 135, "RPC endpoint mapper", "backup-server-to-windows-deploy"), t+0.5, 1, 1, 1)
		add(tcpFact(B, p, dyn, "dynamic RPC after the endpoint mapper", "backup-server-to-windows-dynrpc"), t+0.8, 3, 1, 2)
		add(tcpFact(B, p, 6160, "Veeam Installer Service", "backup-server-to-component-installer"), t+3, 2, 1, 1)
		add(tcpFact(B, p, 6162, "Veeam Data Mover control", "backup-server-to-component-datamover"), t+5, 6, 1, 2)
	}
	// Backup server to the Linux repository: SSH control channel, then the data mover.
	add(tcpFact(B, R, 22, "SSH control channel to the Linux repository", "backup-server-to-linux-ssh", "backup-server-to-repo-linux"), 10, 5, 1, 1)
	add(tcpFact(B, R, 6162, "Veeam Data Mover on the repository", "backup-server-to-component-datamover", "backup-server-to-repo-linux"), 12, 6, 1, 2)
	// Inventory and snapshots through vCenter.
	add(tcpFact(B, veeamVC, 443, "vSphere API on vCenter", "backup-server-to-vcenter"), 11, 8, 1, 3)
	// Proxies read VM disks from ESXi (API on 443, NFC data on 902) and write to the
	// repository's data mover transmission channels.
	for i, p := range []netip.Addr{P1, P2} {
		t := 15 + float64(i)
		add(tcpFact(p, veeamESXi, 443, "vSphere API on the ESXi host", "proxy-to-esxi-443"), t, 3, 1, 2)
		add(tcpFact(p, veeamESXi, 902, "NFC disk reads from ESXi", "proxy-to-esxi-902"), t+2, 4, 1, 20)
		for k := range 2 {
			port := uint16(2500 + 2*i + k)
			add(tcpFact(p, R, port, "backup data to the repository's transmission channel", "legacy-transmission-range", "proxy-to-repository"), t+3+float64(k), 3, 20, 1)
		}
	}
	// Noise on the same hosts that no Veeam rule explains.
	add(tcpFact(P1, veeamWeb, 8080, "web proxy on 8080: not Veeam"), 20, 2, 1, 3)
	add(tcpFact(R, veeamOdd, 51515, "unexplained dynamic port: not Veeam"), 25, 3, 1, 2)
	for _, c := range []netip.Addr{R, P1} {
		plan = append(plan, veeamStep{fact: udpFact(c, veeamDNS, 123, "NTP time sync: no Veeam rule for this role"),
			at: 2 + float64(c.As4()[3]), count: 2, every: 64, rounds: 1, shape: shapeNTP})
	}
	return plan
}

// VeeamFacts returns, in a fresh slice, every connection the veeam scenario makes,
// one entry per (protocol, client, server address and port), sorted by client, server
// and protocol.
func VeeamFacts() []VeeamFact {
	var facts []VeeamFact
	for _, st := range veeamPlan() {
		facts = append(facts, st.fact)
	}
	return sortFacts(facts, func(f VeeamFact) VeeamFact { return f })
}

// sortFacts sorts facts by client, server and protocol and drops repeated connections.
func sortFacts[T any](facts []T, fact func(T) VeeamFact) []T {
	slices.SortFunc(facts, func(x, y T) int {
		a, b := fact(x), fact(y)
		if c := a.Client.Compare(b.Client); c != 0 {
			return c
		}
		if c := a.Server.Compare(b.Server); c != 0 {
			return c
		}
		return int(a.Proto) - int(b.Proto)
	})
	return slices.CompactFunc(facts, func(x, y T) bool {
		a, b := fact(x), fact(y)
		return a.Proto == b.Proto && a.Client == b.Client && a.Server == b.Server
	})
}

func veeamScript(sc *scripter) {
	for _, h := range VeeamHosts() {
		sc.host(h.Addr, h.Windows, 0)
	}
	for _, st := range veeamPlan() {
		sc.play(&st)
	}
}

// play adds the connections or exchanges of one step.
func (sc *scripter) play(st *veeamStep) {
	f := st.fact
	for k := range st.count {
		at := sec(st.at + float64(k)*st.every)
		if f.Proto == ProtoUDP {
			sc.udp(at, f.Client, f.Server.Addr(), f.Server.Port(), st.shape, st.name, st.rounds)
			continue
		}
		sc.tcp(at, f.Client, f.Server.Addr(), f.Server.Port(), st.rounds, st.req, st.resp)
	}
}
