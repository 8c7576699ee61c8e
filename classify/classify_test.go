package classify

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

const (
	pTCP  = capture.ProtoTCP
	pUDP  = capture.ProtoUDP
	pSCTP = capture.ProtoSCTP
)

func TestClassOf(t *testing.T) {
	tests := []struct {
		port uint16
		want ports.Class
		name string
	}{
		{0, ports.ClassWellKnown, "well-known"},
		{1023, ports.ClassWellKnown, "well-known"},
		{1024, ports.ClassRegistered, "registered"},
		{49151, ports.ClassRegistered, "registered"},
		{49152, ports.ClassDynamic, "dynamic"},
		{65535, ports.ClassDynamic, "dynamic"},
	}
	for _, tt := range tests {
		got := ports.ClassOf(tt.port)
		if got != tt.want || got.String() != tt.name {
			t.Errorf("ports.ClassOf(%d) = %v (%q); want %v (%q)", tt.port, got, got.String(), tt.want, tt.name)
		}
	}
}

// docFlow builds a finished flow between documentation addresses.
func docFlow(proto uint8, client, server string, dir capture.Direction) capture.Flow {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return capture.Flow{
		Proto:     proto,
		Client:    netip.MustParseAddrPort(client),
		Server:    netip.MustParseAddrPort(server),
		Direction: dir,
		State:     capture.SF,
		First:     t0,
		Last:      t0.Add(2 * time.Second),
		Packets:   [2]uint64{10, 8},
		Bytes:     [2]uint64{1200, 5400},
	}
}

func TestClassify(t *testing.T) {
	icmp := docFlow(capture.ProtoICMP, "192.0.2.10:0", "198.51.100.20:0", capture.DirICMP)
	icmpGuess := docFlow(capture.ProtoICMP, "192.0.2.10:0", "198.51.100.20:0", capture.DirFirstPacket)
	userSvc := []ports.UserService{
		{Name: "app", Proto: "tcp", Ports: "50000-50010", Description: "in-house\n  application"},
		{Name: "api", Proto: "TCP", Ports: "40000"},
		{Name: "shadowed", Proto: "tcp", Ports: "50005"},
	}
	tests := []struct {
		name    string
		opts    Options
		f       capture.Flow
		class   ports.Class
		service string
		flags   []string
	}{
		{"ssh handshake", Options{},
			docFlow(pTCP, "192.0.2.10:51514", "198.51.100.20:22", capture.DirSYN),
			ports.ClassWellKnown, "ssh", nil},
		{"dns over udp, direction by service port", Options{},
			docFlow(pUDP, "[2001:db8::1]:40123", "[2001:db8::53]:53", capture.DirServicePort),
			ports.ClassWellKnown, "domain", []string{FlagGuessedDirection.String()}},
		{"Veeam data mover port, IANA name", Options{},
			docFlow(pTCP, "192.0.2.10:49800", "198.51.100.20:6162", capture.DirSYN),
			ports.ClassRegistered, "patrol-coll", nil},
		{"both sides ephemeral, nothing known", Options{},
			docFlow(pTCP, "192.0.2.10:33000", "198.51.100.20:50000", capture.DirFirstPacket),
			ports.ClassDynamic, "", []string{FlagBothEphemeral.String(), FlagGuessedDirection.String(), FlagDynamicServer.String(),
				"server-ephemeral:linux", "server-ephemeral:windows", FlagUnexplained.String()}},
		// IANA names most of 32768-49151; a name alone does not explain such a server port,
		// and after a handshake the server is known, so not "both-ephemeral".
		{"server in linux range, IANA name does not explain it", Options{},
			docFlow(pTCP, "192.0.2.10:55000", "198.51.100.20:40000", capture.DirSYNACK),
			ports.ClassRegistered, "safetynetp", []string{"server-ephemeral:linux", FlagUnexplained.String()}},
		{"both ephemeral without a handshake", Options{},
			docFlow(pTCP, "192.0.2.10:55000", "198.51.100.20:40000", capture.DirFirstPacket),
			ports.ClassRegistered, "safetynetp", []string{FlagBothEphemeral.String(), FlagGuessedDirection.String(), "server-ephemeral:linux", FlagUnexplained.String()}},
		{"server in windows range only, client below both ranges", Options{},
			docFlow(pTCP, "192.0.2.10:1030", "198.51.100.20:61000", capture.DirSYN),
			ports.ClassDynamic, "", []string{FlagDynamicServer.String(), "server-ephemeral:windows", FlagUnexplained.String()}},
		{"both ephemeral after a handshake: the server is known", Options{},
			docFlow(pTCP, "192.0.2.10:51000", "198.51.100.20:61000", capture.DirSYN),
			ports.ClassDynamic, "", []string{FlagDynamicServer.String(), "server-ephemeral:windows", FlagUnexplained.String()}},
		{"client ephemeral, server a curated service port", Options{},
			docFlow(pTCP, "192.0.2.10:50001", "198.51.100.20:9392", capture.DirSYN),
			ports.ClassRegistered, "", nil},
		{"no ephemeral ranges configured", Options{Ephemeral: []ports.Range{}},
			docFlow(pTCP, "192.0.2.10:33000", "198.51.100.20:50000", capture.DirSYN),
			ports.ClassDynamic, "", []string{FlagDynamicServer.String(), FlagUnexplained.String()}},
		{"custom range", Options{Ephemeral: []ports.Range{{Name: "appliance", Lo: 20000, Hi: 29999}}},
			docFlow(pUDP, "192.0.2.10:20001", "198.51.100.20:24300", capture.DirFirstPacket),
			ports.ClassRegistered, "", []string{FlagBothEphemeral.String(), FlagGuessedDirection.String(), "server-ephemeral:appliance", FlagUnexplained.String()}},
		{"user service explains a dynamic port", Options{Services: userSvc},
			docFlow(pTCP, "192.0.2.10:33000", "198.51.100.20:50005", capture.DirFirstPacket),
			ports.ClassDynamic, "app", []string{FlagGuessedDirection.String(), FlagDynamicServer.String(), "server-ephemeral:linux", "server-ephemeral:windows"}},
		{"user service overrides IANA", Options{Services: userSvc},
			docFlow(pTCP, "192.0.2.10:55000", "198.51.100.20:40000", capture.DirSYN),
			ports.ClassRegistered, "api", []string{"server-ephemeral:linux"}},
		{"user service is tcp only", Options{Services: userSvc},
			docFlow(pUDP, "192.0.2.10:33000", "198.51.100.20:50005", capture.DirFirstPacket),
			ports.ClassDynamic, "", []string{FlagBothEphemeral.String(), FlagGuessedDirection.String(), FlagDynamicServer.String(), "server-ephemeral:linux", "server-ephemeral:windows", FlagUnexplained.String()}},
		{"sctp", Options{},
			docFlow(pSCTP, "[2001:db8::1]:36412", "[2001:db8::2]:36412", capture.DirFirstPacket),
			ports.ClassRegistered, "s1-control", []string{FlagGuessedDirection.String(), "server-ephemeral:linux"}},
		{"icmp has no ports and no flags", Options{}, icmp, ports.ClassNone, "", nil},
		{"icmp direction is not flagged", Options{}, icmpGuess, ports.ClassNone, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			before := tt.f
			v := c.Classify(&tt.f)
			if v.PortClass != tt.class || v.Service != tt.service || !slices.Equal(v.Flags.Names(), tt.flags) {
				t.Errorf("Classify = {%v %q %q}; want {%v %q %q}", v.PortClass, v.Service, v.Flags.Names(), tt.class, tt.service, tt.flags)
			}
			if !slices.IsSorted(v.Flags.Names()) {
				t.Errorf("flags %q are not sorted", v.Flags.Names())
			}
			if v.Veeam != nil {
				t.Errorf("Veeam = %v without Options.Explain", v.Veeam)
			}
			if tt.f.Client != before.Client || tt.f.Server != before.Server || tt.f.Direction != before.Direction {
				t.Errorf("Classify modified the flow")
			}
		})
	}
}

func TestClassifyExplain(t *testing.T) {
	var calls int
	match := func(id string) veeam.Match {
		m, ok := veeam.MatchOf(id)
		if !ok {
			t.Fatalf("no rule %s", id)
		}
		return m
	}
	explain := func(f *capture.Flow) []veeam.Match {
		calls++
		switch {
		case f.Proto == capture.ProtoICMP:
			return []veeam.Match{match("any-to-dns-udp")}
		case f.Server.Port() >= 2500 && f.Server.Port() <= 3300:
			return []veeam.Match{match("proxy-to-repository"), match("backup-server-to-component-datamover")} // unsorted
		case f.Server.Port() == 50100:
			return []veeam.Match{match("backup-server-to-hyperv-dynrpc")}
		}
		return nil
	}
	c, err := New(Options{Explain: explain})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f     capture.Flow
		rules []string
		flags []string
	}{
		{docFlow(pTCP, "192.0.2.10:50001", "198.51.100.20:2600", capture.DirSYN),
			[]string{"backup-server-to-component-datamover", "proxy-to-repository"}, []string{FlagVeeam.String()}},
		{docFlow(pTCP, "192.0.2.10:1030", "198.51.100.20:50100", capture.DirSYN),
			[]string{"backup-server-to-hyperv-dynrpc"},
			[]string{FlagDynamicServer.String(), "server-ephemeral:linux", "server-ephemeral:windows", FlagVeeam.String()}},
		{docFlow(pTCP, "192.0.2.10:1030", "198.51.100.20:50101", capture.DirSYN),
			nil, []string{FlagDynamicServer.String(), "server-ephemeral:linux", "server-ephemeral:windows", FlagUnexplained.String()}},
		{docFlow(capture.ProtoICMP, "192.0.2.10:0", "198.51.100.20:0", capture.DirICMP),
			[]string{"any-to-dns-udp"}, []string{FlagVeeam.String()}},
	}
	for _, tt := range tests {
		v := c.Classify(&tt.f)
		var rules []string
		for _, m := range v.Veeam {
			rules = append(rules, m.ID())
		}
		if !slices.Equal(rules, tt.rules) || !slices.Equal(v.Flags.Names(), tt.flags) {
			t.Errorf("%s→%s: Veeam %q flags %q; want %q, %q", tt.f.Client, tt.f.Server, rules, v.Flags.Names(), tt.rules, tt.flags)
		}
	}
	if calls != len(tests) {
		t.Errorf("Explain called %d times for %d flows", calls, len(tests))
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Services: []ports.UserService{{Name: "ok", Proto: "tcp", Ports: "1"}, {Name: "x", Proto: "icmp", Ports: "1"}}},
			`services[1] (x).proto: "icmp" is not tcp, udp, sctp or dccp`},
		{Options{Services: []ports.UserService{{Name: "x", Proto: "", Ports: "1"}}},
			`services[0] (x).proto: "" is not`},
		{Options{Services: []ports.UserService{{Name: "x", Proto: "udp", Ports: "9010-9000"}}},
			`services[0] (x).ports: port range "9010-9000": starts at 9010`},
		{Options{Services: []ports.UserService{{Name: "x", Proto: "udp", Ports: "http"}}},
			`services[0] (x).ports: port range "http": "http" is not a port number`},
		{Options{Services: []ports.UserService{{Name: " ", Proto: "udp", Ports: "80"}}},
			`services[0].name: empty`},
		{Options{Ephemeral: []ports.Range{{Name: "linux", Lo: 32768, Hi: 60999}, {Name: "", Lo: 1, Hi: 2}}},
			`ephemeral[1].name: empty`},
		{Options{Ephemeral: []ports.Range{{Name: "my range", Lo: 1, Hi: 2}}},
			`ephemeral[0].name: "my range": character " " at 2`},
		{Options{Ephemeral: []ports.Range{{Name: "a", Lo: 1, Hi: 2}, {Name: "a", Lo: 3, Hi: 4}}},
			`ephemeral[1].name: "a" used twice`},
		{Options{Ephemeral: []ports.Range{{Name: "a", Lo: 5, Hi: 4}}},
			`ephemeral[0] (a): lo 5 is above hi 4`},
	}
	for _, tt := range tests {
		c, err := New(tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, %v; want error containing %q", tt.opts, c, err, tt.want)
		}
	}
}

func TestNewCopiesDefaults(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []ports.Range{{Name: "linux", Lo: 32768, Hi: 60999}, {Name: "windows", Lo: 49152, Hi: 65535}}
	if !slices.Equal(ports.DefaultEphemeral, want) || !slices.Equal(c.ephemeral, want) {
		t.Fatalf("ports.DefaultEphemeral = %v, classifier uses %v; want %v", ports.DefaultEphemeral, c.ephemeral, want)
	}
	c.ephemeral[0].Hi = 1
	if ports.DefaultEphemeral[0].Hi != 60999 {
		t.Errorf("the Classifier shares ports.DefaultEphemeral's backing array")
	}
}

func TestClassifierServices(t *testing.T) {
	c, err := New(Options{Services: []ports.UserService{
		{Name: "backup-agent", Proto: "tcp", Ports: "10005", Description: "Agent\nmanagement "},
		{Name: "SSH", Proto: "tcp", Ports: "2222"},
		{Name: "data", Proto: "tcp", Ports: "2500-3300"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := c.LookupService(pTCP, 10005); !ok || s.Name != "backup-agent" || s.Description != "Agent management" {
		t.Errorf("ports.Lookup(tcp, 10005) = %+v, %v; want the user's backup-agent", s, ok)
	}
	if s, ok := c.LookupService(pUDP, 53); !ok || s.Name != "domain" {
		t.Errorf("ports.Lookup(udp, 53) = %+v, %v; want IANA's domain", s, ok)
	}
	if s, ok := c.LookupService(pTCP, 2999); !ok || s.Name != "data" || s.Lo != 2500 || s.Hi != 3300 {
		t.Errorf("ports.Lookup(tcp, 2999) = %+v, %v; want data 2500-3300", s, ok)
	}
	var got []string
	for _, s := range c.ServicesByName("ssh") {
		got = append(got, capture.ProtoName(s.Proto)+"/"+s.Name+"/"+strconv.Itoa(int(s.Lo)))
	}
	if want := []string{"tcp/SSH/2222", "tcp/ssh/22", "udp/ssh/22", "sctp/ssh/22"}; !slices.Equal(got, want) {
		t.Errorf("ports.ByName(ssh) = %q; want %q", got, want)
	}
	for _, tt := range []struct {
		proto uint8
		port  uint16
		want  bool
	}{
		{pTCP, 2222, true}, {pUDP, 2222, false}, {pTCP, 2700, true}, {pTCP, 22, true}, {pTCP, 1366, false},
	} {
		if got := c.ServerPort(tt.proto, tt.port); got != tt.want {
			t.Errorf("ServerPort(%d, %d) = %v; want %v", tt.proto, tt.port, got, tt.want)
		}
	}
}

func TestClassifyAllocs(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain := docFlow(pTCP, "192.0.2.10:51514", "198.51.100.20:443", capture.DirSYN)
	odd := docFlow(pTCP, "192.0.2.10:33000", "198.51.100.20:50000", capture.DirFirstPacket)
	var v Verdict
	if a := testing.AllocsPerRun(1000, func() { v = c.Classify(&plain) }); a != 0 {
		t.Errorf("Classify without flags: %v allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(1000, func() { v = c.Classify(&odd) }); a != 0 {
		t.Errorf("Classify with 6 flags: %v allocs, want 0 (flags are a value)", a)
	}
	_ = v
}

func BenchmarkClassify(b *testing.B) {
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	flows := []capture.Flow{
		docFlow(pTCP, "192.0.2.10:51514", "198.51.100.20:443", capture.DirSYN),
		docFlow(pUDP, "[2001:db8::1]:40123", "[2001:db8::53]:53", capture.DirServicePort),
		docFlow(pTCP, "192.0.2.10:49800", "198.51.100.20:6162", capture.DirSYN),
		docFlow(pTCP, "192.0.2.10:33000", "198.51.100.20:50000", capture.DirFirstPacket),
		docFlow(capture.ProtoICMP, "192.0.2.10:0", "198.51.100.20:0", capture.DirICMP),
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range flows {
			_ = c.Classify(&flows[i])
		}
		n += len(flows)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/flow")
}
