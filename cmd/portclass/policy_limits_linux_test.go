//go:build linux

package main

import (
	"bufio"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portclass/portclass/classify/policy"
)

// TestVerifyPolicyLimits: a policy is at most 2 MiB and 10,000 rules. A 20 MB policy
// of 200,000 rules is refused before it is parsed, in under 50 MB (1.1 GB and 8 s
// before); one rule too many is refused naming the line; a policy at both limits is
// verified in under 250 MB.
func TestVerifyPolicyLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 20 MB policy")
	}
	dir := t.TempDir()
	rules := func(path string, n int, rule func(i int) string) int64 {
		return writeStreaming(t, path, func(w *bufio.Writer) {
			w.WriteString("version: 1\nrules:\n")
			for i := range n {
				w.WriteString(rule(i))
			}
		})
	}
	simple := func(i int) string {
		return fmt.Sprintf("  - {name: r%d, from: 10.%d.%d.%d, to: 192.0.2.%d, proto: tcp, ports: %d, expect: allowed}\n",
			i, i>>16&0xff, i>>8&0xff, i&0xff, i%250+1, 1000+i%60000)
	}
	large := filepath.Join(dir, "large.yaml")
	size := rules(large, 200_000, simple)
	capture := testdata("veeam.pcap")
	code, errs, rss := runMeasured(t, "verify", "--quiet", "--format", "json", "--policy", large, capture)
	want := fmt.Sprintf("%s: larger than the 2 MiB (%d bytes) a policy may have", large, policy.MaxBytes)
	if code != exitUsage || !strings.Contains(errs, want) {
		t.Errorf("a %d-byte policy: exit %d, %s; want %d and %q", size, code, errs, exitUsage, want)
	}
	if rss >= 50e6 {
		t.Errorf("a %.0f MB policy: peak RSS %.0f MB, want under 50 MB", float64(size)/1e6, float64(rss)/1e6)
	}

	many := filepath.Join(dir, "many.yaml")
	rules(many, policy.MaxRules+1, simple)
	code, errs, _ = runMeasured(t, "verify", "--quiet", "--format", "json", "--policy", many, capture)
	if want := many + ":3:3: rules: 10001 rules, more than the 10000 a policy may have"; code != exitUsage || !strings.Contains(errs, want) {
		t.Errorf("%d rules: exit %d, %s; want %d and %q", policy.MaxRules+1, code, errs, exitUsage, want)
	}

	// At both limits: the rules with the most YAML nodes for their bytes.
	full := filepath.Join(dir, "full.yaml")
	size = rules(full, policy.MaxRules, func(i int) string {
		from := make([]string, 7)
		for k := range from {
			from[k] = fmt.Sprintf("10.%d.%d.%d", k, i>>8&0xff, i&0xff)
		}
		return fmt.Sprintf("  - {name: r%d, from: [%s], to: [192.0.2.1, 192.0.2.2, 192.0.2.3], proto: tcp, ports: [443, 80, 22, 1, 2], expect: allowed}\n",
			i, strings.Join(from, ", "))
	})
	if size > policy.MaxBytes || size < policy.MaxBytes*9/10 {
		t.Fatalf("the policy at the limits has %d bytes", size)
	}
	code, errs, rss = runMeasured(t, "verify", "--quiet", "--format", "json", "--fail-on", "none", "--policy", full, capture)
	if code != exitOK {
		t.Errorf("a policy at the limits: exit %d: %s", code, errs)
	}
	if rss >= 250e6 {
		t.Errorf("a policy at the limits: peak RSS %.0f MB, want under 250 MB", float64(rss)/1e6)
	}
}
