package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
)

// tunnelRecords are fixture records inside tunnels: VXLAN over IPv4 with a GRE tunnel
// (no key) nested in it, Geneve over IPv6, the same VXLAN layer alone, and a flow whose
// path the capture could not keep.
func tunnelRecords(t *testing.T) []classify.Flow {
	t.Helper()
	vx := capture.Tunnel{Type: capture.TunnelVXLAN, HasID: true, ID: 42,
		Client: netip.MustParseAddr("198.51.100.1"), Server: netip.MustParseAddr("198.51.100.2")}
	gre := capture.Tunnel{Type: capture.TunnelGRE, Client: netip.MustParseAddr("10.0.0.1"), Server: netip.MustParseAddr("10.0.0.2")}
	gen := capture.Tunnel{Type: capture.TunnelGeneve, HasID: true, ID: 0,
		Client: netip.MustParseAddr("2001:db8::1"), Server: netip.MustParseAddr("2001:db8::2")}
	paths := []capture.TunnelPath{
		mustPath(t, vx, gre),
		mustPath(t, gen),
		mustPath(t, vx),
		capture.OverflowPath(),
	}
	base := fixtureRecords()
	out := make([]classify.Flow, len(paths))
	for i, p := range paths {
		out[i] = base[i]
		out[i].Tunnel = p
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustPath(t *testing.T, layers ...capture.Tunnel) capture.TunnelPath {
	t.Helper()
	p, err := capture.MakeTunnelPath(layers...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTunnelRecordField: the record's tunnel list as written, and the loader reads it
// back into the same path (the round trip of every field is TestRecordRoundTrip's).
func TestTunnelRecordField(t *testing.T) {
	recs := tunnelRecords(t)
	want := []string{
		`"tunnel":[{"type":"vxlan","id":42,"outer_client":"198.51.100.1","outer_server":"198.51.100.2"},{"type":"gre","outer_client":"10.0.0.1","outer_server":"10.0.0.2"}]}`,
		`"tunnel":[{"type":"geneve","id":0,"outer_client":"2001:db8::1","outer_server":"2001:db8::2"}]}`,
		`"tunnel":[{"type":"vxlan","id":42,"outer_client":"198.51.100.1","outer_server":"198.51.100.2"}]}`,
		`"tunnel":[{"type":"unknown"}]}`,
	}
	for i, f := range recs {
		b := appendRecord(nil, &f, false)
		if !bytes.HasSuffix(b, []byte(want[i])) {
			t.Errorf("record %d ends\n %s\nwant\n %s", i, b[max(0, len(b)-len(want[i])):], want[i])
		}
		var raw rawRecord
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		got, err := raw.flow()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got.Tunnel != f.Tunnel {
			t.Errorf("record %d: path %q read back as %q", i, f.Tunnel, got.Tunnel)
		}
	}
	if b := appendRecord(nil, &fixtureRecords()[0], false); bytes.Contains(b, []byte("tunnel")) {
		t.Errorf("a flow outside tunnels has a tunnel field: %s", b)
	}
}

// TestTunnelRecordErrors: the loader refuses tunnel lists portclass does not write,
// naming the field.
func TestTunnelRecordErrors(t *testing.T) {
	const ok = `{"type":"vxlan","id":1,"outer_client":"192.0.2.1","outer_server":"192.0.2.2"}`
	cases := []struct{ list, want string }{
		{`[{"type":"vxlan2","outer_client":"192.0.2.1","outer_server":"192.0.2.2"}]`, `tunnel[0].type: "vxlan2" is not a tunnel type`},
		{`[{"type":"unknown","outer_client":"192.0.2.1","outer_server":"192.0.2.2"}]`, `tunnel[0].type: "unknown" is not a tunnel type`},
		{`[{"type":"ipip","id":3,"outer_client":"192.0.2.1","outer_server":"192.0.2.2"}]`, `tunnel[0].id: ipip tunnels have no ID`},
		{`[` + ok + `,{"type":"gre","outer_client":"192.0.2.300","outer_server":"192.0.2.2"}]`, `tunnel[1].outer_client: "192.0.2.300" is not an address`},
		{`[{"type":"gre","outer_client":"192.0.2.1"}]`, `tunnel[0].outer_server: "" is not an address`},
		{`[{"type":"gre","outer_client":"fe80::1%eth0","outer_server":"fe80::2"}]`, `tunnel[0].outer_client: "fe80::1%eth0" is not an address`},
		{`[{"type":"gre","outer_client":"192.0.2.1","outer_server":"2001:db8::1"}]`, `tunnel[0].outer_server: 2001:db8::1 and outer_client 192.0.2.1 are of different families`},
		{`[` + strings.Repeat(ok+",", 4) + ok + `]`, `tunnel: 5 layers, at most 4`},
	}
	base := appendRecord(nil, &fixtureRecords()[0], false)
	for _, c := range cases {
		rec := string(base[:len(base)-1]) + `,"tunnel":` + c.list + `}`
		var raw rawRecord
		if err := json.Unmarshal([]byte(rec), &raw); err != nil {
			t.Fatal(err)
		}
		_, err := raw.flow()
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.list, err, c.want)
		}
	}
}

// TestTunnelSummary: the summary's tunnels per layer (a flow in nested tunnels in each
// of its layers), in every human format and in JSON, CSV's tunnel column, the inputs'
// tunnel counters, and a saved summary merged again gives the same section.
func TestTunnelSummary(t *testing.T) {
	recs := tunnelRecords(t)
	agg := NewAggregator(Options{})
	in := capture.InputStats{Path: "mirror.pcap", Format: "pcap", Packets: 100, Decoded: 100, Decapsulated: 90, TunnelsTooDeep: 2, TunnelPathsFull: 1}
	agg.AddInput(in)
	for i := range recs {
		agg.Add(&recs[i])
	}
	s := agg.Summary()
	if len(s.Tunnels) != 4 {
		t.Fatalf("tunnels %+v, want 4 layers (vxlan, gre, geneve, and the unknown one of the path not kept)", s.Tunnels)
	}
	byType := map[string]TunnelCount{}
	for _, tc := range s.Tunnels {
		byType[tc.Type] = tc
	}
	vx, gre, gen, unk := byType["vxlan"], byType["gre"], byType["geneve"], byType["unknown"]
	if unk.Flows != 1 || unk.ID != nil || unk.OuterClient != "" {
		t.Errorf("unknown %+v", unk)
	}
	if vx.Flows != 2 || vx.Packets != recs[0].Packets()+recs[2].Packets() || vx.ID == nil || *vx.ID != 42 ||
		vx.OuterClient != "198.51.100.1" || vx.OuterServer != "198.51.100.2" {
		t.Errorf("vxlan %+v", vx)
	}
	if gre.Flows != 1 || gre.ID != nil || gre.Bytes != recs[0].Bytes() {
		t.Errorf("gre %+v", gre)
	}
	if gen.Flows != 1 || gen.ID == nil || *gen.ID != 0 || gen.OuterServer != "2001:db8::2" {
		t.Errorf("geneve %+v", gen)
	}
	for i := 1; i < len(s.Tunnels); i++ {
		if s.Tunnels[i].Bytes > s.Tunnels[i-1].Bytes {
			t.Errorf("tunnels not by bytes: %+v", s.Tunnels)
		}
	}

	var text bytes.Buffer
	if err := (Text{}).Encode(&text, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nTunnels\n", "vxlan  ", "198.51.100.1", "2001:db8::2", "90 in tunnels; 2 nested too deep; 1 without their tunnel path"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var md, html bytes.Buffer
	if err := (Markdown{}).Encode(&md, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "## Tunnels") || !strings.Contains(md.String(), "| geneve |") {
		t.Errorf("markdown lacks the tunnels section:\n%s", md.String())
	}
	if err := (HTML{}).Encode(&html, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "<th>Tunnel</th>") || !strings.Contains(html.String(), "vxlan:42 198.51.100.1&gt;198.51.100.2 / gre 10.0.0.1&gt;10.0.0.2") {
		t.Errorf("html lacks the tunnel column or the path of the nested flow")
	}

	var c bytes.Buffer
	if err := (CSV{}).Encode(&c, s); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := len(rows[0]) - 1
	if rows[0][col] != "tunnel" {
		t.Fatalf("last CSV column %q", rows[0][col])
	}
	var cells []string
	for _, r := range rows[1:] {
		cells = append(cells, r[col])
	}
	wantCells := map[string]bool{"vxlan:42 198.51.100.1>198.51.100.2 / gre 10.0.0.1>10.0.0.2": true,
		"geneve:0 2001:db8::1>2001:db8::2": true, "vxlan:42 198.51.100.1>198.51.100.2": true, "unknown": true, "": true}
	for _, cell := range cells {
		if !wantCells[cell] {
			t.Errorf("CSV tunnel cell %q", cell)
		}
	}

	var js bytes.Buffer
	if err := (JSON{}).Encode(&js, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"decapsulated": 90`) || !strings.Contains(js.String(), `"tunnels": [`) {
		t.Errorf("JSON lacks the inputs' tunnel counters or the tunnels list")
	}
	loaded, err := LoadSummary(&js)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Tunnels) != len(s.Tunnels) {
		t.Errorf("tunnels loaded: %d entries, want %d", len(loaded.Tunnels), len(s.Tunnels))
	}
	if a, b := mustJSON(t, s.Tunnels), mustJSON(t, loaded.Tunnels); a != b {
		t.Errorf("tunnels loaded\n%s\nwant\n%s", b, a)
	}
	merged, err := MergeAll(Options{}, loaded)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(s.Tunnels)
	b, _ := json.Marshal(merged.Tunnels)
	if string(a) != string(b) {
		t.Errorf("tunnels after load and merge\n%s\nwant\n%s", b, a)
	}
	if merged.Inputs[0].Decapsulated != 90 || merged.Inputs[0].TunnelPathsFull != 1 {
		t.Errorf("inputs after load and merge %+v", merged.Inputs[0])
	}

	// Without tunnels, nothing of this appears.
	plain := NewAggregator(Options{})
	plain.Add(&fixtureRecords()[0])
	ps := plain.Summary()
	text.Reset()
	js.Reset()
	_ = (Text{}).Encode(&text, ps)
	_ = (JSON{}).Encode(&js, ps)
	if strings.Contains(text.String(), "Tunnels") || strings.Contains(js.String(), "tunnel") {
		t.Errorf("a summary without tunnels mentions them")
	}
}
