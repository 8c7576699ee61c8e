package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyLearnVerify: a policy learned from the healthy Veeam capture is stable
// (golden), and verifying the same capture against it passes: every established flow
// is documented, every required flow that was tried is ok. Verifying the capture
// taken after the firewall change against it finds the blocked flows.
func TestPolicyLearnVerify(t *testing.T) {
	learned := filepath.Join(t.TempDir(), "learned.yaml")
	code, _, errs := runCLI(t, "policy", "learn", "--quiet", "-o", learned, testdata("veeam.pcap"))
	if code != exitOK {
		t.Fatalf("learn: exit %d: %s", code, errs)
	}
	text, err := os.ReadFile(learned)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "learn-veeam.yaml.golden", []byte(strings.ReplaceAll(string(text), testdata("")+string(filepath.Separator), "testdata/")))
	code, r, errs := verifyJSON(t, "--policy", learned, testdata("veeam.pcap"))
	if code != exitOK || r.Findings.Blocked != 0 || r.Findings.Undocumented != 0 || r.Findings.RequiredOK < 25 {
		t.Fatalf("verify against the learned policy: exit %d, %+v: %s", code, r.Findings, errs)
	}
	code, r, _ = verifyJSON(t, "--policy", learned, "--fail-on", "blocked", testdata("veeam-firewall.pcap"))
	if code != exitFindings || r.Findings.Blocked < 3 {
		t.Errorf("after the change: exit %d, %+v", code, r.Findings)
	}
	// stdout, and flags that are checked
	code, out, _ := runCLI(t, "policy", "learn", "--quiet", "--min-confidence", "0.95", testdata("veeam.pcap"))
	if code != exitOK || !strings.Contains(out, "backup-server:\n    - 192.0.2.10") || strings.Contains(out, "vcenter:") {
		t.Errorf("--min-confidence 0.95: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"--min-confidence", "2"}, {"--max-clients", "0"}} {
		if code, _, _ := runCLI(t, append(append([]string{"policy", "learn"}, args...), testdata("veeam.pcap"))...); code != exitUsage {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

// TestPolicyRules: the firewall rules of the scenario's policy are stable (golden) and
// pass the tools' syntax checks where nftables and iptables are installed.
func TestPolicyRules(t *testing.T) {
	check := map[string][]string{"nftables": {"nft", "-c", "-f"}, "iptables": {"iptables-restore", "--test"}}
	for _, format := range []string{"nftables", "iptables", "windows-firewall"} {
		t.Run(format, func(t *testing.T) {
			code, out, errs := runCLI(t, "policy", "rules", "--quiet", "--policy", testdata(firewallPolicy), "--format", format)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			out = strings.ReplaceAll(out, testdata("")+string(filepath.Separator), "testdata/")
			golden(t, "rules-firewall."+format+".golden", []byte(out))
			if !strings.Contains(out, "veeam:proxy-to-esxi-902") || !strings.Contains(out, "no-ssh-from-admins-to-repositories") {
				t.Errorf("derived or written rules missing:\n%s", out)
			}
			cmd, ok := check[format]
			if !ok {
				return
			}
			if _, err := exec.LookPath(cmd[0]); err != nil {
				t.Skipf("%s not installed: syntax not checked", cmd[0])
			}
			f := filepath.Join(t.TempDir(), "rules")
			os.WriteFile(f, []byte(out), 0o644)
			if b, err := exec.Command(cmd[0], append(cmd[1:], f)...).CombinedOutput(); err != nil {
				if strings.Contains(string(b), "Operation not permitted") || strings.Contains(string(b), "Permission denied") {
					t.Skipf("%s cannot check here: %s", cmd[0], b)
				}
				t.Errorf("%s: %v\n%s", strings.Join(cmd, " "), err, b)
			}
		})
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--policy FILE is required"},
		{[]string{"--policy", testdata(firewallPolicy), "--format", "pf"}, `--format "pf"`},
		{[]string{"--policy", testdata(firewallPolicy), "--chain", "my chain", "-o", filepath.Join(dir, "x.nft")}, `"my chain"`},
		{[]string{"--policy", testdata("veeam.pcap")}, "veeam.pcap"},
	} {
		code, _, errs := runCLI(t, append([]string{"policy", "rules", "--quiet"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", tt.args, code, errs, tt.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written after an error: %v", entries)
	}
	// -o writes atomically; the chain is configurable.
	out := filepath.Join(dir, "rules.nft")
	if code, _, errs := runCLI(t, "policy", "rules", "--quiet", "--policy", testdata(firewallPolicy), "--chain", "input", "-o", out); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "add chain inet filter input { type filter hook input") {
		t.Errorf("--chain input:\n%.400s", b)
	}
}

// TestPolicyRulesSucceedingPorts: the rules derived from vPower NFS's succeeding-port
// rules (1059-1062, 1064-1067, 2050-2053) are written only with --succeeding-ports;
// the documented ports always are.
func TestPolicyRulesSucceedingPorts(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("version: 1\ninventory:\n  mount-server: [192.0.2.12]\n  esxi: [192.0.2.41]\nveeam: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want bool
	}{{nil, false}, {[]string{"--succeeding-ports"}, true}} {
		code, out, errs := runCLI(t, append([]string{"policy", "rules", "-q", "--format", "nftables", "--policy", pol}, tt.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errs)
		}
		for _, doc := range []string{"2049", "1058"} {
			if !strings.Contains(out, doc) {
				t.Errorf("%v: documented port %s not opened:\n%s", tt.args, doc, out)
			}
		}
		for _, next := range []string{"2050-2053", "1059-1062"} {
			if got := strings.Contains(out, next); got != tt.want {
				t.Errorf("%v: %s written: %v, want %v:\n%s", tt.args, next, got, tt.want, out)
			}
		}
		if !tt.want && !strings.Contains(out, "--succeeding-ports writes them") {
			t.Errorf("%v: the header does not say what was left out", tt.args)
		}
	}
}
