package policy

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/veeam"
)

// TestLearner: a learned policy loads, documents every established flow it was learned
// from (by a Veeam rule between the learned roles or by a learned rule, required),
// leaves attempts out, groups servers with the same clients and merges ports.
func TestLearner(t *testing.T) {
	hosts := []veeam.HostRoles{
		{Addr: netip.MustParseAddr("192.0.2.10"), Roles: []veeam.HostRole{{Role: "backup-server", Confidence: 0.99, Evidence: []string{"accepts tcp/9392"}}}},
		{Addr: netip.MustParseAddr("192.0.2.21"), Roles: []veeam.HostRole{
			{Role: "backup-proxy-vmware", Confidence: 0.9}, {Role: "repository-linux", Confidence: 0.2}}}, // below the threshold
		{Addr: netip.MustParseAddr("192.0.2.30"), Roles: []veeam.HostRole{{Role: "repository-linux", Confidence: 1, Declared: true}}},
	}
	var flows []*capture.Flow
	add := func(proto uint8, c, s string, st capture.State) {
		flows = append(flows, flow(proto, c, s, st))
	}
	add(6, "192.0.2.10:50000", "192.0.2.21:6162", capture.SF) // Veeam: backup server → component data mover
	add(6, "192.0.2.21:50000", "192.0.2.30:2500", capture.SF) // Veeam: proxy → repository
	add(6, "192.0.2.100:50000", "192.0.2.5:443", capture.SF)  // web servers .5 and .6, same clients
	add(6, "192.0.2.101:50000", "192.0.2.5:443", capture.SF)
	add(6, "192.0.2.100:50001", "192.0.2.6:443", capture.SF)
	add(6, "192.0.2.101:50001", "192.0.2.6:443", capture.SF)
	add(6, "192.0.2.100:50002", "192.0.2.5:80", capture.SF) // same hosts as 443? no: .6 lacks it
	add(6, "192.0.2.100:50003", "192.0.2.7:22", capture.SF) // one host, two ports: merged
	add(6, "192.0.2.100:50004", "192.0.2.7:3389", capture.S1)
	add(6, "192.0.2.100:50005", "192.0.2.7:55555", capture.SF) // dynamic port: a note says so
	add(17, "[2001:db8::1]:5353", "[2001:db8::53]:53", capture.SF)
	add(1, "192.0.2.100", "192.0.2.1", capture.SF)
	add(6, "192.0.2.100:50006", "192.0.2.7:23", capture.REJ) // attempts are not learned
	add(6, "192.0.2.100:50007", "192.0.2.7:24", capture.S0)
	for i := range 20 { // many clients: from any
		add(17, fmt.Sprintf("192.0.2.%d:4000", 150+i), "192.0.2.53:53", capture.SF)
	}
	l, err := NewLearner(veeam.DefaultMatrix(), hosts, LearnOptions{Comment: "test\nsecond line"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		l.Add(classified(f))
	}
	var b bytes.Buffer
	if err := l.Write(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	p, err := Load("learned.yaml", b.Bytes(), Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	for _, f := range flows {
		r := p.Match(f)
		switch FlowOutcome(capture.OutcomeOf(f)) {
		case OutcomeOK:
			if r == nil || r.Expect != ExpectRequired {
				t.Errorf("established %v -> %v: rule %v\n%s", f.Client, f.Server, r, text)
			}
		default:
			if r != nil {
				t.Errorf("attempt %v -> %v learned as %s", f.Client, f.Server, r.Name)
			}
		}
	}
	if r := p.Match(flows[0]); r == nil || r.Veeam == nil {
		t.Errorf("the Veeam flow is not documented by a derived rule: %v", r)
	}
	for _, want := range []string{
		"# test\n# second line\n", "version: 1\n",
		"  backup-server:\n    - 192.0.2.10 # inferred 0.99: accepts tcp/9392\n",
		"    - 192.0.2.30 # declared\n",
		"veeam:\n  enabled: true\n  versions: [\"12\", \"13\"]\n",
		"  - name: tcp-443-https\n    from: [192.0.2.100, 192.0.2.101]\n    to: [192.0.2.5, 192.0.2.6]\n",
		"  - name: tcp-22-3389-55555\n    from: [192.0.2.100]\n    to: [192.0.2.7]\n    proto: tcp\n    ports: [22, 3389, 55555]\n",
		"55555 is a dynamic port",
		"    from: any\n    to: [192.0.2.53]\n",
		"20 clients",
		"  - name: icmp\n", "2001:db8::53",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("learned policy lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "repository-linux:\n    - 192.0.2.21") {
		t.Error("a role below --min-confidence was learned")
	}
	// Without roles there is no inventory and no veeam section.
	l, _ = NewLearner(veeam.DefaultMatrix(), nil, LearnOptions{MaxClients: 1})
	l.Add(classified(flow(6, "192.0.2.100:1", "192.0.2.5:443", capture.SF)))
	l.Add(classified(flow(6, "192.0.2.101:1", "192.0.2.5:443", capture.SF)))
	b.Reset()
	if err := l.Write(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "veeam:") || !strings.Contains(b.String(), "from: any") {
		t.Errorf("learned without roles:\n%s", b.String())
	}
	if _, err := Load("learned.yaml", b.Bytes(), Options{}); err != nil {
		t.Error(err)
	}
}
