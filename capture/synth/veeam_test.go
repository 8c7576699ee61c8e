package synth_test

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/portclass/portclass/capture/synth"

	"github.com/portclass/portclass/internal/corpus"
)

// opening is a connection as seen in packets: the client's first packet.
type opening struct {
	proto  uint8
	client netip.Addr
	server netip.AddrPort
}

// openings collects the connection openings of a scenario: TCP SYNs without ACK and
// the first UDP datagram of each (client, server) pair, the client being the side
// that sent first. ICMP is left out.
func openings(t *testing.T, k synth.Kind, seed uint64) map[opening]int {
	t.Helper()
	seen := map[opening]int{}
	udpSeen := map[[2]netip.AddrPort]bool{}
	err := synth.Generate(synth.Scenario{Kind: k, Seed: seed}, func(p synth.Packet) error {
		src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
		switch p.Proto {
		case synth.ProtoTCP:
			if p.TCPFlags&(synth.SYN|synth.ACK) == synth.SYN {
				seen[opening{p.Proto, p.Src, dst}]++
			}
		case synth.ProtoUDP:
			if !udpSeen[[2]netip.AddrPort{src, dst}] && !udpSeen[[2]netip.AddrPort{dst, src}] {
				udpSeen[[2]netip.AddrPort{src, dst}] = true
				seen[opening{p.Proto, p.Src, dst}]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seen
}

// TestVeeamFactsInTraffic checks that every VeeamFact is opened in the veeam
// scenario and that the scenario opens nothing else.
func TestVeeamFactsInTraffic(t *testing.T) {
	facts := synth.VeeamFacts()
	if len(facts) < 25 {
		t.Fatalf("only %d facts", len(facts))
	}
	for _, seed := range []uint64{1, 2} {
		seen := openings(t, synth.KindVeeam, seed)
		want := map[opening]bool{}
		for _, f := range facts {
			o := opening{f.Proto, f.Client, f.Server}
			want[o] = true
			if seen[o] == 0 {
				t.Errorf("seed %d: %v %v → %v (%s) never opened", seed, f.Proto, f.Client, f.Server, f.Meaning)
			}
		}
		for o, n := range seen {
			if !want[o] {
				t.Errorf("seed %d: %d openings %d %v → %v are not in VeeamFacts", seed, n, o.proto, o.client, o.server)
			}
		}
	}
	// The facts the brief promises.
	must := []struct {
		client, server string
		port           uint16
	}{
		{"192.0.2.10", "192.0.2.21", 6160}, {"192.0.2.10", "192.0.2.22", 6162}, {"192.0.2.10", "192.0.2.21", 445},
		{"192.0.2.10", "192.0.2.22", 135}, {"192.0.2.10", "192.0.2.30", 22}, {"192.0.2.10", "192.0.2.30", 6162},
		{"192.0.2.21", "192.0.2.30", 2500}, {"192.0.2.10", "192.0.2.40", 443}, {"192.0.2.22", "192.0.2.41", 902},
		{"192.0.2.21", "192.0.2.41", 443}, {"192.0.2.100", "192.0.2.10", 9392}, {"192.0.2.100", "192.0.2.10", 3389},
		{"192.0.2.21", "203.0.113.80", 8080}, {"192.0.2.30", "198.51.100.7", 51515}, {"192.0.2.21", "192.0.2.53", 53},
		{"192.0.2.30", "192.0.2.53", 123},
	}
	for _, m := range must {
		if !slices.ContainsFunc(facts, func(f synth.VeeamFact) bool {
			return f.Client.String() == m.client && f.Server.Addr().String() == m.server && f.Server.Port() == m.port
		}) {
			t.Errorf("no fact %s → %s:%d", m.client, m.server, m.port)
		}
	}
	dyn := 0
	for _, f := range facts {
		if f.Server.Port() >= 49152 && f.Client == netip.MustParseAddr("192.0.2.10") {
			dyn++
		}
	}
	if dyn != 2 {
		t.Errorf("%d dynamic RPC facts from the backup server, want one per proxy", dyn)
	}
}

// veeamMatrix is the part of veeam-ports.yaml the test needs.
type veeamMatrix struct {
	Roles map[string]struct {
		Parents []string `yaml:"parents"`
	} `yaml:"roles"`
	Rules []struct {
		ID       string `yaml:"id"`
		From     string `yaml:"from_role"`
		To       string `yaml:"to_role"`
		Protocol string `yaml:"protocol"`
		Ports    []any  `yaml:"ports"`
	} `yaml:"rules"`
}

// TestVeeamFactsRules checks each fact's Rules against the shared Veeam port matrix,
// given the roles VeeamHosts assigns: exactly the listed rules match.
func TestVeeamFactsRules(t *testing.T) { checkFactsRules(t, synth.VeeamFacts()) }

// checkFactsRules checks that each fact lists exactly the rules of the shared Veeam
// matrix that match it between the roles VeeamHosts assigns.
func checkFactsRules(t *testing.T, facts []synth.VeeamFact) {
	t.Helper()
	path := corpus.Reference(t, "veeam-ports.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m veeamMatrix
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	roles := map[netip.Addr]map[string]bool{}
	for _, h := range synth.VeeamHosts() {
		set := map[string]bool{"any": true}
		var add func(r string)
		add = func(r string) {
			if set[r] {
				return
			}
			if _, ok := m.Roles[r]; !ok {
				t.Errorf("host %v: role %q not in the matrix", h.Addr, r)
			}
			set[r] = true
			for _, p := range m.Roles[r].Parents {
				add(p)
			}
		}
		for _, r := range h.Roles {
			add(r)
		}
		roles[h.Addr] = set
	}
	for _, f := range facts {
		cr, sr := roles[f.Client], roles[f.Server.Addr()]
		if cr == nil || sr == nil {
			t.Errorf("fact %v → %v: host not in VeeamHosts", f.Client, f.Server)
			continue
		}
		proto := map[uint8]string{synth.ProtoTCP: "tcp", synth.ProtoUDP: "udp"}[f.Proto]
		var got []string
		for _, r := range m.Rules {
			if cr[r.From] && sr[r.To] && r.Protocol == proto && portIn(t, f.Server.Port(), r.Ports) {
				got = append(got, r.ID)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, f.Rules) {
			t.Errorf("fact %v → %v (%s): matrix rules %q, fact lists %q", f.Client, f.Server, f.Meaning, got, f.Rules)
		}
	}
}

func portIn(t *testing.T, port uint16, ports []any) bool {
	for _, p := range ports {
		switch v := p.(type) {
		case int:
			if int(port) == v {
				return true
			}
		case string:
			lo, hi, ok := strings.Cut(v, "-")
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if !ok || err1 != nil || err2 != nil {
				t.Fatalf("bad port range %q", v)
			}
			if int(port) >= a && int(port) <= b {
				return true
			}
		default:
			t.Fatalf("bad port %v", fmt.Sprint(p))
		}
	}
	return false
}
