package reports

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

func TestAggregatorCounts(t *testing.T) {
	s := fixtureSummary(0)
	recs := fixtureRecords()

	var pkts, byts uint64
	for _, r := range recs {
		pkts += r.Packets()
		byts += r.Bytes()
	}
	var ppk, pby, cby, sby, flows uint64
	for _, p := range s.Protocols {
		ppk += p.Packets
		pby += p.Bytes
		flows += p.Flows
	}
	for _, c := range s.PortClasses {
		cby += c.Bytes
	}
	for _, st := range s.States {
		sby += st.Bytes
	}
	if ppk != pkts || pby != byts || cby != byts || sby != byts || flows != uint64(len(recs)) {
		t.Errorf("breakdowns do not add up: protocols %d pkts %d bytes, classes %d, states %d, flows %d; records %d pkts %d bytes, %d flows",
			ppk, pby, cby, sby, flows, pkts, byts, len(recs))
	}

	tt := s.Totals
	if tt.Inputs != 2 || tt.Packets != 8177 || tt.Bytes != 9014545 || tt.Decoded != 8157 || tt.NonIP != 13 ||
		tt.Unsupported != 5 || tt.EvictedFlows != 1 || tt.Flows != 16 {
		t.Errorf("totals %+v", tt)
	}
	// The first packet is the first input's (earlier than any flow), the last the
	// data mover flow's; the duration follows.
	if !tt.First.Equal(at(-500)) || !tt.Last.Equal(at(61600)) || tt.DurationSeconds != 62.1 {
		t.Errorf("span %v .. %v (%v s)", tt.First, tt.Last, tt.DurationSeconds)
	}

	talker := func(addr string) Talker {
		for _, x := range s.Talkers {
			if x.Addr == addr {
				return x
			}
		}
		t.Fatalf("no talker %s", addr)
		return Talker{}
	}
	// 192.0.2.21: server of 6160 and 6162, client of 2500 and 8080.
	want := Talker{Addr: "192.0.2.21", AsClient: 2, AsServer: 2,
		BytesSent: 5300 + 5800000 + 2900000 + 222, BytesReceived: 2400 + 72000 + 66000 + 0,
		Counts: Counts{Flows: 4, Packets: 22 + 5100 + 3000 + 3, Bytes: 7700 + 5872000 + 2966000 + 222}}
	if got := talker("192.0.2.21"); got != want {
		t.Errorf("talker\n got %+v\nwant %+v", got, want)
	}
	if got := talker("2001:db8::10"); got.AsClient != 2 || got.Flows != 2 {
		t.Errorf("ipv6 talker %+v", got)
	}

	// Ephemeral: tcp/51515 and udp/51515 are separate groups; the Veeam RPC port is
	// there but counted as explained.
	var rpc *EphemeralPort
	for i := range s.Ephemeral {
		if s.Ephemeral[i].Proto == "tcp" && s.Ephemeral[i].Port == 49700 {
			rpc = &s.Ephemeral[i]
		}
	}
	if len(s.Ephemeral) != 4 || rpc == nil || rpc.Veeam != 1 || rpc.Unexplained != 0 ||
		!reflect.DeepEqual(rpc.Flags, []string{"dynamic-server-port", "server-ephemeral:windows"}) {
		t.Errorf("ephemeral %+v", s.Ephemeral)
	}
	if len(s.VeeamRules) != 4 || s.VeeamRules[0].Rule != veeamDataMover.ID() {
		t.Errorf("veeam rules %+v", s.VeeamRules)
	}
	// Flows are sorted by first time whatever the order they were added in.
	for i := 1; i < len(s.Flows); i++ {
		if s.Flows[i].First.Before(s.Flows[i-1].First) {
			t.Fatalf("flows not sorted at %d", i)
		}
	}
}

func TestAggregatorSelfFlowAndNoInputs(t *testing.T) {
	agg := NewAggregator(Options{})
	f := rec(rawRecord{Proto: "tcp", Client: "192.0.2.1:40000", Server: "192.0.2.1:22", First: at(10), Last: at(20),
		PacketsToServer: 2, PacketsToClient: 3, BytesToServer: 100, BytesToClient: 300, Flags: []string{}})
	agg.Add(&f)
	s := agg.Summary()
	if len(s.Talkers) != 1 {
		t.Fatalf("talkers %+v", s.Talkers)
	}
	want := Talker{Addr: "192.0.2.1", AsClient: 1, AsServer: 1, BytesSent: 400, BytesReceived: 400,
		Counts: Counts{Flows: 1, Packets: 5, Bytes: 400}}
	if s.Talkers[0] != want {
		t.Errorf("self flow talker %+v, want %+v", s.Talkers[0], want)
	}
	if !s.Totals.First.Equal(at(10)) || !s.Totals.Last.Equal(at(20)) || s.Totals.Inputs != 0 || s.Inputs == nil {
		t.Errorf("totals without inputs: %+v", s.Totals)
	}
	if len(s.Ephemeral) != 0 || s.Ephemeral == nil || s.Hosts == nil || s.VeeamRules == nil {
		t.Error("empty sections must be empty, non-nil lists")
	}
}

// TestAddBatch checks that AddBatch, in batches of any length, sums what Add of each
// flow does: records spread over hosts enough that batches meet new and known hosts,
// and a self flow (client and server the same host).
func TestAddBatch(t *testing.T) {
	base := fixtureRecords()
	var recs []classify.Flow
	for i := range 300 {
		r := base[i%len(base)]
		if capture.HasPorts(r.Proto) && r.Client.Addr().Is4() {
			r.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 70)}), r.Client.Port())
			if i%9 == 0 {
				r.Server = netip.AddrPortFrom(r.Client.Addr(), r.Server.Port())
			}
		}
		recs = append(recs, r)
	}
	one := NewAggregator(Options{Top: 1000})
	for i := range recs {
		one.Add(&recs[i])
	}
	want := encodeJSON(t, one.Summary())
	for _, n := range []int{1, 7, addAhead, addAhead + 1, 100, len(recs)} {
		batched := NewAggregator(Options{Top: 1000})
		for rest := recs; len(rest) > 0; {
			b := rest[:min(n, len(rest))]
			batched.AddBatch(b)
			rest = rest[len(b):]
		}
		if got := encodeJSON(t, batched.Summary()); got != want {
			t.Fatalf("batches of %d differ from Add:\n%s", n, lineDiff(want, got))
		}
	}
}

func TestAggregatorAddAllocations(t *testing.T) {
	agg := NewAggregator(Options{})
	recs := fixtureRecords()
	for i := range recs {
		agg.Add(&recs[i])
	}
	// Every key exists now: adding more records only grows the record slice, which
	// amortises to less than one allocation per record.
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		agg.Add(&recs[i%len(recs)])
		i++
	})
	if allocs >= 1 {
		t.Errorf("Add: %v allocations per record, want amortised < 1", allocs)
	}
}

// randomSet builds n records and some inputs and hosts with a fixed seed.
func randomSet(seed uint64, n int) ([]classify.Flow, []capture.InputStats, []Host) {
	rng := rand.New(rand.NewPCG(seed, 1))
	hosts := []string{"192.0.2.10", "192.0.2.21", "192.0.2.22", "192.0.2.30", "198.51.100.7", "203.0.113.80", "2001:db8::10", "2001:db8::20"}
	protos := []uint8{capture.ProtoTCP, capture.ProtoTCP, capture.ProtoUDP, capture.ProtoICMP, capture.ProtoSCTP, 47}
	portList := []uint16{22, 53, 443, 445, 2500, 3300, 6160, 6162, 9392, 49700, 51515, 60000}
	services := map[uint16]string{22: "ssh", 53: "domain", 443: "https", 445: "microsoft-ds"}
	flagSets := []classify.Flags{flags(), flags(classify.FlagVeeam), flags(classify.FlagDynamicServer, classify.ServerEphemeralPrefix+"windows", classify.FlagUnexplained),
		flags(classify.FlagBothEphemeral, classify.FlagGuessedDirection, classify.FlagDynamicServer, classify.ServerEphemeralPrefix+"linux")}
	states := []capture.State{capture.S0, capture.SF, capture.REJ, capture.RSTO, capture.OTH}
	var recs []classify.Flow
	for i := 0; i < n; i++ {
		p := protos[rng.IntN(len(protos))]
		c, s := hosts[rng.IntN(len(hosts))], hosts[rng.IntN(len(hosts))]
		ca, sa := netip.MustParseAddr(c), netip.MustParseAddr(s)
		port := portList[rng.IntN(len(portList))]
		if !capture.HasPorts(p) {
			port = 0
		}
		cport := uint16(40000 + rng.IntN(20000))
		if !capture.HasPorts(p) {
			cport = 0
		}
		f := capture.Flow{Proto: p, Client: netip.AddrPortFrom(ca, cport),
			Server: netip.AddrPortFrom(sa, port), VLAN: uint16(rng.IntN(2) * 10), State: states[rng.IntN(len(states))],
			Direction: capture.Direction(rng.IntN(7)), First: at(rng.IntN(100000)), Packets: [2]uint64{uint64(rng.IntN(50)), uint64(rng.IntN(50))},
			Bytes: [2]uint64{uint64(rng.IntN(1 << 20)), uint64(rng.IntN(1 << 20))}, Input: fmt.Sprintf("in-%d.pcap", rng.IntN(4)),
			End: capture.EndReason(1 + rng.IntN(4))}
		f.Last = f.First.Add(at(rng.IntN(5000)).Sub(fixtureT0))
		if rng.IntN(5) == 0 {
			f.ICMPErrors = []capture.ICMPError{{Type: 3, Code: uint8(rng.IntN(4)), From: netip.MustParseAddr("192.0.2.1"), Count: 1}}
		}
		v := classify.Verdict{Service: services[port], Flags: flagSets[rng.IntN(len(flagSets))]}
		if capture.HasPorts(p) {
			v.PortClass = ports.ClassOf(port)
		}
		if v.Flags.Has(classify.FlagVeeam) || rng.IntN(4) == 0 {
			v.Veeam = []veeam.Match{[]veeam.Match{veeamInstaller, veeamDataMover, veeamRPC, veeamData}[rng.IntN(4)]}
		}
		v.Outcome = capture.OutcomeOf(&f)
		recs = append(recs, classify.Flow{Flow: f, Verdict: v})
	}
	var inputs []capture.InputStats
	for i := 0; i < 4; i++ {
		inputs = append(inputs, capture.InputStats{Path: fmt.Sprintf("in-%d.pcap", i), Format: "pcap",
			LinkTypes: map[string]uint64{"EN10MB": uint64(100 + i)}, Packets: uint64(100 + i), Bytes: uint64(1000 * i),
			Decoded: uint64(90 + i), NonIP: 10, FirstTS: at(-i).UnixNano(), LastTS: at(200000 + i).UnixNano(),
			Warnings: []string{fmt.Sprintf("warning %d", i)}})
	}
	var hs []Host
	for i, h := range hosts[:4] {
		hs = append(hs, Host{Addr: h, Roles: []HostRole{{Role: fmt.Sprintf("role-%d", i), Confidence: 0.5, Evidence: []string{"e"}}}})
	}
	return recs, inputs, hs
}

func aggregate(top int, recs []classify.Flow, inputs []capture.InputStats, hosts []Host, evicted uint64) *Summary {
	agg := NewAggregator(Options{Top: top})
	for _, in := range inputs {
		agg.AddInput(in)
	}
	for i := range recs {
		agg.Add(&recs[i])
	}
	agg.SetHosts(hosts)
	agg.AddEvicted(evicted)
	return agg.Summary()
}

// TestMergeProperty: aggregating two halves separately and merging gives exactly the
// summary of aggregating everything at once, also after a trip through JSON and in
// either order.
func TestMergeProperty(t *testing.T) {
	for _, top := range []int{0, 3} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("top%d/seed%d", top, seed), func(t *testing.T) {
				recs, inputs, hosts := randomSet(seed, 500)
				rng := rand.New(rand.NewPCG(seed, 2))
				var ra, rb []classify.Flow
				for _, r := range recs {
					if rng.IntN(3) == 0 {
						ra = append(ra, r)
					} else {
						rb = append(rb, r)
					}
				}
				all := aggregate(top, recs, inputs, hosts, 7)
				a := aggregate(top, ra, inputs[:1], hosts[:1], 3)
				b := aggregate(top, rb, inputs[1:], hosts[1:], 4)

				beforeA, beforeB := encodeJSON(t, a), encodeJSON(t, b)
				m, err := Merge(a, b)
				if err != nil {
					t.Fatal(err)
				}
				if encodeJSON(t, a) != beforeA || encodeJSON(t, b) != beforeB {
					t.Fatal("Merge modified its arguments")
				}
				if !reflect.DeepEqual(m, all) {
					t.Fatalf("merge differs from aggregating all:\n%s", lineDiff(encodeJSON(t, all), encodeJSON(t, m)))
				}
				la, lb := load(t, encodeJSON(t, a)), load(t, encodeJSON(t, b))
				m2, err := Merge(lb, la)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(m2, all) {
					t.Fatalf("merge of loaded summaries (b, a) differs:\n%s", lineDiff(encodeJSON(t, all), encodeJSON(t, m2)))
				}
			})
		}
	}
}

func TestMergeHosts(t *testing.T) {
	a := aggregate(0, nil, nil, []Host{{Addr: "192.0.2.21", Roles: []HostRole{
		{Role: "backup-proxy", Confidence: 0.6, Evidence: []string{"x"}}}}}, 0)
	b := aggregate(0, nil, nil, []Host{
		{Addr: "192.0.2.21", Roles: []HostRole{{Role: "backup-proxy", Confidence: 0.9, Evidence: []string{"y", "x"}},
			{Role: "backup-proxy-vmware", Confidence: 1, Declared: true, Evidence: []string{"inventory"}}}},
		{Addr: "192.0.2.3", Roles: []HostRole{{Role: "vcenter", Confidence: 0.7, Evidence: []string{}}}},
	}, 0)
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{Addr: "192.0.2.3", Roles: []HostRole{{Role: "vcenter", Confidence: 0.7, Evidence: []string{}}}},
		{Addr: "192.0.2.21", Roles: []HostRole{
			{Role: "backup-proxy-vmware", Confidence: 1, Declared: true, Evidence: []string{"inventory"}},
			{Role: "backup-proxy", Confidence: 0.9, Evidence: []string{"x", "y"}}}},
	}
	if !reflect.DeepEqual(m.Hosts, want) {
		t.Errorf("hosts\n got %+v\nwant %+v", m.Hosts, want)
	}
}

func TestMergeErrors(t *testing.T) {
	good := fixtureSummary(0)
	v2 := *good
	v2.SchemaVersion = 2
	partial := *good
	partial.Flows = partial.Flows[:3]
	tests := []struct {
		name string
		a, b *Summary
		want string
	}{
		{"nil", good, nil, "summary 2 is nil"},
		{"version", &v2, good, "unsupported schema_version 2"},
		{"missing flows", good, &partial, "totals.flows is 16 but it has 3 flow records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Merge(tt.a, tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Merge error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Merge(&v2, good); !errors.Is(err, ErrSchemaVersion) {
		t.Errorf("version error %v does not wrap ErrSchemaVersion", err)
	}
}

func TestLoadSummary(t *testing.T) {
	s := fixtureSummary(0)
	got := load(t, encodeJSON(t, s))
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("loaded summary differs:\n%s", lineDiff(encodeJSON(t, s), encodeJSON(t, got)))
	}
	empty := NewAggregator(Options{}).Summary()
	if got := load(t, encodeJSON(t, empty)); !reflect.DeepEqual(got, empty) {
		t.Errorf("empty summary: got %+v want %+v", got, empty)
	}

	tests := []struct {
		name, in, want string
		is             error
	}{
		{"future version", `{"schema_version": 2, "generator": "portclass"}`, "unsupported schema_version 2 (this portclass reads 1)", ErrSchemaVersion},
		{"no version", `{"generator": "portclass", "flows": []}`, "not a portclass summary", nil},
		{"ndjson is not a summary", `{"schema_version":1,"proto":"tcp"}` + "\n" + `{"schema_version":1}`, "offset", nil},
		{"syntax", `{"schema_version": 1, "totals": {`, "offset", nil},
		{"wrong type", `{"schema_version": 1, "totals": {"flows": "many"}}`, "field totals.flows", nil},
		{"empty", ``, "read summary", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSummary(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
}

func encodeJSON(t *testing.T, s *Summary) string {
	t.Helper()
	var buf bytes.Buffer
	if err := (JSON{}).Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func load(t *testing.T, js string) *Summary {
	t.Helper()
	s, err := LoadSummary(strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
