package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portclass/portclass/reports"
)

// TestAnalyzeAttempts checks the failed-attempts and sweeps sections on the sample
// capture, whose script has: SYNs to 8080 refused by 192.0.2.5, SNMP answered by ICMP
// port unreachable, syslog to 198.51.100.9 blocked by the gateway's ICMP admin
// prohibited, and a scanner (198.51.100.66) probing a dozen ports of 192.0.2.5 that a
// firewall drops.
func TestAnalyzeAttempts(t *testing.T) {
	code, out, stderr := runCLI(t, "analyze", "--quiet", "--format", "json", "--top", "0", "--sweep-ports", "10", testdata("sample.pcapng"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s reports.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	byServer := map[string]reports.Attempt{}
	for _, a := range s.Attempts {
		byServer[a.Proto+" "+a.Server] = a
	}
	check := func(key string, refused, unanswered, icmp uint64) reports.Attempt {
		t.Helper()
		a, ok := byServer[key]
		if !ok {
			t.Fatalf("no attempts entry for %s; have %v", key, keys(byServer))
		}
		if a.Refused != refused || a.Unanswered != unanswered || a.ICMPBlocked != icmp {
			t.Errorf("%s: refused/unanswered/icmp = %d/%d/%d, want %d/%d/%d", key, a.Refused, a.Unanswered, a.ICMPBlocked, refused, unanswered, icmp)
		}
		return a
	}
	check("udp 192.0.2.2:161", 0, 0, 1)
	check("udp 198.51.100.9:514", 0, 0, 1)
	a := check("tcp 192.0.2.5:8080", 3, 1, 0)
	if a.ClientCount != 2 || strings.Join(a.Clients, ",") != "192.0.2.105,198.51.100.66" {
		t.Errorf("8080 clients: %d %v", a.ClientCount, a.Clients)
	}
	// Every entry is consistent with the flow records it summarises.
	var failed uint64
	for _, r := range s.Flows {
		if r.Outcome.Failed() {
			failed++
		}
	}
	var listed uint64
	for _, a := range s.Attempts {
		listed += a.Failed()
		if a.Failed() == 0 {
			t.Errorf("%s %s: listed without failures", a.Proto, a.Server)
		}
	}
	if failed == 0 || listed != failed {
		t.Errorf("attempts list %d failed flows, the records have %d", listed, failed)
	}
	if len(s.Sweeps) != 1 || s.Sweeps[0].Client != "198.51.100.66" || s.Sweeps[0].Hosts != 1 || s.Sweeps[0].Ports < 10 {
		t.Errorf("sweeps = %+v, want the scanner 198.51.100.66 on 1 host and >= 10 ports", s.Sweeps)
	}
	// With Zeek's default port-scan threshold (15) the dozen probes are no sweep.
	_, out, _ = runCLI(t, "analyze", "--quiet", "--format", "json", testdata("sample.pcapng"))
	s = reports.Summary{}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Sweeps) != 0 {
		t.Errorf("sweeps with the default thresholds: %+v", s.Sweeps)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
