package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/reports"
)

const firewallPolicy = "veeam-firewall.policy.yaml"

// verifyJSON runs verify with the JSON format and decodes the report.
func verifyJSON(t *testing.T, args ...string) (int, *reports.VerifyReport, string) {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"verify", "--quiet", "--format", "json"}, args...)...)
	if code == exitUsage {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r reports.VerifyReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %.200s", err, out)
	}
	return code, &r, errs
}

// TestVerifyFirewallScenario runs verify on the project's capture of a Veeam
// deployment after a firewall change (capture/synth's veeam-firewall scenario) against
// testdata/veeam-firewall.policy.yaml, and checks every verdict against what the
// generator says the network did with each connection.
func TestVerifyFirewallScenario(t *testing.T) {
	code, r, errs := verifyJSON(t, "--policy", testdata(firewallPolicy), testdata("veeam-firewall.pcap"))
	if code != exitFindings || r.Result != "fail" {
		t.Fatalf("exit %d, result %q: %s", code, r.Result, errs)
	}
	if !strings.Contains(errs, "verify: 4 required flows blocked, 1 forbidden flow answered, 5 undocumented (client, server, port) groups") {
		t.Errorf("stderr does not say why: %s", errs)
	}
	// The verdicts the scenario is built around, spelled out.
	type key struct{ rule, from, to, port string }
	verdicts := map[key]string{}
	for _, q := range r.Required {
		verdicts[key{q.Rule, q.From, q.To, q.Port}] = q.Verdict
	}
	for k, want := range map[key]string{
		{"veeam:backup-server-to-component-datamover", "192.0.2.10", "192.0.2.30", "6162"}:      "blocked-refused",
		{"veeam:backup-server-to-repo-linux", "192.0.2.10", "192.0.2.30", "6162"}:               "blocked-refused",
		{"veeam:proxy-to-esxi-902", "192.0.2.22", "192.0.2.41", "902"}:                          "blocked-unanswered",
		{"veeam:proxy-to-repository", "192.0.2.22", "192.0.2.30", "3100"}:                       "blocked-icmp",
		{"veeam:proxy-to-esxi-902", "192.0.2.21", "192.0.2.41", "902"}:                          "ok",
		{"veeam:proxy-to-repository", "192.0.2.21", "192.0.2.30", "2500"}:                       "ok",
		{"veeam:backup-server-to-component-installer", "192.0.2.10", "192.0.2.21", "6160"}:      "ok",
		{"veeam:backup-server-to-component-installer", "192.0.2.10", "192.0.2.22", "6160"}:      "not-tested",
		{"veeam:backup-server-to-component-datamover", "192.0.2.10", "192.0.2.30", "2500-3300"}: "not-tested",
		{"veeam:console-to-backup-server-9392", "192.0.2.100", "192.0.2.10", "9392"}:            "ok",
		{"veeam:any-to-dns-udp", "any", "192.0.2.53", "53"}:                                     "ok",
	} {
		if got := verdicts[k]; got != want {
			t.Errorf("%v: verdict %q, want %q", k, got, want)
		}
	}
	if f := r.Findings; f.Blocked != 4 || f.Forbidden != 1 || f.ForbiddenAttempts != 1 || f.Undocumented != 5 || f.RequiredOK < 15 {
		t.Errorf("findings %+v", f)
	}
	// Every connection of the scenario, checked against the generator's facts: a fact
	// with Veeam rules is a required check of each rule with the fact's outcome; the
	// others are forbidden (the two the policy names) or undocumented traffic with it.
	forbidden := map[string]bool{"192.0.2.100 192.0.2.30:22": true, "198.51.100.7 192.0.2.10:3389": true}
	for _, f := range synth.VeeamFirewallFacts() {
		port := fmt.Sprint(f.Server.Port())
		for _, rule := range f.Rules {
			k := key{"veeam:" + rule, f.Client.String(), f.Server.Addr().String(), port}
			if rule == "any-to-dns-udp" {
				k.from = "any"
			}
			if rule == "legacy-transmission-range" {
				continue // a pre-v10 rule: not active for versions 12
			}
			if got := verdicts[k]; got != f.Outcome {
				t.Errorf("%s (%v -> %v): rule %s verdict %q, want %q", f.Meaning, f.Client, f.Server, rule, got, f.Outcome)
			}
		}
		if len(f.Rules) > 0 {
			continue
		}
		list := r.Undocumented
		if forbidden[f.Client.String()+" "+f.Server.String()] {
			list = r.Forbidden
		}
		i := slices.IndexFunc(list, func(g reports.TrafficGroup) bool {
			return g.Client == f.Client.String() && g.Server == f.Server.Addr().String() && fmt.Sprint(g.Port) == port
		})
		if i < 0 {
			t.Errorf("%s (%v -> %v): not in the expected list", f.Meaning, f.Client, f.Server)
			continue
		}
		if g := list[i]; g.Outcome != f.Outcome || g.Flows == 0 || g.First.IsZero() {
			t.Errorf("%s: outcome %q (flows %d), want %q", f.Meaning, g.Outcome, g.Flows, f.Outcome)
		}
	}
	// The ICMP evidence names the firewall and the code.
	for _, q := range r.Required {
		if q.Verdict == "blocked-icmp" {
			if len(q.ICMPErrors) != 1 || q.ICMPErrors[0].From != synth.FirewallAddr.String() || q.ICMPErrors[0].Code != 13 ||
				!strings.Contains(q.Summary, "administratively prohibited from 192.0.2.1") {
				t.Errorf("blocked-icmp evidence %+v %q", q.ICMPErrors, q.Summary)
			}
		}
	}
	if r.ICMPErrorFlows != 1 || len(r.Undocumented) != 5 {
		t.Errorf("%d ICMP error flows, %d undocumented groups", r.ICMPErrorFlows, len(r.Undocumented))
	}
}

// TestVerifyExitCodes: --fail-on (flag, environment, configuration) decides which
// findings fail; a healthy capture passes.
func TestVerifyExitCodes(t *testing.T) {
	policy, capfw, healthy := testdata(firewallPolicy), testdata("veeam-firewall.pcap"), testdata("veeam.pcap")
	for _, tt := range []struct {
		args []string
		env  string
		code int
	}{
		{[]string{"--fail-on", "none", capfw}, "", exitOK},
		{[]string{"--fail-on", "blocked", capfw}, "", exitFindings},
		{[]string{"--fail-on", "forbidden", capfw}, "", exitFindings},
		{[]string{"--fail-on", "undocumented", capfw}, "", exitFindings},
		{[]string{"--fail-on", "not-tested", capfw}, "", exitFindings},
		{[]string{capfw}, "none", exitOK},
		{[]string{"--fail-on", "blocked", capfw}, "none", exitFindings}, // the flag wins over the environment
		// The deployment before the change: every required flow tried works, nothing
		// forbidden happens; its noise (web proxy, dynamic port, NTP) is undocumented.
		{[]string{"--fail-on", "blocked,forbidden", healthy}, "", exitOK},
		{[]string{healthy}, "", exitFindings},
	} {
		if tt.env != "" {
			t.Setenv("PORTCLASS_VERIFY_FAIL_ON", tt.env)
		} else {
			os.Unsetenv("PORTCLASS_VERIFY_FAIL_ON")
		}
		code, r, errs := verifyJSON(t, append([]string{"--policy", policy}, tt.args...)...)
		if code != tt.code {
			t.Errorf("%v (env %q): exit %d, want %d: %s", tt.args, tt.env, code, tt.code, errs)
		}
		if want := map[int]string{exitOK: "pass", exitFindings: "fail"}[tt.code]; r.Result != want {
			t.Errorf("%v: result %q, want %q", tt.args, r.Result, want)
		}
	}
	os.Unsetenv("PORTCLASS_VERIFY_FAIL_ON")
	_, r, _ := verifyJSON(t, "--policy", policy, "--fail-on", "blocked,forbidden", healthy)
	if r.Findings.Blocked != 0 || r.Findings.Forbidden != 0 || r.Findings.Undocumented != 4 || r.Findings.RequiredOK < 20 {
		t.Errorf("healthy capture: %+v", r.Findings)
	}
	// The policy path can come from portclass.yaml.
	cfg := filepath.Join(t.TempDir(), "portclass.yaml")
	os.WriteFile(cfg, []byte("policy: "+policy+"\nverify:\n  fail-on: blocked\n"), 0o644)
	if code, _, errs := runCLI(t, "verify", "--quiet", "--config", cfg, "--format", "json", healthy); code != exitOK {
		t.Errorf("policy from the configuration: exit %d %s", code, errs)
	}
}

// TestVerifyUsageErrors: bad policies and flags are usage errors (exit 2) that say
// where, and nothing is written.
func TestVerifyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("inventory:\n  backup-server: [192.0.2.10]\nrules:\n  - {name: a, from: admins, to: backup-server, proto: tcp, ports: 9392, expect: required}\n"), 0o644)
	out := filepath.Join(dir, "report.json")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{testdata("veeam-firewall.pcap")}, "--policy FILE is required"},
		{[]string{"--policy", filepath.Join(dir, "missing.yaml"), testdata("veeam-firewall.pcap")}, "missing.yaml"},
		{[]string{"--policy", bad, "-o", out, testdata("veeam-firewall.pcap")}, bad + `:4:21: rules[1] (a).from: "admins" is not a group`},
		{[]string{"--policy", testdata(firewallPolicy), "--fail-on", "blocked,sometimes", testdata("veeam-firewall.pcap")}, `--fail-on: "sometimes"`},
		{[]string{"--policy", testdata(firewallPolicy), "--format", "csv", testdata("veeam-firewall.pcap")}, "want one of json, md, text"},
		{[]string{"--policy", testdata(firewallPolicy), "-o", filepath.Join(dir, "r.csv"), testdata("veeam-firewall.pcap")}, "cannot tell the format"},
		{[]string{"--policy", testdata(firewallPolicy), "-o", out, bad}, "not a pcap or pcapng file"},
	} {
		code, _, errs := runCLI(t, append([]string{"verify", "--quiet"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errs, tt.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a report was written after a usage error")
	}
}

// TestVerifyGolden: the text, Markdown and JSON reports of the firewall scenario are
// stable; -o writes the format its extension names.
func TestVerifyGolden(t *testing.T) {
	for _, format := range []string{"text", "md", "json"} {
		t.Run(format, func(t *testing.T) {
			code, out, errs := runCLI(t, "verify", "--quiet", "--policy", testdata(firewallPolicy), "--format", format, testdata("veeam-firewall.pcap"))
			if code != exitFindings {
				t.Fatalf("exit %d: %s", code, errs)
			}
			out = strings.ReplaceAll(out, testdata("")+string(filepath.Separator), "testdata/")
			golden(t, "verify-firewall."+format+".golden", []byte(out))
		})
	}
	out := filepath.Join(t.TempDir(), "verify.md")
	if code, _, errs := runCLI(t, "verify", "--quiet", "--policy", testdata(firewallPolicy), "-o", out, testdata("veeam-firewall.pcap")); code != exitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(b), "# portclass verify\n") || !strings.Contains(string(b), "| blocked-icmp |") {
		t.Errorf("-o verify.md wrote %.80q", b)
	}
}

// TestVerifySpilled: when the flows do not fit in memory and wait on disk, verify reads
// them back from the spool and writes the same report.
func TestVerifySpilled(t *testing.T) {
	args := []string{"verify", "--quiet", "--policy", testdata(firewallPolicy), "--format", "json", testdata("veeam-firewall.pcap")}
	_, inMemory, _ := runCLI(t, args...)
	code, spilled, errs := runCLI(t, append(args, "--spill-after", "4", "--temp-dir", t.TempDir())...)
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if spilledLine.ReplaceAllString(spilled, "") != inMemory || len(inMemory) < 1000 || !spilledLine.MatchString(spilled) {
		t.Error("the report differs when the flows are spilled to disk")
	}
}
