package synth

import "net/netip"

// The outcomes a connection of the veeam-firewall scenario can have, in the words of
// `portclass verify`.
const (
	OutcomeOK         = "ok"                 // established (TCP) or answered (UDP)
	OutcomeRefused    = "blocked-refused"    // the SYN is answered by RST/ACK (Windows tries three times)
	OutcomeUnanswered = "blocked-unanswered" // three SYNs, no answer
	OutcomeICMP       = "blocked-icmp"       // the SYN is answered by ICMP "administratively prohibited" from FirewallAddr
)

// FirewallAddr is the firewall of the veeam-firewall scenario, which rejects some
// connections with ICMP "communication administratively prohibited" (type 3, code 13).
var FirewallAddr = netip.MustParseAddr("192.0.2.1")

// FirewallFact is one connection of the veeam-firewall scenario and what the network
// did with it. Rules lists the Veeam rules that document the connection between the
// hosts' roles (as in VeeamFact); nil means no Veeam rule does.
type FirewallFact struct {
	VeeamFact
	Outcome string // one of the Outcome constants
}

// firewallStep is one line of the veeam-firewall plan.
type firewallStep struct {
	veeamStep
	outcome string
}

// veeamFirewallPlan is the scenario: the deployment of the veeam scenario (same hosts
// and roles) a few minutes after a change of the firewall between its hosts. Most
// required ports still work, but the new rule set rejects the Data Mover on the Linux
// repository (RST), drops NFC from the second proxy to ESXi (no answer) and rejects
// one transmission channel with ICMP administratively prohibited; the Installer Service
// on the second proxy is never tried. Around it: traffic no policy documents (a web
// proxy, an odd dynamic port, NTP, a scan of SMB) and traffic a policy forbids (SSH from
// the admin PC to the repository, which gets through; RDP from outside, refused).
func veeamFirewallPlan() []firewallStep {
	B, P1, P2, R := veeamBackup, veeamProxy1, veeamProxy2, veeamRepo
	var plan []firewallStep
	add := func(outcome string, f VeeamFact, at float64, rounds, req, resp int) {
		plan = append(plan, firewallStep{veeamStep{fact: f, at: at, count: 1, rounds: rounds, req: req, resp: resp}, outcome})
	}
	dns := func(c netip.Addr, at float64) {
		plan = append(plan, firewallStep{veeamStep{fact: udpFact(c, veeamDNS, 53, "name resolution", "any-to-dns-udp"),
			at: at, count: 2, every: 30, rounds: 2, shape: shapeDNS, name: 4}, OutcomeOK})
	}
	dns(B, 0.2)
	dns(P1, 4)
	dns(P2, 4.5)
	dns(R, 5)
	add(OutcomeOK, tcpFact(veeamAdmin, B, 9392, "console to Veeam Backup Service", "console-to-backup-server-9392"), 1, 10, 1, 2)
	add(OutcomeOK, tcpFact(veeamAdmin, B, 3389, "RDP to the backup server", "admin-to-backup-server-rdp"), 2, 12, 1, 2)
	for i, p := range []netip.Addr{P1, P2} {
		t := 6 + float64(i)
		dyn := uint16(49668 + 44*i)
		add(OutcomeOK, tcpFact(B, p, 445, "component deployment over SMB", "backup-server-to-windows-deploy"), t, 3, 1, 2)
		add(OutcomeOK, tcpFact(B, p, 135, "RPC endpoint mapper", "backup-server-to-windows-deploy"), t+0.5, 1, 1, 1)
		add(OutcomeOK, tcpFact(B, p, dyn, "dynamic RPC after the endpoint mapper", "backup-server-to-windows-dynrpc"), t+0.8, 2, 1, 2)
		if i == 0 { // the Installer Service of proxy02 is never tried: not-tested
			add(OutcomeOK, tcpFact(B, p, 6160, "Veeam Installer Service", "backup-server-to-component-installer"), t+3, 2, 1, 1)
		}
		add(OutcomeOK, tcpFact(B, p, 6162, "Veeam Data Mover control", "backup-server-to-component-datamover"), t+5, 4, 1, 2)
	}
	add(OutcomeOK, tcpFact(B, R, 22, "SSH control channel to the Linux repository", "backup-server-to-linux-ssh", "backup-server-to-repo-linux"), 10, 4, 1, 1)
	add(OutcomeRefused, tcpFact(B, R, 6162, "Veeam Data Mover on the repository, rejected by the new rule set",
		"backup-server-to-component-datamover", "backup-server-to-repo-linux"), 12, 0, 0, 0)
	add(OutcomeOK, tcpFact(B, veeamVC, 443, "vSphere API on vCenter", "backup-server-to-vcenter"), 11, 5, 1, 3)
	add(OutcomeOK, tcpFact(P1, veeamESXi, 443, "vSphere API on the ESXi host", "proxy-to-esxi-443"), 15, 3, 1, 2)
	add(OutcomeOK, tcpFact(P2, veeamESXi, 443, "vSphere API on the ESXi host", "proxy-to-esxi-443"), 16, 3, 1, 2)
	add(OutcomeOK, tcpFact(P1, veeamESXi, 902, "NFC disk reads from ESXi", "proxy-to-esxi-902"), 17, 3, 1, 12)
	add(OutcomeUnanswered, tcpFact(P2, veeamESXi, 902, "NFC disk reads from ESXi, dropped by the new rule set", "proxy-to-esxi-902"), 18, 0, 0, 0)
	for k := range 2 {
		port := uint16(2500 + k)
		add(OutcomeOK, tcpFact(P1, R, port, "backup data to the repository's transmission channel", "legacy-transmission-range", "proxy-to-repository"), 19+float64(k), 3, 12, 1)
	}
	add(OutcomeICMP, tcpFact(P2, R, 3100, "transmission channel outside the range the new rule set opens: ICMP administratively prohibited",
		"legacy-transmission-range", "proxy-to-repository"), 20, 0, 0, 0)
	// Traffic no Veeam rule documents.
	add(OutcomeOK, tcpFact(P1, veeamWeb, 8080, "web proxy on 8080: not Veeam"), 22, 2, 1, 3)
	add(OutcomeOK, tcpFact(R, veeamOdd, 51515, "unexplained dynamic port: not Veeam"), 25, 3, 1, 2)
	for _, c := range []netip.Addr{R, P1} {
		plan = append(plan, firewallStep{veeamStep{fact: udpFact(c, veeamDNS, 123, "NTP time sync: no Veeam rule for this role"),
			at: 3 + float64(c.As4()[3]%7), count: 1, rounds: 1, shape: shapeNTP}, OutcomeOK})
	}
	add(OutcomeUnanswered, tcpFact(veeamOdd, B, 445, "SMB probe from outside, dropped"), 30, 0, 0, 0)
	// Traffic a policy forbids: SSH from the admin PC to the repository gets through, RDP
	// from outside to the backup server is refused.
	add(OutcomeOK, tcpFact(veeamAdmin, R, 22, "SSH from the admin PC to the repository: no Veeam rule"), 26, 6, 1, 1)
	add(OutcomeRefused, tcpFact(veeamOdd, B, 3389, "RDP from outside: no Veeam rule"), 31, 0, 0, 0)
	return plan
}

// VeeamFirewallFacts returns, in a fresh slice, every connection the veeam-firewall
// scenario makes with its outcome, sorted by client, server and protocol.
func VeeamFirewallFacts() []FirewallFact {
	var facts []FirewallFact
	for _, st := range veeamFirewallPlan() {
		facts = append(facts, FirewallFact{st.fact, st.outcome})
	}
	return sortFacts(facts, func(f FirewallFact) VeeamFact { return f.VeeamFact })
}

func veeamFirewallScript(sc *scripter) {
	for _, h := range VeeamHosts() {
		sc.host(h.Addr, h.Windows, 0)
	}
	for _, st := range veeamFirewallPlan() {
		f := st.fact
		at := sec(st.at)
		switch st.outcome {
		case OutcomeRefused:
			sc.refused(at, f.Client, f.Server.Addr(), f.Server.Port())
			continue
		case OutcomeUnanswered:
			sc.unanswered(at, f.Client, f.Server.Addr(), f.Server.Port(), 3)
			continue
		case OutcomeICMP:
			sp := sc.conn(at, f.Client, f.Server.Addr(), f.Server.Port(), false)
			sp.kind, sp.tries, sp.icmpFrom, sp.icmpCode = kindTCPProhibited, 2, FirewallAddr, 13
			sc.specs = append(sc.specs, sp)
			continue
		}
		sc.play(&st.veeamStep)
	}
}
