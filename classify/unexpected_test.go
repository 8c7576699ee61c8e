package classify

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/classify/veeam"
)

// TestUnexpected checks which answered flows are unexpected traffic and why: the
// policy, a Veeam rule between hosts with roles and the baseline (unless the payload
// contradicts the port) explain a flow; failed attempts, one-way traffic and flows
// without ports are never listed.
func TestUnexpected(t *testing.T) {
	m := veeam.DefaultMatrix()
	backup, proxy := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.21")
	withRoles := func(a netip.Addr) bool { return a == backup || a == proxy }
	documented := func(f *capture.Flow) bool { return f.Server.Port() == 8443 }
	def, err := New(Options{Explain: m.Explain, HasRoles: withRoles, Documented: documented})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := New(Options{Explain: m.Explain, HasRoles: withRoles, Baseline: []string{"DNS", "tcp/2499", "udp/5000-5010"}})
	if err != nil {
		t.Fatal(err)
	}
	none, err := New(Options{Baseline: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	noRoles, err := New(Options{Explain: m.Explain})
	if err != nil {
		t.Fatal(err)
	}
	failed := docFlow(pTCP, "192.0.2.10:40000", "198.51.100.20:2499", capture.DirSYN)
	failed.State, failed.Packets, failed.Bytes = capture.S0, [2]uint64{3, 0}, [2]uint64{180, 0}
	oneWay := docFlow(pUDP, "192.0.2.10:40000", "198.51.100.20:2499", capture.DirFirstPacket)
	oneWay.State, oneWay.Packets = capture.S0, [2]uint64{3, 0}
	tests := []struct {
		name   string
		c      *Classifier
		f      capture.Flow
		app    appid.Protocol
		expect string // the reasons, "" for expected
	}{
		{"dns", def, docFlow(pUDP, "192.0.2.100:40000", "192.0.2.53:53", capture.DirServicePort), appid.DNS, ""},
		{"unidentified ssh", def, docFlow(pTCP, "192.0.2.100:40000", "198.51.100.20:22", capture.DirSYN), appid.Unknown, ""},
		{"http to sshd", def, docFlow(pTCP, "192.0.2.100:40000", "198.51.100.20:22", capture.DirSYN), appid.HTTP, "protocol-mismatch"},
		{"http on 5432", def, docFlow(pTCP, "192.0.2.100:40000", "198.51.100.20:5432", capture.DirSYN), appid.HTTP, "unexplained-port,protocol-mismatch"},
		{"just below the channels", def, docFlow(pTCP, "192.0.2.21:40000", "192.0.2.10:2499", capture.DirSYN), appid.Unknown, "unexplained-port"},
		{"dynamic port", def, docFlow(pTCP, "192.0.2.100:40000", "198.51.100.20:50001", capture.DirSYN), appid.Unknown, "unexplained-port,ephemeral-server"},
		{"documented by the policy", def, docFlow(pTCP, "192.0.2.100:40000", "198.51.100.20:8443", capture.DirSYN), appid.HTTP, ""},
		{"veeam between hosts with roles", def, docFlow(pTCP, "192.0.2.10:40000", "192.0.2.21:6162", capture.DirSYN), appid.TLS, ""},
		{"veeam rule, one host without roles", def, docFlow(pTCP, "192.0.2.99:40000", "192.0.2.21:6162", capture.DirSYN), appid.TLS, "unexplained-port"},
		{"veeam rule, no role information", noRoles, docFlow(pTCP, "192.0.2.99:40000", "192.0.2.21:6162", capture.DirSYN), appid.TLS, ""},
		{"failed attempt", def, failed, appid.Unknown, ""},
		{"one-way datagrams", def, oneWay, appid.Unknown, ""},
		{"icmp", def, docFlow(capture.ProtoICMP, "192.0.2.100:0", "198.51.100.20:0", capture.DirICMP), appid.Unknown, ""},
		{"custom baseline port", custom, docFlow(pTCP, "192.0.2.100:40000", "198.51.100.20:2499", capture.DirSYN), appid.Unknown, ""},
		{"custom baseline range", custom, docFlow(pUDP, "192.0.2.100:40000", "198.51.100.20:5005", capture.DirSYN), appid.Unknown, ""},
		{"not in the custom baseline", custom, docFlow(pTCP, "192.0.2.100:40000", "198.51.100.20:22", capture.DirSYN), appid.Unknown, "unexplained-port"},
		{"no baseline", none, docFlow(pUDP, "192.0.2.100:40000", "192.0.2.53:53", capture.DirServicePort), appid.DNS, "unexplained-port"},
	}
	for _, tt := range tests {
		f := tt.f
		f.App = tt.app
		v := tt.c.Classify(&f)
		if got := strings.Join(v.Unexpected.Names(), ","); got != tt.expect {
			t.Errorf("%s: unexpected %q, want %q (flags %v, veeam %v)", tt.name, got, tt.expect, v.Flags, v.Veeam)
		}
	}
}

func TestBaselineOptions(t *testing.T) {
	for _, bad := range []string{"gopher", "icmp/1", "tcp/x", "tcp/2-1", "/53"} {
		if _, err := New(Options{Baseline: []string{"dns", bad}}); err == nil || !strings.Contains(err.Error(), "baseline[1]") {
			t.Errorf("baseline %q: error %v, want one naming baseline[1]", bad, err)
		}
	}
	// every default name is a service, and every service a default
	var names []string
	for _, s := range BaselineServices() {
		names = append(names, s.Name)
		if len(s.Ports) == 0 {
			t.Errorf("%s: no ports", s.Name)
		}
	}
	if !slices.Equal(names, DefaultBaseline) {
		t.Errorf("services %v, default %v", names, DefaultBaseline)
	}
	rs, err := ParseReasons("ephemeral-server", "unexplained-port")
	if err != nil || strings.Join(rs.Names(), ",") != "unexplained-port,ephemeral-server" {
		t.Errorf("ParseReasons: %v %v", rs.Names(), err)
	}
	if _, err := ParseReasons("odd"); err == nil {
		t.Error("ParseReasons accepts odd")
	}
}
