package synth

import (
	"net/netip"
	"slices"
	"time"
)

// The veeam-after scenario is the veeam scenario's backup job captured again a day
// later, after a firewall change went wrong: the same hosts and the same plan, except
// for the conversations in VeeamChanges. It is the "after" of a before/after pair
// (veeam.pcap, veeam-after.pcap) for testing `portclass diff`.

// ChangeKind says what the firewall change did to one conversation.
type ChangeKind uint8

const (
	ChangeUnknown    ChangeKind = iota
	ChangeRefused               // every attempt is answered by a TCP RST (Zeek REJ)
	ChangeUnanswered            // every SYN is dropped: SYN and retransmissions, no answer (S0)
	ChangeProhibited            // every datagram is answered by ICMP "administratively prohibited" from the gateway
	ChangeGone                  // the conversation no longer happens
	ChangeNew                   // a conversation the veeam scenario does not have, answered
)

var changeNames = [...]string{"", "refused", "unanswered", "prohibited", "gone", "new"}

func (c ChangeKind) String() string {
	if int(c) < len(changeNames) {
		return changeNames[c]
	}
	return ""
}

// VeeamChange is one conversation the veeam-after scenario changes: the key portclass
// diff compares (protocol, client address, server address and port), what happened,
// and why.
type VeeamChange struct {
	Proto   uint8
	Client  netip.Addr
	Server  netip.AddrPort
	Change  ChangeKind
	Meaning string
}

// veeamGateway is the router/firewall of the veeam segment; after the change it sends
// the ICMP errors.
var veeamGateway = netip.MustParseAddr("192.0.2.1")

// VeeamGateway returns the address that sends the ICMP errors of the veeam-after
// scenario.
func VeeamGateway() netip.Addr { return veeamGateway }

// veeamAfterNew are the steps the veeam-after scenario adds.
func veeamAfterNew() []veeamStep {
	return []veeamStep{
		{fact: tcpFact(veeamAdmin, veeamBackup, 9419, "new: REST API client on the admin PC", "rest-client-to-backup-server-9419"),
			at: 3, count: 1, rounds: 6, req: 1, resp: 2},
		{fact: tcpFact(veeamProxy1, veeamWeb, 3128, "new: the web proxy moved from 8080 to 3128"),
			at: 20, count: 1, rounds: 2, req: 1, resp: 3},
	}
}

// VeeamChanges returns, in a fresh slice sorted like VeeamFacts, every conversation
// of the veeam-after scenario that differs from the veeam scenario. Every other
// VeeamFact happens in both, answered.
func VeeamChanges() []VeeamChange {
	tcp := func(c netip.Addr, s netip.Addr, port uint16, k ChangeKind, meaning string) VeeamChange {
		return VeeamChange{ProtoTCP, c, netip.AddrPortFrom(s, port), k, meaning}
	}
	out := []VeeamChange{
		tcp(veeamBackup, veeamProxy1, 6162, ChangeRefused, "the proxy's host firewall lost the Data Mover rule: RST"),
		tcp(veeamProxy2, veeamRepo, 2502, ChangeUnanswered, "the firewall between proxy02 and the repository drops the data channels"),
		tcp(veeamProxy2, veeamRepo, 2503, ChangeUnanswered, "the firewall between proxy02 and the repository drops the data channels"),
		{ProtoUDP, veeamRepo, netip.AddrPortFrom(veeamDNS, 123), ChangeProhibited, "NTP from the repository is now administratively prohibited"},
		tcp(veeamProxy1, veeamWeb, 8080, ChangeGone, "the web proxy no longer listens on 8080"),
	}
	for _, st := range veeamAfterNew() {
		f := st.fact
		out = append(out, VeeamChange{f.Proto, f.Client, f.Server, ChangeNew, f.Meaning})
	}
	slices.SortFunc(out, func(a, b VeeamChange) int {
		if c := a.Client.Compare(b.Client); c != 0 {
			return c
		}
		if c := a.Server.Compare(b.Server); c != 0 {
			return c
		}
		return int(a.Proto) - int(b.Proto)
	})
	return out
}

// veeamAfterDelay is how much later than the veeam scenario the veeam-after scenario
// starts by default.
const veeamAfterDelay = 24 * time.Hour

func veeamAfterScript(sc *scripter) {
	for _, h := range VeeamHosts() {
		sc.host(h.Addr, h.Windows, 0)
	}
	type key struct {
		proto  uint8
		client netip.Addr
		server netip.AddrPort
	}
	changes := map[key]ChangeKind{}
	for _, c := range VeeamChanges() {
		changes[key{c.Proto, c.Client, c.Server}] = c.Change
	}
	for _, st := range append(veeamPlan(), veeamAfterNew()...) {
		f := st.fact
		c, s, port := f.Client, f.Server.Addr(), f.Server.Port()
		switch changes[key{f.Proto, c, f.Server}] {
		case ChangeGone:
		case ChangeRefused:
			for k := range st.count {
				sc.refused(sec(st.at+float64(k)*st.every), c, s, port)
			}
		case ChangeUnanswered:
			for k := range st.count {
				sc.unanswered(sec(st.at+float64(k)*st.every), c, s, port, 3)
			}
		case ChangeProhibited:
			for k := range st.count {
				sp := sc.conn(sec(st.at+float64(k)*st.every), c, s, port, false)
				sp.kind, sp.tries, sp.reqLen = kindUDPUnreachable, 2, 48
				sp.icmpFrom, sp.icmpCode = veeamGateway, 13
				sc.specs = append(sc.specs, sp)
			}
		default:
			sc.play(&st)
		}
	}
}
