package reports

import (
	"encoding/json"
	"strings"
	"testing"
)

// editJSON decodes the summary document js (numbers kept exact), applies edit to it and
// encodes it again.
func editJSON(t *testing.T, js string, edit func(d map[string]any)) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	edit(d)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLoadSummaryChecksEverySection: every section of a summary, not only the flow
// records, is held to what portclass writes, and the error names the entry and the
// field; the totals must agree with the inputs and the records. A summary without its
// records (--no-flows) still loads, and so does an unknown field of any size.
func TestLoadSummaryChecksEverySection(t *testing.T) {
	good := encodeJSON(t, fixtureSummary(0))
	entry := func(d map[string]any, key string, i int) map[string]any { return d[key].([]any)[i].(map[string]any) }
	set := func(key string, i int, field string, v any) func(map[string]any) {
		return func(d map[string]any) { entry(d, key, i)[field] = v }
	}
	totals := func(field string, v any) func(map[string]any) {
		return func(d map[string]any) { d["totals"].(map[string]any)[field] = v }
	}
	n := func(s string) json.Number { return json.Number(s) }
	for _, tt := range []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"top", func(d map[string]any) { d["top"] = n("-1") }, "top: -1: want 0 (complete) or more"},
		{"input path", set("inputs", 0, "path", ""), "inputs[0].path: empty"},
		{"input format", set("inputs", 0, "format", "pc ap"), `inputs[0].format: "pc ap": character ' ' at 2`},
		{"input size", set("inputs", 0, "size", n("-2")), "inputs[0].size: -2"},
		{"link type", set("inputs", 0, "link_types", map[string]any{"EN\x1b": n("1")}), `inputs[0].link_types: "EN\x1b"`},
		{"truncated_at", func(d map[string]any) {
			entry(d, "inputs", 0)["truncated"], entry(d, "inputs", 0)["truncated_at"] = false, n("10")
		}, "inputs[0].truncated_at: 10: want the offset where a truncated input ends"},
		{"kernel drops", func(d map[string]any) {
			entry(d, "inputs", 0)["kernel_dropped"], entry(d, "inputs", 0)["kernel_received"] = n("5"), n("4")
		}, "inputs[0].kernel_dropped: 5 is more than kernel_received 4"},
		{"protocol", set("protocols", 1, "proto", "ip-6"), `protocols[1].proto: "ip-6" is not`},
		{"port class", set("port_classes", 0, "port_class", "odd"), `port_classes[0].port_class: "odd" is not well-known`},
		{"service", set("services", 2, "service", ""), "services[2].service: empty"},
		{"server port protocol", set("server_ports", 0, "proto", "icmp"), `server_ports[0].proto: "icmp" has no ports`},
		{"server port class", set("server_ports", 0, "port_class", "dynamic"), `server_ports[0].port_class: "dynamic", but server port`},
		{"talker", set("talkers", 0, "as_client", n("1000")), "talkers[0].as_client: 1000 is more than the entry's"},
		{"ephemeral flags", set("ephemeral", 0, "flags", []any{"veeam"}), "ephemeral[0].flags: [veeam]: only the ephemeral-range flags belong here"},
		{"ephemeral flag", set("ephemeral", 0, "flags", []any{"odd"}), `ephemeral[0].flags: unknown flag "odd"`},
		{"ephemeral unexplained", set("ephemeral", 0, "unexplained", n("1000")), "ephemeral[0].unexplained: 1000 is more than"},
		{"state", set("states", 0, "state", "ZZ"), `states[0].state: "ZZ" is not a connection state`},
		{"veeam rule", set("veeam_rules", 0, "rule", "no-such-rule"), `veeam_rules[0].rule: "no-such-rule" is not a rule`},
		{"veeam rule roles", set("veeam_rules", 0, "from", "repository"), "veeam_rules[0].rule: rule"},
		{"host role", func(d map[string]any) { entry(d, "hosts", 0)["roles"].([]any)[0].(map[string]any)["role"] = "a role" }, `hosts[0].roles[0].role: "a role"`},
		{"host confidence", func(d map[string]any) {
			entry(d, "hosts", 0)["roles"].([]any)[0].(map[string]any)["confidence"] = n("1.5")
		}, "hosts[0].roles[0].confidence: 1.5: want 0 to 1"},
		{"attempt port", set("attempts", 0, "port", n("1")), "attempts[0].port: 1, but the server is"},
		{"attempt client", set("attempts", 0, "clients", []any{"x"}), `attempts[0].clients[0]: "x" is not an address`},
		{"attempt clients", set("attempts", 0, "client_count", n("0")), "attempts[0].client_count: 0, but 1 clients are listed"},
		{"sweep", func(d map[string]any) {
			d["sweeps"] = []any{map[string]any{"client": "192.0.2.1", "targets": n("1"), "hosts": n("2"), "ports": n("1")}}
		}, "sweeps[0].targets: 1, fewer than its 2 hosts"},
		{"skipped file", func(d map[string]any) { d["skipped_files"] = []any{map[string]any{"path": "x", "reason": ""}} }, "skipped_files[0].reason: empty"},
		{"tunnel type", func(d map[string]any) { d["tunnels"] = []any{map[string]any{"type": "wormhole", "flows": n("1")}} }, `tunnels[0].type: "wormhole" is not a tunnel type`},
		{"tunnel outer", func(d map[string]any) {
			d["tunnels"] = []any{map[string]any{"type": "vxlan", "id": n("7"), "outer_client": "192.0.2.1", "outer_server": "2001:db8::1"}}
		}, "tunnels[0].outer_server: 2001:db8::1 and outer_client 192.0.2.1 are of different families"},
		{"unexpected proto", func(d map[string]any) {
			d["unexpected"] = []any{unexpectedEntry(n, "icmp", "192.0.2.1", "unexplained-port")}
		}, "unexpected[0].proto: icmp: only flows with ports"},
		{"unexpected server", func(d map[string]any) { d["unexpected"] = []any{unexpectedEntry(n, "tcp", "::::", "unexplained-port")} }, `unexpected[0].server: "::::" is not an address`},
		{"unexpected reasons", func(d map[string]any) {
			d["unexpected"] = []any{unexpectedEntry(n, "tcp", "192.0.2.1", "ephemeral-server", "unexplained-port")}
		}, "unexpected[0].reasons:"},
		{"unexpected rest", func(d map[string]any) { d["unexpected_rest"] = map[string]any{"groups": n("2"), "flows": n("0")} }, "unexpected_rest: 2 groups of 0 flows"},
		{"interrupted reason", func(d map[string]any) { d["interrupted_reason"] = "SIGINT" }, "interrupted_reason without interrupted"},
		{"totals inputs", totals("inputs", n("3")), "totals.inputs is 3, but the summary lists 2 inputs"},
		{"totals unsupported", totals("unsupported", n("0")), "totals.unsupported is 0, but the inputs' unsupported add up to"},
		{"totals last", totals("last", "2030-01-01T00:00:00Z"), "totals.last is 2030-01-01T00:00:00.000000000Z, but the inputs and flow records end at"},
		{"totals duration", totals("duration_seconds", n("1")), "totals.duration_seconds is 1, but last − first is"},
		{"input overflow", func(d map[string]any) {
			entry(d, "inputs", 0)["bytes"], entry(d, "inputs", 1)["bytes"] = n("18446744073709551615"), n("1")
		}, "inputs[1].bytes: the inputs' bytes add up to more than 18446744073709551615"},
		{"record packets overflow", set("flows", 3, "packets_to_client", n("18446744073709551615")), "flows[3].packets_to_server: the records' packets add up to more than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSummary(strings.NewReader(editJSON(t, good, tt.edit)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	// A second field of the same name (a second "flows" would be read twice).
	dup := strings.Replace(good, `"generator"`, `"flows": [], "generator"`, 1)
	if _, err := LoadSummary(strings.NewReader(dup)); err == nil || !strings.Contains(err.Error(), `a second "flows" field`) {
		t.Errorf("a second flows field: %v", err)
	}
	// Without its records, as --no-flows writes it: loaded, totals.flows as written.
	noFlows := editJSON(t, good, func(d map[string]any) { d["flows"] = []any{} })
	if s, err := LoadSummary(strings.NewReader(noFlows)); err != nil || s.Totals.Flows != 16 || len(s.Flows) != 0 {
		t.Errorf("a summary without records: %v", err)
	}
	// A field of a later version, larger than any one value may be: skipped.
	later := strings.Replace(good, `"generator"`, `"later": [`+strings.Repeat(`"`+strings.Repeat("x", 60000)+`",`, 40)+`1], "generator"`, 1)
	if _, err := LoadSummary(strings.NewReader(later)); err != nil {
		t.Errorf("an unknown 2.4 MB field: %v", err)
	}
}

// unexpectedEntry is an entry of a summary's unexpected section as JSON has it.
func unexpectedEntry(n func(string) json.Number, proto, server string, reasons ...string) map[string]any {
	rs := make([]any, len(reasons))
	for i, r := range reasons {
		rs[i] = r
	}
	return map[string]any{"proto": proto, "client": "192.0.2.9", "client_count": n("1"), "server": server, "port": n("3389"),
		"service": "ms-wbt-server", "app_protocol": "", "reasons": rs, "flows": n("1"), "packets": n("2"), "bytes": n("120")}
}
