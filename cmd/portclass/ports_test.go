package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/portclass/portclass/classify/veeam"
	"github.com/spf13/viper"
)

// runPortsCmd executes `ports ARGS...` with v (a fresh viper when nil).
func runPortsCmd(t *testing.T, v *viper.Viper, args ...string) (string, error) {
	t.Helper()
	if v == nil {
		v = viper.New()
	}
	cmd := newPortsCmd(v)
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return out.String(), err
}

func TestPortsText(t *testing.T) {
	out, err := runPortsCmd(t, nil, "6162")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"port 6162 (any protocol)",
		"port class    registered",
		"backup-server-to-component-datamover  backup-server -> veeam-component",
		"proxy-to-repository",
		"https://helpcenter.veeam.com/docs/vbr/userguide/used_ports.html?ver=13",
		"https://helpcenter.veeam.com/docs/vbr/userguide/hardened_repository_immutability.html?ver=13",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Every data mover rule line carries its source URL.
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "-> veeam-component") && !strings.Contains(l, "https://") {
			t.Errorf("rule line without a source: %q", l)
		}
	}

	out, err = runPortsCmd(t, nil, "tcp/2500-3300", "ssh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tcp/2500-3300", "port 22 (any protocol)", "tcp/22 ssh", "Veeam rules whose service matches \"ssh\""} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPortsRole(t *testing.T) {
	out, err := runPortsCmd(t, nil, "--role", "backup-proxy-vmware")
	if err != nil {
		t.Fatal(err)
	}
	in, outb, ok := strings.Cut(out, "Outbound (opens)")
	if !ok {
		t.Fatalf("no outbound section:\n%s", out)
	}
	if !strings.Contains(in, "backup-server-to-component-datamover  backup-server -> veeam-component  tcp    6162, 2500-3300") {
		t.Errorf("inbound lacks the data mover on 6162:\n%s", in)
	}
	if !strings.Contains(outb, "proxy-to-esxi-902") || !strings.Contains(outb, "backup-proxy-vmware -> esxi") {
		t.Errorf("outbound lacks 902 to ESXi:\n%s", outb)
	}
	if strings.Contains(in, "proxy-to-esxi-902") {
		t.Error("902 listed as inbound")
	}
	if !strings.Contains(in, "accepts:   tcp/2500-3300 tcp/6160 tcp/6162\n") {
		t.Errorf("accepts line:\n%s", in)
	}
}

func TestPortsJSON(t *testing.T) {
	out, err := runPortsCmd(t, nil, "--format", "json", "6162", "udp/53")
	if err != nil {
		t.Fatal(err)
	}
	var infos []veeam.PortInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(infos) != 2 || infos[0].Query != "6162" || infos[1].Ports[0].Proto != "udp" {
		t.Fatalf("infos %+v", infos)
	}
	found := false
	for _, r := range infos[0].Ports[0].Veeam {
		if r.Rule == "backup-server-to-component-datamover" && r.Source == "https://helpcenter.veeam.com/docs/vbr/userguide/used_ports.html?ver=13" {
			found = true
		}
	}
	if !found {
		t.Error("6162 JSON lacks the data mover rule with its source")
	}

	out, err = runPortsCmd(t, nil, "--format", "json", "--role", "repository-linux")
	if err != nil {
		t.Fatal(err)
	}
	var ri veeam.RoleInfo
	if err := json.Unmarshal([]byte(out), &ri); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if ri.Role != "repository-linux" || len(ri.Inbound) == 0 || len(ri.Outbound) == 0 {
		t.Errorf("role info %+v", ri)
	}
}

func TestPortsConfig(t *testing.T) {
	v := viper.New()
	v.Set("veeam.ports", map[string]any{"backup-service": 9500})
	v.Set("veeam.versions", []string{"12", "13", "pre-10-upgraded"})
	v.Set("ephemeral", map[string]string{"custom": "9000-9999"})
	out, err := runPortsCmd(t, v, "9500", "4000")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"console-to-backup-server-9392  console -> backup-server             tcp    9500", "ephemeral in  custom", "legacy-transmission-range"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	v = viper.New()
	v.Set("veeam.versions", []string{"11"})
	if _, err := runPortsCmd(t, v, "6162"); err == nil || !strings.Contains(err.Error(), "unknown version") {
		t.Errorf("error %v", err)
	}
}

func TestPortsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "give a port, range or service name, or --role"},
		{[]string{"6162", "--role", "backup-server"}, "either queries or --role"},
		{[]string{"--role", "backup-proxy-vmwar"}, "did you mean backup-proxy-vmware"},
		{[]string{"--format", "csv", "6162"}, `--format "csv": want json or text`},
		{[]string{"no-such-service"}, "not a port, a port range or a known service name"},
		{[]string{"tcp/70000"}, "70000 is above 65535"},
	}
	for _, tt := range tests {
		_, err := runPortsCmd(t, nil, tt.args...)
		var ee *exitError
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.args, err, tt.want)
		} else if !errors.As(err, &ee) || ee.code != exitUsage {
			t.Errorf("%q: error %v is not a usage error", tt.args, err)
		}
	}
}

func TestPortsHelp(t *testing.T) {
	cmd := newPortsCmd(viper.New())
	if !strings.Contains(cmd.Example, "portclass ports --role backup-proxy-vmware") {
		t.Errorf("example %q", cmd.Example)
	}
}

// TestPortsThroughRoot runs `portclass ports` as users do, with a configuration file.
func TestPortsThroughRoot(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cfg := t.TempDir() + "/portclass.yaml"
	if err := os.WriteFile(cfg, []byte("veeam:\n  data_mover_range: 20000-20100\n  ports:\n    data-mover: 7162\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errOut)
	root := a.rootCmd()
	root.SetArgs([]string{"ports", "--config", cfg, "--format", "json", "7162", "20050"})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var infos []veeam.PortInfo
	if err := json.Unmarshal(out.Bytes(), &infos); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	for i, q := range []string{"7162", "20050"} {
		found := false
		for _, r := range infos[i].Ports[0].Veeam {
			if r.Rule == "backup-server-to-component-datamover" {
				found = true
				if r.Ports != "7162, 20000-20100" {
					t.Errorf("%s: ports %q, want the configured ones", q, r.Ports)
				}
			}
		}
		if !found {
			t.Errorf("%s: the data mover rule is not listed", q)
		}
	}
}
