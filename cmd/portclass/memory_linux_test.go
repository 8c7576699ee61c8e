//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
)

// memoryCgroup makes a memory cgroup limited to limit bytes (v2 where the hierarchy
// delegates memory, else v1's memory controller) and returns a command that runs this
// test binary as portclass (see TestMain) inside it; it skips the test when that is
// not possible (not root, no memory controller).
func memoryCgroup(t *testing.T, limit int64) (run func(args ...string) *exec.Cmd, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to make a memory cgroup")
	}
	name := fmt.Sprintf("portclass-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	var limitFile string
	if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control"); err == nil && strings.Contains(string(b), "memory") {
		dir, limitFile = filepath.Join("/sys/fs/cgroup", name), "memory.max"
	} else if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		dir, limitFile = filepath.Join("/sys/fs/cgroup/memory", name), "memory.limit_in_bytes"
	} else {
		t.Skip("no memory cgroup controller to limit a process with")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) }) // once its processes are gone
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Skipf("cannot limit the cgroup: %v", err)
	}
	bin := plainBinary(t)
	return func(args ...string) *exec.Cmd {
		// The shell joins the cgroup, then becomes portclass.
		cmd := exec.Command("/bin/sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(dir, "cgroup.procs"), bin}, args...)...)
		cmd.Env = append(os.Environ(), "PORTCLASS_TEST_MAIN=1")
		return cmd
	}, dir
}

// plainBinary is the program to run as portclass where memory is measured or limited:
// this test binary (see TestMain), or, when it has the race detector, whose shadow
// memory would not fit, portclass built without it (once per test binary).
func plainBinary(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return os.Args[0]
	}
	return plain.get(t, "a portclass without the race detector, to measure memory", func(string) error { return nil }, ".")
}

var plain onceBuilt

// onceBuilt is a program the tests build once per test binary, into a directory
// removed when the tests are done.
type onceBuilt struct {
	once sync.Once
	path string
	err  error
}

// get builds the program on first use, after prepare wrote what it needs into the
// directory, with go build of pkg (from the package's directory: "." is portclass;
// a file name is a file of the directory), and skips the test when that fails.
func (b *onceBuilt) get(t *testing.T, what string, prepare func(dir string) error, pkg string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "portclass-test-")
		if err != nil {
			b.err = err
			return
		}
		afterTests = append(afterTests, func() { os.RemoveAll(dir) })
		if b.err = prepare(dir); b.err != nil {
			return
		}
		b.path = filepath.Join(dir, "bin")
		build := exec.Command("go", "build", "-o", b.path, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if pkg != "." {
			build.Dir = dir
			build.Env = append(build.Env, "GO111MODULE=off")
		}
		if out, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%v: %s", err, out)
		}
	})
	if b.err != nil {
		t.Skipf("go build (%s): %v", what, b.err)
	}
	return b.path
}

// TestAnalyzeDefaultMemoryBound: in a 96 MiB cgroup, the defaults of --max-flows and
// --spill-after come from what the cgroup leaves (their floors, 50,000 and 10,000), so
// that a capture with some 70,000 flows open at once runs in bounded memory (without
// being killed): the report counts the evicted and the spilled flows, and the log
// warns that the table was full. Without the memory defaults, the table held every
// flow and nothing said so.
func TestAnalyzeDefaultMemoryBound(t *testing.T) {
	run, dir := memoryCgroup(t, 96<<20)
	help, err := run("analyze", "--help").Output()
	if err != nil {
		t.Fatalf("analyze --help in the cgroup: %v", err)
	}
	defaults := map[string]int{}
	for _, m := range regexp.MustCompile(`--(max-flows|spill-after) int .*\(default (\d+)\)`).FindAllStringSubmatch(string(help), -1) {
		defaults[m[1]], _ = strconv.Atoi(m[2])
	}
	if defaults["max-flows"] != minMaxFlows || defaults["spill-after"] != minSpillAfter {
		t.Fatalf("defaults in a 96 MiB cgroup: %v, want max-flows %d and spill-after %d:\n%s", defaults, minMaxFlows, minSpillAfter, help)
	}

	path := filepath.Join(t.TempDir(), "many-open.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	s := synth.Scenario{Kind: synth.KindMix, Seed: 7, Packets: 400_000, Flows: 300_000} // ~70k flows, nearly all open at the end
	if err := synth.Write(w, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: capture.LinkEthernet, Snaplen: 96}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report.json")
	cmd := run("analyze", "--no-flows", "--temp-dir", t.TempDir(), "-o", out, path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("analyze in a 96 MiB cgroup: %v: %s", err, stderr.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "memory.max_usage_in_bytes")); err == nil {
		t.Logf("cgroup peak usage (page cache included): %s bytes", strings.TrimSpace(string(b)))
	}
	rep := loadFile(t, out)
	if rep.Totals.Flows <= uint64(minMaxFlows) || rep.Totals.EvictedFlows == 0 || rep.Totals.SpilledFlows < uint64(minSpillAfter) {
		t.Errorf("report: %d flows, %d evicted, %d spilled; want flows evicted beyond %d open and spilled beyond %d",
			rep.Totals.Flows, rep.Totals.EvictedFlows, rep.Totals.SpilledFlows, minMaxFlows, minSpillAfter)
	}
	if !strings.Contains(stderr.String(), "the flow table was full") || !strings.Contains(stderr.String(), `"max_flows":50000`) {
		t.Errorf("no warning that the flow table was full: %s", stderr.String())
	}
}
