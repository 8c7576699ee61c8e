package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/reports"
)

// analyzeJSON runs analyze --format json with args and decodes the summary.
func analyzeJSON(t *testing.T, args ...string) *reports.Summary {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"analyze", "-q", "--format", "json"}, args...)...)
	if code != exitOK {
		t.Fatalf("analyze %v: exit %d: %s", args, code, errs)
	}
	s, err := reports.LoadSummary(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTunnelsCapture (issue 15): the bundled tunnels capture (the veeam job inside a
// VXLAN mirror session, Geneve, GRE and VXLAN-in-GRE) gives the veeam capture's flows
// and Veeam hosts, each flow with its tunnel path, and the Tunnels section per layer;
// --no-decap and --tunnel-ports (flag, variable) change what is decapsulated.
func TestTunnelsCapture(t *testing.T) {
	plain := analyzeJSON(t, testdata("veeam.pcap"))
	tun := analyzeJSON(t, testdata("tunnels.pcap"))
	t.Run("inner flows", func(t *testing.T) {
		if len(tun.Flows) != len(plain.Flows) {
			t.Fatalf("%d flows inside the tunnels, %d in the veeam capture", len(tun.Flows), len(plain.Flows))
		}
		want := map[string]int{}
		for _, f := range plain.Flows {
			want[flowKey(&f.Flow)]++
		}
		for _, f := range tun.Flows {
			k := flowKey(&f.Flow)
			if want[k] == 0 {
				t.Errorf("flow %s inside the tunnels is not the veeam capture's", k)
			}
			want[k]--
			if f.Tunnel.Len() == 0 {
				t.Errorf("flow %s has no tunnel path", k)
			}
		}
		hostsOf := func(s *reports.Summary) string { b, _ := json.Marshal(s.Hosts); return string(b) }
		if hostsOf(tun) != hostsOf(plain) {
			t.Errorf("Veeam hosts inside the tunnels\n%s\nwant the veeam capture's\n%s", hostsOf(tun), hostsOf(plain))
		}
		if in := tun.Inputs[0]; in.Decapsulated != in.Decoded || in.Decoded == 0 {
			t.Errorf("decapsulated %d of %d decoded packets, want all", in.Decapsulated, in.Decoded)
		}
	})
	t.Run("tunnels section", func(t *testing.T) {
		seen := map[string]bool{}
		var flows uint64
		for _, tc := range tun.Tunnels {
			seen[tc.Type] = true
			if tc.Type == "vxlan" && tc.ID != nil && *tc.ID == 7 {
				if tc.OuterClient != "203.0.113.10" || tc.OuterServer != "203.0.113.99" {
					t.Errorf("the mirror session is %s > %s", tc.OuterClient, tc.OuterServer)
				}
				flows += tc.Flows
			}
		}
		for _, typ := range []string{"vxlan", "geneve", "gre"} {
			if !seen[typ] {
				t.Errorf("no %s entry in %+v", typ, tun.Tunnels)
			}
		}
		if flows == 0 {
			t.Error("no flow in the VXLAN mirror session")
		}
	})
	t.Run("no-decap", func(t *testing.T) {
		for _, s := range []*reports.Summary{
			analyzeJSON(t, "--no-decap", testdata("tunnels.pcap")),
			withEnv(t, "PORTCLASS_NO_DECAP", "true", func() *reports.Summary { return analyzeJSON(t, testdata("tunnels.pcap")) }),
		} {
			if len(s.Tunnels) != 0 || len(s.Hosts) != 0 {
				t.Errorf("without decapsulation: %d tunnel entries, %d Veeam hosts", len(s.Tunnels), len(s.Hosts))
			}
			for _, f := range s.Flows {
				if p := capture.ProtoName(f.Proto); f.Tunnel.Len() > 0 || (p != "udp" && p != "ip-47") {
					t.Errorf("without decapsulation, flow %s %s > %s (tunnel %q)", p, f.Client, f.Server, f.Tunnel)
				}
			}
		}
	})
	t.Run("tunnel-ports", func(t *testing.T) {
		// Geneve's port not among them: its flows stay UDP to 6081, the others are entered.
		s := analyzeJSON(t, "--tunnel-ports", "4789=vxlan", testdata("tunnels.pcap"))
		geneve := 0
		for _, f := range s.Flows {
			if f.Server.Port() == 6081 && f.Tunnel.Len() == 0 {
				geneve++
			}
			if f.Tunnel.Len() > 0 && f.Tunnel.At(0).Type.String() == "geneve" {
				t.Errorf("a Geneve path without its port: %s", f.Tunnel)
			}
		}
		if geneve == 0 {
			t.Error("no UDP flow to 6081 with Geneve's port left out")
		}
		if len(s.Flows) <= len(plain.Flows)-7 {
			t.Errorf("%d flows", len(s.Flows))
		}
	})
	t.Run("bad tunnel-ports", func(t *testing.T) {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "portclass.yaml")
		if err := os.WriteFile(cfg, []byte("tunnel-ports:\n  - 4789=vxlan\n  - 4789=geneve\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			args []string
			env  string
			want string
		}{
			{args: []string{"--tunnel-ports", "4789=gre"}, want: `--tunnel-ports [4789=gre]: "4789=gre": "gre" is not a tunnel type on UDP (one of geneve, gtp-u, mpls-udp, teredo, vxlan, vxlan-gpe)`},
			{args: []string{"--tunnel-ports", "0=vxlan"}, want: `"0=vxlan": "0" is not a port (1-65535)`},
			{env: "4789=vxlan,x", want: `PORTCLASS_TUNNEL_PORTS=4789=vxlan,x: "x": want PORT=TYPE, e.g. 4789=vxlan`},
			{args: []string{"--config", cfg}, want: cfg + `:1: tunnel-ports: [4789=vxlan 4789=geneve]: port 4789 given twice (vxlan and geneve)`},
		} {
			run := func() (int, string, string) {
				return runCLI(t, append(append([]string{"analyze", "-q"}, tc.args...), testdata("tunnels.pcap"))...)
			}
			var code int
			var errs string
			if tc.env != "" {
				t.Setenv("PORTCLASS_TUNNEL_PORTS", tc.env)
			}
			code, _, errs = run()
			if tc.env != "" {
				os.Unsetenv("PORTCLASS_TUNNEL_PORTS")
			}
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("%v %s: exit %d, %q; want exit 2 with %q", tc.args, tc.env, code, errs, tc.want)
			}
		}
	})
}

// TestTunnelsPolicyAndDiff (issue 15): verify, policy learn and diff see the flows
// inside the tunnels: the policy learned from the veeam capture passes on the tunnels
// capture, the policy learned from the tunnels capture has the same rules, and a diff
// of the two captures finds no difference.
func TestTunnelsPolicyAndDiff(t *testing.T) {
	dir := t.TempDir()
	pv, pt := filepath.Join(dir, "veeam.yaml"), filepath.Join(dir, "tunnels.yaml")
	for _, c := range [][2]string{{testdata("veeam.pcap"), pv}, {testdata("tunnels.pcap"), pt}} {
		if code, _, errs := runCLI(t, "policy", "learn", "-q", "-o", c[1], c[0]); code != exitOK {
			t.Fatalf("learn %s: exit %d: %s", c[0], code, errs)
		}
	}
	rules := func(path string) []string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			// the comment names the capture, the notes count its bytes (with the
			// tunnels' headers): the rules are the rest
			if !strings.HasPrefix(l, "#") && !strings.Contains(l, "note:") {
				out = append(out, l)
			}
		}
		return out
	}
	if a, b := strings.Join(rules(pv), "\n"), strings.Join(rules(pt), "\n"); a != b {
		t.Errorf("the policy learned inside the tunnels differs:\n%s\nfrom the veeam capture's:\n%s", b, a)
	}
	code, out, errs := runCLI(t, "verify", "-q", "--format", "json", "--policy", pv, testdata("tunnels.pcap"))
	if code != exitOK || !strings.Contains(out, `"result": "pass"`) {
		t.Errorf("verify of the tunnels capture against the veeam capture's policy: exit %d: %s\n%s", code, errs, out)
	}
	code, out, errs = runCLI(t, "diff", "-q", "--format", "json", testdata("veeam.pcap"), testdata("tunnels.pcap"))
	if code != exitOK || !strings.Contains(out, `"differences": 0`) {
		t.Errorf("diff of the veeam capture and the same inside tunnels: exit %d: %s\n%s", code, errs, out)
	}
}

// flowKey is what a flow inside tunnels shares with the same flow outside them.
func flowKey(f *capture.Flow) string {
	return fmt.Sprintf("%s %s > %s %s %d/%d packets", capture.ProtoName(f.Proto), f.Client, f.Server, f.State, f.Packets[0], f.Packets[1])
}

// withEnv runs fn with the environment variable k set to v.
func withEnv[T any](t *testing.T, k, v string, fn func() T) T {
	t.Setenv(k, v)
	defer os.Unsetenv(k)
	return fn()
}
