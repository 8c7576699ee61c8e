package reports

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/policy"
	"github.com/portclass/portclass/classify/ports"
)

// FirewallRules is a policy written as firewall rules that allow exactly its required
// and allowed traffic and drop its forbidden traffic, in the policy's order (so that the
// first match decides, as in the policy), after a rule accepting established and related
// traffic; everything else meets the chain's drop policy. Windows Firewall has no rule
// order (block rules win over allow rules, and inbound traffic no rule allows is
// blocked by default), so there the forbidden rules are block rules and an exception
// written before a broader forbidden rule cannot be expressed; the script says so.
//
// Its formats: "nftables" (nft -f input), "iptables" and "ip6tables"
// (iptables-restore input, IPv4 or IPv6 rules only) and "windows-firewall" (a
// PowerShell script of New-NetFirewallRule commands).
type FirewallRules struct {
	Policy *policy.Policy
	// Table is the nftables table (family inet); "" means "filter".
	Table string
	// Chain is the chain the rules go to; "" means "forward" (nftables) or "FORWARD"
	// (iptables): a firewall between the hosts. A base chain (input, forward, output)
	// is created with policy drop; any other is a regular chain to jump to.
	Chain string
	// Source names the policy in the header comment.
	Source string
	// Succeeding also writes the rules derived from Veeam rules whose ports are the
	// ones a service takes when its documented port is busy (veeam.Rule.Succeeding:
	// vPower NFS's 1059-1062, 2050-2053, ...). Without it only the documented port is
	// opened: a firewall opens what a service uses, and those ports only when the
	// administrator knows the service moved.
	Succeeding bool
}

// rules is the policy's rules the firewall writes: all of them, but the
// succeeding-port rules only with Succeeding.
func (fr *FirewallRules) rules() []*policy.Rule {
	if fr.Succeeding {
		return fr.Policy.Rules
	}
	out := make([]*policy.Rule, 0, len(fr.Policy.Rules))
	for _, r := range fr.Policy.Rules {
		if r.Veeam == nil || !r.Veeam.Succeeding {
			out = append(out, r)
		}
	}
	return out
}

// Nftables writes firewall rules as nft -f input.
type Nftables struct{}

// Iptables writes firewall rules as iptables-restore input, or ip6tables-restore input
// when V6.
type Iptables struct{ V6 bool }

// WindowsFirewall writes firewall rules as a PowerShell script of New-NetFirewallRule
// commands.
type WindowsFirewall struct{}

// Encode implements Encoder[*FirewallRules].
func (Nftables) Encode(w io.Writer, fr *FirewallRules) error {
	return writeFirewall(w, func(bw *bufio.Writer) error { return writeNftables(bw, fr) })
}

// Encode implements Encoder[*FirewallRules].
func (e Iptables) Encode(w io.Writer, fr *FirewallRules) error {
	return writeFirewall(w, func(bw *bufio.Writer) error { return writeIptables(bw, fr, e.V6) })
}

// Encode implements Encoder[*FirewallRules].
func (WindowsFirewall) Encode(w io.Writer, fr *FirewallRules) error {
	return writeFirewall(w, func(bw *bufio.Writer) error { return writeWindows(bw, fr) })
}

func writeFirewall(w io.Writer, write func(*bufio.Writer) error) error {
	bw := bufio.NewWriter(w)
	if err := write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// firewallRule is a policy rule reduced to what a firewall matches, for one address
// family (nftables and iptables cannot mix IPv4 and IPv6 addresses in one rule).
type firewallRule struct {
	r        *policy.Rule
	v6       bool
	from, to []netip.Prefix // nil: any address
}

// familyRules splits r into its IPv4 and IPv6 parts; a part whose from or to side has
// no address of the family is dropped (no packet can match it).
func familyRules(r *policy.Rule) []firewallRule {
	var out []firewallRule
	for _, v6 := range []bool{false, true} {
		if r.Proto == capture.ProtoICMP && v6 || r.Proto == capture.ProtoICMPv6 && !v6 {
			continue
		}
		fs, ts := r.FromSet(), r.ToSet()
		from, okF := familyPrefixes(&fs, v6)
		to, okT := familyPrefixes(&ts, v6)
		if okF && okT {
			out = append(out, firewallRule{r, v6, from, to})
		}
	}
	return out
}

func familyPrefixes(s *policy.AddrSet, v6 bool) ([]netip.Prefix, bool) {
	if s.Any {
		return nil, true
	}
	var out []netip.Prefix
	for _, p := range s.Prefixes {
		if p.Addr().Is6() == v6 {
			out = append(out, p)
		}
	}
	return out, len(out) > 0
}

// comment makes a rule's name and note safe for every firewall's comment syntax:
// printable ASCII without quotes or backslashes, at most n bytes.
func firewallComment(r *policy.Rule, n int) string {
	s := r.Name
	if r.Note != "" {
		s += ": " + r.Note
	}
	s = strings.Map(func(c rune) rune {
		switch {
		case c < 0x20 || c >= 0x7f:
			return '?'
		case c == '"' || c == '\'' || c == '`':
			return '_'
		case c == '\\':
			return '/'
		}
		return c
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

func firewallHeader(bw *bufio.Writer, fr *FirewallRules, lines ...string) {
	src := strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return '?'
		}
		return c
	}, fr.Source)
	fmt.Fprintf(bw, "# Written by portclass policy rules from %s: %d rules.\n", src, len(fr.rules()))
	if n := len(fr.Policy.Rules) - len(fr.rules()); n > 0 {
		fmt.Fprintf(bw, "# %d rules for ports a service takes when its documented port is busy left out (--succeeding-ports writes them).\n", n)
	}
	for _, l := range lines {
		bw.WriteString("# " + l + "\n")
	}
}

var baseChains = map[string]bool{"input": true, "forward": true, "output": true}

func writeNftables(bw *bufio.Writer, fr *FirewallRules) error {
	o := fr
	table, chain := o.Table, o.Chain
	if table == "" {
		table = "filter"
	}
	if chain == "" {
		chain = "forward"
	}
	for _, name := range []string{table, chain} {
		if err := checkFirewallIdent(name); err != nil {
			return err
		}
	}
	firewallHeader(bw, fr, "Load with: nft -f FILE. Required and allowed rules accept new connections, forbidden rules drop;",
		"the first match decides, as in the policy. Replies and ICMP errors pass as established/related.")
	fmt.Fprintf(bw, "add table inet %s\n", table)
	if baseChains[chain] {
		fmt.Fprintf(bw, "add chain inet %s %s { type filter hook %s priority filter; policy drop; }\n", table, chain, chain)
	} else {
		fmt.Fprintf(bw, "add chain inet %s %s\n", table, chain)
	}
	fmt.Fprintf(bw, "add rule inet %s %s ct state established,related accept\n", table, chain)
	fmt.Fprintf(bw, "add rule inet %s %s ct state invalid drop\n", table, chain)
	for _, r := range fr.rules() {
		for _, fr := range familyRules(r) {
			var b strings.Builder
			fmt.Fprintf(&b, "add rule inet %s %s", table, chain)
			fam := "ip"
			if fr.v6 {
				fam = "ip6"
			}
			if fr.from != nil {
				fmt.Fprintf(&b, " %s saddr %s", fam, nftSet(fr.from))
			}
			if fr.to != nil {
				fmt.Fprintf(&b, " %s daddr %s", fam, nftSet(fr.to))
			}
			switch {
			case r.Proto == 0:
				if fr.from == nil && fr.to == nil {
					fmt.Fprintf(&b, " meta nfproto ipv%s", map[bool]string{false: "4", true: "6"}[fr.v6])
				}
			case r.Ports != nil:
				fmt.Fprintf(&b, " %s dport %s", capture.ProtoName(r.Proto), nftPorts(r.Ports))
			case r.Proto == capture.ProtoICMPv6:
				b.WriteString(" meta l4proto ipv6-icmp")
			case r.Proto == capture.ProtoICMP || r.Proto == capture.ProtoTCP || r.Proto == capture.ProtoUDP || r.Proto == capture.ProtoSCTP:
				b.WriteString(" meta l4proto " + capture.ProtoName(r.Proto))
			default:
				fmt.Fprintf(&b, " meta l4proto %d", r.Proto)
			}
			if r.Expect == policy.ExpectForbidden {
				b.WriteString(" drop")
			} else {
				b.WriteString(" ct state new accept")
			}
			fmt.Fprintf(&b, " comment \"%s\"\n", firewallComment(r, 120))
			bw.WriteString(b.String())
		}
	}
	return nil
}

// checkFirewallIdent accepts a table or chain name that needs no quoting.
func checkFirewallIdent(s string) error {
	for i, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && ('0' <= c && c <= '9' || c == '-')) {
			return fmt.Errorf("table or chain name %q: use letters, digits, '_' and '-' (not first)", s)
		}
	}
	if s == "" || len(s) > 28 {
		return fmt.Errorf("table or chain name %q: 1 to 28 characters", s)
	}
	return nil
}

func nftSet(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = prefixLabel(p)
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func nftPorts(spans []ports.Span) string {
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = s.String()
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func writeIptables(bw *bufio.Writer, fr *FirewallRules, v6 bool) error {
	o := fr
	chain := o.Chain
	if chain == "" {
		chain = "FORWARD"
	}
	if baseChains[strings.ToLower(chain)] {
		chain = strings.ToUpper(chain)
	}
	if err := checkFirewallIdent(chain); err != nil {
		return err
	}
	tool := "iptables-restore"
	if v6 {
		tool = "ip6tables-restore"
	}
	firewallHeader(bw, fr, "Load with: "+tool+" FILE (it replaces the filter table). Required and allowed rules accept",
		"new connections, forbidden rules drop; the first match decides, as in the policy.")
	skipped := 0
	var lines []string
	for _, r := range fr.rules() {
		frs := familyRules(r)
		n := 0
		for _, fr := range frs {
			if fr.v6 != v6 {
				continue
			}
			n++
			lines = append(lines, iptablesLines(chain, &fr)...)
		}
		if n == 0 && len(frs) > 0 {
			skipped++
		}
	}
	if skipped > 0 {
		other := "ip6tables"
		if v6 {
			other = "iptables"
		}
		what := "rules hold"
		if skipped == 1 {
			what = "rule holds"
		}
		fmt.Fprintf(bw, "# %d %s only addresses of the other family: see --format %s.\n", skipped, what, other)
	}
	bw.WriteString("*filter\n")
	if baseChains[strings.ToLower(chain)] {
		fmt.Fprintf(bw, ":%s DROP [0:0]\n", chain)
	} else {
		fmt.Fprintf(bw, ":%s - [0:0]\n", chain)
	}
	fmt.Fprintf(bw, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", chain)
	fmt.Fprintf(bw, "-A %s -m conntrack --ctstate INVALID -j DROP\n", chain)
	for _, l := range lines {
		bw.WriteString(l + "\n")
	}
	bw.WriteString("COMMIT\n")
	return nil
}

// iptablesLines renders one family rule; multiport takes at most 15 ports (a range
// counts twice), so long port lists become several lines.
func iptablesLines(chain string, fr *firewallRule) []string {
	r := fr.r
	var base strings.Builder
	base.WriteString("-A " + chain)
	if fr.from != nil {
		base.WriteString(" -s " + iptablesAddrs(fr.from))
	}
	if fr.to != nil {
		base.WriteString(" -d " + iptablesAddrs(fr.to))
	}
	if r.Proto != 0 {
		switch r.Proto {
		case capture.ProtoICMPv6:
			base.WriteString(" -p ipv6-icmp")
		case capture.ProtoICMP, capture.ProtoTCP, capture.ProtoUDP, capture.ProtoSCTP:
			base.WriteString(" -p " + capture.ProtoName(r.Proto))
		default:
			base.WriteString(" -p " + strconv.Itoa(int(r.Proto)))
		}
	}
	tail := fmt.Sprintf(" -m comment --comment \"%s\"", firewallComment(r, 240))
	if r.Expect == policy.ExpectForbidden {
		tail += " -j DROP"
	} else {
		tail = " -m conntrack --ctstate NEW" + tail + " -j ACCEPT"
	}
	if r.Ports == nil {
		return []string{base.String() + tail}
	}
	var out []string
	var chunk []string
	weight := 0
	flush := func() {
		if len(chunk) > 0 {
			out = append(out, base.String()+" -m multiport --dports "+strings.Join(chunk, ",")+tail)
		}
		chunk, weight = nil, 0
	}
	for _, s := range r.Ports {
		txt, wgt := strconv.Itoa(int(s.Lo)), 1
		if s.Lo != s.Hi {
			txt, wgt = txt+":"+strconv.Itoa(int(s.Hi)), 2
		}
		if weight+wgt > 15 {
			flush()
		}
		chunk = append(chunk, txt)
		weight += wgt
	}
	flush()
	return out
}

func iptablesAddrs(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func writeWindows(bw *bufio.Writer, fr *FirewallRules) error {
	p := fr.Policy
	firewallHeader(bw, fr, "Run in an elevated PowerShell on each server (or push as a GPO): inbound rules on the",
		"hosts in each rule's To. Windows Firewall has no rule order: block rules (the policy's forbidden",
		"rules) win over allow rules, and inbound traffic no rule allows is blocked by default.",
		"Rerunning the script replaces the rules it wrote before (group 'portclass').")
	bw.WriteString("Remove-NetFirewallRule -Group 'portclass' -ErrorAction SilentlyContinue\n")
	for i, r := range fr.rules() {
		if r.Proto == capture.ProtoSCTP && r.Ports != nil {
			fmt.Fprintf(bw, "# %s: not written: Windows Firewall cannot match SCTP ports.\n", r.Name)
			continue
		}
		if r.Expect == policy.ExpectForbidden {
			if j := slices.IndexFunc(p.Rules[:i], func(e *policy.Rule) bool { return e.Expect != policy.ExpectForbidden && rulesOverlap(e, r) }); j >= 0 {
				fmt.Fprintf(bw, "# %s: not written: as a block rule it would also block %s, which comes first in the policy;\n", r.Name, p.Rules[j].Name)
				bw.WriteString("#   inbound traffic that no rule allows is blocked anyway.\n")
				continue
			}
		}
		from, to := r.FromSet(), r.ToSet()
		if r.Proto == capture.ProtoICMP || r.Proto == capture.ProtoICMPv6 {
			// An ICMPv4 rule with IPv6 addresses (or the reverse) matches nothing.
			var okF, okT bool
			fs, ts := r.FromSet(), r.ToSet()
			from.Prefixes, okF = familyPrefixes(&fs, r.Proto == capture.ProtoICMPv6)
			to.Prefixes, okT = familyPrefixes(&ts, r.Proto == capture.ProtoICMPv6)
			if !okF || !okT {
				continue
			}
		}
		var b strings.Builder
		b.WriteString("New-NetFirewallRule -Group 'portclass' -DisplayName '" + psQuote("portclass "+r.Name) + "'")
		b.WriteString(" -Direction Inbound")
		if r.Expect == policy.ExpectForbidden {
			b.WriteString(" -Action Block")
		} else {
			b.WriteString(" -Action Allow")
		}
		switch r.Proto {
		case 0:
			b.WriteString(" -Protocol Any")
		case capture.ProtoTCP:
			b.WriteString(" -Protocol TCP")
		case capture.ProtoUDP:
			b.WriteString(" -Protocol UDP")
		case capture.ProtoICMP:
			b.WriteString(" -Protocol ICMPv4")
		case capture.ProtoICMPv6:
			b.WriteString(" -Protocol ICMPv6")
		default:
			b.WriteString(" -Protocol " + strconv.Itoa(int(r.Proto)))
		}
		if r.Ports != nil {
			parts := make([]string, len(r.Ports))
			for i, s := range r.Ports {
				parts[i] = s.String()
			}
			b.WriteString(" -LocalPort " + strings.Join(parts, ","))
		}
		if !from.Any {
			b.WriteString(" -RemoteAddress " + windowsAddrs(from.Prefixes))
		}
		if !to.Any {
			b.WriteString(" -LocalAddress " + windowsAddrs(to.Prefixes))
		}
		b.WriteString(" -Description '" + psQuote(firewallComment(r, 1000)) + "'")
		bw.WriteString(b.String() + "\n")
	}
	return nil
}

// rulesOverlap reports whether some flow could match both a and b.
func rulesOverlap(a, b *policy.Rule) bool {
	if a.Proto != 0 && b.Proto != 0 && a.Proto != b.Proto {
		return false
	}
	if a.Ports != nil && b.Ports != nil && !slices.ContainsFunc(a.Ports, func(s ports.Span) bool {
		return slices.ContainsFunc(b.Ports, s.Overlaps)
	}) {
		return false
	}
	af, bf, at, bt := a.FromSet(), b.FromSet(), a.ToSet(), b.ToSet()
	return setsOverlap(&af, &bf) && setsOverlap(&at, &bt)
}

func setsOverlap(a, b *policy.AddrSet) bool {
	if a.Any || b.Any {
		return true
	}
	for _, p := range a.Prefixes {
		if slices.ContainsFunc(b.Prefixes, p.Overlaps) {
			return true
		}
	}
	return false
}

func windowsAddrs(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = prefixLabel(p)
	}
	return strings.Join(parts, ",")
}

// psQuote escapes s for a single-quoted PowerShell string (already ASCII without
// quotes when it comes from firewallComment; names are plain).
func psQuote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// prefixLabel is "192.0.2.10" for a single address and "192.0.2.0/24" otherwise.
func prefixLabel(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
