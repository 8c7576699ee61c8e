package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tinyFS mounts a tmpfs of size (mount(8)'s -o size=) with extra options on a new
// directory and returns it; it skips the test when that is not possible (not root).
func tinyFS(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs -o %s: %v: %s", opts, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// outputArgs are command lines of every command that reads inputs and writes -o, for
// an output path out.
func outputArgs(out string) [][]string {
	sample, veeam := testdata("sample.pcapng"), testdata("veeam-firewall.pcap")
	policy := testdata("veeam-firewall.policy.yaml")
	return [][]string{
		{"analyze", "-o", out, sample},
		{"verify", "--policy", policy, "-o", out, veeam},
		{"policy", "learn", "-o", out, sample},
		{"diff", "-o", out, sample, veeam},
		{"policy", "rules", "--policy", policy, "-o", out},
	}
}

// TestOutputCheckedFirst: an -o that cannot be written (no such directory, a directory
// where no file can be created, a directory as the file) stops every command before it
// reads anything, exit 2, with one message naming the path once and no temporary name.
func TestOutputCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.json")
	if code, _, stderr := runCLI(t, "analyze", "--quiet", "-o", summary, testdata("sample.pcapng")); code != exitOK {
		t.Fatalf("analyze: exit %d: %s", code, stderr)
	}
	if err := os.Mkdir(filepath.Join(dir, "isdir.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		readOnly = tinyFS(t, "ro,size=64k")
	} else if err := os.Chmod(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		out, want string
	}{
		{filepath.Join(dir, "missing", "r.json"), "directory " + filepath.Join(dir, "missing") + " does not exist"},
		{filepath.Join(readOnly, "r.json"), "cannot create a file in " + readOnly},
		{filepath.Join(dir, "isdir.json"), "is a directory"},
	} {
		for _, args := range append(outputArgs(tc.out), []string{"merge", "-o", tc.out, summary}) {
			code, out, stderr := runCLI(t, args...)
			if code != exitUsage || out != "" {
				t.Errorf("%q: exit %d, stdout %.40q; want exit 2", args, code, out)
			}
			if !strings.Contains(stderr, "-o "+tc.out+": "+tc.want) {
				t.Errorf("%q: stderr %q; want %q", args, stderr, "-o "+tc.out+": "+tc.want)
			}
			if n := strings.Count(stderr, tc.out); n != 1 || strings.Contains(stderr, ".tmp-") {
				t.Errorf("%q: the message names the path %d times or a temporary file: %s", args, n, stderr)
			}
			if strings.Contains(stderr, "capture read") {
				t.Errorf("%q: the capture was read before -o was found unusable: %s", args, stderr)
			}
		}
	}
}

// TestOutputFullMessage: a report that does not fit in the file system fails with the
// path once and without the temporary file's name.
func TestOutputFullMessage(t *testing.T) {
	full := tinyFS(t, "size=64k")
	out := filepath.Join(full, "report.json")
	code, _, stderr := runCLI(t, "analyze", "--quiet", "-o", out, testdata("sample.pcapng")) // about 200 KB of JSON
	if code != exitUsage {
		t.Fatalf("exit %d, want 2: %s", code, stderr)
	}
	if !strings.Contains(stderr, "write "+out+": ") || !strings.Contains(stderr, "no space left on device") ||
		strings.Count(stderr, out) != 1 || strings.Contains(stderr, ".tmp-") {
		t.Errorf("stderr %q; want \"write %s: ... no space left on device\" naming the path once", stderr, out)
	}
	if ents, _ := os.ReadDir(full); len(ents) != 0 {
		t.Errorf("files left behind: %v", ents)
	}
}
