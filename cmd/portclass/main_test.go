package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/reports"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// runCLI runs the command line in-process and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errb)
	root := a.rootCmd()
	root.SetArgs(args)
	code := exitOK
	if err := root.ExecuteContext(context.Background()); err != nil {
		errb.WriteString(err.Error())
		code = exitUsage
		var ee *exitError
		if ok := asExit(err, &ee); ok {
			code = ee.code
		}
	}
	return code, out.String(), errb.String()
}

func asExit(err error, target **exitError) bool {
	for err != nil {
		if e, ok := err.(*exitError); ok {
			*target = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func testdata(name string) string { return filepath.Join("..", "..", "testdata", name) }

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/portclass -update)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d; rerun with -update and review git diff:\n- %s\n+ %s", path, i+1, w, g)
			}
		}
	}
}

// TestAnalyzeGolden: the text and JSON reports of the bundled sample capture, which
// the project generated itself (make testdata), are stable.
func TestAnalyzeGolden(t *testing.T) {
	for _, format := range []string{"text", "json", "md", "csv", "html"} {
		t.Run(format, func(t *testing.T) {
			code, out, errs := runCLI(t, "analyze", "--quiet", "--format", format, testdata("sample.pcapng"))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			// the input path is as given on the command line; keep the golden file portable
			out = strings.ReplaceAll(out, testdata(""), "testdata/")
			golden(t, "sample."+format+".golden", []byte(out))
		})
	}
}

func TestAnalyzeJSONContract(t *testing.T) {
	code, out, errs := runCLI(t, "analyze", "--quiet", "--format", "json", testdata("sample.pcapng"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	s, err := reports.LoadSummary(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if s.SchemaVersion != 1 || len(s.Flows) == 0 || uint64(len(s.Flows)) != s.Totals.Flows || len(s.Inputs) != 1 {
		t.Fatalf("summary: schema %d, %d flows, totals %+v", s.SchemaVersion, len(s.Flows), s.Totals)
	}
	var raw map[string]any
	json.Unmarshal([]byte(out), &raw)
	flows := raw["flows"].([]any)
	want := []string{"proto", "client", "server", "vlan", "direction", "state", "first", "last", "packets_to_server",
		"packets_to_client", "bytes_to_server", "bytes_to_client", "port_class", "service", "flags", "icmp_errors", "input", "veeam"}
	for _, k := range want {
		if _, ok := flows[0].(map[string]any)[k]; !ok {
			t.Errorf("flow record lacks %q", k)
		}
	}
	for _, k := range []string{"schema_version", "totals", "inputs", "port_classes", "flows", "protocols", "services", "server_ports", "talkers", "ephemeral", "states", "hosts"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	// ndjson: the same records, one per line, each with its schema version
	code, nd, _ := runCLI(t, "analyze", "--quiet", "--format", "ndjson", testdata("sample.pcapng"))
	lines := strings.Split(strings.TrimSpace(nd), "\n")
	if code != 0 || len(lines) != len(s.Flows) || !strings.HasPrefix(lines[0], `{"schema_version":1,`) {
		t.Fatalf("ndjson: exit %d, %d lines for %d flows: %.80s", code, len(lines), len(s.Flows), lines[0])
	}
}

func TestAnalyzeBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "notes.pcap")
	os.WriteFile(bad, []byte("this is not a capture\n"), 0o644)
	out := filepath.Join(dir, "report.json")
	code, _, errs := runCLI(t, "analyze", "--quiet", "-o", out, testdata("sample.pcapng"), bad)
	if code != exitUsage || !strings.Contains(errs, bad+": not a pcap or pcapng file (first bytes 0x7468697320697320)") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a report was written for bad input")
	}
	code, _, errs = runCLI(t, "analyze", filepath.Join(dir, "missing.pcap"))
	if code != exitUsage || !strings.Contains(errs, "missing.pcap") {
		t.Fatalf("missing file: exit %d %q", code, errs)
	}
	code, _, errs = runCLI(t, "analyze", "--format", "xml", testdata("sample.pcapng"))
	if code != exitUsage || !strings.Contains(errs, "json") {
		t.Fatalf("bad format: exit %d %q", code, errs)
	}
	code, _, _ = runCLI(t, "analyze", "--no-such-flag", testdata("sample.pcapng"))
	if code != exitUsage {
		t.Fatalf("unknown flag: exit %d", code)
	}
}

// TestAnalyzeTruncated: a capture cut in the middle of a packet is reported up to the
// damage, marked truncated with the offset, exit 0.
func TestAnalyzeTruncated(t *testing.T) {
	data, err := os.ReadFile(testdata("sample.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcapng")
	os.WriteFile(cut, data[:len(data)*2/3], 0o644)
	code, out, errs := runCLI(t, "analyze", "--format", "json", cut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	s, err := reports.LoadSummary(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	in := s.Inputs[0]
	if !in.Truncated || in.TruncatedAt <= 0 || in.TruncatedAt > int64(len(data)*2/3) || in.Packets == 0 || len(in.Warnings) == 0 {
		t.Fatalf("truncated input: %+v", in)
	}
	if !strings.Contains(errs, "truncated") {
		t.Errorf("no warning on stderr: %q", errs)
	}
}

// TestOutputAtomicAndConfig: -o picks the format from the extension; configuration
// comes from PORTCLASS_* variables and portclass.yaml, flags winning.
func TestOutputAtomicAndConfig(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.ndjson")
	t.Setenv("PORTCLASS_TOP", "3")
	code, _, errs := runCLI(t, "analyze", "--quiet", "-o", out, testdata("sample.pcapng"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(b), `{"schema_version":1,"proto"`) {
		t.Fatalf("-o .ndjson wrote %.60q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("stray files next to the report: %v", entries)
	}
	_, js, _ := runCLI(t, "analyze", "--quiet", "--format", "json", testdata("sample.pcapng"))
	s, _ := reports.LoadSummary(strings.NewReader(js))
	if len(s.Talkers) != 3 {
		t.Errorf("PORTCLASS_TOP=3 gave %d talkers", len(s.Talkers))
	}
	cfg := filepath.Join(dir, "portclass.yaml")
	os.WriteFile(cfg, []byte("top: 2\nservices:\n  - {name: my-agent, proto: tcp, ports: \"49667\"}\n"), 0o644)
	t.Setenv("PORTCLASS_TOP", "")
	os.Unsetenv("PORTCLASS_TOP")
	_, js, errs = runCLI(t, "analyze", "--quiet", "--config", cfg, "--format", "json", testdata("sample.pcapng"))
	s, err := reports.LoadSummary(strings.NewReader(js))
	if err != nil {
		t.Fatalf("%v %s", err, errs)
	}
	if len(s.Talkers) != 2 {
		t.Errorf("config top: 2 gave %d talkers", len(s.Talkers))
	}
	found := false
	for _, f := range s.Flows {
		if f.Server.Port() == 49667 && f.Service == "my-agent" {
			found = true
		}
	}
	if !found {
		t.Errorf("user-defined service from the config file not applied")
	}
	_, js, _ = runCLI(t, "analyze", "--quiet", "--config", cfg, "--top", "4", "--format", "json", testdata("sample.pcapng"))
	s, _ = reports.LoadSummary(strings.NewReader(js))
	if len(s.Talkers) != 4 {
		t.Errorf("--top 4 over config top: 2 gave %d talkers", len(s.Talkers))
	}
	os.WriteFile(cfg, []byte("services:\n  - {name: x, proto: tcpx, ports: \"1\"}\n"), 0o644)
	code, _, errs = runCLI(t, "analyze", "--config", cfg, testdata("sample.pcapng"))
	if code != exitUsage || !strings.Contains(errs, "services[0]") {
		t.Errorf("bad config: exit %d %q", code, errs)
	}
}

// TestAnalyzeFilter: --filter keeps only matching packets; a bad expression is a
// usage error naming the column, before any input is read.
func TestAnalyzeFilter(t *testing.T) {
	code, out, errs := runCLI(t, "analyze", "--quiet", "--format", "json", "--filter", "udp and port 53", testdata("sample.pcapng"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	s, err := reports.LoadSummary(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Flows) == 0 || s.Inputs[0].Filtered == 0 {
		t.Fatalf("filter kept %d flows, filtered %d packets", len(s.Flows), s.Inputs[0].Filtered)
	}
	for _, f := range s.Flows {
		if f.Proto != capture.ProtoUDP || (f.Server.Port() != 53 && f.Client.Port() != 53) {
			t.Errorf("flow %s %s -> %s passed 'udp and port 53'", capture.ProtoName(f.Proto), f.Client, f.Server)
		}
	}
	code, _, errs = runCLI(t, "analyze", "--filter", "tcp port", testdata("sample.pcapng"))
	if code != exitUsage || !strings.Contains(errs, "column") {
		t.Fatalf("bad filter: exit %d, %q", code, errs)
	}
}

// TestConfigSyntaxErrorNamesFile checks that a configuration file that is not YAML is
// reported with its path, whether given with --config or found in the search path.
func TestConfigSyntaxErrorNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "portclass.yaml")
	if err := os.WriteFile(path, []byte("top: [1,\n  workers: ]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "analyze", "--quiet", "--config", path, testdata("sample.pcapng"))
	if code != exitUsage || !strings.Contains(stderr, path) {
		t.Errorf("--config with a YAML error: exit %d, stderr %q; want exit 2 naming %s", code, stderr, path)
	}
	sample, err := filepath.Abs(testdata("sample.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, _, stderr = runCLI(t, "analyze", "--quiet", sample)
	if code != exitUsage || !strings.Contains(stderr, "portclass.yaml") {
		t.Errorf("./portclass.yaml with a YAML error: exit %d, stderr %q; want exit 2 naming the file", code, stderr)
	}
}
