package reports

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/veeam"
)

// filterHarness types each filter of its last argument (a JSON list) into the page's
// filter box and prints, for each, the Client and Server cells of the rows shown.
const filterHarness = scriptDOM + `
const byId = document.getElementById;
const flows = byId("flow-table");
const heads = flows.tHead.rows[0].cells.map(function (c) { return c.textContent; });
const input = byId("flow-filter");
const out = {};
JSON.parse(process.argv[4]).forEach(function (f) {
  input.value = f; input.fire("input"); timers.forEach(function (fn) { fn(); }); timers = [];
  out[f] = flows.tBodies[0].rows.filter(function (r) { return r.style.display !== "none"; })
    .map(function (r) { return r.cells[heads.indexOf("Client")].textContent + " " + r.cells[heads.indexOf("Server")].textContent; });
});
process.stdout.write(JSON.stringify(out));
`

// filterSummary is a summary of flows that tell the filter's terms apart: addresses
// that share a prefix as text (192.0.2.10, .100, .105), icmp and icmpv6, IPv6 servers,
// a flow of two Veeam rules and one flagged unexplained-ephemeral.
func filterSummary() *Summary {
	rule := func(id string) rawMatch {
		m, _ := veeam.MatchOf(id)
		r := m.Rule()
		return rawMatch{Rule: r.ID, Service: r.Service, From: r.From, To: r.To}
	}
	recs := []classify.Flow{
		rec(rawRecord{Proto: "tcp", Client: "192.0.2.10:50000", Server: "192.0.2.20:6162", State: "SF", End: "end-of-input",
			Flags: []string{"veeam"}, Veeam: []rawMatch{rule("backup-server-to-component-datamover"), rule("backup-server-to-repo-linux")}}),
		rec(rawRecord{Proto: "tcp", Client: "192.0.2.100:50001", Server: "192.0.2.20:443", State: "SF", End: "end-of-input"}),
		rec(rawRecord{Proto: "tcp", Client: "192.0.2.105:50002", Server: "192.0.2.21:9392", State: "REJ", End: "end-of-input"}),
		rec(rawRecord{Proto: "icmp", Client: "192.0.2.10", Server: "192.0.2.20", State: "SF", End: "end-of-input", ICMPType: 8}),
		rec(rawRecord{Proto: "icmpv6", Client: "2001:db8::10", Server: "2001:db8::20", State: "SF", End: "end-of-input", ICMPType: 128}),
		rec(rawRecord{Proto: "udp", Client: "[2001:db8::10]:53000", Server: "[2001:db8:1::53]:53", State: "SF", End: "end-of-input"}),
		rec(rawRecord{Proto: "tcp", Client: "198.51.100.7:40000", Server: "192.0.2.30:51515", State: "S0", End: "end-of-input",
			Flags: []string{"dynamic-server-port", "unexplained-ephemeral"}}),
	}
	agg := NewAggregator(Options{})
	for i := range recs {
		agg.Add(&recs[i])
	}
	return agg.Summary()
}

// TestHTMLFilter (issue 17, item 6) runs the page's own script under node on a page of
// filterSummary and types filters: column:value matches whole values (an address with
// any port, not a longer address; icmp, not icmpv6; one flag), ~ a part, an address
// prefix the addresses in it (alone: the client's or the server's), and a column's
// name may be shortened ("veeam" for Veeam rules). A flow of several Veeam rules shows
// their count and the list on demand.
func TestHTMLFilter(t *testing.T) {
	page := encodeHTML(t, HTML{}, filterSummary())
	if !strings.Contains(page, `data-v="backup-server-to-component-datamover, backup-server-to-repo-linux"><details><summary>2 rules</summary><div>backup-server-to-component-datamover</div><div>backup-server-to-repo-linux</div></details></td>`) {
		t.Errorf("the two Veeam rules of a flow are not collapsed to a count:\n%s", page)
	}
	const (
		f1 = "192.0.2.10:50000 192.0.2.20:6162"
		f2 = "192.0.2.100:50001 192.0.2.20:443"
		f3 = "192.0.2.105:50002 192.0.2.21:9392"
		f4 = "192.0.2.10 192.0.2.20"
		f5 = "2001:db8::10 2001:db8::20"
		f6 = "[2001:db8::10]:53000 [2001:db8:1::53]:53"
		f7 = "198.51.100.7:40000 192.0.2.30:51515"
	)
	want := map[string][]string{
		"client:192.0.2.10":                  {f1, f4},
		"client:~192.0.2.10":                 {f1, f2, f3, f4},
		"proto:icmp":                         {f4},
		"proto:~icmp":                        {f4, f5},
		"client:192.0.2.96/28":               {f2, f3},
		"server:2001:db8::/32":               {f5, f6},
		"2001:db8:1::/48":                    {f6},
		"192.0.2.20/31":                      {f1, f2, f3, f4},
		"server:6162":                        {f1},
		"server:192.0.2.20":                  {f1, f2, f4},
		"server:2001:db8:1:0:0::53":          {f6},
		"flags:unexplained-ephemeral":        {f7},
		"flags:unexplained":                  nil,
		"flags:~unexplained":                 {f7},
		"veeam:backup-server-to-repo-linux":  {f1},
		"veeamrules:backup-server-to-repo-x": nil,
		"!proto:tcp":                         {f4, f5, f6},
		"6162":                               {f1},
		"state:rej":                          {f3},
		"client:192.0.2.10 proto:tcp":        {f1},
		"bytes:0":                            {f1, f2, f3, f4, f5, f6, f7},
	}
	var filters []string
	for f := range want {
		filters = append(filters, f)
	}
	slices.Sort(filters)
	arg, _ := json.Marshal(filters)
	var got map[string][]string
	out := runPageScript(t, page, filterHarness, string(arg))
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, f := range filters {
		g, w := got[f], want[f]
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("filter %q shows %q, want %q", f, g, w)
		}
	}
}

// TestHTMLChartLegend (issue 17, item 6): the bytes-per-port chart says what its colours
// mean, for each port class among its bars; the states chart says what red is when a
// bar is red, and has no legend otherwise.
func TestHTMLChartLegend(t *testing.T) {
	figure := func(page, id string) string {
		i := strings.Index(page, `<figure id="`+id+`">`)
		if i < 0 {
			t.Fatalf("no figure %s", id)
		}
		return page[i : i+strings.Index(page[i:], "</figure>")]
	}
	page := encodeHTML(t, HTML{}, fixtureSummary(0))
	ports := figure(page, "chart-ports")
	for _, class := range []string{"well-known", "registered", "dynamic"} {
		if !strings.Contains(ports, `<g class="bar c-`+class+`">`) {
			t.Fatalf("the fixture has no %s bar", class)
		}
		if !strings.Contains(ports, `<li><span class="swatch c-`+class+`"></span>`+class+" (") {
			t.Errorf("the ports chart's legend lacks %s:\n%s", class, ports)
		}
	}
	if states := figure(page, "chart-states"); !strings.Contains(states, `<li><span class="swatch bad"></span>TCP attempts that failed`) {
		t.Errorf("the states chart does not say what red is:\n%s", states)
	}
	s := filterSummary()
	s.States = slices.DeleteFunc(s.States, func(c StateCount) bool { return c.State == "REJ" || c.State == "S0" })
	s.ServerPorts = slices.DeleteFunc(s.ServerPorts, func(p PortCount) bool { return p.PortClass != "registered" })
	page = encodeHTML(t, HTML{}, s)
	if states := figure(page, "chart-states"); strings.Contains(states, "legend") {
		t.Errorf("a legend for red without a red bar:\n%s", states)
	}
	if ports := figure(page, "chart-ports"); !strings.Contains(ports, "registered (1024–49151)") || strings.Contains(ports, "well-known (") {
		t.Errorf("the legend is not that of the registered bars only:\n%s", ports)
	}
}
