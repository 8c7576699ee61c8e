package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports"
)

// analyzeTo runs analyze on inputs with the extra arguments and writes the JSON
// summary to a file in dir; it returns the file's path and the loaded summary.
func analyzeTo(t *testing.T, dir, name string, extra []string, inputs ...string) (string, *reports.Summary) {
	t.Helper()
	out := filepath.Join(dir, name)
	args := append(append([]string{"analyze", "--quiet", "-o", out}, extra...), inputs...)
	if code, _, errs := runCLI(t, args...); code != exitOK {
		t.Fatalf("analyze %v: exit %d: %s", inputs, code, errs)
	}
	return out, loadFile(t, out)
}

func loadFile(t *testing.T, path string) *reports.Summary {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := reports.LoadSummary(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// TestMergeMatchesAnalyze analyses the project's two captures separately, merges the
// two JSON summaries and compares the result with analyze of both captures at once.
// Everything must be identical except what per-capture Veeam inference cannot know:
// a flow may have other Veeam rules (and flags) only when one of its hosts has other
// roles in its own capture's summary than in the joint one, and the Veeam rules and
// ephemeral breakdowns follow those flows.
func TestMergeMatchesAnalyze(t *testing.T) {
	dir := t.TempDir()
	sample, veeam := testdata("sample.pcapng"), testdata("veeam.pcap")
	aPath, a := analyzeTo(t, dir, "a.json", nil, sample)
	bPath, b := analyzeTo(t, dir, "b.json", nil, veeam)
	_, joint := analyzeTo(t, dir, "joint.json", nil, sample, veeam)

	out := filepath.Join(dir, "merged.json")
	code, _, errs := runCLI(t, "merge", "--quiet", "-o", out, aPath, bPath)
	if code != exitOK {
		t.Fatalf("merge: exit %d: %s", code, errs)
	}
	m := loadFile(t, out)

	if !reflect.DeepEqual(m.Totals, joint.Totals) || !reflect.DeepEqual(m.Inputs, joint.Inputs) ||
		!reflect.DeepEqual(m.Protocols, joint.Protocols) || !reflect.DeepEqual(m.PortClasses, joint.PortClasses) ||
		!reflect.DeepEqual(m.Services, joint.Services) || !reflect.DeepEqual(m.ServerPorts, joint.ServerPorts) ||
		!reflect.DeepEqual(m.Talkers, joint.Talkers) || !reflect.DeepEqual(m.States, joint.States) || m.Top != joint.Top ||
		!reflect.DeepEqual(m.Attempts, joint.Attempts) || !reflect.DeepEqual(m.Sweeps, joint.Sweeps) || len(m.Attempts) == 0 {
		t.Errorf("merged breakdowns differ from analyze of both captures")
	}
	if len(m.Flows) != len(joint.Flows) {
		t.Fatalf("%d merged flows, %d joint", len(m.Flows), len(joint.Flows))
	}
	rolesIn := func(s *reports.Summary) map[string]string {
		out := map[string]string{}
		for _, h := range s.Hosts {
			var rs []string
			for _, r := range h.Roles {
				rs = append(rs, r.Role)
			}
			out[h.Addr] = strings.Join(rs, ",")
		}
		return out
	}
	jointRoles, own := rolesIn(joint), map[string]map[string]string{a.Inputs[0].Path: rolesIn(a), b.Inputs[0].Path: rolesIn(b)}
	differ := 0
	for i := range m.Flows {
		mf, jf := m.Flows[i], joint.Flows[i]
		mf.Veeam, jf.Veeam, mf.Flags, jf.Flags = nil, nil, classify.Flags{}, classify.Flags{}
		if !reflect.DeepEqual(mf, jf) {
			t.Fatalf("flow %d differs beyond Veeam rules:\n merged %+v\n joint  %+v", i, m.Flows[i], joint.Flows[i])
		}
		if reflect.DeepEqual(m.Flows[i], joint.Flows[i]) {
			continue
		}
		differ++
		f := &m.Flows[i]
		roles := own[f.Input]
		c, s := f.Client.Addr().String(), f.Server.Addr().String()
		if roles[c] == jointRoles[c] && roles[s] == jointRoles[s] {
			t.Errorf("flow %s %s → %s: Veeam rules %v merged, %v joint, although its hosts have the same roles (%q, %q)",
				capture.ProtoName(f.Proto), f.Client, f.Server, f.Veeam, joint.Flows[i].Veeam, roles[c], roles[s])
		}
	}
	t.Logf("%d of %d flows have other Veeam rules in the joint analysis", differ, len(m.Flows))
	if !slices.EqualFunc(m.Hosts, joint.Hosts, func(x, y reports.Host) bool { return x.Addr == y.Addr }) {
		t.Errorf("merged hosts %v, joint %v", m.Hosts, joint.Hosts)
	}

	// The order of the summaries does not matter, and other formats work.
	code, ba, _ := runCLI(t, "merge", "--quiet", "--format", "json", bPath, aPath)
	raw, _ := os.ReadFile(out)
	if code != exitOK || ba != string(raw) {
		t.Errorf("merge b a differs from merge a b (exit %d)", code)
	}
	code, md, errs := runCLI(t, "merge", "--quiet", "--format", "md", "--top", "3", aPath, bPath)
	if code != exitOK || !strings.Contains(md, "## Top talkers (top 3)") {
		t.Errorf("merge --format md --top 3: exit %d %s", code, errs)
	}
	// A summary of a summary merges again: merging the merged report with nothing new
	// changes nothing.
	code, again, _ := runCLI(t, "merge", "--quiet", "--format", "json", out)
	if code != exitOK || again != string(raw) {
		t.Errorf("merging one merged summary changes it (exit %d)", code)
	}
}

// TestMergeErrors: every refusal names the file and says why, exits 2 and writes
// nothing.
func TestMergeErrors(t *testing.T) {
	dir := t.TempDir()
	good, _ := analyzeTo(t, dir, "good.json", nil, testdata("sample.pcapng"))
	noFlows, _ := analyzeTo(t, dir, "noflows.json", []string{"--no-flows"}, testdata("veeam.pcap"))
	raw, _ := os.ReadFile(good)
	broken := filepath.Join(dir, "broken.json")
	brokenJSON := `{"schema_version": 1, "generator": "portclass", "totals": oops}`
	os.WriteFile(broken, []byte(brokenJSON), 0o644)
	wrongType := filepath.Join(dir, "type.json")
	os.WriteFile(wrongType, []byte(`{"schema_version": 1, "totals": {"flows": "many"}}`), 0o644)
	v2 := filepath.Join(dir, "v2.json")
	os.WriteFile(v2, []byte(strings.Replace(string(raw), `"schema_version": 1`, `"schema_version": 2`, 1)), 0o644)
	out := filepath.Join(dir, "out.json")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no flows", []string{good, noFlows}, []string{noFlows, "without its flow records (--no-flows)", "rerun analyze without --no-flows"}},
		{"syntax", []string{good, broken}, []string{broken, "in totals, the value after offset " + strconv.Itoa(strings.Index(brokenJSON, ": oops")) + ": invalid character 'o'"}},
		{"type", []string{wrongType}, []string{wrongType, "at offset 48, field totals.flows"}},
		{"version", []string{v2, good}, []string{v2, "unsupported schema_version 2"}},
		{"capture", []string{good, testdata("veeam.pcap")}, []string{"veeam.pcap: a capture, not a JSON summary: analyze it first"}},
		{"missing", []string{good, filepath.Join(dir, "nope.json")}, []string{"nope.json", "no such file"}},
		{"directory", []string{dir}, []string{dir + ": a directory"}},
		{"stdin twice", []string{"-", "-"}, []string{`"-" given twice`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCLI(t, append([]string{"merge", "--quiet", "-o", out}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("error %q lacks %q", errs, w)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a report was written")
			}
		})
	}
}
