package reports

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portclass/portclass/classify/policy"
)

// firewallPolicy exercises what the rule writers must handle: IPv4 and IPv6 on one
// side, any, prefixes, ranges, more ports than one iptables multiport match takes,
// ICMP, ICMPv6, an IP protocol number, protocol any, and a note with quotes.
const firewallPolicy = `
inventory:
  backup-server: [192.0.2.10]
  repository-linux: [192.0.2.30, "2001:db8::30"]
groups:
  admins: [192.0.2.100, "2001:db8::100"]
  outside: [198.51.100.0/24]
rules:
  - {name: no-ssh-from-outside, from: outside, to: repository, proto: tcp, ports: 22, expect: forbidden, note: 'say "no" \ twice'}
  - {name: many-ports, from: admins, to: [backup-server, repository], proto: tcp, ports: "1,2,3,4,5,6,7,8,9,10,11,12,13,14,2500-3300", expect: required}
  - {name: dns, from: any, to: 192.0.2.53, proto: udp, ports: 53, expect: allowed}
  - {name: ping, from: admins, to: any, proto: icmp, expect: allowed}
  - {name: ping6, from: admins, to: any, proto: icmpv6, expect: allowed}
  - {name: gre, from: 192.0.2.10, to: 203.0.113.0/24, proto: ip-47, expect: allowed}
  - {name: sctp, from: any, to: repository, proto: sctp, ports: [3868], expect: allowed}
  - {name: mgmt-anything, from: admins, to: backup-server, proto: any, expect: allowed}
  - {name: nothing-else, from: any, to: any, proto: any, expect: forbidden}
`

func mustPolicy(t testing.TB, text string) *policy.Policy {
	t.Helper()
	p, err := policy.Load("policy.yaml", []byte(text), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// encodeFirewall writes fr in format.
func encodeFirewall(format string, fr *FirewallRules) ([]byte, error) {
	enc, err := EncoderFor[*FirewallRules](format)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = enc.Encode(&b, fr)
	return b.Bytes(), err
}

// TestWriteFirewall checks each format against a golden file and, when the tool is
// installed and allowed to talk to the kernel, with the tool's own syntax check:
// nft -c -f and iptables-restore --test / ip6tables-restore --test (CI installs
// nftables and iptables).
func TestWriteFirewall(t *testing.T) {
	p := mustPolicy(t, firewallPolicy)
	check := map[string][]string{
		"nftables":  {"nft", "-c", "-f"},
		"iptables":  {"iptables-restore", "--test"},
		"ip6tables": {"ip6tables-restore", "--test"},
	}
	for _, format := range FormatsFor[*FirewallRules]() {
		t.Run(format, func(t *testing.T) {
			out, err := encodeFirewall(format, &FirewallRules{Policy: p, Source: "policy.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			b := bytes.NewBuffer(out)
			golden := filepath.Join("testdata", "firewall."+format+".golden")
			if *update {
				os.MkdirAll("testdata", 0o755)
				os.WriteFile(golden, b.Bytes(), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./reports -update)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs; rerun with -update and review git diff:\n%s", golden, b.String())
			}
			if cmd, ok := check[format]; ok {
				syntaxCheck(t, cmd, b.Bytes())
			}
			if format == "windows-firewall" {
				checkPowerShell(t, b.String())
			}
		})
	}
}

// syntaxCheck runs a firewall tool's check on rules, skipping when the tool is missing
// or may not use netlink (an unprivileged container).
func syntaxCheck(t *testing.T, cmd []string, rules []byte) {
	t.Helper()
	if _, err := exec.LookPath(cmd[0]); err != nil {
		t.Skipf("%s not installed (apt-get install nftables iptables): syntax not checked", cmd[0])
	}
	f := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(f, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cmd[0], append(cmd[1:], f)...).CombinedOutput()
	if err == nil {
		return
	}
	for _, perm := range []string{"Operation not permitted", "Permission denied", "you must be root", "can't initialize", "Could not fetch rule set"} {
		if strings.Contains(string(out), perm) {
			t.Skipf("%s cannot check here: %s", cmd[0], strings.TrimSpace(string(out)))
		}
	}
	t.Errorf("%s rejects the rules: %v\n%s\n%s", strings.Join(cmd, " "), err, out, rules)
}

func TestWriteFirewallOptions(t *testing.T) {
	p := mustPolicy(t, firewallPolicy)
	out, err := encodeFirewall("nftables", &FirewallRules{Policy: p, Table: "portclass", Chain: "veeam"})
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.NewBuffer(out)
	// A chain that is not a hook is a regular chain: no policy, nothing hooked.
	if !strings.Contains(b.String(), "add chain inet portclass veeam\n") || strings.Contains(b.String(), "policy drop") {
		t.Errorf("regular chain:\n%s", b.String())
	}
	syntaxCheck(t, []string{"nft", "-c", "-f"}, b.Bytes())
	out, err = encodeFirewall("iptables", &FirewallRules{Policy: p, Chain: "input"})
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.NewBuffer(out)
	if !strings.Contains(b.String(), ":INPUT DROP [0:0]\n-A INPUT ") {
		t.Errorf("iptables input chain:\n%s", b.String())
	}
	for _, c := range []struct {
		format string
		fr     FirewallRules
	}{{"pf", FirewallRules{}}, {"nftables", FirewallRules{Chain: "x y"}}, {"nftables", FirewallRules{Table: "1abc"}},
		{"iptables", FirewallRules{Chain: "A;B"}}} {
		c.fr.Policy = p
		if _, err := encodeFirewall(c.format, &c.fr); err == nil {
			t.Errorf("%s %+v: no error", c.format, c.fr)
		}
	}
}

// checkPowerShell checks the script's shape without PowerShell (which Debian does not
// ship): comments or one cmdlet per line, known parameters only, every single-quoted
// string closed.
func checkPowerShell(t *testing.T, script string) {
	t.Helper()
	params := map[string]bool{"-Group": true, "-DisplayName": true, "-Direction": true, "-Action": true, "-Protocol": true,
		"-LocalPort": true, "-RemoteAddress": true, "-LocalAddress": true, "-Description": true, "-ErrorAction": true}
	for i, line := range strings.Split(strings.TrimSuffix(script, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "New-NetFirewallRule ") && !strings.HasPrefix(line, "Remove-NetFirewallRule ") {
			t.Errorf("line %d: not a cmdlet: %s", i+1, line)
			continue
		}
		// Drop the quoted strings ('' is an escaped quote inside one), then check the words.
		var rest strings.Builder
		in := false
		for j := 0; j < len(line); j++ {
			switch {
			case line[j] == '\'' && in && j+1 < len(line) && line[j+1] == '\'':
				j++
			case line[j] == '\'':
				in = !in
				if !in {
					rest.WriteString("S")
				}
			case !in:
				rest.WriteByte(line[j])
			}
		}
		if in {
			t.Errorf("line %d: unclosed string: %s", i+1, line)
		}
		words := strings.Fields(rest.String())
		for j := 1; j < len(words); j += 2 {
			if !params[words[j]] || j+1 >= len(words) {
				t.Errorf("line %d: bad parameter %q in %s", i+1, words[j], line)
			}
		}
	}
}

// FuzzFirewall: every policy the loader accepts is written in every firewall format
// without error.
func FuzzFirewall(f *testing.F) {
	f.Add(firewallPolicy)
	f.Add("inventory:\n  backup-server: [192.0.2.10]\n  backup-proxy-vmware: [192.0.2.21]\nveeam: true\n")
	f.Add("rules: [{name: a, from: any, to: any, proto: ip-47, expect: forbidden}]\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := policy.Load("fuzz.yaml", []byte(text), policy.Options{})
		if err != nil {
			return
		}
		for _, format := range FormatsFor[*FirewallRules]() {
			if _, err := encodeFirewall(format, &FirewallRules{Policy: p, Source: "fuzz.yaml"}); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
		}
	})
}
