package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigUnknownKeys: a key of portclass.yaml that portclass does not know is an
// error with the file, line and column and the closest keys, at any level.
func TestConfigUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"tpo: 5\n", []string{`portclass.yaml:1:1: unknown key "tpo" (did you mean top?)`}},
		{"top: 5\ncapture:\n  every: 1h\n  snaplenn: 10\n", []string{`portclass.yaml:4:3: unknown key "capture.snaplenn" (did you mean capture.snaplen?)`}},
		{"tcp-timeout: 5s\n", []string{`portclass.yaml:1:1: unknown key "tcp-timeout" (did you mean timeouts.tcp?)`}},
		{"services:\n  - {name: x, proto: tcp, ports: \"1\", descr: y}\n", []string{`portclass.yaml:2:39: unknown key "services[0].descr" (did you mean services[0].description?)`}},
		{"Top: 5\nverify: {fail-on: all}\nflter: tcp\n", []string{`portclass.yaml:3:1: unknown key "flter" (did you mean filter?)`}},
	} {
		path := filepath.Join(dir, "portclass.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, "analyze", "--quiet", "--format", "json", "--config", path, testdata("sample.pcapng"))
		if code != exitUsage {
			t.Errorf("%q: exit %d, want 2: %s", tc.yaml, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, filepath.Join(dir, w)) {
				t.Errorf("%q: stderr %q lacks %q", tc.yaml, stderr, w)
			}
		}
	}
	// Keys in any case, nested maps of any keys (ephemeral, inventory, veeam.ports) and
	// every documented key load.
	path := filepath.Join(dir, "portclass.yaml")
	good := "TOP: 3\nephemeral: {mine: 40000-40100}\nveeam: {ports: {backup-service: 9392}}\ninventory: {backup-server: [192.0.2.10]}\n" +
		"timeouts: {tcp: 5m}\ncapture: {interfaces: [lo], every: 1h, write-max-files: 3}\nverify: {fail-on: blocked}\nstrict: true\n"
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "analyze", "--quiet", "--format", "json", "--config", path, testdata("sample.pcapng")); code != exitOK {
		t.Errorf("a good configuration: exit %d: %s", code, stderr)
	}
}

// TestConfigValueSources: a value that does not decode, or makes no sense (a negative
// count, a zero timeout), is a usage error naming where it came from: the flag, the
// variable or the file and line.
func TestConfigValueSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "portclass.yaml")
	sample := testdata("sample.pcapng")
	for _, tc := range []struct {
		env, yaml string
		args      []string
		want      string
	}{
		{env: "PORTCLASS_TOP=abc", want: "PORTCLASS_TOP=abc: want a whole number"},
		{env: "PORTCLASS_TIMEOUTS_TCP=forever", want: "PORTCLASS_TIMEOUTS_TCP=forever: want a duration"},
		{env: "PORTCLASS_TIMEOUTS_UDP=0s", want: "PORTCLASS_TIMEOUTS_UDP=0s: want a duration above 0"},
		{yaml: "\ntop: abc\n", want: path + ":2: top: abc: want a whole number"},
		{yaml: "timeouts:\n  icmp: -5m\n", want: path + ":2: timeouts.icmp: -5m: want a duration above 0"},
		{yaml: "workers: -3\n", want: path + ":1: workers: -3: want 0 (every core) or more"},
		{args: []string{"--top", "-1"}, want: "--top -1: want 0 (every entry) or more"},
		{args: []string{"--tcp-timeout", "-5s"}, want: "--tcp-timeout -5s: want a duration above 0"},
		{args: []string{"--workers", "-3"}, want: "--workers -3: want 0 (every core) or more"},
		{args: []string{"--spill-after", "0"}, want: "--spill-after 0: want 1 or more"},
		{args: []string{"--max-flows", "-1"}, want: "--max-flows -1: want 0"},
		{args: []string{"--sweep-hosts", "0"}, want: "--sweep-hosts 0: want 1 or more"},
		{args: []string{"--sweep-ports", "-1"}, want: "--sweep-ports -1: want 1 or more"},
		{args: []string{"--html-max-flows", "-1"}, want: "--html-max-flows -1: want 0 (every flow) or more"},
		{args: []string{"--udp-timeout", "0s"}, want: "--udp-timeout 0s: want a duration above 0"},
		// the flag wins over the variable, and is named
		{env: "PORTCLASS_TOP=5", args: []string{"--top", "-2"}, want: "--top -2: want 0"},
	} {
		if tc.env != "" {
			k, v, _ := strings.Cut(tc.env, "=")
			t.Setenv(k, v)
		}
		args := []string{"analyze", "--quiet", "--format", "json"}
		if tc.yaml != "" {
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--config", path)
		}
		code, out, stderr := runCLI(t, append(append(args, tc.args...), sample)...)
		if code != exitUsage || out != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s %q %q: exit %d, %q; want exit 2 and %q", tc.env, tc.yaml, tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "decoding failed") {
			t.Errorf("%s %q %q: viper's message: %s", tc.env, tc.yaml, tc.args, stderr)
		}
		if tc.env != "" {
			k, _, _ := strings.Cut(tc.env, "=")
			os.Unsetenv(k)
		}
	}
	// 0 where it means something: --top 0 (every entry), --workers 0 (every core),
	// --max-flows 0 (no bound), --html-max-flows 0 (every flow).
	for _, args := range [][]string{{"--top", "0"}, {"--workers", "0"}, {"--max-flows", "0"}, {"--html-max-flows", "0"}} {
		if code, _, stderr := runCLI(t, append(append([]string{"analyze", "--quiet", "--format", "json"}, args...), sample)...); code != exitOK {
			t.Errorf("%q: exit %d: %s", args, code, stderr)
		}
	}
}
