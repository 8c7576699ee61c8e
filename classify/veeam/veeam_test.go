package veeam

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"

	"github.com/portclass/portclass/internal/corpus"
)

func TestDefaultMatrix(t *testing.T) {
	m := DefaultMatrix()
	if m != DefaultMatrix() {
		t.Error("DefaultMatrix is parsed more than once")
	}
	if got := len(m.Roles()); got != 73 {
		t.Errorf("%d roles, want 73", got)
	}
	if got := len(m.AllRules()); got != 327 {
		t.Errorf("%d rules, want 327 (the reference's 323 and 4 of additions.yaml)", got)
	}
	// Default options: current releases, without the pre-v10 range.
	if got := m.Options().Versions; !slices.Equal(got, []string{"12", "13"}) {
		t.Errorf("default versions %v", got)
	}
	if got := len(m.Rules()); got != 326 {
		t.Errorf("%d active rules by default, want 326 (all but legacy-transmission-range)", got)
	}
	if _, ok := m.Rule("legacy-transmission-range"); ok {
		t.Error("legacy-transmission-range active by default")
	}
	ids := map[string]bool{}
	for _, r := range m.AllRules() {
		if ids[r.ID] {
			t.Errorf("duplicate rule id %s", r.ID)
		}
		ids[r.ID] = true
		if !strings.HasPrefix(r.Source, "https://") {
			t.Errorf("rule %s: source %q is not an https URL", r.ID, r.Source)
		}
		for _, role := range []string{r.From, r.To} {
			if _, ok := m.Role(role); !ok {
				t.Errorf("rule %s: unknown role %q", r.ID, role)
			}
		}
		if r.Protocol != "tcp" && r.Protocol != "udp" {
			t.Errorf("rule %s: protocol %q", r.ID, r.Protocol)
		}
		if len(r.Ports) == 0 || len(r.Versions) == 0 || r.Service == "" || r.Description == "" {
			t.Errorf("rule %s: missing ports, versions, service or description", r.ID)
		}
		for _, s := range r.Ports {
			if s.Lo > s.Hi {
				t.Errorf("rule %s: range %v ends before it starts", r.ID, s)
			}
		}
		for _, c := range r.Caveats {
			if m.Caveat(c) == "" {
				t.Errorf("rule %s: caveat %q has no text", r.ID, c)
			}
		}
	}
	for _, r := range m.Roles() {
		for _, p := range r.Parents {
			if _, ok := m.Role(p); !ok {
				t.Errorf("role %s: unknown parent %s", r.Name, p)
			}
		}
	}
}

// TestMatrixMatchesReference checks every role and rule of the embedded file against
// the reference it was converted from, fact by fact.
func TestMatrixMatchesReference(t *testing.T) {
	path := corpus.Reference(t, "veeam-ports.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Roles map[string]struct {
			Parents []string `yaml:"parents"`
		} `yaml:"roles"`
		Rules []struct {
			ID       string   `yaml:"id"`
			From     string   `yaml:"from_role"`
			To       string   `yaml:"to_role"`
			Protocol string   `yaml:"protocol"`
			Ports    []string `yaml:"ports"`
			Service  string   `yaml:"service"`
			Versions []string `yaml:"applies_to_versions"`
			Verified []string `yaml:"verified_against"`
			Source   string   `yaml:"source"`
			AlsoSee  []string `yaml:"also_see"`
			Notes    string   `yaml:"notes"`
		} `yaml:"rules"`
	}
	if err := yaml.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	m := DefaultMatrix()
	if len(ref.Roles) != len(m.Roles()) {
		t.Errorf("reference has %d roles, matrix %d", len(ref.Roles), len(m.Roles()))
	}
	for name, rr := range ref.Roles {
		r, ok := m.Role(name)
		if !ok {
			t.Errorf("role %s missing", name)
			continue
		}
		if !slices.Equal(r.Parents, rr.Parents) && !(len(r.Parents) == 0 && len(rr.Parents) == 0) {
			t.Errorf("role %s: parents %v, reference %v", name, r.Parents, rr.Parents)
		}
	}
	all := map[string]*Rule{}
	for _, r := range m.AllRules() {
		if strings.HasPrefix(r.Notes, "Added by portclass") {
			if !r.Succeeding {
				t.Errorf("rule %s: an addition that is no succeeding-port rule", r.ID)
			}
			continue // the project's additions (additions.yaml)
		}
		all[r.ID] = r
	}
	if len(ref.Rules) != len(all) {
		t.Errorf("reference has %d rules, matrix %d besides the additions", len(ref.Rules), len(all))
	}
	for _, rr := range ref.Rules {
		r := all[rr.ID]
		if r == nil {
			t.Errorf("rule %s missing", rr.ID)
			continue
		}
		var ports []string
		for _, s := range r.Ports {
			ports = append(ports, s.String())
		}
		switch {
		case r.From != rr.From || r.To != rr.To || r.Protocol != rr.Protocol:
			t.Errorf("rule %s: %s -> %s %s, reference %s -> %s %s", rr.ID, r.From, r.To, r.Protocol, rr.From, rr.To, rr.Protocol)
		case !slices.Equal(ports, rr.Ports):
			t.Errorf("rule %s: ports %v, reference %v", rr.ID, ports, rr.Ports)
		case r.Source != rr.Source || r.Service != rr.Service || r.Notes != rr.Notes:
			t.Errorf("rule %s: source/service/notes differ from the reference", rr.ID)
		case !slices.Equal(r.Versions, rr.Versions) || !slices.Equal(r.Verified, rr.Verified) || !slices.Equal(r.AlsoSee, rr.AlsoSee):
			t.Errorf("rule %s: versions %v verified %v also_see %v, reference %v %v %v", rr.ID, r.Versions, r.Verified, r.AlsoSee, rr.Versions, rr.Verified, rr.AlsoSee)
		}
	}
}

// TestSignaturePorts checks the embedded matrix against the signature ports of each main
// role, as veeam-ports.md lists them.
func TestSignaturePorts(t *testing.T) {
	m := DefaultMatrix()
	tcp, udp := capture.ProtoTCP, capture.ProtoUDP
	tests := []struct {
		proto    uint8
		port     uint16
		rule     string // a rule that must match
		from, to string
	}{
		{tcp, 9392, "console-to-backup-server-9392", "console", "backup-server"},
		{tcp, 9393, "em-to-backup-server-catalog-9393", "enterprise-manager", "backup-server"},
		{tcp, 9401, "mount-server-to-backup-server-9401", "mount-server", "backup-server"},
		{tcp, 9419, "rest-client-to-backup-server-9419", "rest-client", "backup-server"},
		{tcp, 10005, "agent-win-to-backup-server", "veeam-agent-windows", "backup-server"},
		{tcp, 10006, "agent-linux-to-backup-server", "veeam-agent-linux", "backup-server"},
		{tcp, 33034, "cdp-proxy-to-coordinator", "cdp-proxy", "backup-server"},
		{tcp, 6160, "backup-server-to-component-installer", "backup-server", "veeam-component"},
		{tcp, 6162, "backup-server-to-component-datamover", "backup-server", "veeam-component"},
		{tcp, 2500, "proxy-to-repository", "backup-proxy", "repository"},
		{tcp, 3300, "proxy-to-repository", "backup-proxy", "repository"},
		{tcp, 49152, "backup-server-to-windows-dynrpc", "backup-server", "veeam-component-windows"},
		{tcp, 65535, "backup-server-to-hyperv-dynrpc", "backup-server", "hyperv-host"},
		{tcp, 902, "proxy-to-esxi-902", "backup-proxy-vmware", "esxi"},
		{tcp, 443, "backup-server-to-vcenter", "backup-server", "vcenter"},
		{tcp, 6161, "backup-server-to-vpower-nfs", "backup-server", "mount-server"},
		{tcp, 1058, "esxi-to-vpower-mountd-tcp", "esxi", "mount-server"},
		{udp, 1063, "esxi-to-vpower-mountd-udp", "esxi", "mount-server"},
		{tcp, 6170, "backup-server-to-mount-service", "backup-server", "mount-server"},
		{tcp, 6163, "backup-server-to-hyperv-integration", "backup-server", "hyperv-host"},
		{tcp, 8732, "backup-server-to-scvmm", "backup-server", "scvmm"},
		{tcp, 6164, "backup-server-to-wan-rpc", "backup-server", "wan-accelerator"},
		{tcp, 6165, "wan-to-wan-data", "wan-accelerator", "wan-accelerator"},
		{tcp, 6166, "backup-server-to-tape-rpc", "backup-server", "tape-server"},
		{tcp, 6167, "gip-to-guest-log-shipping-6167", "guest-interaction-proxy", "vm-guest-os"},
		{tcp, 6182, "backup-server-to-cdp-proxy", "backup-server", "cdp-proxy"},
		{tcp, 33032, "esxi-to-cdp-proxy", "esxi", "cdp-proxy"},
		{tcp, 9380, "backup-server-to-distribution", "backup-server", "distribution-server"},
		{tcp, 6180, "tenant-to-cloud-gateway-tcp", "backup-server", "cloud-gateway"},
		{udp, 6180, "tenant-to-cloud-gateway-udp", "backup-server", "cloud-gateway"},
		{tcp, 6168, "sp-to-cloud-gateway-6168", "cloud-connect-sp-server", "cloud-gateway"},
		{tcp, 6169, "cloud-gateway-to-sp-6169", "cloud-gateway", "cloud-connect-sp-server"},
		{udp, 1195, "nea-to-cloud-gateway-vpn", "network-extension-appliance", "cloud-gateway"},
		{tcp, 9443, "browser-to-em-9443", "web-browser", "enterprise-manager"},
		{tcp, 9080, "browser-to-em-9080", "web-browser", "enterprise-manager"},
		{tcp, 9398, "rest-client-to-em-https", "rest-client", "enterprise-manager"},
		{tcp, 19000, "backup-server-to-worker", "backup-server", "worker"},
		{tcp, 6184, "backup-server-to-agent-win-service", "backup-server", "veeam-agent-windows"},
		{tcp, 22, "backup-server-to-linux-ssh", "backup-server", "veeam-component-linux"},
		{udp, 53, "any-to-dns-udp", "any", "dns-server"},
		{tcp, 1433, "backup-server-to-mssql", "backup-server", "sql-server"},
		{tcp, 5432, "backup-server-to-postgresql", "backup-server", "postgresql"},
	}
	for _, tt := range tests {
		found := false
		for _, r := range m.Match(tt.proto, tt.port) {
			if r.ID == tt.rule {
				found = true
				if r.From != tt.from || r.To != tt.to {
					t.Errorf("%s/%d: rule %s is %s -> %s, want %s -> %s", capture.ProtoName(tt.proto), tt.port, r.ID, r.From, r.To, tt.from, tt.to)
				}
				if !strings.HasPrefix(r.Source, "https://helpcenter.veeam.com/") {
					t.Errorf("rule %s: source %s is not a Veeam Help Center page", r.ID, r.Source)
				}
			}
		}
		if !found {
			t.Errorf("%s/%d: rule %s does not match", capture.ProtoName(tt.proto), tt.port, tt.rule)
		}
	}
	// Ports no rule names.
	for _, p := range []struct {
		proto uint8
		port  uint16
	}{{tcp, 1}, {tcp, 6171}, {udp, 6162}, {capture.ProtoSCTP, 6162}, {capture.ProtoICMP, 0}} {
		if got := m.Match(p.proto, p.port); got != nil {
			t.Errorf("%s/%d: %d rules, want none", capture.ProtoName(p.proto), p.port, len(got))
		}
	}
}

// TestMatchIndex compares the index with a linear scan over every rule, on every port
// where some rule starts or ends and around it.
func TestMatchIndex(t *testing.T) {
	m, err := DefaultMatrix().With(Options{Versions: []string{"pre-10-upgraded"}})
	if err != nil {
		t.Fatal(err)
	}
	ports := map[uint16]bool{0: true, 65535: true}
	for _, r := range m.Rules() {
		for _, s := range r.Ports {
			for _, p := range []int{int(s.Lo) - 1, int(s.Lo), int(s.Hi), int(s.Hi) + 1} {
				if p >= 0 && p <= 65535 {
					ports[uint16(p)] = true
				}
			}
		}
	}
	for _, proto := range []uint8{capture.ProtoTCP, capture.ProtoUDP} {
		for p := range ports {
			var want []string
			for _, r := range m.Rules() {
				if !r.hasProto(proto) {
					continue
				}
				for _, s := range r.Ports {
					if s.Contains(p) {
						want = append(want, r.ID)
						break
					}
				}
			}
			slices.Sort(want)
			var got []string
			for _, r := range m.Match(proto, p) {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s/%d: Match %v, want %v", capture.ProtoName(proto), p, got, want)
			}
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	m := DefaultMatrix()
	var n int
	allocs := testing.AllocsPerRun(1000, func() {
		n += len(m.Match(capture.ProtoTCP, 6162))
		n += len(m.Match(capture.ProtoUDP, 53))
		n += len(m.Match(capture.ProtoTCP, 51515))
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run", allocs)
	}
	if n == 0 {
		t.Error("no matches")
	}
}

func BenchmarkMatch(b *testing.B) {
	m := DefaultMatrix()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += len(m.Match(capture.ProtoTCP, uint16(n)))
	}
}

func TestExplain(t *testing.T) {
	m := DefaultMatrix()
	f := vtFlow(t, capture.ProtoTCP, "192.0.2.10:50000", "192.0.2.21:6162", capture.SF)
	ms := m.Explain(f)
	if !slices.IsSortedFunc(ms, func(a, b Match) int { return strings.Compare(a.ID(), b.ID()) }) {
		t.Error("matches not sorted by rule")
	}
	var dm *Match
	for i := range ms {
		if ms[i].ID() == "backup-server-to-component-datamover" {
			dm = &ms[i]
		}
	}
	if dm == nil {
		t.Fatalf("6162 matches %v, want backup-server-to-component-datamover among them", ms)
	}
	if r := dm.Rule(); r.Service != "Veeam Data Mover (Transport Service)" || r.From != "backup-server" || r.To != "veeam-component" {
		t.Errorf("match %v: rule %+v", *dm, r)
	}
	// The result belongs to the caller.
	first := ms[0]
	ms[0] = *dm + 1
	if m.Explain(f)[0] != first {
		t.Error("Explain returns a shared slice")
	}
	// The client port does not matter, only the server port.
	f2 := vtFlow(t, capture.ProtoTCP, "192.0.2.10:6162", "192.0.2.21:1", capture.SF)
	if got := m.Explain(f2); got != nil {
		t.Errorf("server port 1: %v, want nil", got)
	}
	icmp := &capture.Flow{Proto: capture.ProtoICMP}
	if got := m.Explain(icmp); got != nil {
		t.Errorf("ICMP: %v, want nil", got)
	}
	if m.Explain(nil) != nil {
		t.Error("nil flow explained")
	}
}

func TestIsA(t *testing.T) {
	m := DefaultMatrix()
	tests := []struct {
		role, anc string
		want      bool
	}{
		{"repository-hardened", "repository-hardened", true},
		{"repository-hardened", "repository-linux", true},
		{"repository-hardened", "repository", true},
		{"repository-hardened", "veeam-component-linux", true},
		{"repository-hardened", "veeam-component", true},
		{"repository-hardened", "veeam-component-windows", false},
		{"backup-proxy-hyperv", "veeam-component-windows", true},
		{"cloud-connect-sp-server", "backup-server", true},
		{"backup-server", "cloud-connect-sp-server", false},
		{"esxi", "veeam-component", false},
		{"esxi", "any", true},
		{"no-such-role", "veeam-component", false},
		{"no-such-role", "no-such-role", true},
	}
	for _, tt := range tests {
		if got := m.IsA(tt.role, tt.anc); got != tt.want {
			t.Errorf("IsA(%s, %s) = %v, want %v", tt.role, tt.anc, got, tt.want)
		}
	}
	if got := m.Ancestors("repository-linux"); !slices.Equal(got, []string{"veeam-component", "veeam-component-linux", "repository"}) {
		t.Errorf("Ancestors(repository-linux) = %v", got)
	}
}

func TestRefine(t *testing.T) {
	m := DefaultMatrix()
	f := vtFlow(t, capture.ProtoTCP, "192.0.2.10:50000", "192.0.2.30:6162", capture.SF)
	all := m.Explain(f)
	ids := func(ms []Match) []string {
		var out []string
		for _, v := range ms {
			out = append(out, v.ID())
		}
		return out
	}
	tests := []struct {
		name           string
		client, server []string
		want           []string // nil: all of them
		none           bool
	}{
		{"unknown sides keep all", nil, nil, nil, false},
		{"backup server to Linux repository", []string{"backup-server"}, []string{"repository-linux"},
			[]string{"backup-server-to-component-datamover", "backup-server-to-repo-linux"}, false},
		{"proxy to repository", []string{"backup-proxy-vmware"}, []string{"repository-hardened"},
			[]string{"proxy-to-repository"}, false},
		{"only the server known", nil, []string{"backup-server"},
			[]string{"backup-server-to-component-datamover", "file-server-to-backup-server-dm", "gateway-to-backup-server-dm", "mount-server-to-backup-server-dm",
				"proxy-to-backup-server-dm", "repository-to-backup-server-dm", "tape-server-to-backup-server-dm"}, false},
		{"abstract role takes no child rules", []string{"veeam-component"}, []string{"esxi"}, nil, true},
		{"vcenter accepts no data mover", []string{"backup-server"}, []string{"vcenter"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.Refine(all, tt.client, tt.server)
			switch {
			case tt.none:
				if got != nil {
					t.Errorf("got %v, want nil", ids(got))
				}
			case tt.want == nil:
				if !slices.Equal(ids(got), ids(all)) {
					t.Errorf("got %v, want all", ids(got))
				}
			case !slices.Equal(ids(got), tt.want):
				t.Errorf("got %v, want %v", ids(got), tt.want)
			}
		})
	}
	dns := m.Explain(vtFlow(t, capture.ProtoUDP, "192.0.2.21:50000", "192.0.2.53:53", capture.SF))
	if got := m.Refine(dns, []string{"backup-proxy-vmware"}, []string{"dns-server"}); len(got) != 1 || got[0].ID() != "any-to-dns-udp" {
		t.Errorf("DNS from a proxy: %v, want any-to-dns-udp", got)
	}
}

func TestWithVersions(t *testing.T) {
	base := DefaultMatrix()
	has := func(m *Matrix, port uint16, id string) bool {
		for _, r := range m.Match(capture.ProtoTCP, port) {
			if r.ID == id {
				return true
			}
		}
		return false
	}
	if has(base, 4000, "legacy-transmission-range") {
		t.Error("pre-10 range active by default")
	}
	pre, err := base.With(Options{Versions: []string{"pre-10-upgraded"}})
	if err != nil {
		t.Fatal(err)
	}
	if !has(pre, 4000, "legacy-transmission-range") || !has(pre, 6162, "proxy-to-repository") {
		t.Error("pre-10-upgraded does not add the 2500-5000 range to the current rules")
	}
	if got := pre.Options().Versions; !slices.Equal(got, []string{"12", "13", "pre-10-upgraded"}) {
		t.Errorf("normalized versions %v", got)
	}
	v13, err := base.With(Options{Versions: []string{"13"}})
	if err != nil {
		t.Fatal(err)
	}
	if has(v13, 9405, "em-to-backup-server-9405") || !has(base, 9405, "em-to-backup-server-9405") {
		t.Error("the v12-only rule em-to-backup-server-9405 is not filtered by version 13")
	}
	if !has(v13, 443, "console-to-backup-server-443") {
		t.Error("v13 rule console-to-backup-server-443 missing")
	}
	v12, err := base.With(Options{Versions: []string{"12"}})
	if err != nil {
		t.Fatal(err)
	}
	if has(v12, 443, "console-to-backup-server-443") {
		t.Error("v13-only rule active for version 12")
	}
	_, err = base.With(Options{Versions: []string{"11"}})
	if err == nil || !strings.Contains(err.Error(), `veeam.versions: unknown version "11" (valid: 12, 13, pre-10-upgraded)`) {
		t.Errorf("error %v", err)
	}
}

func TestWithDataMoverRange(t *testing.T) {
	base := DefaultMatrix()
	ids := func(m *Matrix, port uint16) []string {
		var out []string
		for _, r := range m.Match(capture.ProtoTCP, port) {
			out = append(out, r.ID)
		}
		return out
	}
	wide, err := base.With(Options{DataMoverRange: "2500-5000"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ids(wide, 4000), "proxy-to-repository") || slices.Contains(ids(base, 4000), "proxy-to-repository") {
		t.Error("data_mover_range 2500-5000 does not widen proxy-to-repository")
	}
	custom, err := base.With(Options{DataMoverRange: "20000-20100"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ids(custom, 2600), "proxy-to-repository") || !slices.Contains(ids(custom, 20050), "proxy-to-repository") {
		t.Error("custom data_mover_range not applied")
	}
	if !slices.Contains(ids(custom, 6162), "proxy-to-repository") {
		t.Error("custom range dropped 6162")
	}
	r, _ := custom.Rule("proxy-to-repository")
	if !strings.Contains(r.Notes, "range 2500-3300 replaced by 20000-20100 (veeam.data_mover_range)") {
		t.Errorf("notes %q", r.Notes)
	}
	// The catalog range 2500-2600 is a different fact and stays.
	if !slices.Contains(ids(custom, 2550), "em-to-backup-server-catalog-range") {
		t.Error("em-to-backup-server-catalog-range moved with the data mover range")
	}
	orig, _ := base.Rule("proxy-to-repository")
	if orig.Ports[1] != (ports.Span{Lo: 2500, Hi: 3300}) {
		t.Errorf("With changed the base matrix: %v", orig.Ports)
	}
	if _, err := base.With(Options{DataMoverRange: "3300-2500"}); err == nil || !strings.HasPrefix(err.Error(), "veeam.data_mover_range: ") {
		t.Errorf("error %v", err)
	}
}

func TestWithPorts(t *testing.T) {
	base := DefaultMatrix()
	m, err := base.With(Options{Ports: map[string]uint16{"backup-service": 9500, "data-mover": 7162}})
	if err != nil {
		t.Fatal(err)
	}
	has := func(m *Matrix, port uint16, id string) bool {
		for _, r := range m.Match(capture.ProtoTCP, port) {
			if r.ID == id {
				return true
			}
		}
		return false
	}
	if !has(m, 9500, "console-to-backup-server-9392") || has(m, 9392, "console-to-backup-server-9392") {
		t.Error("backup-service port not moved to 9500")
	}
	if !has(m, 9500, "rac-to-sp-9392-8191") {
		t.Error("backup-service port not moved for the Cloud Connect SP server (a backup server)")
	}
	if !has(m, 7162, "backup-server-to-component-datamover") || has(m, 6162, "backup-server-to-component-datamover") {
		t.Error("data-mover port not moved to 7162")
	}
	if !has(m, 2600, "backup-server-to-component-datamover") {
		t.Error("data-mover key moved the range too")
	}
	// Not cumulative: options apply to the rules as loaded.
	again, err := m.With(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !has(again, 9392, "console-to-backup-server-9392") {
		t.Error("With accumulated options")
	}
	// Keys scoped to a role leave other roles' rules alone.
	em, err := base.With(Options{Ports: map[string]uint16{"vpower-nfs": 12049}})
	if err != nil {
		t.Fatal(err)
	}
	if !has(em, 12049, "esxi-to-vpower-nfs-tcp") || !has(em, 2049, "gateway-to-nfs-share-tcp") || has(em, 2049, "esxi-to-vpower-nfs-tcp") {
		t.Error("vpower-nfs key not scoped to mount servers")
	}
	_, err = base.With(Options{Ports: map[string]uint16{"backup": 1}})
	if err == nil || !strings.Contains(err.Error(), `veeam.ports: unknown key "backup" (valid: backup-service, catalog-service,`) {
		t.Errorf("error %v", err)
	}
	if _, err = base.With(Options{Ports: map[string]uint16{"installer": 0}}); err == nil {
		t.Error("port 0 accepted")
	}
}

// vtMiniMatrix is a small valid matrix in veeam.yaml's format.
const vtMiniMatrix = `schema: 1
title: test
caveats:
  - key: c1
    text: a caveat
roles:
  - name: veeam-component
    parents: []
    description: managed
  - name: backup-server
    parents: [veeam-component]
    description: vbr
  - name: any
    parents: []
    description: any host
rules:
  - id: r1
    from: backup-server
    to: veeam-component
    protocol: tcp
    ports: [6162, 2500-3300]
    service: Data Mover
    description: d
    versions: ["12", "13"]
    verified: ["13"]
    source: https://helpcenter.veeam.com/x
    caveats: [c1]
  - id: r2
    from: any
    to: backup-server
    protocol: both
    ports: [9392]
    service: Backup Service
    description: d
    versions: [pre-10-upgraded]
    source: https://helpcenter.veeam.com/y
`

func TestLoadMatrix(t *testing.T) {
	m, err := LoadMatrix([]byte(vtMiniMatrix))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rules()) != 1 || len(m.AllRules()) != 2 {
		t.Errorf("%d active of %d rules, want 1 of 2 (r2 needs pre-10-upgraded)", len(m.Rules()), len(m.AllRules()))
	}
	pre, err := m.With(Options{Versions: []string{"pre-10-upgraded"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := pre.Match(capture.ProtoUDP, 9392); len(got) != 1 || got[0].ID != "r2" {
		t.Errorf("protocol both: udp/9392 matches %v", got)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown from", "from: backup-server", "from: backup-srv", `rule r1: from: unknown role "backup-srv"`},
		{"unknown to", "to: veeam-component\n", "to: nope\n", `rule r1: to: unknown role "nope"`},
		{"protocol", "protocol: tcp", "protocol: icmp", `rule r1: protocol: "icmp" is not tcp, udp or both`},
		{"port", "ports: [6162, 2500-3300]", "ports: [6162, 3300-2500]", `rule r1: ports: line 21: port range "3300-2500"`},
		{"port too big", "ports: [6162, 2500-3300]", "ports: [70000]", `rule r1: ports: line 21: port range "70000": 70000 is above 65535`},
		{"no ports", "ports: [6162, 2500-3300]", "ports: []", `rule r1: ports: empty`},
		{"no source", "source: https://helpcenter.veeam.com/x", "source: ''", `rule r1: source: "" is not an http(s) URL`},
		{"no id", "id: r1", "id: ''", `rule 1: id: empty`},
		{"duplicate id", "id: r2", "id: r1", `rule r1: id: duplicate`},
		{"unknown parent", "parents: [veeam-component]", "parents: [nothing]", `role backup-server: parents: unknown role "nothing"`},
		{"cycle", "  - name: veeam-component\n    parents: []", "  - name: veeam-component\n    parents: [backup-server]", `parents: cycle`},
		{"caveat", "caveats: [c1]", "caveats: [c2]", `rule r1: caveats: unknown caveat "c2"`},
		{"versions", `versions: ["12", "13"]`, `versions: []`, `rule r1: versions: empty`},
		{"schema", "schema: 1", "schema: 2", `schema 2, want 1`},
		{"unknown field", "title: test", "title: test\nextra: 1", `field extra not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(vtMiniMatrix, tt.old, tt.new, 1)
			if src == vtMiniMatrix {
				t.Fatalf("%q not in the test matrix", tt.old)
			}
			_, err := LoadMatrix([]byte(src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func FuzzLoadMatrix(f *testing.F) {
	f.Add([]byte(vtMiniMatrix))
	f.Add(bytes.Replace([]byte(vtMiniMatrix), []byte("6162"), []byte("6162-1"), 1))
	f.Add([]byte("schema: 1\nroles: []\nrules: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadMatrix(data)
		if err != nil {
			return
		}
		for _, r := range m.AllRules() {
			if r.ID == "" || !strings.HasPrefix(r.Source, "http") || len(r.Ports) == 0 {
				t.Fatalf("invalid rule accepted: %+v", r)
			}
			if _, ok := m.Role(r.From); !ok {
				t.Fatalf("rule %s: unknown from accepted", r.ID)
			}
			for _, s := range r.Ports {
				if s.Lo > s.Hi {
					t.Fatalf("rule %s: bad span %v", r.ID, s)
				}
				for _, p := range []uint16{s.Lo, s.Hi} {
					for _, proto := range []uint8{capture.ProtoTCP, capture.ProtoUDP} {
						if !r.hasProto(proto) {
							continue
						}
						if _, active := m.Rule(r.ID); active && !slices.Contains(m.Match(proto, p), r) {
							t.Fatalf("rule %s not matched on %d/%d", r.ID, proto, p)
						}
					}
				}
			}
		}
	})
}

func TestPortSpanText(t *testing.T) {
	for _, s := range []string{"6162", "2500-3300", "0", "65535"} {
		var p ports.Span
		if err := p.UnmarshalText([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if b, _ := p.MarshalText(); string(b) != s {
			t.Errorf("%s round-trips to %s", s, b)
		}
	}
	var p ports.Span
	if err := p.UnmarshalText([]byte("x")); err == nil {
		t.Error("x parsed")
	}
	if !errors.Is(DefaultMatrix().UnknownRole("x"), ErrUnknownRole) {
		t.Error("unknownRole does not wrap ErrUnknownRole")
	}
}

func TestExplainFor(t *testing.T) {
	m := DefaultMatrix()
	tcp, udp := capture.ProtoTCP, capture.ProtoUDP
	ids := func(ms []Match) []string {
		var out []string
		for _, v := range ms {
			out = append(out, v.ID())
		}
		return out
	}
	tests := []struct {
		name           string
		proto          uint8
		server         string
		client, srvRol []string
		want           []string // nil: no match
		all            bool     // want every match of Explain
	}{
		{"dynamic RPC between unknown hosts", tcp, "198.51.100.7:55555", nil, nil, nil, false},
		{"data channel between unknown hosts", tcp, "198.51.100.7:2600", nil, nil, nil, false},
		{"SSH between unknown hosts", tcp, "198.51.100.7:22", nil, nil, nil, false},
		{"HTTPS between unknown hosts", tcp, "198.51.100.7:443", nil, nil, nil, false},
		{"Veeam port between unknown hosts", tcp, "198.51.100.7:9392", nil, nil, nil, true},
		{"DNS between unknown hosts", udp, "198.51.100.7:53", nil, nil, nil, false},
		{"NTP between unknown hosts", udp, "198.51.100.7:123", nil, nil, nil, false},
		{"SQL Server between unknown hosts", tcp, "198.51.100.7:1433", nil, nil, nil, false},
		{"VMware NFC between unknown hosts", tcp, "198.51.100.7:902", nil, nil, nil, false},
		{"NFS between unknown hosts", tcp, "198.51.100.7:2049", nil, nil, nil, false},
		{"DNS from the backup server", udp, "198.51.100.7:53", []string{"backup-server"}, nil, []string{"any-to-dns-udp"}, false},
		{"DNS from an unknown host to the backup server's DNS server", udp, "198.51.100.7:53", nil, []string{"dns-server"}, nil, false},
		{"DNS between two known hosts that are no Veeam component", udp, "198.51.100.7:53", []string{"ntp-server"}, []string{"dns-server"}, nil, false},
		{"NTP from the backup server", udp, "198.51.100.7:123", []string{"backup-server"}, nil, []string{"backup-server-to-ntp"}, false},
		{"NTP from a proxy", udp, "198.51.100.7:123", []string{"backup-proxy-vmware"}, nil, nil, false},
		{"SQL Server from an unknown host to the configuration database", tcp, "198.51.100.7:1433", nil, []string{"sql-server"}, nil, false},
		{"NFS from ESXi to a mount server", tcp, "198.51.100.7:2049", nil, []string{"mount-server"}, []string{"esxi-to-vpower-nfs-tcp"}, false},
		{"NFS from ESXi to an unknown host", tcp, "198.51.100.7:2049", []string{"esxi"}, nil, nil, false},
		{"data mover port between unknown hosts keeps single-port rules", tcp, "198.51.100.7:6162", nil, nil, nil, true},
		{"dynamic RPC from a backup server", tcp, "198.51.100.7:55555", []string{"backup-server"}, nil,
			[]string{"backup-server-to-hyperv-dynrpc", "backup-server-to-offhost-dynrpc", "backup-server-to-windows-dynrpc", "helper-host-linux-ephemeral"}, false},
		{"dynamic RPC to a managed Windows server", tcp, "198.51.100.7:55555", []string{"backup-server"}, []string{"veeam-component-windows"},
			[]string{"backup-server-to-windows-dynrpc"}, false},
		{"dynamic RPC from a Linux repository", tcp, "198.51.100.7:55555", []string{"repository-linux"}, nil, nil, false},
		{"data channel proxy to repository", tcp, "198.51.100.7:2600", []string{"backup-proxy-vmware"}, []string{"repository-linux"},
			[]string{"proxy-to-repository"}, false},
		{"data channel range from a proxy to an unknown host (a web proxy on 3128)", tcp, "198.51.100.7:3128", []string{"backup-proxy-vmware"}, nil, nil, false},
		{"SSH from an unknown workstation to a Linux repository", tcp, "198.51.100.7:22", nil, []string{"repository-linux"}, nil, false},
		{"SSH from the backup server to an unknown host", tcp, "198.51.100.7:22", []string{"backup-server"}, nil, nil, false},
		{"Data Mover from the backup server to an unknown host", tcp, "198.51.100.7:6162", []string{"backup-server"}, nil,
			[]string{"backup-server-to-agent-linux", "backup-server-to-agent-win-logs", "backup-server-to-component-datamover",
				"backup-server-to-flr-helper", "backup-server-to-hyperv-installer-dm", "backup-server-to-lss", "backup-server-to-plugin-linux",
				"backup-server-to-plugin-win", "backup-server-to-repo-linux", "backup-server-to-repo-windows", "repo-hardened-datamover"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := vtFlow(t, tt.proto, "192.0.2.10:50000", tt.server, capture.SF)
			got := ids(m.ExplainFor(f, tt.client, tt.srvRol))
			want := tt.want
			if tt.all {
				want = ids(m.Explain(f))
				if tt.server == "198.51.100.7:6162" {
					want = nil
					for _, v := range m.Explain(f) {
						if r, _ := m.Rule(v.ID()); r.singlePort(6162) {
							want = append(want, v.ID())
						}
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
