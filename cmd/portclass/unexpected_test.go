package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portclass/portclass/internal/corpus"
	"github.com/portclass/portclass/reports"
)

// TestUnexpectedCorpus: the two captures of issue 13 come out right. Plain HTTP to
// PostgreSQL's port is http, flagged protocol-mismatch, explained by no Veeam rule and
// listed as unexpected; an HTTP GET sent to sshd likewise (its port is a baseline
// service, so the mismatch is the only reason).
func TestUnexpectedCorpus(t *testing.T) {
	dir := corpus.Pcaps(t)
	for _, c := range []struct {
		file, server, host string
		reasons            []string
	}{
		{"zeek/http-on-port-5432.pcap", "192.150.187.43:5432", "bro.org", []string{"unexplained-port", "protocol-mismatch"}},
		{"zeek/get-to-ssh-server.pcap", "130.74.164.231:22", "128.3.50.246", []string{"protocol-mismatch"}},
	} {
		s := analyzeJSON(t, "--top", "0", filepath.Join(dir, c.file))
		found := false
		for _, f := range s.Flows {
			if f.Server.String() != c.server {
				continue
			}
			found = true
			if f.App.String() != "http" || f.AppMeta == nil || f.AppMeta.HTTPHost != c.host {
				t.Errorf("%s: app %q %v, want http with Host %s", c.file, f.App, f.AppMeta, c.host)
			}
			if !slices.Contains(f.Flags.Names(), "protocol-mismatch") || len(f.Veeam) > 0 || slices.Contains(f.Flags.Names(), "veeam") {
				t.Errorf("%s: flags %v, Veeam %v; want protocol-mismatch and no Veeam rule", c.file, f.Flags, f.Veeam)
			}
		}
		if !found {
			t.Errorf("%s: no flow to %s", c.file, c.server)
		}
		if len(s.Unexpected) != 1 || s.Unexpected[0].Server+":"+strconv.Itoa(int(s.Unexpected[0].Port)) != c.server || s.Unexpected[0].App != "http" ||
			!slices.Equal(s.Unexpected[0].Reasons, c.reasons) {
			t.Errorf("%s: unexpected %+v, want %s (http) for %v", c.file, s.Unexpected, c.server, c.reasons)
		}
	}
}

// TestUnexpectedLearnedPolicy: what policy learn writes from a capture explains all
// of that capture's unexpected traffic (learn writes rules for what worked, and the
// section lists only answered flows), given by flag or in the configuration.
func TestUnexpectedLearnedPolicy(t *testing.T) {
	captures := []string{testdata("sample.pcapng"), testdata("veeam.pcap"), testdata("veeam-firewall.pcap")}
	if dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "pcaps")); err == nil {
		for _, f := range []string{"zeek/http-on-port-5432.pcap", "zeek/get-to-ssh-server.pcap", "ndpi/1kxun.pcap"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				captures = append(captures, filepath.Join(dir, f))
			}
		}
	}
	for _, c := range captures {
		t.Logf("%s", c)
		if len(analyzeJSON(t, "--top", "0", c).Unexpected) == 0 {
			t.Errorf("%s: no unexpected traffic without a policy: the test proves nothing", c)
			continue
		}
		pol := filepath.Join(t.TempDir(), "policy.yaml")
		if code, _, errs := runCLI(t, "policy", "learn", "-o", pol, c); code != exitOK {
			t.Fatalf("%s: learn: exit %d: %s", c, code, errs)
		}
		if s := analyzeJSON(t, "--top", "0", "--policy", pol, c); len(s.Unexpected) != 0 || s.UnexpectedRest != nil {
			t.Errorf("%s: with the learned policy, still unexpected: %+v", c, s.Unexpected)
		}
		cfg := filepath.Join(t.TempDir(), "portclass.yaml")
		if err := os.WriteFile(cfg, []byte("policy: "+pol+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if s := analyzeJSON(t, "--top", "0", "--config", cfg, c); len(s.Unexpected) != 0 {
			t.Errorf("%s: with the learned policy in the configuration, still unexpected: %+v", c, s.Unexpected)
		}
	}
}

// TestBaselineSetting: the baseline comes from --baseline, PORTCLASS_BASELINE or the
// configuration, "" is none, and a bad entry is a usage error naming it.
func TestBaselineSetting(t *testing.T) {
	sample := testdata("sample.pcapng")
	servers := func(s *reports.Summary) []string {
		var out []string
		for _, u := range s.Unexpected {
			out = append(out, u.Proto+"/"+u.Server+":"+strconv.Itoa(int(u.Port)))
		}
		return out
	}
	def := servers(analyzeJSON(t, "--top", "0", sample))
	none := servers(analyzeJSON(t, "--top", "0", "--baseline", "", sample))
	if len(none) <= len(def) || !slices.ContainsFunc(none, func(s string) bool { return strings.HasSuffix(s, ":53") }) {
		t.Errorf("no baseline: %v; default: %v; want more, DNS among them", none, def)
	}
	withRDP := servers(analyzeJSON(t, "--top", "0", "--baseline", "dns,ntp,dhcp,http,https,ssh,smb,kerberos,ldap,netbios,msrpc,tcp/3389", sample))
	if slices.ContainsFunc(withRDP, func(s string) bool { return strings.HasSuffix(s, ":3389") }) || len(withRDP) != len(def)-1 {
		t.Errorf("baseline with tcp/3389: %v; default %v", withRDP, def)
	}
	t.Setenv("PORTCLASS_BASELINE", "dns")
	fromEnv := servers(analyzeJSON(t, "--top", "0", sample))
	if len(fromEnv) <= len(def) || slices.ContainsFunc(fromEnv, func(s string) bool { return strings.HasSuffix(s, ":53") }) {
		t.Errorf("PORTCLASS_BASELINE=dns: %v; default %v; want more, no DNS", fromEnv, def)
	}
	code, _, errs := runCLI(t, "analyze", "--baseline", "dns,gopher", sample)
	if code != exitUsage || !strings.Contains(errs, "baseline[1]") || !strings.Contains(errs, "gopher") {
		t.Errorf("bad entry: exit %d: %s", code, errs)
	}
}
