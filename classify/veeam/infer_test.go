package veeam

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and veeam_gen.go")

// vtFlow builds a finished flow from "addr:port" strings. Established states and UDP get
// packets both ways; S0 only to the server; REJ a RST back.
func vtFlow(t testing.TB, proto uint8, client, server string, state capture.State) *capture.Flow {
	t.Helper()
	c, err := netip.ParseAddrPort(client)
	if err != nil {
		t.Fatal(err)
	}
	s, err := netip.ParseAddrPort(server)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := &capture.Flow{
		Proto: proto, Client: c, Server: s, Direction: capture.DirSYN, State: state,
		First: t0, Last: t0.Add(time.Second), Packets: [2]uint64{10, 8}, Bytes: [2]uint64{1000, 800},
	}
	switch state {
	case capture.S0:
		f.Packets[1], f.Bytes[1] = 0, 0
	case capture.REJ:
		f.Packets = [2]uint64{1, 1}
	}
	return f
}

// vtScenarioFlow is one flow of the hand-built copy of the synth "veeam" scenario, with
// the rules that must explain it once the hosts' roles are inferred (nil: noise).
type vtScenarioFlow struct {
	proto          uint8
	client, server string
	rules          []string
}

// vtScenario mirrors capture/synth's veeam scenario: backup server 192.0.2.10 (Windows),
// VMware proxies 192.0.2.21 and .22 (Windows), Linux repository 192.0.2.30, vCenter
// 192.0.2.40, ESXi 192.0.2.41, admin PC 192.0.2.100, DNS/NTP server 192.0.2.53, and
// noise towards 203.0.113.80:8080 and 198.51.100.7:51515.
func vtScenario() []vtScenarioFlow {
	tcp, udp := capture.ProtoTCP, capture.ProtoUDP
	fl := []vtScenarioFlow{
		{udp, "192.0.2.10:50100", "192.0.2.53:53", []string{"any-to-dns-udp"}},
		{udp, "192.0.2.21:50101", "192.0.2.53:53", []string{"any-to-dns-udp"}},
		{udp, "192.0.2.22:50102", "192.0.2.53:53", []string{"any-to-dns-udp"}},
		{udp, "192.0.2.30:50103", "192.0.2.53:53", []string{"any-to-dns-udp"}},
		{tcp, "192.0.2.100:50200", "192.0.2.10:9392", []string{"console-to-backup-server-9392"}},
		{tcp, "192.0.2.100:50201", "192.0.2.10:3389", []string{"admin-to-backup-server-rdp"}},
	}
	for i, p := range []string{"192.0.2.21", "192.0.2.22"} {
		dyn := []string{"49668", "49712"}[i]
		fl = append(fl,
			vtScenarioFlow{tcp, "192.0.2.10:50300", p + ":445", []string{"backup-server-to-windows-deploy"}},
			vtScenarioFlow{tcp, "192.0.2.10:50301", p + ":135", []string{"backup-server-to-windows-deploy"}},
			vtScenarioFlow{tcp, "192.0.2.10:50302", p + ":" + dyn, []string{"backup-server-to-windows-dynrpc"}},
			vtScenarioFlow{tcp, "192.0.2.10:50303", p + ":6160", []string{"backup-server-to-component-installer"}},
			vtScenarioFlow{tcp, "192.0.2.10:50304", p + ":6162", []string{"backup-server-to-component-datamover"}},
			vtScenarioFlow{tcp, p + ":50400", "192.0.2.41:443", []string{"proxy-to-esxi-443"}},
			vtScenarioFlow{tcp, p + ":50401", "192.0.2.41:902", []string{"proxy-to-esxi-902"}},
			vtScenarioFlow{tcp, p + ":50402", "192.0.2.30:" + []string{"2500", "2502"}[i], []string{"proxy-to-repository"}},
			vtScenarioFlow{tcp, p + ":50403", "192.0.2.30:" + []string{"2501", "2503"}[i], []string{"proxy-to-repository"}},
		)
	}
	fl = append(fl,
		vtScenarioFlow{tcp, "192.0.2.10:50500", "192.0.2.30:22", []string{"backup-server-to-linux-ssh", "backup-server-to-repo-linux"}},
		vtScenarioFlow{tcp, "192.0.2.10:50501", "192.0.2.30:6162", []string{"backup-server-to-component-datamover", "backup-server-to-repo-linux"}},
		vtScenarioFlow{tcp, "192.0.2.10:50502", "192.0.2.40:443", []string{"backup-server-to-vcenter"}},
		// Noise on the same hosts.
		vtScenarioFlow{tcp, "192.0.2.21:50600", "203.0.113.80:8080", nil},
		vtScenarioFlow{tcp, "192.0.2.30:50601", "198.51.100.7:51515", nil},
		vtScenarioFlow{udp, "192.0.2.30:50602", "192.0.2.53:123", nil},
		vtScenarioFlow{udp, "192.0.2.21:50603", "192.0.2.53:123", nil},
	)
	return fl
}

func vtScenarioFlows(t testing.TB) []*capture.Flow {
	var out []*capture.Flow
	for _, s := range vtScenario() {
		out = append(out, vtFlow(t, s.proto, s.client, s.server, capture.SF))
	}
	return out
}

// vtWantRoles is what the inference must say about the scenario's hosts (most specific
// roles, as a set); hosts not listed must have no role.
var vtWantRoles = map[string][]string{
	"192.0.2.10":  {"backup-server", "veeam-component-windows"},
	"192.0.2.21":  {"backup-proxy-vmware", "veeam-component-windows"},
	"192.0.2.22":  {"backup-proxy-vmware", "veeam-component-windows"},
	"192.0.2.30":  {"repository-linux"},
	"192.0.2.40":  {"vcenter"},
	"192.0.2.41":  {"esxi"},
	"192.0.2.53":  {"dns-server"}, // its NTP clients are a proxy and the repository: no rule's clients
	"192.0.2.100": {"admin-workstation", "console"},
}

func vtInfer(t testing.TB, m *Matrix, declared *HostSet, flows []*capture.Flow) *Inferer {
	in := m.NewInferer(declared)
	for _, f := range flows {
		in.Add(f, m.Explain(f))
	}
	return in
}

func vtSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestInferScenario(t *testing.T) {
	m := DefaultMatrix()
	in := vtInfer(t, m, nil, vtScenarioFlows(t))
	hosts := in.Hosts()
	got := map[string][]string{}
	for _, h := range hosts {
		var names []string
		for _, r := range h.Roles {
			names = append(names, r.Role)
			if r.Declared {
				t.Errorf("%s %s: declared without an inventory", h.Addr, r.Role)
			}
			if r.Confidence < 0.5 || r.Confidence > 0.99 {
				t.Errorf("%s %s: confidence %v outside [0.5, 0.99]", h.Addr, r.Role, r.Confidence)
			}
			if r.Confidence*100 != float64(int(r.Confidence*100+0.5)) {
				t.Errorf("%s %s: confidence %v has more than 2 decimals", h.Addr, r.Role, r.Confidence)
			}
			if len(r.Evidence) == 0 || len(r.Evidence) > 5 {
				t.Errorf("%s %s: %d evidence lines, want 1..5", h.Addr, r.Role, len(r.Evidence))
			}
			for _, e := range r.Evidence {
				if !strings.Contains(e, "rule") && !strings.HasPrefix(e, "is both") {
					t.Errorf("%s %s: evidence %q names no rule", h.Addr, r.Role, e)
				}
			}
		}
		got[h.Addr.String()] = vtSorted(names)
		if !slices.Equal(vtSorted(in.RolesOf(h.Addr)), vtSorted(names)) {
			t.Errorf("%s: RolesOf %v, Hosts %v", h.Addr, in.RolesOf(h.Addr), names)
		}
	}
	for addr, want := range vtWantRoles {
		if !slices.Equal(got[addr], vtSorted(want)) {
			t.Errorf("%s: roles %v, want %v", addr, got[addr], want)
		}
	}
	for addr, roles := range got {
		if _, ok := vtWantRoles[addr]; !ok {
			t.Errorf("%s: unexpected roles %v", addr, roles)
		}
	}
	if !slices.IsSortedFunc(hosts, func(a, b HostRoles) int { return a.Addr.Compare(b.Addr) }) {
		t.Error("Hosts not sorted by address")
	}
	if t.Failed() {
		b, _ := json.MarshalIndent(hosts, "", "  ")
		t.Logf("hosts:\n%s", b)
	}
}

func TestInferEvidence(t *testing.T) {
	m := DefaultMatrix()
	in := vtInfer(t, m, nil, vtScenarioFlows(t))
	want := map[string]map[string]string{ // host → role → a substring of one evidence line
		"192.0.2.10": {"backup-server": "opens tcp/6160 to 2 peers: 192.0.2.21, 192.0.2.22 (rule backup-server-to-component-installer)"},
		"192.0.2.41": {"esxi": "accepts tcp/902 from 2 peers: 192.0.2.21, 192.0.2.22 (rule proxy-to-esxi-902)"},
		"192.0.2.21": {"backup-proxy-vmware": "opens tcp/902 to ESXi host 192.0.2.41"},
		"192.0.2.30": {"repository-linux": "accepts tcp/22 from backup server 192.0.2.10"},
		"192.0.2.53": {"dns-server": "accepts udp/53 from 4 peers: 192.0.2.10, 192.0.2.21, 192.0.2.22, ... (rule any-to-dns-udp)"},
	}
	for _, h := range in.Hosts() {
		for _, r := range h.Roles {
			sub, ok := want[h.Addr.String()][r.Role]
			if !ok {
				continue
			}
			found := false
			for _, e := range r.Evidence {
				found = found || strings.Contains(e, sub)
			}
			if !found {
				t.Errorf("%s %s: no evidence line contains %q:\n%s", h.Addr, r.Role, sub, strings.Join(r.Evidence, "\n"))
			}
			delete(want[h.Addr.String()], r.Role)
		}
	}
	for h, roles := range want {
		for r := range roles {
			t.Errorf("%s: role %s not reported", h, r)
		}
	}
}

func TestRefineScenario(t *testing.T) {
	m := DefaultMatrix()
	flows := vtScenarioFlows(t)
	in := vtInfer(t, m, nil, flows)
	for i, s := range vtScenario() {
		f := flows[i]
		ms := m.Refine(m.Explain(f), in.RolesOf(f.Client.Addr()), in.RolesOf(f.Server.Addr()))
		var ids []string
		for _, v := range ms {
			ids = append(ids, v.ID())
		}
		if !slices.Equal(ids, s.rules) {
			t.Errorf("%s -> %s: rules %v, want %v", s.client, s.server, ids, s.rules)
		}
		ids = nil
		for _, v := range m.ExplainFor(f, in.RolesOf(f.Client.Addr()), in.RolesOf(f.Server.Addr())) {
			ids = append(ids, v.ID())
		}
		if !slices.Equal(ids, s.rules) {
			t.Errorf("%s -> %s: ExplainFor %v, want %v", s.client, s.server, ids, s.rules)
		}
	}
}

func TestInferDeterministic(t *testing.T) {
	m := DefaultMatrix()
	flows := vtScenarioFlows(t)
	want, _ := json.Marshal(vtInfer(t, m, nil, flows).Hosts())
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5; i++ {
		r.Shuffle(len(flows), func(a, b int) { flows[a], flows[b] = flows[b], flows[a] })
		got, _ := json.Marshal(vtInfer(t, m, nil, flows).Hosts())
		if string(got) != string(want) {
			t.Fatalf("shuffle %d changed the result:\n%s\nwant\n%s", i, got, want)
		}
	}
}

// TestInferOnlyOpenFlows: only flows that show an open port are evidence. Every case
// sits next to a backup server (192.0.2.10, known by opening 6160 to two managed
// servers), since a host is a Veeam host only with a Veeam component among its peers.
func TestInferOnlyOpenFlows(t *testing.T) {
	m := DefaultMatrix()
	tcp, udp := capture.ProtoTCP, capture.ProtoUDP
	base := []*capture.Flow{
		vtFlow(t, tcp, "192.0.2.10:50000", "192.0.2.21:6160", capture.SF),
		vtFlow(t, tcp, "192.0.2.10:50001", "192.0.2.22:6160", capture.SF),
	}
	tests := []struct {
		name  string
		flows []*capture.Flow
		addr  string
		want  []string
	}{
		{"SF counts", []*capture.Flow{
			vtFlow(t, tcp, "192.0.2.100:50000", "192.0.2.10:9392", capture.SF),
		}, "192.0.2.100", []string{"console"}},
		{"RSTR counts", []*capture.Flow{
			vtFlow(t, tcp, "192.0.2.100:50000", "192.0.2.10:9392", capture.RSTR),
		}, "192.0.2.100", []string{"console"}},
		{"REJ does not", []*capture.Flow{
			vtFlow(t, tcp, "192.0.2.100:50000", "192.0.2.10:9392", capture.REJ),
		}, "192.0.2.100", nil},
		{"S0 does not", []*capture.Flow{
			vtFlow(t, tcp, "192.0.2.100:50000", "192.0.2.10:9392", capture.S0),
		}, "192.0.2.100", nil},
		{"the managed servers", nil, "192.0.2.21", []string{"veeam-component"}},
		{"a managed server that did not answer is none", []*capture.Flow{
			vtFlow(t, tcp, "192.0.2.10:50002", "192.0.2.23:6160", capture.S0),
		}, "192.0.2.23", nil},
		{"UDP both ways counts", []*capture.Flow{
			vtFlow(t, udp, "192.0.2.10:50000", "192.0.2.53:53", capture.SF),
		}, "192.0.2.53", []string{"dns-server"}},
		{"UDP one way does not", []*capture.Flow{
			vtFlow(t, udp, "192.0.2.10:50000", "192.0.2.53:53", capture.S0),
		}, "192.0.2.53", nil},
		{"port 443 alone says nothing", []*capture.Flow{
			vtFlow(t, tcp, "192.0.2.100:50000", "192.0.2.80:443", capture.SF),
			vtFlow(t, tcp, "192.0.2.101:50000", "192.0.2.80:443", capture.SF),
		}, "192.0.2.80", nil},
		{"tape server", []*capture.Flow{
			vtFlow(t, tcp, "192.0.2.10:50000", "192.0.2.60:6166", capture.SF),
		}, "192.0.2.60", []string{"tape-server"}},
		{"WAN accelerators", []*capture.Flow{
			vtFlow(t, tcp, "192.0.2.10:50003", "192.0.2.61:6160", capture.SF),
			vtFlow(t, tcp, "192.0.2.61:50000", "198.51.100.61:6165", capture.SF),
		}, "198.51.100.61", []string{"wan-accelerator"}},
		{"cloud gateway", []*capture.Flow{
			vtFlow(t, tcp, "192.0.2.10:50000", "203.0.113.5:6180", capture.SF),
		}, "203.0.113.5", []string{"cloud-gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := vtInfer(t, m, nil, append(slices.Clone(base), tt.flows...))
			got := in.RolesOf(netip.MustParseAddr(tt.addr))
			if !slices.Equal(got, tt.want) {
				b, _ := json.MarshalIndent(in.Hosts(), "", "  ")
				t.Errorf("RolesOf(%s) = %v, want %v\n%s", tt.addr, got, tt.want, b)
			}
		})
	}
}

// TestInferVeeamEvidence: no host is a Veeam host without a Veeam component among its
// peers, and no component without a Veeam signature port it accepted or a backup
// server's fan-out; generic service ports need a Veeam component as the rule's client,
// and only signature ports are Veeam traffic between hosts of unknown roles.
func TestInferVeeamEvidence(t *testing.T) {
	m := DefaultMatrix()
	tcp, udp := capture.ProtoTCP, capture.ProtoUDP
	tests := []struct {
		name  string
		flows []vtScenarioFlow
		want  map[string][]string // every host with roles
	}{
		{"a home network's DNS and NTP", []vtScenarioFlow{
			{udp, "192.168.1.10:50000", "8.8.8.8:53", nil},
			{udp, "192.168.1.11:50000", "168.95.1.1:53", nil},
			{udp, "192.168.1.10:50001", "192.168.1.1:123", nil},
			{tcp, "192.168.1.10:50002", "192.168.1.2:1433", nil},
			{tcp, "192.168.1.10:50003", "192.168.1.2:25", nil},
		}, nil},
		{"a listener on 9392 and a client of 6162, nothing else", []vtScenarioFlow{
			{tcp, "198.18.0.1:50000", "198.19.128.1:9392", nil},
			{tcp, "198.18.0.2:50000", "198.19.128.1:9392", nil},
			{tcp, "198.18.0.3:50000", "198.19.128.1:6162", nil},
			{tcp, "198.18.0.1:50001", "198.19.128.1:3389", nil},
		}, nil},
		{"random servers with Veeam ports, clients of several", []vtScenarioFlow{
			{tcp, "198.18.0.1:50000", "198.19.128.1:9392", nil},
			{tcp, "198.18.0.1:50001", "198.19.128.2:6162", nil},
			{tcp, "198.18.0.2:50000", "198.19.128.2:9392", nil},
			{tcp, "198.18.0.2:50001", "198.19.128.1:6162", nil},
			{udp, "198.18.0.2:50002", "198.19.128.3:53", nil},
		}, nil},
		{"a VMware client on 902 is no proxy", []vtScenarioFlow{
			{tcp, "192.0.2.150:50000", "192.0.2.41:902", nil},
			{tcp, "192.0.2.150:50001", "192.0.2.41:443", nil},
		}, nil},
		{"the backup server's DNS, NTP and SQL Server", []vtScenarioFlow{
			{tcp, "192.0.2.10:50000", "192.0.2.21:6160", nil},
			{tcp, "192.0.2.10:50001", "192.0.2.22:6160", nil},
			{udp, "192.0.2.10:50002", "192.0.2.53:53", nil},
			{udp, "192.0.2.10:50003", "192.0.2.53:123", nil},
			{tcp, "192.0.2.10:50004", "192.0.2.54:1433", nil},
			{udp, "192.0.2.150:50000", "192.0.2.55:53", nil}, // a PC's own DNS server
			{udp, "192.0.2.21:50000", "192.0.2.56:123", nil}, // a proxy's NTP: no rule
		}, map[string][]string{
			"192.0.2.10": {"backup-server"}, "192.0.2.21": {"veeam-component"}, "192.0.2.22": {"veeam-component"},
			"192.0.2.53": {"dns-server", "ntp-server"}, "192.0.2.54": {"sql-server"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var flows []*capture.Flow
			for _, s := range tt.flows {
				flows = append(flows, vtFlow(t, s.proto, s.client, s.server, capture.SF))
			}
			in := vtInfer(t, m, nil, flows)
			got := map[string][]string{}
			for _, h := range in.Hosts() {
				got[h.Addr.String()] = vtSorted(in.RolesOf(h.Addr))
			}
			if len(got) != len(tt.want) {
				t.Errorf("hosts %v, want %v", got, tt.want)
			}
			for a, w := range tt.want {
				if !slices.Equal(got[a], vtSorted(w)) {
					t.Errorf("%s: roles %v, want %v", a, got[a], w)
				}
			}
			// Without Veeam hosts, only a signature port is Veeam traffic (on its word).
			for _, f := range flows {
				ms := in.Explain(f)
				if len(tt.want) == 0 && len(ms) > 0 && !m.Signature(f.Proto, f.Server.Port()) {
					t.Errorf("%v -> %v: rules %v without any Veeam host", f.Client, f.Server, ms)
				}
			}
		})
	}
}

func TestInferDeclared(t *testing.T) {
	m := DefaultMatrix()
	hs, err := m.ParseInventory(Inventory{
		"object-storage": {"192.0.2.40"},      // overrides the vcenter inference
		"backup-server":  {"192.0.2.8/29"},    // covers 192.0.2.10
		"tape-server":    {"2001:db8::66"},    // never seen: still listed
		"gateway-server": {"198.51.100.0/24"}, // a prefix: listed only for hosts seen
	})
	if err != nil {
		t.Fatal(err)
	}
	in := vtInfer(t, m, hs, vtScenarioFlows(t))
	byAddr := map[string]HostRoles{}
	for _, h := range in.Hosts() {
		byAddr[h.Addr.String()] = h
	}
	for addr, role := range map[string]string{"192.0.2.40": "object-storage", "192.0.2.10": "backup-server", "2001:db8::66": "tape-server", "198.51.100.7": "gateway-server"} {
		h, ok := byAddr[addr]
		if !ok {
			t.Errorf("%s not listed", addr)
			continue
		}
		if len(h.Roles) != 1 || h.Roles[0].Role != role || !h.Roles[0].Declared || h.Roles[0].Confidence != 1 {
			t.Errorf("%s: roles %+v, want only declared %s", addr, h.Roles, role)
		}
		if !slices.Equal(in.RolesOf(h.Addr), []string{role}) {
			t.Errorf("RolesOf(%s) = %v, want [%s]", addr, in.RolesOf(h.Addr), role)
		}
	}
	if _, ok := byAddr["198.51.100.8"]; ok {
		t.Error("an unseen address of a declared prefix is listed")
	}
	if got := byAddr["192.0.2.10"].Roles[0].Evidence; len(got) != 1 || got[0] != "declared in the inventory as 192.0.2.8/29" {
		t.Errorf("declared evidence = %q", got)
	}
	// The rest is still inferred, using the declared roles of peers.
	if got := in.RolesOf(netip.MustParseAddr("192.0.2.30")); !slices.Equal(got, []string{"repository-linux"}) {
		t.Errorf("repository roles = %v", got)
	}
}

func TestInferCaps(t *testing.T) {
	m := DefaultMatrix()
	in := m.NewInferer(nil)
	in.SetMaxHosts(3)
	for i := 0; i < 5; i++ {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)}), 50000)
		f := vtFlow(t, capture.ProtoTCP, c.String(), "192.0.2.10:9392", capture.SF)
		in.Add(f, m.Explain(f))
	}
	st := in.Stats()
	if st.Hosts != 3 || st.DroppedHosts != 3 || st.Flows != 5 || st.Evidence != 5 {
		t.Errorf("stats %+v, want 3 hosts, 3 dropped ends, 5 flows, 5 evidence", st)
	}

	in = m.NewInferer(nil)
	for _, p := range []string{"192.0.2.21:6160", "192.0.2.22:6160"} { // the backup server's fan-out
		f := vtFlow(t, capture.ProtoTCP, "192.0.2.10:50000", p, capture.SF)
		in.Add(f, m.Explain(f))
	}
	for i := 0; i < InferMaxPeersPerHost+10; i++ {
		c := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		f := vtFlow(t, capture.ProtoTCP, netip.AddrPortFrom(c, 50000).String(), "192.0.2.10:9392", capture.SF)
		in.Add(f, m.Explain(f))
	}
	for p := 0; p < InferMaxPortsPerHost+10; p++ {
		f := vtFlow(t, capture.ProtoTCP, "192.0.2.100:50000", "192.0.2.10:2500", capture.SF)
		f.Server = netip.AddrPortFrom(f.Server.Addr(), uint16(2500+p))
		in.Add(f, m.Explain(f))
	}
	if st := in.Stats(); st.DroppedEvidence == 0 {
		t.Errorf("stats %+v: nothing dropped past the per-host caps", st)
	}
	h := in.hostOf[in.ids[netip.MustParseAddr("192.0.2.10")]]
	if len(h.groups) > InferMaxPortsPerHost || len(h.peers) > InferMaxPeersPerHost {
		t.Errorf("host holds %d groups and %d peers, caps %d and %d", len(h.groups), len(h.peers), InferMaxPortsPerHost, InferMaxPeersPerHost)
	}
	if got := in.RolesOf(netip.MustParseAddr("192.0.2.10")); !slices.Contains(got, "backup-server") {
		t.Errorf("roles %v: capped evidence lost the backup server", got)
	}
}

func TestParseInventory(t *testing.T) {
	m := DefaultMatrix()
	tests := []struct {
		name    string
		inv     Inventory
		wantErr string // substring; "" for success
		addr    string
		roles   []string
	}{
		{"address", Inventory{"esxi": {"192.0.2.41"}}, "", "192.0.2.41", []string{"esxi"}},
		{"prefix", Inventory{"repository-linux": {"192.0.2.32/30"}}, "", "192.0.2.33", []string{"repository-linux"}},
		{"outside prefix", Inventory{"repository-linux": {"192.0.2.32/30"}}, "", "192.0.2.36", nil},
		{"IPv6", Inventory{"backup-server": {"2001:db8::10"}}, "", "2001:db8::10", []string{"backup-server"}},
		{"IPv4-mapped address", Inventory{"vcenter": {"::ffff:192.0.2.40"}}, "", "192.0.2.40", []string{"vcenter"}},
		{"two roles", Inventory{"backup-server": {"192.0.2.10"}, "repository-windows": {"192.0.2.0/24"}}, "", "192.0.2.10", []string{"backup-server", "repository-windows"}},
		{"unknown role", Inventory{"backup-proxy-vmwar": {"192.0.2.1"}}, `unknown Veeam role "backup-proxy-vmwar" (did you mean backup-proxy-vmware`, "", nil},
		{"bad entry", Inventory{"esxi": {"192.0.2.300"}}, `role esxi: entry "192.0.2.300"`, "", nil},
		{"bad prefix", Inventory{"esxi": {"192.0.2.0/33"}}, `role esxi: entry "192.0.2.0/33"`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := m.ParseInventory(tt.inv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(tt.name, "role") && !errors.Is(err, ErrUnknownRole) {
					t.Errorf("error %v does not wrap ErrUnknownRole", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := hs.RolesOf(netip.MustParseAddr(tt.addr)); !slices.Equal(got, tt.roles) {
				t.Errorf("RolesOf(%s) = %v, want %v", tt.addr, got, tt.roles)
			}
		})
	}
	var nilSet *HostSet
	if nilSet.RolesOf(netip.MustParseAddr("192.0.2.1")) != nil || nilSet.Len() != 0 {
		t.Error("nil HostSet is not empty")
	}
}

func BenchmarkInfer(b *testing.B) {
	m := DefaultMatrix()
	flows := vtScenarioFlows(b)
	matches := make([][]Match, len(flows))
	for i, f := range flows {
		matches[i] = m.Explain(f)
	}
	b.ReportAllocs()
	for b.Loop() {
		in := m.NewInferer(nil)
		for i, f := range flows {
			in.Add(f, matches[i])
		}
		_ = in.Hosts()
	}
}

// BenchmarkInferBurst is the inference of the burst capture of make bench-compare
// (synth's flows scenario, 500k flows started within 70 s): some 313k flows of
// evidence among 65k hosts, a few of which talk to each other on Veeam's signature
// ports, so that the rounds run over every host. It reports the cost per flow given to
// the Inferer (AddFlow, and Hosts computing the roles).
func BenchmarkInferBurst(b *testing.B) {
	path := filepath.Join(b.TempDir(), "burst.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	s := synth.Scenario{Kind: synth.KindFlows, Seed: 1, Span: synth.DefaultBurstSpan}
	err = synth.Write(f, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet, Snaplen: synth.CommittedSnaplen})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	var flows []capture.Flow
	if _, err := capture.Run(context.Background(), []string{path}, capture.Options{Workers: 1}, func(f *capture.Flow) { flows = append(flows, *f) }); err != nil {
		b.Fatal(err)
	}
	m := DefaultMatrix()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		in := m.NewInferer(nil)
		for i := range flows {
			in.AddFlow(&flows[i])
		}
		if len(in.Hosts()) == 0 {
			b.Fatal("no host with a role: the rounds did not run")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(flows)), "ns/flow")
}

// TestInferSynthFacts cross-checks inference and refinement against the facts of
// capture/synth's veeam scenario, written independently from the reference: every host
// gets the roles the scenario gives it, and every connection the rules it lists (the
// scenario lists them for all versions, so the check uses a matrix with all versions).
func TestInferSynthFacts(t *testing.T) {
	m := DefaultMatrix()
	all, err := m.With(Options{Versions: m.Versions()})
	if err != nil {
		t.Fatal(err)
	}
	facts := synth.VeeamFacts()
	flows := make([]*capture.Flow, len(facts))
	for i, f := range facts {
		flows[i] = &capture.Flow{Proto: f.Proto, Client: netip.AddrPortFrom(f.Client, 50000), Server: f.Server,
			State: capture.SF, Packets: [2]uint64{3, 3}}
	}
	in := vtInfer(t, m, nil, flows)
	for _, h := range synth.VeeamHosts() {
		if got := vtSorted(in.RolesOf(h.Addr)); !slices.Equal(got, vtSorted(h.Roles)) {
			t.Errorf("%s (%s): roles %v, scenario says %v", h.Addr, h.Name, got, h.Roles)
		}
	}
	inAll := vtInfer(t, all, nil, flows)
	for i, f := range facts {
		var ids []string
		for _, v := range all.ExplainFor(flows[i], inAll.RolesOf(f.Client), inAll.RolesOf(f.Server.Addr())) {
			ids = append(ids, v.ID())
		}
		if !slices.Equal(ids, f.Rules) {
			t.Errorf("%v -> %v (%s): rules %v, scenario says %v", f.Client, f.Server, f.Meaning, ids, f.Rules)
		}
	}
}

// TestInferClues checks single clues on small hand-built networks around a backup server
// 192.0.2.10 that two consoles reach on 9392 and that opens 6160 to two servers.
func TestInferClues(t *testing.T) {
	m := DefaultMatrix()
	tcp := capture.ProtoTCP
	base := []vtScenarioFlow{
		{tcp, "192.0.2.100:50000", "192.0.2.10:9392", nil},
		{tcp, "192.0.2.101:50000", "192.0.2.10:9392", nil},
		{tcp, "192.0.2.10:50001", "192.0.2.21:6160", nil},
		{tcp, "192.0.2.10:50002", "192.0.2.21:6162", nil},
		{tcp, "192.0.2.21:50003", "192.0.2.41:902", nil}, // .21 is a VMware proxy
	}
	tests := []struct {
		name  string
		flows []vtScenarioFlow
		addr  string
		want  []string
	}{
		{"Windows repository", []vtScenarioFlow{
			{tcp, "192.0.2.10:50010", "192.0.2.31:445", nil},
			{tcp, "192.0.2.10:50011", "192.0.2.31:6160", nil},
			{tcp, "192.0.2.10:50012", "192.0.2.31:6162", nil},
			{tcp, "192.0.2.21:50013", "192.0.2.31:2500", nil},
			{tcp, "192.0.2.21:50014", "192.0.2.31:2501", nil},
		}, "192.0.2.31", []string{"repository-windows"}},
		{"repository without SSH or SMB", []vtScenarioFlow{
			{tcp, "192.0.2.10:50012", "192.0.2.32:6162", nil},
			{tcp, "192.0.2.21:50013", "192.0.2.32:2500", nil},
			{tcp, "192.0.2.21:50014", "192.0.2.32:6162", nil},
		}, "192.0.2.32", []string{"repository"}},
		{"Windows VMware proxy is not a Hyper-V proxy", []vtScenarioFlow{
			{tcp, "192.0.2.10:50010", "192.0.2.21:445", nil},
			{tcp, "192.0.2.10:50011", "192.0.2.22:6162", nil},
			{tcp, "192.0.2.21:50013", "192.0.2.22:2500", nil},
			{tcp, "192.0.2.21:50014", "192.0.2.22:2501", nil},
		}, "192.0.2.21", []string{"backup-proxy-vmware", "veeam-component-windows"}},
		{"443 plus 902 is ESXi", []vtScenarioFlow{
			{tcp, "192.0.2.10:50010", "192.0.2.42:443", nil},
			{tcp, "192.0.2.21:50011", "192.0.2.42:902", nil},
		}, "192.0.2.42", []string{"esxi"}},
		{"443 and a Veeam port is no vCenter", []vtScenarioFlow{
			{tcp, "192.0.2.10:50010", "192.0.2.43:443", nil},
			{tcp, "192.0.2.10:50011", "192.0.2.43:6162", nil},
		}, "192.0.2.43", []string{"veeam-component"}},
		{"443 from the backup server alone is vCenter", []vtScenarioFlow{
			{tcp, "192.0.2.10:50010", "192.0.2.44:443", nil},
		}, "192.0.2.44", []string{"vcenter"}},
		{"443 from an unknown host says nothing", []vtScenarioFlow{
			{tcp, "192.0.2.150:50010", "192.0.2.45:443", nil},
		}, "192.0.2.45", nil},
		{"the backup server by its fan-out alone", nil, "192.0.2.10", []string{"backup-server"}},
		{"a console", nil, "192.0.2.100", []string{"console"}},
		{"SMTP clients are not backup servers", []vtScenarioFlow{
			{tcp, "192.0.2.150:50010", "192.0.2.25:25", nil},
			{tcp, "192.0.2.151:50010", "192.0.2.25:25", nil},
		}, "192.0.2.150", nil},
		{"the backup server's SMTP server is one", []vtScenarioFlow{
			{tcp, "192.0.2.10:50010", "192.0.2.25:25", nil},
		}, "192.0.2.25", []string{"smtp-server"}},
		{"a PC's SMTP server is none", []vtScenarioFlow{
			{tcp, "192.0.2.150:50010", "192.0.2.25:25", nil},
		}, "192.0.2.25", nil},
		{"tape server", []vtScenarioFlow{
			{tcp, "192.0.2.10:50010", "192.0.2.60:6166", nil},
			{tcp, "192.0.2.10:50011", "192.0.2.60:6160", nil},
		}, "192.0.2.60", []string{"tape-server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var flows []*capture.Flow
			for _, s := range append(slices.Clone(base), tt.flows...) {
				flows = append(flows, vtFlow(t, s.proto, s.client, s.server, capture.SF))
			}
			in := vtInfer(t, m, nil, flows)
			if got := vtSorted(in.RolesOf(netip.MustParseAddr(tt.addr))); !slices.Equal(got, tt.want) {
				b, _ := json.MarshalIndent(in.Hosts(), "", "  ")
				t.Errorf("roles of %s = %v, want %v\n%s", tt.addr, got, tt.want, b)
			}
		})
	}
}

// vtRandomFlows returns n flows between hosts drawn from a pool of about hosts
// addresses (a tenth IPv6), on ports the matrix names (single ports, range ends and
// middles) and a few others, in assorted states: traffic that makes the inference work
// hard (many roles per host, rounds that do not settle).
func vtRandomFlows(m *Matrix, seed uint64, hosts, n int) []*capture.Flow {
	rng := rand.New(rand.NewPCG(seed, 7))
	var ports []uint16
	for _, r := range m.Rules() {
		for _, s := range r.Ports {
			ports = append(ports, s.Lo, s.Hi, s.Lo+(s.Hi-s.Lo)/2)
		}
	}
	ports = append(ports, 80, 443, 22, 3389, 445, 135, 53, 123, 8080, 50000, 33000)
	states := []capture.State{capture.SF, capture.S1, capture.S0, capture.REJ, capture.RSTO, capture.OTH, capture.S2}
	addr := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(hosts) / 250), byte(rng.IntN(250))})
	}
	var out []*capture.Flow
	for range n {
		c, s := addr(), addr()
		if rng.IntN(10) == 0 {
			s = netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(rng.IntN(40))})
			c = netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 14: 1, 15: byte(rng.IntN(40))})
		}
		proto := capture.ProtoTCP
		if rng.IntN(5) == 0 {
			proto = capture.ProtoUDP
		}
		out = append(out, &capture.Flow{
			Proto: proto, Client: netip.AddrPortFrom(c, 50000), Server: netip.AddrPortFrom(s, ports[rng.IntN(len(ports))]),
			State: states[rng.IntN(len(states))], Packets: [2]uint64{uint64(rng.IntN(3)), uint64(rng.IntN(3))},
		})
	}
	return out
}

// TestInferFastPaths: AddFlow is Add with Explain's matches, and Inferer.Explain is
// ExplainFor with RolesOf, flow by flow, with and without an inventory.
func TestInferFastPaths(t *testing.T) {
	m := DefaultMatrix()
	all, err := m.With(Options{Versions: m.Versions()})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := m.ParseInventory(Inventory{"backup-server": {"10.0.0.7", "192.0.2.8/29"}, "gateway-server": {"10.0.1.0/28"}, "repository-linux": {"10.0.2.3"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct {
		m     *Matrix
		decl  *HostSet
		flows []*capture.Flow
	}{
		{m, nil, vtScenarioFlows(t)},
		{m, hs, vtScenarioFlows(t)},
		{m, nil, vtRandomFlows(m, 1, 60, 2000)},
		{all, hs, vtRandomFlows(all, 2, 300, 3000)},
	} {
		slow, fast := tt.m.NewInferer(tt.decl), tt.m.NewInferer(tt.decl)
		for _, f := range tt.flows {
			slow.Add(f, tt.m.Explain(f))
			fast.AddFlow(f)
		}
		a, _ := json.Marshal(slow.Hosts())
		b, _ := json.Marshal(fast.Hosts())
		if string(a) != string(b) || slow.Stats() != fast.Stats() {
			t.Errorf("case %d: AddFlow infers differently from Add", i)
		}
		for _, f := range tt.flows {
			want := tt.m.ExplainFor(f, slow.RolesOf(f.Client.Addr()), slow.RolesOf(f.Server.Addr()))
			if got := fast.Explain(f); !slices.Equal(got, want) {
				t.Errorf("case %d: %v -> %v: Inferer.Explain %v, ExplainFor %v", i, f.Client, f.Server, got, want)
				break
			}
		}
	}
}

// TestInferGolden pins what the inference says on random Veeam-heavy traffic (see
// vtRandomFlows), evidence included, so that optimising it cannot change it unseen.
// Run with -update to rewrite testdata/infer-*.golden after a deliberate change.
func TestInferGolden(t *testing.T) {
	m := DefaultMatrix()
	hs, err := m.ParseInventory(Inventory{"backup-server": {"10.0.0.7"}, "gateway-server": {"10.0.0.16/29"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		decl  *HostSet
		seed  uint64
		hosts int
		flows int
	}{
		{"random-small", nil, 3, 25, 400},
		{"random-inventory", hs, 4, 40, 900},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := vtInfer(t, m, tt.decl, vtRandomFlows(m, tt.seed, tt.hosts, tt.flows))
			got, _ := json.MarshalIndent(struct {
				Rounds int
				Stats  InferStats
				Hosts  []HostRoles
			}{in.rounds, in.Stats(), in.Hosts()}, "", " ")
			got = append(got, '\n')
			path := filepath.Join("testdata", "infer-"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("inference differs from %s (rerun with -update if the change is deliberate):\n%s", path, got)
			}
		})
	}
}

// vtServerFlows returns flows from 300 clients to 30 servers on random ports of the
// matrix but the installer's, each client to at most two servers (so that no client
// fans out as a backup server), and bridges flows between servers.
func vtServerFlows(m *Matrix, seed uint64, bridges int) []*capture.Flow {
	rng := rand.New(rand.NewPCG(seed, 11))
	var ports []uint16
	installer, _ := m.Rule(ruleInstaller)
	for _, r := range m.Rules() {
		for _, s := range r.Ports {
			if !installer.singlePort(s.Lo) {
				ports = append(ports, s.Lo)
			}
		}
	}
	server := func() netip.Addr { return netip.AddrFrom4([4]byte{10, 2, 0, byte(rng.IntN(30))}) }
	flow := func(c, s netip.Addr) *capture.Flow {
		return &capture.Flow{
			Proto: capture.ProtoTCP, Client: netip.AddrPortFrom(c, 50000), Server: netip.AddrPortFrom(s, ports[rng.IntN(len(ports))]),
			State: capture.SF, Packets: [2]uint64{3, 3},
		}
	}
	var out []*capture.Flow
	for c := range 300 {
		client := netip.AddrFrom4([4]byte{10, 1, byte(c / 250), byte(c % 250)})
		for range 1 + rng.IntN(2) {
			out = append(out, flow(client, server()))
		}
	}
	for range bridges {
		out = append(out, flow(server(), server()))
	}
	return out
}

// TestInferNoComponents: skipping the rounds when noComponentsLog (the evidence still
// in the log) or noComponents (recorded evidence: a log of 7 entries folds as the flows
// come) says they find nothing changes no result, and neither does the log itself.
// Random traffic from dense (every host a Veeam host) to sparse (grounded hosts that
// never meet) takes both paths; synth's flows scenario in small, servers that accept
// Veeam's signature ports from clients that accept nothing, takes the shortcut.
func TestInferNoComponents(t *testing.T) {
	m := DefaultMatrix()
	hs, err := m.ParseInventory(Inventory{"backup-server": {"10.0.0.7"}, "gateway-server": {"10.0.0.16/29"}})
	if err != nil {
		t.Fatal(err)
	}
	type mode struct {
		shortcut bool
		maxLog   int
	}
	infer := func(decl *HostSet, flows []*capture.Flow, md mode) (*Inferer, string) {
		defer func(s bool, n int) { inferShortcut, inferMaxLog = s, n }(inferShortcut, inferMaxLog)
		inferShortcut, inferMaxLog = md.shortcut, md.maxLog
		in := m.NewInferer(decl)
		for _, f := range flows {
			in.AddFlow(f) // the pipeline's path, through the log
		}
		b, _ := json.Marshal(struct {
			Hosts []HostRoles
			Stats InferStats
		}{in.Hosts(), in.Stats()})
		return in, string(b)
	}
	const none = `{"Hosts":null,`
	logged, folded, slow := mode{true, inferMaxLog}, mode{true, 7}, mode{false, inferMaxLog}
	skipped, found := [2]int{}, 0
	for seed := range uint64(40) {
		flows := vtRandomFlows(m, 100+seed, 40+int(seed)*100, 200+int(seed%5)*400)
		if seed%2 == 1 {
			flows = vtServerFlows(m, seed, int(seed/2%4))
		}
		for _, decl := range []*HostSet{nil, hs} {
			ref, want := infer(decl, flows, slow)
			for k, md := range []mode{logged, folded} {
				in, got := infer(decl, flows, md)
				if got != want {
					t.Fatalf("seed %d, inventory %v, %+v: the result differs:\n%s\nwithout the shortcut:\n%s", seed, decl != nil, md, got, want)
				}
				if in.rounds == 0 && ref.rounds > 0 {
					skipped[k]++
				}
			}
			if !strings.HasPrefix(want, none) {
				found++
			}
		}
	}
	t.Logf("of 80 runs, %d skipped the rounds from the log, %d from recorded evidence; %d found hosts", skipped[0], skipped[1], found)
	if skipped[0] == 0 || skipped[1] == 0 || found == 0 {
		t.Errorf("the random traffic took one path only")
	}

	// The flows scenario's shape: 9392 and 6162 answered by servers to clients.
	var flows []*capture.Flow
	for c := range 200 {
		for k := range 3 {
			s := (c*7 + k*13) % 20
			port := []string{"9392", "6162", "443"}[k]
			flows = append(flows, vtFlow(t, capture.ProtoTCP, fmt.Sprintf("10.1.%d.%d:50000", c/250, c%250), fmt.Sprintf("10.2.0.%d:%s", s, port), capture.SF))
		}
	}
	// A backup server grounded by its fan-out alone, accepting nothing: the Data Mover
	// port to five managed servers (and their SMB), or the installer's to two.
	for _, fo := range []struct {
		port    string
		servers int
	}{{"6162", 5}, {"6160", 2}} {
		var fan []*capture.Flow
		for i := range fo.servers {
			srv := fmt.Sprintf("192.0.2.%d", 21+i)
			fan = append(fan, vtFlow(t, capture.ProtoTCP, "192.0.2.10:50000", srv+":"+fo.port, capture.SF),
				vtFlow(t, capture.ProtoTCP, "192.0.2.10:50001", srv+":445", capture.SF))
		}
		for _, md := range []mode{logged, folded} {
			in, got := infer(nil, fan, md)
			if _, want := infer(nil, fan, slow); got != want || in.rounds == 0 || strings.HasPrefix(got, none) {
				t.Errorf("fan-out on %s, %+v: %s after %d rounds, want %s", fo.port, md, got, in.rounds, want)
			}
		}
	}

	for _, md := range []mode{logged, folded} {
		fast, a := infer(nil, flows, md)
		ref, b := infer(nil, flows, slow)
		if !strings.HasPrefix(a, none) || a != b || fast.rounds != 0 || ref.rounds == 0 {
			t.Errorf("servers of random clients, %+v: %s with the shortcut (%d rounds), %s without (%d rounds); want no hosts, and no rounds with it", md, a, fast.rounds, b, ref.rounds)
		}
	}
}

// TestEvidenceLog: the chunked log yields what was added, in order, across chunk
// boundaries, stops when asked, and is empty and reusable after reset.
func TestEvidenceLog(t *testing.T) {
	var l evidenceLog
	for round, n := range []int{3*logChunk + 5, logChunk, 1, 0, logChunk + 1} {
		for i := range n {
			*l.add() = evidence{set: uint32(i), port: uint16(round)}
		}
		if l.n != n {
			t.Fatalf("round %d: %d entries, want %d", round, l.n, n)
		}
		i := 0
		for e := range l.all {
			if e.set != uint32(i) || e.port != uint16(round) {
				t.Fatalf("round %d: entry %d is %+v", round, i, *e)
			}
			i++
		}
		if i != n {
			t.Fatalf("round %d: %d entries yielded, want %d", round, i, n)
		}
		if n > 2 {
			k := 0
			for range l.all {
				if k++; k == 2 {
					break
				}
			}
			if k != 2 {
				t.Fatalf("round %d: break after 2 yielded %d", round, k)
			}
		}
		l.reset()
		if l.n != 0 {
			t.Fatalf("round %d: %d entries after reset", round, l.n)
		}
		for e := range l.all {
			t.Fatalf("round %d: entry %+v after reset", round, *e)
		}
	}
	for _, c := range l.chunks {
		for i := range c {
			if c[i] != (evidence{}) {
				t.Fatalf("reset left an entry in a chunk: %+v", c[i])
			}
		}
	}
}

// TestSortedGroups: a host's groups in order of direction (accepted first), protocol
// and port, for any number of groups up to the cap, against a sort of the same keys.
func TestSortedGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for n := 1; n <= InferMaxPortsPerHost; n++ {
		h := &veeamHost{}
		seen := map[[3]int]bool{}
		for len(h.groups) < n {
			g := veeamGroup{out: rng.IntN(2) == 1, proto: []uint8{capture.ProtoTCP, capture.ProtoUDP}[rng.IntN(2)], port: uint16(rng.IntN(40))}
			k := [3]int{map[bool]int{false: 0, true: 1}[g.out], int(g.proto), int(g.port)}
			if !seen[k] {
				seen[k] = true
				h.groups = append(h.groups, g)
			}
		}
		want := make([]int, n)
		for i := range want {
			want[i] = i
		}
		slices.SortFunc(want, func(a, b int) int {
			ga, gb := &h.groups[a], &h.groups[b]
			if ga.out != gb.out {
				if gb.out {
					return -1
				}
				return 1
			}
			return cmp.Or(cmp.Compare(ga.proto, gb.proto), cmp.Compare(ga.port, gb.port))
		})
		if got := h.sortedGroups(); !slices.Equal(got, want) {
			t.Fatalf("%d groups: order %v, want %v", n, got, want)
		}
	}
}
