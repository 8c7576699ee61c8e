package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// summaryDoc is a saved JSON summary as a generic document, numbers kept exact.
type summaryDoc map[string]any

func readDoc(t *testing.T, path string) summaryDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var d summaryDoc
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// list is the list d[key], and entry the object at index i of it.
func (d summaryDoc) list(key string) []any { return d[key].([]any) }
func (d summaryDoc) entry(key string, i int) map[string]any {
	return d.list(key)[i].(map[string]any)
}
func (d summaryDoc) totals() map[string]any { return d["totals"].(map[string]any) }

func writeDoc(t *testing.T, path string, d summaryDoc) string {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMergeUntrustedSummaries: merge holds every field of a saved summary to what
// portclass writes, through the built command: addresses, ports, protocol names and
// times in the records and in every other section, the totals against the inputs and
// the records (a count that disagrees is no "written without its flow records"), and
// sums that overflow 64 bits, in one summary or only once merged. Each refusal exits 2,
// writes nothing and names the file, the entry and the field. Before, all but the
// records' own fields were taken as they were, and the sums wrapped.
func TestMergeUntrustedSummaries(t *testing.T) {
	dir := t.TempDir()
	good, _ := analyzeTo(t, dir, "good.json", nil, testdata("veeam-firewall.pcap"))
	const maxU64 = "18446744073709551615"
	type edit func(d summaryDoc)
	set := func(key string, i int, field string, v any) edit {
		return func(d summaryDoc) { d.entry(key, i)[field] = v }
	}
	tests := []struct {
		name  string
		edit  edit
		twice bool // merge the summary with itself
		want  []string
	}{
		{"record client", set("flows", 0, "client", "not-an-address"), false, []string{`flows[0].client: "not-an-address" is not an address:port`}},
		{"record server", set("flows", 0, "server", "::::"), false, []string{`flows[0].server: "::::" is not an address:port`}},
		{"record port", set("flows", 0, "server", "192.0.2.30:99999"), false, []string{`flows[0].server: "192.0.2.30:99999"`}},
		{"talker", set("talkers", 0, "addr", "not-an-address"), false, []string{`talkers[0].addr: "not-an-address" is not an address`}},
		{"host", set("hosts", 0, "addr", "::::"), false, []string{`hosts[0].addr: "::::" is not an address`}},
		{"attempt", set("attempts", 0, "server", "::::"), false, []string{`attempts[0].server: "::::" is not an address:port`}},
		{"port 99999", set("server_ports", 0, "port", json.Number("99999")), false, []string{"server_ports[0].port", "99999"}},
		{"port -1", set("server_ports", 0, "port", json.Number("-1")), false, []string{"server_ports[0].port", "-1"}},
		{"protocol NUL", set("protocols", 0, "proto", "tcp\x00"), false, []string{`protocols[0].proto: "tcp\x00" is not tcp, udp`}},
		{"state", set("states", 0, "state", "XX"), false, []string{`states[0].state: "XX" is not a connection state`}},
		{"input first after last", func(d summaryDoc) {
			in := d.entry("inputs", 0)
			in["first"], in["last"] = "2026-01-15T10:00:00Z", "1966-01-15T10:00:00Z"
		}, false, []string{"inputs[0].last: 1966-01-15T10:00:00.000000000Z is before first 2026-01-15T10:00:00.000000000Z (a duration of -525960h0m0s)"}},
		{"totals first after last", func(d summaryDoc) {
			d.totals()["first"], d.totals()["last"] = "2026-01-15T10:00:00Z", "1966-01-15T10:00:00Z"
		}, false, []string{"totals.first is 2026-01-15T10:00:00.000000000Z, but the inputs and flow records start at"}},
		{"totals flows", func(d summaryDoc) {
			flows := d.list("flows")
			for len(flows) < 3000 {
				flows = append(flows, flows[0])
			}
			d["flows"] = flows
			d.totals()["flows"] = json.Number("1")
		}, false, []string{"totals.flows is 1, but the summary carries 3000 flow records"}},
		{"totals packets", func(d summaryDoc) { d.totals()["packets"] = json.Number("5") }, false, []string{"totals.packets is 5, but the inputs' packets add up to"}},
		{"record bytes overflow", set("flows", 0, "bytes_to_server", json.Number(maxU64)), false, []string{"flows[0].bytes_to_server: the records' bytes add up to more than " + maxU64}},
		{"merged input packets overflow", func(d summaryDoc) {
			d.entry("inputs", 0)["packets"], d.totals()["packets"] = json.Number("9223372036854775808"), json.Number("9223372036854775808")
		}, true, []string{"inputs[0].packets: the inputs' packets add up to more than " + maxU64 + " (with the summaries before it)"}},
		{"merged record bytes overflow", set("flows", 0, "bytes_to_client", json.Number("9223372036854775808")), true, []string{"flows[0] (the record at offset", "bytes_to_server: the records' bytes add up to more than " + maxU64 + " (with the summaries before it)"}},
	}
	out := filepath.Join(dir, "out.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := readDoc(t, good)
			tt.edit(d)
			bad := writeDoc(t, filepath.Join(t.TempDir(), "bad.json"), d)
			args := []string{"merge", "--quiet", "-o", out, bad}
			if tt.twice {
				other := filepath.Join(filepath.Dir(bad), "other.json")
				raw, _ := os.ReadFile(bad)
				os.WriteFile(other, raw, 0o644)
				args = append(args, other)
				bad = other // the sum overflows with the second
			}
			code, _, errs := runBinary(t, "", args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d: %s", code, exitUsage, errs)
			}
			for _, w := range append([]string{bad + ": "}, tt.want...) {
				if !strings.Contains(errs, jsonEscaped(w)) {
					t.Errorf("error lacks %q:\n%s", w, errs)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a report was written")
			}
		})
	}
	// The summary as written merges.
	if code, _, errs := runBinary(t, "", "merge", "--quiet", "-o", out, good, good); code != exitOK {
		t.Errorf("the summary as written: exit %d: %s", code, errs)
	}
}

// jsonEscaped is s as it appears inside a JSON log line's message.
func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
