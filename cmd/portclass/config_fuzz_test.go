package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/internal/corpus"
)

// configSeeds are portclass.yaml files: the README's example, the shapes the tests
// use, and broken ones (types, ranges, roles, addresses, YAML syntax, alias bombs).
var configSeeds = []string{
	`top: 20
timeouts: {tcp: 5m, udp: 1m, icmp: 1m, other: 1m}
ephemeral:
  linux: 32768-60999
  windows: 49152-65535
services:
  - {name: backup-agent, proto: tcp, ports: "7000-7010", description: in-house agent}
veeam:
  versions: ["12", "13"]
  data_mover_range: "2500-3300"
  ports: {backup-service: 9392}
inventory:
  backup-server: [192.0.2.10]
  repository-linux: [192.0.2.30/32]
`,
	"top: 2\nservices:\n  - {name: my-agent, proto: tcp, ports: \"49667\"}\n",
	"veeam:\n  versions: [\"12\", \"13\", \"pre-10-upgraded\"]\n",
	"services:\n  - {name: x, proto: tcpx, ports: \"1\"}\n",
	"ephemeral: {linux: 60999-32768}\n",
	"ephemeral: {odd: \"1-99999\"}\n",
	"inventory: {no-such-role: [192.0.2.1]}\n",
	"inventory: {backup-server: [not-an-address, 300.1.1.1/33]}\n",
	"veeam: {ports: {backup-service: 70000}, data_mover_range: \"3300-2500\"}\n",
	"veeam: {versions: [\"7\"]}\n",
	"timeouts: {tcp: -5m, udp: forever}\n",
	"top: -1\nworkers: -3\nmax-flows: -10\n",
	"spill-after: 1\nsweep-hosts: 0\nsweep-ports: -1\nno-flows: true\n",
	"spill-after: -1\nworkers: 2\nmax-flows: 1\n",
	"filter: \"tcp port\"\n",
	"log-level: loud\n",
	"services: {not: a list}\n",
	"top: [1, 2\n",
	"\t- tab indented\n",
	"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
	"",
}

// loadConfigFile runs what every command runs first, loadConfig with --config path,
// then builds the analysis pipeline from the result, as analyze does. It returns the
// app (for its configuration) and the error a user would see.
func loadConfigFile(path string) (*app, error) {
	a := newApp(strings.NewReader(""), io.Discard, io.Discard)
	root := a.rootCmd()
	cmd, _, err := root.Find([]string{"analyze"})
	if err != nil {
		return nil, err
	}
	if err := cmd.ParseFlags([]string{"--config", path}); err != nil {
		return nil, err
	}
	if err := a.loadConfig(cmd); err != nil {
		return a, err
	}
	if _, err := a.newPipeline(&a.cfg); err != nil {
		return a, err
	}
	return a, nil
}

// FuzzConfig fuzzes the configuration loader: portclass.yaml read by viper, decoded
// into Config, and turned into the pipeline (ephemeral ranges, user services, Veeam
// versions, ports and ranges, inventory, filter). Whatever the file holds, loading
// ends in a configuration or a usage error (exit 2) with a message; a configuration
// that loads must analyse a small capture without panicking. There is no policy file
// yet; its loader will need a target of its own.
func FuzzConfig(f *testing.F) {
	for _, s := range configSeeds {
		f.Add(s)
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "portclass.yaml")
	capturePath := corpus.Testdata(f, "formats", "pcap-le-usec.pcap")
	f.Fuzz(func(t *testing.T, yaml string) {
		if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := loadConfigFile(path)
		if err != nil {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage || err.Error() == "" {
				t.Fatalf("config error %T %q is not a usage error with a message", err, err)
			}
			return
		}
		// never let a fuzzed configuration write files outside the test's directory
		a.cfg.Output, a.cfg.Format, a.cfg.TempDir = "", "json", dir
		var out bytes.Buffer
		a.stdout = &out
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := a.analyze(ctx, []string{capturePath}); err != nil {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage {
				t.Fatalf("a configuration that loads made analyze fail: %v", err)
			}
			return
		}
		if out.Len() == 0 {
			t.Fatal("analyze wrote no report")
		}
	})
}

// TestConfigHostile: configuration files that are not YAML, alias bombs and huge
// files end in a usage error naming the problem, quickly and without much memory.
func TestConfigHostile(t *testing.T) {
	dir := t.TempDir()
	bomb := "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
	for i, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		prev := string(rune('a' + i))
		bomb += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 8) + "*" + prev + "]\n"
	}
	cases := []struct {
		name, content, want string
	}{
		{"billion laughs", bomb, "alias"},
		{"binary garbage", "\x00\x01\x02\xff\xfe", "config"},
		{"wrong type", "top: {a: 1}\n", "top"},
		{"deep nesting", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), "config"},
		{"unknown role", "inventory: {no-such-role: [192.0.2.1]}\n", "no-such-role"},
		{"bad address", "inventory: {backup-server: [300.1.1.1]}\n", "300.1.1.1"},
		{"inverted range", "ephemeral: {linux: 60999-32768}\n", "ephemeral.linux"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			_, err := loadConfigFile(path)
			runtime.ReadMemStats(&m1)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want a usage error mentioning %q, got %v", c.want, err)
			}
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 256<<20 {
				t.Errorf("loading allocated %d MiB", alloc>>20)
			}
		})
	}
}
