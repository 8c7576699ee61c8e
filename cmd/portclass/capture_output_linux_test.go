//go:build linux

package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/internal/livetest"
)

// TestCaptureOutputsCheckedFirst: capture refuses to start when it could not write its
// report (-o) or its packets (--write) — as root into a directory that does not exist,
// and after --user into a directory that user may not write — instead of capturing for
// --duration and losing it all at the first report.
func TestCaptureOutputsCheckedFirst(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	base := livetest.Dir(t)
	rootOnly := filepath.Join(base, "root-only")
	if err := os.Mkdir(rootOnly, 0o755); err != nil { // root's: nobody cannot create files in it
		t.Fatal(err)
	}
	missing := filepath.Join(base, "missing")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", filepath.Join(missing, "r.json")}, "-o " + filepath.Join(missing, "r.json") + ": directory " + missing + " does not exist"},
		{[]string{"--write", filepath.Join(missing, "ev.pcapng"), "--format", "json"}, "--write " + filepath.Join(missing, "ev.pcapng") + ": directory " + missing + " does not exist"},
		{[]string{"-o", filepath.Join(missing, "r-%Y%m%d.json"), "--every", "1h"}, "directory " + missing + " does not exist"},
		// last: --user drops root for the rest of this process
		{[]string{"--user", "nobody", "-o", filepath.Join(rootOnly, "x.ndjson")},
			"-o " + filepath.Join(rootOnly, "x.ndjson") + ": cannot create a file in " + rootOnly + ": permission denied (as user nobody)"},
	} {
		start := time.Now()
		code, _, stderr := runCLI(t, append([]string{"capture", "-i", "lo", "--duration", "5s"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, `"capturing"`) || time.Since(start) > 4*time.Second {
			t.Errorf("%q: the capture started (%v) before the output was found unusable: %s", tc.args, time.Since(start), stderr)
		}
	}
	if ents, _ := os.ReadDir(rootOnly); len(ents) != 0 {
		t.Errorf("files left in %s: %v", rootOnly, ents)
	}
}
