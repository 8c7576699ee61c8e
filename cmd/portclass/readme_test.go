package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The README's examples of output are made by TestREADMESamples from what portclass
// prints, so that they cannot drift from it. A sample is a fenced block right after a
// marker line
//
//	<!-- sample: ARGS [| OPTION: VALUE]... -->
//
// whose content is "$ portclass ARGS" (none in a json block) and the standard output of
// portclass ARGS run from the repository's root, as on a terminal (text, unless ARGS
// says --format), cut by the options:
//
//	sections: A, B   text reports: only the sections whose title starts so ("overview":
//	                 the header's values); the title and the rest are left out
//	rows: N          with sections: at most N rows of each table (a row with what goes
//	                 under it) and N notes, then "  ..." (not the overview)
//	lines: 1-7, 12-20  only these lines (1-based), "..." for what was left out
//	grep: TEXT       only the lines that hold TEXT
//
// A sample cut so says "(trimmed)" after its command line. `go test ./cmd/portclass
// -run TestREADMESamples -update` (or make readme) rewrites the blocks; review git diff.

type readmeSample struct {
	line  int // of the marker, 1-based
	args  []string
	opts  map[string]string
	lang  string // of the fence: "", "json", ...
	start int    // index in the README's lines of the block's first content line
	end   int    // index of its closing fence
}

// readmeSamples finds the marked samples of the README's lines.
func readmeSamples(t *testing.T, lines []string) []readmeSample {
	t.Helper()
	var out []readmeSample
	for i, l := range lines {
		spec, ok := strings.CutPrefix(l, "<!-- sample: ")
		if !ok {
			continue
		}
		spec, ok = strings.CutSuffix(spec, " -->")
		if !ok {
			t.Fatalf("README.md:%d: a sample marker ends with \" -->\"", i+1)
		}
		parts := strings.Split(spec, " | ")
		s := readmeSample{line: i + 1, args: splitArgs(t, parts[0]), opts: map[string]string{}}
		for _, p := range parts[1:] {
			k, v, ok := strings.Cut(p, ": ")
			if !ok || !slices.Contains([]string{"sections", "rows", "lines", "grep"}, k) {
				t.Fatalf("README.md:%d: %q is not an option (sections, rows, lines, grep)", i+1, p)
			}
			s.opts[k] = v
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Fatalf("README.md:%d: the marker is not followed by a fenced block", i+1)
		}
		s.lang, s.start = strings.TrimPrefix(lines[i+1], "```"), i+2
		for s.end = s.start; s.end < len(lines) && lines[s.end] != "```"; s.end++ {
		}
		if s.end == len(lines) {
			t.Fatalf("README.md:%d: the block is not closed", i+1)
		}
		out = append(out, s)
	}
	return out
}

// splitArgs splits a command line at spaces, but not inside single quotes.
func splitArgs(t *testing.T, s string) []string {
	var args []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, any = !quoted, true
		case r == ' ' && !quoted:
			if any {
				args = append(args, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if any {
		args = append(args, cur.String())
	}
	return args
}

// render runs the sample's command and cuts its output as its options say.
func (s *readmeSample) render(t *testing.T) []string {
	t.Helper()
	args := slices.Clone(s.args)
	if slices.Contains([]string{"analyze", "verify", "diff", "merge"}, args[0]) && !slices.Contains(args, "--format") {
		args = append(args, "--format", "text") // what a terminal gets
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "PORTCLASS_TEST_MAIN=1", "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > exitFindings {
			t.Fatalf("README.md:%d: portclass %s: %v: %s", s.line, strings.Join(s.args, " "), err, stderr.String())
		}
	}
	out := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	trimmed := false
	if v, ok := s.opts["sections"]; ok {
		rows := -1
		if r, ok := s.opts["rows"]; ok {
			var err error
			if rows, err = strconv.Atoi(r); err != nil {
				t.Fatalf("README.md:%d: rows: %v", s.line, err)
			}
		}
		out, trimmed = sectionsOf(t, s.line, out, strings.Split(v, ", "), rows), true
	}
	if v, ok := s.opts["lines"]; ok {
		out, trimmed = linesOf(t, s.line, out, v), true
	}
	if v, ok := s.opts["grep"]; ok {
		var kept []string
		for _, l := range out {
			if strings.Contains(l, v) {
				kept = append(kept, l)
			}
		}
		if len(kept) == 0 {
			t.Fatalf("README.md:%d: no line holds %q", s.line, v)
		}
		out, trimmed = kept, true
	}
	if s.lang == "json" {
		return out
	}
	head := "$ portclass " + strings.Join(quoteArgs(s.args), " ")
	if trimmed {
		head += "   (trimmed)"
	}
	return append([]string{head}, out...)
}

// quoteArgs quotes the arguments that hold spaces, as the marker wrote them.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.ContainsAny(a, " *|") {
			out[i] = "'" + a + "'"
		}
	}
	return out
}

// sectionsOf keeps the named blocks (separated by blank lines) of a text report, each
// with at most rows rows and notes (rows < 0: all).
func sectionsOf(t *testing.T, line int, out, names []string, rows int) []string {
	var blocks [][]string
	var cur []string
	for _, l := range append(out, "") {
		if l == "" {
			if len(cur) > 0 {
				blocks = append(blocks, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, l)
	}
	var kept []string
	for _, name := range names {
		found := false
		for i, b := range blocks {
			if (name == "overview" && i == 1) || (name != "overview" && strings.HasPrefix(b[0], name)) {
				if len(kept) > 0 {
					kept = append(kept, "")
				}
				if name == "overview" {
					kept = append(kept, b...)
				} else {
					kept = append(kept, cutRows(b, rows)...)
				}
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("README.md:%d: no section %q in the output", line, name)
		}
	}
	return kept
}

// cutRows keeps a section's title, its table's header and at most rows rows (each
// with the lines under it) and notes.
func cutRows(b []string, rows int) []string {
	if rows < 0 || len(b) < 3 {
		return b
	}
	out := b[:2]
	n, notes, cut := 0, 0, false
	for _, l := range b[2:] {
		switch {
		case strings.HasPrefix(l, "  ! "):
			notes++
			if notes > rows {
				cut = true
				continue
			}
		case strings.HasPrefix(l, "    "): // under its row: goes with it
			if n > rows {
				continue
			}
		default:
			n++
			if n > rows {
				cut = true
				continue
			}
		}
		out = append(out, l)
	}
	if cut {
		out = append(out, "  ...")
	}
	return out
}

// linesOf keeps the lines of ranges "1-7, 12-20", with "..." where lines were left out.
func linesOf(t *testing.T, line int, out []string, ranges string) []string {
	var kept []string
	next := 1
	for _, r := range strings.Split(ranges, ", ") {
		a, b, _ := strings.Cut(r, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || lo < next || hi < lo || hi > len(out) {
			t.Fatalf("README.md:%d: lines %q: want ascending ranges within the %d lines of output", line, r, len(out))
		}
		if lo > next {
			kept = append(kept, "...")
		}
		kept = append(kept, out[lo-1:hi]...)
		next = hi + 1
	}
	if next <= len(out) {
		kept = append(kept, "...")
	}
	return kept
}

// TestREADMESamples (issue 17, item 5): every marked sample of the README is what
// portclass prints today; -update rewrites them.
func TestREADMESamples(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	samples := readmeSamples(t, lines)
	if len(samples) < 7 {
		t.Fatalf("README.md has %d marked samples; the analyze, ndjson, diff, Veeam hosts, verify, learn and rules examples are all marked", len(samples))
	}
	var out []string
	prev := 0
	for i := range samples {
		s := &samples[i]
		got := s.render(t)
		if want := lines[s.start:s.end]; !slices.Equal(got, want) && !*update {
			t.Errorf("README.md:%d: the sample of portclass %s differs from its output (go test ./cmd/portclass -run TestREADMESamples -update, or make readme):\n%s",
				s.line, strings.Join(s.args, " "), firstDiff(strings.Join(want, "\n"), strings.Join(got, "\n")))
		}
		out = append(append(out, lines[prev:s.start]...), got...)
		prev = s.end
	}
	out = append(out, lines[prev:]...)
	if *update {
		if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoFlowsHelp (issue 17, item 5): --no-flows's help says what it does to each
// format, and it does that: json keeps the breakdowns only, ndjson and csv are empty,
// html has no flow table, text and md are unchanged (they never list flows).
func TestNoFlowsHelp(t *testing.T) {
	_, help, _ := runCLI(t, "analyze", "--help")
	i := strings.Index(help, "--no-flows")
	if i < 0 {
		t.Fatal("analyze --help has no --no-flows")
	}
	line := strings.Join(strings.Fields(strings.SplitN(help[i:], "\n      --", 2)[0]), " ")
	for _, want := range []string{"json keeps the breakdowns only", "ndjson and csv are empty", "html has no flow table", "text and md never list flows"} {
		if !strings.Contains(line, want) {
			t.Errorf("--no-flows help %q does not say %q", line, want)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, append([]string{"analyze", "-q", testdata("veeam.pcap")}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return out
	}
	for _, f := range []string{"text", "md"} {
		if run("--format", f, "--no-flows") != run("--format", f) {
			t.Errorf("--no-flows changes the %s report", f)
		}
	}
	if out := run("--format", "json", "--no-flows"); !strings.Contains(out, `"flows": []`) || !strings.Contains(out, `"veeam_rules": [`) {
		t.Errorf("--no-flows json: not the breakdowns without records")
	}
	if out := run("--format", "ndjson", "--no-flows"); out != "" {
		t.Errorf("--no-flows ndjson: %d bytes", len(out))
	}
	if out := run("--format", "csv", "--no-flows"); strings.Count(out, "\n") != 1 {
		t.Errorf("--no-flows csv: more than the header: %q", out)
	}
	if out := run("--format", "html", "--no-flows"); !strings.Contains(out, "written without its flow records") || strings.Contains(out, `id="flow-table"`) {
		t.Errorf("--no-flows html: a flow table")
	}
}
