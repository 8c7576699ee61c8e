package veeam

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"
)

func vtRuleIDs(refs []RuleRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Rule)
	}
	return out
}

func TestDescribePorts(t *testing.T) {
	m := DefaultMatrix()
	tests := []struct {
		query     string
		proto     string
		span      ports.Span
		classes   []string
		ephemeral []string
		rules     []string // must be listed
		notRules  []string // must not be listed
		iana      string   // an IANA name that must be listed
	}{
		{"6162", "any", ports.Span{Lo: 6162, Hi: 6162}, []string{"registered"}, nil,
			[]string{"backup-server-to-component-datamover", "proxy-to-repository", "repo-hardened-datamover"}, []string{"backup-server-to-component-installer"}, ""},
		{"tcp/6160", "tcp", ports.Span{Lo: 6160, Hi: 6160}, []string{"registered"}, nil,
			[]string{"backup-server-to-component-installer", "gip-to-guest-installer"}, nil, ""},
		{"2500-3300", "any", ports.Span{Lo: 2500, Hi: 3300}, []string{"registered"}, nil,
			[]string{"proxy-to-repository", "em-to-backup-server-catalog-range", "cloud-gateway-to-sp-vspc-agent"}, []string{"legacy-transmission-range"}, ""},
		{"udp/53", "udp", ports.Span{Lo: 53, Hi: 53}, []string{"well-known"}, nil, []string{"any-to-dns-udp"}, []string{"any-to-dns-tcp"}, "domain"},
		{"TCP/53", "tcp", ports.Span{Lo: 53, Hi: 53}, []string{"well-known"}, nil, []string{"any-to-dns-tcp"}, []string{"any-to-dns-udp"}, "domain"},
		{"51515", "any", ports.Span{Lo: 51515, Hi: 51515}, []string{"dynamic"}, []string{"linux", "windows"},
			[]string{"backup-server-to-windows-dynrpc", "em-to-backup-server-rpc", "helper-host-linux-ephemeral"}, nil, ""},
		{"40000-50000", "any", ports.Span{Lo: 40000, Hi: 50000}, []string{"registered", "dynamic"}, []string{"linux", "windows"}, []string{"backup-server-to-windows-dynrpc"}, nil, ""},
		{"1000-1100", "any", ports.Span{Lo: 1000, Hi: 1100}, []string{"well-known", "registered"}, nil, []string{"esxi-to-vpower-mountd-tcp", "mount-to-sql-restore-runtime"}, nil, ""},
		{"ssh", "any", ports.Span{Lo: 22, Hi: 22}, []string{"well-known"}, nil, []string{"backup-server-to-linux-ssh"}, nil, "ssh"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			pi, err := m.DescribePorts(tt.query, ports.DefaultEphemeral)
			if err != nil {
				t.Fatal(err)
			}
			if len(pi.Ports) != 1 {
				t.Fatalf("%d entries, want 1", len(pi.Ports))
			}
			e := pi.Ports[0]
			if e.Proto != tt.proto || e.Ports != tt.span {
				t.Errorf("entry %s %v, want %s %v", e.Proto, e.Ports, tt.proto, tt.span)
			}
			if !slices.Equal(e.Classes, tt.classes) || !slices.Equal(e.Ephemeral, tt.ephemeral) {
				t.Errorf("classes %v ephemeral %v, want %v %v", e.Classes, e.Ephemeral, tt.classes, tt.ephemeral)
			}
			ids := vtRuleIDs(e.Veeam)
			if !slices.IsSorted(ids) {
				t.Error("rules not sorted by id")
			}
			for _, r := range tt.rules {
				if !slices.Contains(ids, r) {
					t.Errorf("rule %s not listed", r)
				}
			}
			for _, r := range tt.notRules {
				if slices.Contains(ids, r) {
					t.Errorf("rule %s listed", r)
				}
			}
			for _, r := range e.Veeam {
				rule, _ := m.Rule(r.Rule)
				if r.Source != rule.Source || !strings.HasPrefix(r.Source, "https://") || r.From != rule.From || r.To != rule.To {
					t.Errorf("rule %s: ref %+v does not match the rule", r.Rule, r)
				}
			}
			// IANA entries are those of the registry table.
			for _, s := range e.IANA {
				num := map[string]uint8{"tcp": capture.ProtoTCP, "udp": capture.ProtoUDP, "sctp": capture.ProtoSCTP, "dccp": 33}[s.Proto]
				got, ok := ports.Lookup(num, s.Ports.Lo)
				if !ok || got.Name != s.Name {
					t.Errorf("IANA entry %+v not in the table", s)
				}
			}
			if tt.iana != "" && !slices.ContainsFunc(e.IANA, func(s IANAService) bool { return s.Name == tt.iana }) {
				t.Errorf("IANA %s not listed: %+v", tt.iana, e.IANA)
			}
		})
	}
}

func TestDescribePortsRangeIANA(t *testing.T) {
	pi, err := DefaultMatrix().DescribePorts("2500-3300", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := pi.Ports[0]
	if len(e.IANA) != portInfoMaxIANA || e.IANACount <= portInfoMaxIANA {
		t.Errorf("%d IANA entries listed of %d, want %d listed of more", len(e.IANA), e.IANACount, portInfoMaxIANA)
	}
	if e.Ephemeral != nil {
		t.Errorf("ephemeral %v without ranges", e.Ephemeral)
	}
}

func TestDescribePortsServiceNames(t *testing.T) {
	m := DefaultMatrix()
	pi, err := m.DescribePorts("Data Mover", nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := vtRuleIDs(pi.VeeamServices)
	if !slices.Contains(ids, "backup-server-to-component-datamover") || slices.Contains(ids, "legacy-transmission-range") {
		t.Errorf("data mover rules %v", ids)
	}
	for _, r := range pi.VeeamServices {
		if !strings.Contains(strings.ToLower(r.Service), "data mover") {
			t.Errorf("rule %s (%s) listed for \"Data Mover\"", r.Rule, r.Service)
		}
	}
	if len(pi.Ports) != 0 {
		t.Errorf("IANA entries for a Veeam-only name: %+v", pi.Ports)
	}
	// A rule id works too.
	pi, err = m.DescribePorts("proxy-to-esxi-902", nil)
	if err != nil || len(pi.VeeamServices) != 1 || pi.VeeamServices[0].Ports != "902" {
		t.Errorf("rule id query: %+v, %v", pi, err)
	}
	// SSH: IANA entries and the Veeam rules naming SSH in their service.
	pi, err = m.DescribePorts("SSH", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pi.Ports) != 1 || pi.Ports[0].Ports != (ports.Span{Lo: 22, Hi: 22}) {
		t.Errorf("ssh ports %+v", pi.Ports)
	}
	if !slices.Contains(vtRuleIDs(pi.VeeamServices), "admin-to-backup-server-ssh") {
		t.Errorf("ssh Veeam services %v", vtRuleIDs(pi.VeeamServices))
	}
	for _, q := range []string{"no-such-service", "", "xyz/22", "tcp/70000", "tcp/"} {
		if _, err := m.DescribePorts(q, nil); err == nil {
			t.Errorf("%q: no error", q)
		} else if q != "tcp/70000" && !errors.Is(err, ErrUnknownQuery) {
			t.Errorf("%q: %v does not wrap ErrUnknownQuery", q, err)
		}
	}
}

func TestDescribeRole(t *testing.T) {
	m := DefaultMatrix()
	ri, err := m.DescribeRole("backup-proxy-vmware")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ri.Ancestors, []string{"veeam-component", "backup-proxy"}) || !slices.Equal(ri.Parents, []string{"backup-proxy"}) {
		t.Errorf("ancestors %v parents %v", ri.Ancestors, ri.Parents)
	}
	in, out := vtRuleIDs(ri.Inbound), vtRuleIDs(ri.Outbound)
	for _, id := range []string{"backup-server-to-component-datamover", "backup-server-to-component-installer", "proxy-to-proxy", "repository-to-proxy-direct"} {
		if !slices.Contains(in, id) {
			t.Errorf("inbound lacks %s", id)
		}
	}
	for _, id := range []string{"proxy-to-esxi-902", "proxy-to-vcenter", "proxy-to-repository", "proxy-to-proxy", "any-to-dns-udp"} {
		if !slices.Contains(out, id) {
			t.Errorf("outbound lacks %s", id)
		}
	}
	for _, id := range []string{"backup-server-to-hyperv-integration", "console-to-backup-server-9392", "backup-server-to-offhost-integration"} {
		if slices.Contains(in, id) || slices.Contains(out, id) {
			t.Errorf("%s listed for a VMware proxy", id)
		}
	}
	for _, p := range []string{"tcp/6160", "tcp/6162", "tcp/2500-3300"} {
		if !slices.Contains(ri.Accepts, p) {
			t.Errorf("accepts lacks %s: %v", p, ri.Accepts)
		}
	}
	for _, p := range []string{"tcp/902", "tcp/443", "udp/53"} {
		if !slices.Contains(ri.Opens, p) {
			t.Errorf("opens lacks %s: %v", p, ri.Opens)
		}
	}
	if slices.Contains(ri.Accepts, "tcp/902") {
		t.Error("a proxy does not accept 902")
	}

	ri, err = m.DescribeRole("veeam-component")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ri.Children, "backup-server") || len(ri.Ancestors) != 0 {
		t.Errorf("veeam-component children %v ancestors %v", ri.Children, ri.Ancestors)
	}

	_, err = m.DescribeRole("backup-proxy-vmwar")
	if !errors.Is(err, ErrUnknownRole) || !strings.Contains(err.Error(), "did you mean backup-proxy-vmware") {
		t.Errorf("error %v", err)
	}
	_, err = m.DescribeRole("zz")
	if !errors.Is(err, ErrUnknownRole) || !strings.Contains(err.Error(), "known roles: veeam-component, ") {
		t.Errorf("error %v", err)
	}
}

func FuzzDescribePorts(f *testing.F) {
	for _, q := range []string{"6162", "2500-3300", "tcp/6162", "udp/53", "ssh", "Data Mover", "x/1", "65535", "0-65535", "-", "tcp/"} {
		f.Add(q)
	}
	m := DefaultMatrix()
	f.Fuzz(func(t *testing.T, q string) {
		pi, err := m.DescribePorts(q, ports.DefaultEphemeral)
		if err != nil {
			return
		}
		if len(pi.Ports) == 0 && len(pi.VeeamServices) == 0 {
			t.Fatalf("%q: empty answer without an error", q)
		}
		for _, e := range pi.Ports {
			if e.Ports.Lo > e.Ports.Hi || len(e.Classes) == 0 || len(e.IANA) > e.IANACount {
				t.Fatalf("%q: bad entry %+v", q, e)
			}
		}
	})
}

// TestDescribeSucceedingPorts: the ports vPower NFS takes when 1058, 1063 or 2049 is
// busy are rules (additions.yaml), bounded to four, and follow a moved port.
func TestDescribeSucceedingPorts(t *testing.T) {
	m := DefaultMatrix()
	for q, want := range map[string][]string{
		"1059": {"esxi-to-vpower-mountd-next-tcp", "esxi-to-vpower-mountd-next-udp"},
		"1067": {"esxi-to-vpower-mountd-next-tcp", "esxi-to-vpower-mountd-next-udp"},
		"2050": {"esxi-to-vpower-nfs-next-tcp", "esxi-to-vpower-nfs-next-udp"},
		"2053": {"esxi-to-vpower-nfs-next-tcp", "esxi-to-vpower-nfs-next-udp"},
		"1068": nil,
	} {
		pi, err := m.DescribePorts(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range pi.Ports[0].Veeam {
			if strings.Contains(r.Rule, "-next-") {
				got = append(got, r.Rule)
				if !r.Succeeding {
					t.Errorf("%s: rule %s not marked succeeding", q, r.Rule)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("ports %s: succeeding rules %v, want %v", q, got, want)
		}
	}
	moved, err := m.With(Options{Ports: map[string]uint16{"vpower-nfs": 3049}})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := moved.Rule("esxi-to-vpower-nfs-next-tcp")
	if got := ports.JoinSpans(r.Ports); got != "3050-3053" {
		t.Errorf("with vpower-nfs 3049: ports %s, want 3050-3053", got)
	}
}

// TestDescribeRoleOS: a Veeam component of either OS lists the operating-system ports
// of a managed Windows and Linux server apart, deployment-only where Veeam says so;
// the hardened repository's SSH and Deployer are deployment-only, its Data Mover not.
func TestDescribeRoleOS(t *testing.T) {
	m := DefaultMatrix()
	for _, role := range []string{"backup-proxy-vmware", "mount-server", "gateway-server", "tape-server"} {
		ri, err := m.DescribeRole(role)
		if err != nil {
			t.Fatal(err)
		}
		if got := vtRuleIDs(ri.Windows); !slices.Equal(got, []string{"backup-server-to-windows-deploy", "backup-server-to-windows-dynrpc"}) {
			t.Errorf("%s: Windows rules %v", role, got)
		}
		if got := vtRuleIDs(ri.Linux); !slices.Equal(got, []string{"backup-server-to-linux-ssh"}) {
			t.Errorf("%s: Linux rules %v", role, got)
		}
		if !ri.Windows[0].DeploymentOnly || ri.Windows[1].DeploymentOnly || ri.Linux[0].DeploymentOnly {
			t.Errorf("%s: deployment-only marks %v %v %v, want true false false", role, ri.Windows[0].DeploymentOnly, ri.Windows[1].DeploymentOnly, ri.Linux[0].DeploymentOnly)
		}
	}
	for _, role := range []string{"repository-linux", "hyperv-host", "esxi"} {
		ri, _ := m.DescribeRole(role)
		if len(ri.Windows)+len(ri.Linux) > 0 {
			t.Errorf("%s: OS sections %v %v, want none (one OS, or no component)", role, vtRuleIDs(ri.Windows), vtRuleIDs(ri.Linux))
		}
	}
	ri, _ := m.DescribeRole("repository-hardened")
	deploy := map[string]bool{}
	for _, r := range ri.Inbound {
		deploy[r.Rule] = r.DeploymentOnly
	}
	for id, want := range map[string]bool{"backup-server-to-linux-ssh": true, "backup-server-to-component-installer": true, "repo-hardened-datamover": false} {
		if got, ok := deploy[id]; !ok || got != want {
			t.Errorf("repository-hardened: %s deployment-only %v (listed %v), want %v", id, got, ok, want)
		}
	}
}
