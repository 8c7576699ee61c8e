package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/reports"
)

func loadDiff(t *testing.T, out string) *reports.Diff {
	t.Helper()
	var d reports.Diff
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("diff json: %v\n%.300s", err, out)
	}
	return &d
}

// TestDiffFirewallChange diffs the project's Veeam capture against the same job after
// a firewall change (pcapgen's veeam-after scenario) and checks the result against
// the changes the generator declares: each refused, dropped or ICMP-prohibited
// conversation is "blocked" with the right outcome, the removed one "gone", the added
// ones "new", and all the rest "same": the gateway's ICMP errors are no conversation
// of their own but show on the NTP flows they quote. Exit code 1. Reversed, the blocked conversations are "opened".
func TestDiffFirewallChange(t *testing.T) {
	before, after := testdata("veeam.pcap"), testdata("veeam-after.pcap")
	code, out, errs := runCLI(t, "diff", "--quiet", "--format", "json", before, after)
	if code != exitFindings {
		t.Fatalf("exit %d, want %d: %s", code, exitFindings, errs)
	}
	d := loadDiff(t, out)
	type key struct {
		proto, client, server string
		port                  uint16
	}
	entries := map[key]reports.DiffEntry{}
	for _, e := range d.Entries {
		entries[key{e.Proto, e.Client, e.Server, e.Port}] = e
	}
	wantChange := map[synth.ChangeKind]string{synth.ChangeRefused: reports.ChangeBlocked, synth.ChangeUnanswered: reports.ChangeBlocked,
		synth.ChangeProhibited: reports.ChangeBlocked, synth.ChangeGone: reports.ChangeGone, synth.ChangeNew: reports.ChangeNew}
	wantReach := map[synth.ChangeKind]string{synth.ChangeRefused: reports.ReachRefused, synth.ChangeUnanswered: reports.ReachUnanswered,
		synth.ChangeProhibited: reports.ReachICMP, synth.ChangeNew: reports.ReachEstablished}
	protoName := map[uint8]string{synth.ProtoTCP: "tcp", synth.ProtoUDP: "udp"}
	changes := synth.VeeamChanges()
	changedFacts := 0
	for _, c := range changes {
		k := key{protoName[c.Proto], c.Client.String(), c.Server.Addr().String(), c.Server.Port()}
		e, ok := entries[k]
		if !ok {
			t.Errorf("%s %v → %v (%s): not in the diff", c.Change, c.Client, c.Server, c.Meaning)
			continue
		}
		delete(entries, k)
		if e.Change != wantChange[c.Change] {
			t.Errorf("%v → %v: %s, want %s", c.Client, c.Server, e.Change, wantChange[c.Change])
		}
		if c.Change != synth.ChangeGone && (e.After == nil || e.After.Reach != wantReach[c.Change]) {
			t.Errorf("%v → %v: after %+v, want reach %s", c.Client, c.Server, e.After, wantReach[c.Change])
		}
		if c.Change != synth.ChangeNew {
			changedFacts++
			if e.Before == nil || e.Before.Reach != reports.ReachEstablished {
				t.Errorf("%v → %v: before %+v, want established", c.Client, c.Server, e.Before)
			}
		}
	}
	for k, e := range entries {
		t.Errorf("unexpected difference %+v: %s", k, e.Change)
	}
	if want := len(synth.VeeamFacts()) - changedFacts; d.Counts.Same != want {
		t.Errorf("%d conversations the same, want %d", d.Counts.Same, want)
	}
	if d.After.ICMPErrorFlows == 0 || d.Before.ICMPErrorFlows != 0 {
		t.Errorf("ICMP error flows: before %d, after %d; want the gateway's on the after side only", d.Before.ICMPErrorFlows, d.After.ICMPErrorFlows)
	}
	if d.Before.Kind != "capture" || d.After.Source != after || d.Counts.Differences != len(d.Entries) {
		t.Errorf("header: before %+v after %+v counts %+v", d.Before, d.After, d.Counts)
	}

	// reversed: what was blocked is opened
	code, out, _ = runCLI(t, "diff", "--quiet", "--format", "json", after, before)
	rev := loadDiff(t, out)
	if code != exitFindings || rev.Counts.Opened != d.Counts.Blocked || rev.Counts.Gone != d.Counts.New || rev.Counts.New != d.Counts.Gone {
		t.Errorf("reversed: exit %d, counts %+v (forward %+v)", code, rev.Counts, d.Counts)
	}
}

// TestDiffGolden: the text and Markdown diffs of the Veeam firewall change are stable;
// the text holds the one-line account a firewall admin reads.
func TestDiffGolden(t *testing.T) {
	for _, format := range []string{"text", "md"} {
		code, out, errs := runCLI(t, "diff", "--quiet", "--format", format, testdata("veeam.pcap"), testdata("veeam-after.pcap"))
		if code != exitFindings {
			t.Fatalf("exit %d: %s", code, errs)
		}
		out = strings.ReplaceAll(out, testdata(""), "testdata/")
		golden(t, "diff-veeam."+format+".golden", []byte(out))
		if format == "text" && !strings.Contains(out, "! tcp/6162 192.0.2.10 → 192.0.2.21: blocked, was SF ×1, now REJ ×3\n") {
			t.Errorf("no one-line account of the refused data mover:\n%s", out)
		}
	}
}

// TestDiffSources: a side may be a capture, a directory, a saved JSON summary (by
// content, whatever its name) or standard input; a capture against its own summary
// has no difference and exits 0.
func TestDiffSources(t *testing.T) {
	dir := t.TempDir()
	capDir := filepath.Join(dir, "captures")
	os.MkdirAll(capDir, 0o755)
	raw, _ := os.ReadFile(testdata("veeam.pcap"))
	os.WriteFile(filepath.Join(capDir, "veeam.pcap"), raw, 0o644)
	summary, _ := analyzeTo(t, dir, "veeam.json", nil, testdata("veeam.pcap"))
	oddName := filepath.Join(dir, "baseline.pcap") // a JSON summary with a capture's name
	js, _ := os.ReadFile(summary)
	os.WriteFile(oddName, js, 0o644)
	for _, args := range [][]string{
		{testdata("veeam.pcap"), summary},
		{summary, capDir},
		{oddName, testdata("veeam.pcap")},
	} {
		code, out, errs := runCLI(t, append([]string{"diff", "--quiet", "--format", "text"}, args...)...)
		if code != exitOK || !strings.Contains(out, "Differences: none") || !strings.Contains(out, "No differences.") {
			t.Errorf("diff %v: exit %d %s\n%s", args, code, errs, out)
		}
	}
	// standard input: a summary
	var stdout, stderr strings.Builder
	a := newApp(strings.NewReader(string(js)), &stdout, &stderr)
	root := a.rootCmd()
	root.SetArgs([]string{"diff", "--quiet", "--format", "json", "-", testdata("veeam-after.pcap")})
	err := root.Execute()
	var ee *exitError
	if !asExit(err, &ee) || ee.code != exitFindings {
		t.Fatalf("stdin summary: %v %s", err, stderr.String())
	}
	d := loadDiff(t, stdout.String())
	if d.Before.Kind != "summary" || d.Before.Source != "standard input" || d.Counts.Blocked != 4 {
		t.Errorf("stdin summary: before %+v counts %+v", d.Before, d.Counts)
	}
	// standard input: a capture
	stdout.Reset()
	a = newApp(strings.NewReader(string(raw)), &stdout, &stderr)
	root = a.rootCmd()
	root.SetArgs([]string{"diff", "--quiet", "--format", "json", testdata("veeam.pcap"), "-"})
	if err := root.Execute(); err != nil {
		t.Fatalf("stdin capture: %v %s", err, stderr.String())
	}
	if d := loadDiff(t, stdout.String()); d.After.Kind != "capture" || d.Counts.Differences != 0 || d.After.Flows == 0 {
		t.Errorf("stdin capture: after %+v counts %+v", d.After, d.Counts)
	}
}

// TestDiffOptions: --fail-on decides which differences make exit 1, --unchanged lists
// every conversation, --filter narrows both captures, -o picks the format from the
// extension, and ndjson/csv hold one line per conversation.
func TestDiffOptions(t *testing.T) {
	before, after := testdata("veeam.pcap"), testdata("veeam-after.pcap")
	for _, tt := range []struct {
		failOn string
		code   int
	}{{"opened", exitOK}, {"none", exitOK}, {"opened,gone", exitFindings}, {"blocked", exitFindings}} {
		code, out, errs := runCLI(t, "diff", "--quiet", "--format", "json", "--fail-on", tt.failOn, before, after)
		if code != tt.code || loadDiff(t, out).Counts.Blocked != 4 {
			t.Errorf("--fail-on %s: exit %d, want %d: %s", tt.failOn, code, tt.code, errs)
		}
	}
	t.Setenv("PORTCLASS_DIFF_FAIL_ON", "opened")
	if code, _, _ := runCLI(t, "diff", "--quiet", "--format", "json", before, after); code != exitOK {
		t.Errorf("PORTCLASS_DIFF_FAIL_ON=opened: exit %d", code)
	}
	os.Unsetenv("PORTCLASS_DIFF_FAIL_ON")

	_, out, _ := runCLI(t, "diff", "--quiet", "--format", "json", "--unchanged", before, after)
	all := loadDiff(t, out)
	if len(all.Entries) != all.Counts.Differences+all.Counts.Same {
		t.Errorf("--unchanged: %d entries, counts %+v", len(all.Entries), all.Counts)
	}

	_, out, _ = runCLI(t, "diff", "--quiet", "--format", "json", "--filter", "tcp port 6162", before, after)
	f := loadDiff(t, out)
	if len(f.Entries) != 1 || f.Entries[0].Port != 6162 || f.Entries[0].Change != reports.ChangeBlocked || f.Counts.Same != 2 {
		t.Errorf("--filter 'tcp port 6162': %+v %+v", f.Counts, f.Entries)
	}

	dir := t.TempDir()
	nd := filepath.Join(dir, "diff.ndjson")
	code, _, _ := runCLI(t, "diff", "--quiet", "-o", nd, before, after)
	b, _ := os.ReadFile(nd)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if code != exitFindings || len(lines) != len(all.Entries)-all.Counts.Same || !strings.HasPrefix(lines[0], `{"schema_version":1,"change":`) {
		t.Errorf("-o diff.ndjson: exit %d, %d lines: %.80s", code, len(lines), lines[0])
	}
	_, out, _ = runCLI(t, "diff", "--quiet", "--format", "csv", before, after)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != len(lines)+1 || rows[0][0] != "change" {
		t.Errorf("csv: %d rows, %v", len(rows), err)
	}
}

// TestDiffErrors: usage and input errors exit 2 with a message naming the cause, and
// write nothing.
func TestDiffErrors(t *testing.T) {
	dir := t.TempDir()
	noFlows, _ := analyzeTo(t, dir, "noflows.json", []string{"--no-flows"}, testdata("veeam.pcap"))
	summary, _ := analyzeTo(t, dir, "veeam.json", nil, testdata("veeam.pcap"))
	notCapture := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCapture, []byte("hello\n"), 0o644)
	badJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(badJSON, []byte(`{"schema_version": 1, "flows": [}`), 0o644)
	out := filepath.Join(dir, "diff.json")
	v := testdata("veeam.pcap")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no flows", []string{noFlows, v}, noFlows + ": summary written without its flow records (--no-flows)"},
		{"not a capture", []string{v, notCapture}, "notes.txt: not a pcap or pcapng file"},
		{"bad json", []string{badJSON, v}, "bad.json: read summary: at offset 32: invalid character '}'"},
		{"missing", []string{v, filepath.Join(dir, "nope.pcap")}, "nope.pcap"},
		{"one side", []string{v}, "accepts 2 arg(s)"},
		{"stdin twice", []string{"-", "-"}, "both \"-\""},
		{"filter on json", []string{"--filter", "tcp", v, summary}, "--filter applies to captures"},
		{"html", []string{"--format", "html", v, v}, `unknown report format "html" for a diff`},
		{"fail-on", []string{"--fail-on", "blocked,moved", v, v}, `--fail-on "moved"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCLI(t, append([]string{"diff", "--quiet", "-o", out}, tt.args...)...)
			if code != exitUsage || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, exitUsage, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a report was written")
			}
		})
	}
}
