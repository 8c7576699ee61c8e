package main

import (
	"strings"
	"testing"
)

// TestMissingArgsUsage: a command that reads inputs, run without them, prints its usage
// line and an example (exit 2), not cobra's "requires at least 1 arg(s)".
func TestMissingArgsUsage(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		usage, sample string
	}{
		{[]string{"analyze"}, "Usage: portclass analyze FILE|DIR|- ...", "  portclass analyze backup-window.pcapng"},
		{[]string{"verify"}, "Usage: portclass verify FILE|DIR|- ... --policy POLICY.yaml", "  portclass verify --policy veeam-policy.yaml after-change.pcapng"},
		{[]string{"diff"}, "Usage: portclass diff BEFORE AFTER", "  portclass diff before.pcapng after.pcapng"},
		{[]string{"diff", "a", "b", "c"}, "Usage: portclass diff BEFORE AFTER", "  portclass diff before.pcapng after.pcapng"},
		{[]string{"merge"}, "Usage: portclass merge REPORT.json ...", "  # one report per sensor, then the whole site as text\n  portclass merge sensor-a.json sensor-b.json"},
		{[]string{"policy", "learn"}, "Usage: portclass policy learn FILE|DIR|- ...", "  portclass policy learn -o policy.yaml before-change.pcapng"},
	} {
		code, out, stderr := runCLI(t, tc.args...)
		if code != exitUsage || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want exit 2 and nothing on stdout", tc.args, code, out)
		}
		for _, want := range []string{tc.usage, "Example:\n", tc.sample + "\n"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%q: stderr lacks %q:\n%s", tc.args, want, stderr)
			}
		}
		if strings.Contains(stderr, "arg(s), only received") {
			t.Errorf("%q: cobra's message instead of the usage: %s", tc.args, stderr)
		}
	}
}
