package policy

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

// testPolicy is a policy of every kind of term: addresses, prefixes, groups, roles
// (with a rule for a parent role), any, IPv6, ranges, ICMP, and the three expectations.
const testPolicy = `
version: 1
inventory:
  backup-server: [192.0.2.10]
  repository-linux: [192.0.2.30, "2001:db8::30"]
  dns-server: 192.0.2.53
groups:
  admins: [192.0.2.100, 192.0.2.101]
  outside: [198.51.100.0/24, "2001:db8:bad::/48"]
rules:
  - name: no-ssh-from-outside
    from: outside
    to: repository
    proto: tcp
    ports: 22
    expect: forbidden
    note: nobody outside manages the repository
  - name: console
    from: admins
    to: backup-server
    proto: tcp
    ports: [9392, "2500-2502"]
    expect: required
  - name: dns
    from: any
    to: dns-server
    proto: udp
    ports: "53"
    expect: allowed
  - name: ping
    from: [admins, 192.0.2.10]
    to: 192.0.2.53
    proto: icmp
    expect: required
  - name: ssh-to-repo
    from: backup-server
    to: repository
    proto: tcp
    ports: 22
    expect: allowed
`

func mustPolicy(t testing.TB, text string) *Policy {
	t.Helper()
	p, err := Load("policy.yaml", []byte(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPolicy(t *testing.T) {
	p := mustPolicy(t, testPolicy)
	if len(p.Rules) != 5 || p.VeeamDerived() {
		t.Fatalf("%d rules, veeam %v", len(p.Rules), p.VeeamDerived())
	}
	r := p.Rules[0]
	if r.Name != "no-ssh-from-outside" || r.Expect != ExpectForbidden || r.Proto != capture.ProtoTCP || r.Line != 11 ||
		!slices.Equal(r.Ports, []ports.Span{{Lo: 22, Hi: 22}}) || r.Note != "nobody outside manages the repository" {
		t.Errorf("rule 1: %+v", r)
	}
	// "repository" is a parent of repository-linux: both of its hosts are covered.
	var to []string
	for _, u := range r.ToUnits() {
		to = append(to, u.Label)
	}
	if !slices.Equal(to, []string{"192.0.2.30", "2001:db8::30"}) {
		t.Errorf("rule 1 to units %v", to)
	}
	if got := p.Rules[1].Ports; !slices.Equal(got, []ports.Span{{Lo: 9392, Hi: 9392}, {Lo: 2500, Hi: 2502}}) {
		t.Errorf("console ports %v", got)
	}
	if u := p.Rules[2].FromUnits(); len(u) != 1 || !u[0].Any || u[0].Label != "any" {
		t.Errorf("dns from units %+v", u)
	}
	ping := p.Rules[3]
	if ping.Proto != capture.ProtoICMP || ping.Ports != nil || len(ping.FromUnits()) != 3 || ping.PortsString() != "" {
		t.Errorf("ping %+v", ping)
	}
	if len(p.Groups) != 2 || p.Groups[0].Name != "admins" || len(p.Groups[1].Members) != 2 {
		t.Errorf("groups %+v", p.Groups)
	}
	if inv := p.Inventory(); len(inv) != 3 || inv["dns-server"][0] != "192.0.2.53" {
		t.Errorf("inventory %v", inv)
	}
	for i, r := range p.Rules {
		if r.Index != i {
			t.Errorf("rule %s index %d, want %d", r.Name, r.Index, i)
		}
	}
}

// flow builds a finished flow for the matcher.
func flow(proto uint8, client, server string, state capture.State, pkts ...uint64) *capture.Flow {
	f := &capture.Flow{Proto: proto, State: state, First: time.Unix(100, 0).UTC(), Last: time.Unix(101, 0).UTC()}
	parse := func(s string) netip.AddrPort {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap
		}
		return netip.AddrPortFrom(netip.MustParseAddr(s), 0)
	}
	f.Client, f.Server = parse(client), parse(server)
	f.Packets = [2]uint64{1, 1}
	if len(pkts) == 2 {
		f.Packets = [2]uint64{pkts[0], pkts[1]}
	}
	f.Bytes = [2]uint64{60 * f.Packets[0], 60 * f.Packets[1]}
	return f
}

func TestPolicyMatch(t *testing.T) {
	p := mustPolicy(t, testPolicy)
	for _, tt := range []struct {
		f    *capture.Flow
		want string // first matching rule, "" for none
	}{
		{flow(6, "192.0.2.100:50000", "192.0.2.10:9392", capture.SF), "console"},
		{flow(6, "192.0.2.101:50000", "192.0.2.10:2501", capture.SF), "console"},
		{flow(6, "192.0.2.101:50000", "192.0.2.10:2503", capture.SF), ""},   // outside the range
		{flow(17, "192.0.2.100:50000", "192.0.2.10:9392", capture.SF), ""},  // wrong protocol
		{flow(6, "192.0.2.10:50000", "192.0.2.100:9392", capture.SF), ""},   // wrong direction
		{flow(6, "192.0.2.102:50000", "192.0.2.10:9392", capture.SF), ""},   // not an admin
		{flow(17, "203.0.113.9:40000", "192.0.2.53:53", capture.SF), "dns"}, // any
		{flow(6, "198.51.100.7:40000", "192.0.2.30:22", capture.SF), "no-ssh-from-outside"},
		{flow(6, "[2001:db8:bad::1]:40000", "[2001:db8::30]:22", capture.SF), "no-ssh-from-outside"},
		{flow(6, "192.0.2.10:40000", "[2001:db8::30]:22", capture.SF), "ssh-to-repo"}, // role, v6 host
		{flow(6, "192.0.2.10:40000", "192.0.2.30:22", capture.SF), "ssh-to-repo"},
		{flow(1, "192.0.2.10", "192.0.2.53", capture.SF), "ping"},
		{flow(1, "192.0.2.11", "192.0.2.53", capture.SF), ""},
	} {
		got := ""
		if r := p.Match(tt.f); r != nil {
			got = r.Name
		}
		if got != tt.want {
			t.Errorf("%s %v -> %v: rule %q, want %q", capture.ProtoName(tt.f.Proto), tt.f.Client, tt.f.Server, got, tt.want)
		}
	}
	// The first match decides: a broader allowed rule after a forbidden one does not
	// document what the forbidden one matches, and an exception written first wins.
	q := mustPolicy(t, `
rules:
  - {name: admin-exception, from: 192.0.2.100, to: 192.0.2.0/24, proto: any, expect: allowed}
  - {name: no-mgmt, from: any, to: 192.0.2.0/24, proto: any, expect: forbidden}
  - {name: everything, from: any, to: any, proto: any, expect: allowed}
`)
	for client, want := range map[string]string{"192.0.2.100:1": "admin-exception", "192.0.2.99:1": "no-mgmt"} {
		if r := q.Match(flow(6, client, "192.0.2.5:443", capture.SF)); r == nil || r.Name != want {
			t.Errorf("%s: %v, want %s", client, r, want)
		}
	}
	if r := q.Match(flow(17, "192.0.2.99:1", "203.0.113.1:53", capture.SF)); r == nil || r.Name != "everything" {
		t.Errorf("outside 192.0.2.0/24: %v", r)
	}
}

func TestLoadPolicyErrors(t *testing.T) {
	inv := "inventory:\n  backup-server: [192.0.2.10]\n"
	rule := func(fields string) string { return "rules:\n  - " + fields + "\n" }
	for _, tt := range []struct {
		name, text, want string
	}{
		{"empty", "", "policy.yaml: empty policy"},
		{"comment only", "# nothing\n", "policy.yaml: empty policy"},
		{"syntax", "rules: [\n", "policy.yaml: yaml: line"},
		{"not a mapping", "- a\n- b\n", "policy.yaml:1:1: policy must be a mapping"},
		{"version", "version: 2\nrules: []\n", `policy.yaml:1:10: version: "2": this build reads version 1`},
		{"unknown key", "rule: []\n", "policy.yaml:1:1: rule: unknown key (valid: version, inventory, groups, veeam, rules)"},
		{"twice", "rules: []\nrules: []\n", "policy.yaml:2:1: rules: key given twice"},
		{"second document", "rules: []\n---\nrules: []\n", "a second YAML document"},
		{"no rules", inv, "policy.yaml:1:1: rules: the policy has no rules"},
		{"unknown role", "inventory:\n  backup-servr: [192.0.2.10]\n", `policy.yaml:2:3: inventory.backup-servr: unknown Veeam role "backup-servr" (did you mean backup-server`},
		{"bad inventory address", "inventory:\n  backup-server: [192.0.2.10, 192.0.2.300]\n", `policy.yaml:2:31: inventory.backup-server[2]: "192.0.2.300": not an address`},
		{"group is a role", "groups:\n  esxi: [192.0.2.1]\n", `policy.yaml:2:3: groups.esxi: "esxi" is a Veeam role`},
		{"group is any", "groups:\n  any: [192.0.2.1]\n", `groups.any: "any" is reserved`},
		{"group is an address", "groups:\n  10.0.0.1: [192.0.2.1]\n", `is an address`},
		{"group bad name", "groups:\n  a b: [192.0.2.1]\n", `groups.a b: name "a b": character ' '`},
		{"group member", "groups:\n  g: [admins]\n", `policy.yaml:2:7: groups.g[1]: "admins": not an address or CIDR prefix`},
		{"rules not a list", "rules: {a: b}\n", "policy.yaml:1:8: rules: want a list of rules, not a mapping"},
		{"no name", rule("{from: any, to: any, proto: any, expect: allowed}"), "policy.yaml:2:5: rules[1].name: missing"},
		{"bad name", rule("{name: 'a b', from: any, to: any, proto: any, expect: allowed}"), `rules[1].name: "a b": character ' ' at 1`},
		{"reserved name", rule("{name: 'veeam:x', from: any, to: any, proto: any, expect: allowed}"), `names starting with "veeam:" are those of derived rules`},
		{"duplicate name", "rules:\n  - {name: a, from: any, to: any, proto: any, expect: allowed}\n  - {name: a, from: any, to: any, proto: any, expect: allowed}\n",
			`policy.yaml:3:12: rules[2].name: "a" is also the name of the rule on line 2`},
		{"unknown rule key", rule("{name: a, from: any, to: any, proto: tcp, expects: allowed}"), "policy.yaml:2:47: rules[1].expects: unknown key (valid: name, from, to, proto, ports, expect, note)"},
		{"missing to", rule("{name: a, from: any, proto: tcp, expect: allowed}"), "rules[1] (a).to: missing"},
		{"unknown word", "groups:\n  admins: [192.0.2.100]\n" + rule("{name: a, from: admns, to: any, proto: tcp, expect: allowed}"),
			`policy.yaml:4:21: rules[1] (a).from: "admns" is not a group, a Veeam role, an address, a CIDR prefix or any (did you mean admins?)`},
		{"role without hosts", rule("{name: a, from: any, to: esxi, proto: tcp, ports: 443, expect: allowed}"), `rules[1] (a).to: no host of the inventory plays role "esxi"`},
		{"empty list", rule("{name: a, from: [], to: any, proto: tcp, expect: allowed}"), "rules[1] (a).from: empty list"},
		{"nested list", rule("{name: a, from: [[192.0.2.1]], to: any, proto: tcp, expect: allowed}"), "rules[1] (a).from[1]: want a value, not a list"},
		{"bad proto", rule("{name: a, from: any, to: any, proto: tcpp, expect: allowed}"), `rules[1] (a).proto: "tcpp" is not tcp, udp, sctp, icmp, icmpv6, ip-N`},
		{"proto 0", rule("{name: a, from: any, to: any, proto: ip-0, expect: allowed}"), `"ip-0" is not`},
		{"ports on icmp", rule("{name: a, from: any, to: any, proto: icmp, ports: 1, expect: allowed}"), "rules[1] (a).ports: protocol icmp has no ports"},
		{"bad port", rule("{name: a, from: any, to: any, proto: tcp, ports: [22, 70000], expect: allowed}"), `policy.yaml:2:59: rules[1] (a).ports[2]: port range "70000": 70000 is above 65535`},
		{"bad range", rule("{name: a, from: any, to: any, proto: tcp, ports: '3300-2500', expect: allowed}"), `starts at 3300, after its end 2500`},
		{"required no ports", rule("{name: a, from: any, to: any, proto: tcp, expect: required}"), "rules[1] (a).ports: missing: a required tcp rule names the ports"},
		{"required any proto", rule("{name: a, from: any, to: any, proto: any, expect: required}"), "rules[1] (a).proto: a required rule names its protocol"},
		{"bad expect", rule("{name: a, from: any, to: any, proto: tcp, expect: must}"), `rules[1] (a).expect: "must" is not required, allowed or forbidden`},
		{"note not text", rule("{name: a, from: any, to: any, proto: tcp, expect: allowed, note: [x]}"), "rules[1] (a).note: want a value, not a list"},
		{"veeam yes", "veeam: yes\n", `policy.yaml:1:8: veeam: want true, false or a mapping, not "yes"`},
		{"veeam version", inv + "veeam: {versions: ['9']}\n", `policy.yaml:3:8: veeam.versions: unknown version "9"`},
		{"veeam key", "veeam: {version: 12}\n", "veeam.version: unknown key"},
		{"veeam port key", "veeam: {ports: {backup: 9500}}\n", `veeam.ports.backup: unknown key (valid: backup-service`},
		{"veeam port", "veeam: {ports: {backup-service: 0}}\n", `veeam.ports.backup-service: "0" is not a port`},
		{"veeam range", "veeam: {data_mover_range: 2500-}\n", `veeam.data_mover_range: port range "2500-": missing port number`},
		{"veeam expect", "veeam: {expect: forbidden}\n", `veeam.expect: "forbidden": derived rules are required or allowed`},
		{"veeam rule id", inv + "veeam: {allowed: [no-such-rule]}\n", `policy.yaml:3:19: veeam.allowed[1]: "no-such-rule" is not a rule of the Veeam matrix`},
		{"veeam enabled", "veeam: {enabled: 1}\n", "veeam.enabled: want true or false"},
		{"too large", "rules: []\n# " + strings.Repeat("x", MaxBytes) + "\n", "policy.yaml: larger than the 2 MiB (2097152 bytes) a policy may have"},
		{"too many rules", "rules:\n" + strings.Repeat("  - {name: a, from: any, to: any, proto: tcp, expect: allowed}\n", MaxRules+1),
			"policy.yaml:2:3: rules: 10001 rules, more than the 10000 a policy may have"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("policy.yaml", []byte(tt.text), Options{})
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrPolicy) || pe.File != "policy.yaml" {
				t.Errorf("error %v is not a *Error for policy.yaml matching ErrPolicy", err)
			}
		})
	}
}

// TestPolicyVeeam: with veeam enabled, the matrix rules between the declared roles
// become rules (a rule for a parent role covers its children), in matrix order after
// the user's rules, and the veeam options change them.
func TestPolicyVeeam(t *testing.T) {
	const base = `
inventory:
  backup-server: [192.0.2.10]
  backup-proxy-vmware: [192.0.2.21, 192.0.2.22]
  repository-linux: [192.0.2.30]
rules:
  - {name: mine, from: any, to: backup-server, proto: tcp, ports: 9392, expect: allowed}
`
	byName := func(p *Policy) map[string]*Rule {
		m := map[string]*Rule{}
		for _, r := range p.Rules {
			m[r.Name] = r
		}
		return m
	}
	p := mustPolicy(t, base+"veeam: true\n")
	rules := byName(p)
	if p.Rules[0].Name != "mine" || !p.VeeamDerived() {
		t.Fatalf("first rule %s, veeam %v", p.Rules[0].Name, p.VeeamDerived())
	}
	dm := rules["veeam:backup-server-to-component-datamover"]
	if dm == nil || dm.Expect != ExpectRequired || dm.Veeam == nil || dm.Line != 0 || dm.Note != dm.Veeam.Service {
		t.Fatalf("datamover rule %+v", dm)
	}
	var to []string
	for _, u := range dm.ToUnits() {
		to = append(to, u.Label)
	}
	// veeam-component covers the proxies and the repository, and the backup server itself
	// (which is also a veeam-component; checks skip the pair with itself).
	if !slices.Equal(to, []string{"192.0.2.10", "192.0.2.21", "192.0.2.22", "192.0.2.30"}) { // sorted by address
		t.Errorf("datamover to %v", to)
	}
	if rules["veeam:proxy-to-esxi-902"] != nil {
		t.Error("a rule to esxi was derived without an esxi host")
	}
	if r := rules["veeam:proxy-to-repository"]; r == nil || !slices.Contains(r.Ports, ports.Span{Lo: 2500, Hi: 3300}) {
		t.Errorf("proxy-to-repository %+v", r)
	}
	// Options: the pre-v10 range, a changed port, allowed and excluded rules; the
	// configuration's options are the defaults the policy refines.
	p = mustPolicy(t, base+`veeam:
  versions: ["12", pre-10-upgraded]
  data_mover_range: 2500-5000
  expect: allowed
  allowed: [backup-server-to-linux-ssh]
  exclude: [backup-server-to-component-installer]
`)
	rules = byName(p)
	if r := rules["veeam:legacy-transmission-range"]; r == nil || r.Expect != ExpectAllowed {
		t.Errorf("legacy range not derived as allowed: %+v", r)
	}
	if r := rules["veeam:proxy-to-repository"]; r == nil || !slices.Contains(r.Ports, ports.Span{Lo: 2500, Hi: 5000}) {
		t.Errorf("data_mover_range not applied: %+v", r)
	}
	if rules["veeam:backup-server-to-component-installer"] != nil {
		t.Error("excluded rule derived")
	}
	if r := rules["veeam:backup-server-to-linux-ssh"]; r == nil || r.Expect != ExpectAllowed {
		t.Errorf("allowed rule %+v", r)
	}
	q, err := Load("p", []byte(base+"veeam: {ports: {data-mover: 7000}}\n"), Options{Veeam: veeam.Options{Versions: []string{"12"}, Ports: map[string]uint16{"backup-service": 9500}}})
	if err != nil {
		t.Fatal(err)
	}
	rules = byName(q)
	if r := rules["veeam:console-to-backup-server-9392"]; r != nil {
		t.Errorf("console rule derived without a console host: %+v", r)
	}
	if r := rules["veeam:backup-server-to-component-datamover"]; r == nil || !slices.Contains(r.Ports, ports.Span{Lo: 7000, Hi: 7000}) {
		t.Errorf("veeam.ports.data-mover not applied: %+v", r)
	}
	if got := q.Matrix().Options(); !slices.Equal(got.Versions, []string{"12"}) || got.Ports["backup-service"] != 9500 || got.Ports["data-mover"] != 7000 {
		t.Errorf("merged options %+v", got)
	}
	// veeam: false derives nothing; an inventory alone is no policy.
	if _, err := Load("p", []byte("inventory: {esxi: [192.0.2.41]}\nveeam: false\n"), Options{}); err == nil {
		t.Error("a policy without rules loaded")
	}
	// "both" matrix rules become a tcp and a udp rule.
	p = mustPolicy(t, "inventory: {dns-server: [192.0.2.53]}\nveeam: true\n")
	if r := byName(p)["veeam:any-to-dns-udp"]; r == nil || r.Proto != capture.ProtoUDP {
		t.Errorf("any-to-dns-udp %+v", r)
	}
}

func TestFlowOutcome(t *testing.T) {
	synack := func(f *capture.Flow) *capture.Flow {
		f.TCPFlags[capture.ToClient] = capture.FlagSYN | capture.FlagACK | capture.FlagRST
		return f
	}
	unreach := func(f *capture.Flow, v6 bool, typ, code uint8) *capture.Flow {
		f.ICMPErrors = []capture.ICMPError{{V6: v6, Type: typ, Code: code, From: netip.MustParseAddr("192.0.2.1"), Count: 1}}
		return f
	}
	for _, tt := range []struct {
		name string
		f    *capture.Flow
		want Outcome
	}{
		{"SF", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.SF), OutcomeOK},
		{"S1", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.S1), OutcomeOK},
		{"RSTR without SYN-ACK", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.RSTR), OutcomeRefused},
		{"RSTR after SYN-ACK", synack(flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.RSTR)), OutcomeOK},
		{"RSTO", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.RSTO), OutcomeOK},
		{"S2", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.S2), OutcomeOK},
		{"S3", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.S3), OutcomeOK},
		{"SHR", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.SHR, 0, 2), OutcomeOK},
		{"OTH both ways", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.OTH, 3, 3), OutcomeOK},
		{"OTH one way", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.OTH, 3, 0), OutcomeUnknown},
		{"S0", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.S0, 3, 0), OutcomeUnanswered},
		{"SH", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.SH, 2, 0), OutcomeUnanswered},
		{"RSTOS0", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.RSTOS0, 2, 0), OutcomeUnanswered},
		{"REJ", flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.REJ), OutcomeRefused},
		{"S0 admin-prohibited", unreach(flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.S0, 2, 0), false, 3, 13), OutcomeICMP},
		{"REJ and ICMP", unreach(flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.REJ), false, 3, 10), OutcomeRefused},
		{"S0 frag needed", unreach(flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.S0, 2, 0), false, 3, 4), OutcomeICMP},
		{"SF and ICMP", unreach(flow(6, "192.0.2.1:1", "192.0.2.2:22", capture.SF), false, 3, 13), OutcomeOK},
		{"UDP SF", flow(17, "192.0.2.1:1", "192.0.2.2:53", capture.SF), OutcomeOK},
		{"UDP SHR", flow(17, "192.0.2.1:1", "192.0.2.2:53", capture.SHR, 0, 2), OutcomeUnknown},
		{"UDP S0", flow(17, "192.0.2.1:1", "192.0.2.2:53", capture.S0, 4, 0), OutcomeUnanswered},
		{"UDP port unreachable", unreach(flow(17, "192.0.2.1:1", "192.0.2.2:161", capture.S0, 3, 0), false, 3, 3), OutcomeICMP},
		{"UDP v6 admin-prohibited", unreach(flow(17, "[2001:db8::1]:1", "[2001:db8::2]:161", capture.S0, 3, 0), true, 1, 1), OutcomeICMP},
		{"UDP v6 too big", unreach(flow(17, "[2001:db8::1]:1", "[2001:db8::2]:161", capture.S0, 3, 0), true, 2, 0), OutcomeUnanswered},
		{"UDP time exceeded", unreach(flow(17, "192.0.2.1:1", "192.0.2.2:161", capture.S0, 3, 0), false, 11, 0), OutcomeUnanswered},
		{"ping answered", flow(1, "192.0.2.1", "192.0.2.2", capture.SF), OutcomeOK},
		{"ping unanswered", flow(1, "192.0.2.1", "192.0.2.2", capture.S0, 4, 0), OutcomeUnanswered},
	} {
		if got := FlowOutcome(capture.OutcomeOf(tt.f)); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if classify.ICMPErrorMeaning(false, 3, 13) != "communication administratively prohibited" || classify.ICMPErrorMeaning(true, 1, 1) != "communication administratively prohibited" ||
		classify.ICMPErrorMeaning(false, 3, 99) != "destination unreachable" || classify.ICMPErrorMeaning(false, 42, 0) != "ICMP type 42" {
		t.Error("ICMPErrorMeaning")
	}
	icmpErr := flow(1, "192.0.2.1", "192.0.2.2", capture.S0, 1, 0)
	icmpErr.ICMPType = 3
	echo := flow(1, "192.0.2.1", "192.0.2.2", capture.SF)
	echo.ICMPType = 8
	if !classify.IsICMPError(icmpErr) || classify.IsICMPError(echo) || classify.IsICMPError(flow(6, "192.0.2.1:1", "192.0.2.2:3", capture.SF)) {
		t.Error("IsICMPError")
	}
}

// TestVerifier checks the verdict of every kind of required check, the grouping of
// traffic and the findings.
func TestVerifier(t *testing.T) {
	p := mustPolicy(t, testPolicy)
	v := p.NewVerifier()
	icmpBlocked := flow(6, "192.0.2.100:50003", "192.0.2.10:2502", capture.S0, 2, 0)
	icmpBlocked.ICMPErrors = []capture.ICMPError{{Type: 3, Code: 13, From: netip.MustParseAddr("192.0.2.1"), Count: 2}}
	icmpMsg := flow(1, "192.0.2.1", "192.0.2.100", capture.S0, 2, 0)
	icmpMsg.ICMPType = 3
	for _, f := range []*capture.Flow{
		flow(6, "192.0.2.100:50000", "192.0.2.10:9392", capture.SF, 10, 8),
		flow(6, "192.0.2.100:50001", "192.0.2.10:9392", capture.REJ), // a failed attempt next to a working one: ok
		flow(6, "192.0.2.100:50002", "192.0.2.10:2500", capture.REJ),
		flow(6, "192.0.2.100:50004", "192.0.2.10:2501", capture.S0, 3, 0),
		icmpBlocked,
		icmpMsg, // the ICMP error itself: not undocumented
		flow(6, "192.0.2.101:50000", "192.0.2.10:9392", capture.S0, 3, 0),
		flow(1, "192.0.2.10", "192.0.2.53", capture.SF),
		flow(17, "203.0.113.9:40000", "192.0.2.53:53", capture.SF),
		flow(17, "203.0.113.10:40000", "192.0.2.53:53", capture.SF),
		flow(6, "198.51.100.7:40000", "192.0.2.30:22", capture.SF),          // forbidden, answered
		flow(6, "[2001:db8:bad::1]:40000", "[2001:db8::30]:22", capture.S0), // forbidden, attempt only
		flow(6, "192.0.2.77:40000", "192.0.2.10:445", capture.S0, 3, 0),     // undocumented attempt
		flow(6, "192.0.2.77:40001", "192.0.2.10:445", capture.SF),           // same group
	} {
		v.Add(classified(f))
	}
	res := v.Result()
	type check struct{ rule, from, to, port, verdict string }
	var got []check
	for _, c := range res.Required {
		got = append(got, check{c.Rule.Name, c.From.Label, c.To.Label, c.Ports.String(), c.Verdict.String()})
	}
	want := []check{
		{"console", "192.0.2.100", "192.0.2.10", "9392", "ok"},
		{"console", "192.0.2.100", "192.0.2.10", "2500", "blocked-refused"},
		{"console", "192.0.2.100", "192.0.2.10", "2501", "blocked-unanswered"},
		{"console", "192.0.2.100", "192.0.2.10", "2502", "blocked-icmp"},
		{"console", "192.0.2.101", "192.0.2.10", "9392", "blocked-unanswered"},
		{"console", "192.0.2.101", "192.0.2.10", "2500-2502", "not-tested"}, // no port of the range tried
		{"ping", "192.0.2.100", "192.0.2.53", "0", "not-tested"},
		{"ping", "192.0.2.101", "192.0.2.53", "0", "not-tested"},
		{"ping", "192.0.2.10", "192.0.2.53", "0", "ok"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("required checks\n got %v\nwant %v", got, want)
	}
	ok := res.Required[0]
	if ok.Flows != 2 || ok.Outcomes[OutcomeOK] != 1 || ok.Outcomes[OutcomeRefused] != 1 || ok.Packets != 20 ||
		len(ok.States) != 2 || ok.States[0].Flows != 1 {
		t.Errorf("ok evidence %+v", ok.Evidence)
	}
	if c := res.Required[3]; len(c.ICMPErrors) != 1 || c.ICMPErrors[0].Code != 13 || c.ICMPErrors[0].Count != 2 {
		t.Errorf("icmp evidence %+v", c.Evidence)
	}
	classes := map[TrafficClass]int{}
	for _, g := range res.Traffic {
		classes[g.Class]++
		if g.Class == TrafficUndocumented && g.Port == 445 && (g.Flows != 2 || g.Outcome() != OutcomeOK) {
			t.Errorf("undocumented 445 group %+v", g)
		}
	}
	// documented: console (2.100 9392, 2500, 2501, 2502; 2.101 9392), ping, dns x2;
	// forbidden: 2 (v4 answered, v6 attempt); undocumented: 445.
	if classes[TrafficDocumented] != 8 || classes[TrafficForbidden] != 2 || classes[TrafficUndocumented] != 1 {
		t.Errorf("traffic classes %v", classes)
	}
	if res.Flows != 14 || res.ICMPErrorFlows != 1 {
		t.Errorf("flows %d, ICMP error flows %d", res.Flows, res.ICMPErrorFlows)
	}
	f := res.Findings()
	if f != (Findings{Blocked: 4, NotTested: 3, OK: 2, Forbidden: 1, Attempts: 1, Undocumented: 1}) {
		t.Errorf("findings %+v", f)
	}
	for _, tt := range []struct {
		in   string
		fail bool
	}{
		{"blocked,forbidden,undocumented", true}, {"none", false}, {"", false}, {"blocked", true},
		{"not-tested", true}, {"all", true}, {" Forbidden ", true},
	} {
		fo, err := ParseFailOn(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if f.Fail(fo) != tt.fail {
			t.Errorf("fail on %q: %v", tt.in, !tt.fail)
		}
	}
	if (Findings{NotTested: 3, OK: 1}).Fail(FailDefault) {
		t.Error("not-tested fails by default")
	}
	if _, err := ParseFailOn("blocked,everything"); err == nil || !strings.Contains(err.Error(), `"everything"`) {
		t.Errorf("ParseFailOn error %v", err)
	}
	if got := (FailBlocked | FailNotTested).Names(); !slices.Equal(got, []string{"blocked", "not-tested"}) {
		t.Errorf("names %v", got)
	}
}

// TestEvidenceCaps: the lists an Evidence keeps do not grow with the flows.
func TestEvidenceCaps(t *testing.T) {
	var e Evidence
	for i := range 100 {
		f := flow(17, netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 1000).String(), "192.0.2.200:53", capture.S0, 1, 0)
		f.ICMPErrors = []capture.ICMPError{{Type: 3, Code: uint8(i % 16), From: netip.MustParseAddr("192.0.2.1"), Count: 1}}
		e.add(f, FlowOutcome(capture.OutcomeOf(f)))
	}
	if len(e.Clients) != EvidenceMaxPeers || !e.MorePeers || len(e.Servers) != 1 || len(e.ICMPErrors) != EvidenceMaxICMP {
		t.Errorf("clients %d (more %v), servers %d, icmp %d", len(e.Clients), e.MorePeers, len(e.Servers), len(e.ICMPErrors))
	}
	if e.Flows != 100 || e.Outcome() != OutcomeICMP {
		t.Errorf("flows %d outcome %s", e.Flows, e.Outcome())
	}
	if !slices.IsSortedFunc(e.Clients, netip.Addr.Compare) {
		t.Error("clients not sorted")
	}
}

func FuzzLoadPolicy(f *testing.F) {
	f.Add(testPolicy)
	f.Add("inventory:\n  backup-server: [192.0.2.10]\n  backup-proxy-vmware: [192.0.2.21]\nveeam: true\n")
	f.Add("rules:\n  - {name: a, from: &x [192.0.2.1], to: *x, proto: udp, ports: '1-2,3', expect: allowed}\n")
	f.Add("veeam: {versions: [12], ports: {ssh: 2222}}\ninventory: {repository-linux: ['2001:db8::1']}\n")
	f.Add("rules: [{name: a, from: any, to: any, proto: ip-47, expect: forbidden}]\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Load("fuzz.yaml", []byte(text), Options{})
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrPolicy) || !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q is not a *Error naming the file", err)
			}
			return
		}
		if len(p.Rules) == 0 {
			t.Fatal("a policy without rules loaded")
		}
		for i, r := range p.Rules {
			if r.Index != i || r.Name == "" || r.Expect == ExpectUnknown || len(r.FromUnits()) == 0 || len(r.ToUnits()) == 0 {
				t.Fatalf("rule %d: %+v", i, r)
			}
			if r.Ports != nil && !capture.HasPorts(r.Proto) {
				t.Fatalf("rule %s: ports on %s", r.Name, r.ProtoName())
			}
			if r.Expect == ExpectRequired && (r.Proto == 0 || capture.HasPorts(r.Proto) && len(r.Ports) == 0) {
				t.Fatalf("required rule %s without protocol or ports", r.Name)
			}
		}
		v := p.NewVerifier()
		v.Add(classified(flow(6, "192.0.2.1:1", "192.0.2.10:22", capture.SF)))
		_ = v.Result()
	})
}

// BenchmarkVerifier measures Verifier.Add with the Veeam rules derived between ten
// hosts (about 40 rules, scanned in order for every flow).
func BenchmarkVerifier(b *testing.B) {
	p := mustPolicy(b, `
inventory:
  backup-server: [192.0.2.10]
  veeam-component-windows: [192.0.2.10, 192.0.2.21, 192.0.2.22]
  backup-proxy-vmware: [192.0.2.21, 192.0.2.22]
  repository-linux: [192.0.2.30, 192.0.2.31]
  vcenter: [192.0.2.40]
  esxi: [192.0.2.41, 192.0.2.42]
  dns-server: [192.0.2.53]
veeam: true
`)
	ports := []uint16{6162, 2500, 443, 902, 53, 8080, 22, 49668}
	var flows []*capture.Flow
	for i := range 1000 {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i%40)}), uint16(40000+i))
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(20 + i%35)}), ports[i%len(ports)])
		flows = append(flows, flow(6, c.String(), s.String(), capture.SF))
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		v := p.NewVerifier()
		for _, f := range flows {
			v.Add(classified(f))
		}
		_ = v.Result()
		n += len(flows)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(float64(len(p.Rules)), "rules")
}

// classified is f with the part of its verdict the verifier and learner read.
func classified(f *capture.Flow) *classify.Flow {
	return &classify.Flow{Flow: *f, Verdict: classify.Verdict{Outcome: capture.OutcomeOf(f)}}
}
