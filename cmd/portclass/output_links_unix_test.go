//go:build unix

package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// nobody returns the uid and gid of the user nobody, skipping the test when it cannot
// hand files to another user (not root) or there is no such user.
func nobody(t *testing.T) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give files and links to another user")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// TestOutputPlantedLink: run as root, -o onto a link another user planted in a sticky,
// world-writable directory (/tmp) is refused before anything is read, and the file the
// link names is left alone; a link of root's own, or of the directory's owner, is
// followed there.
func TestOutputPlantedLink(t *testing.T) {
	uid, gid := nobody(t)
	base := t.TempDir()
	shared := filepath.Join(base, "tmp")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(base, "secret")
	if err := os.WriteFile(secret, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(shared, "report.json")
	if err := os.Symlink(secret, planted); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(planted, uid, gid); err != nil {
		t.Fatal(err)
	}
	for _, args := range append(outputArgs(planted), []string{"merge", "-o", planted, "-"}) {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, "-o "+planted+": symbolic link not followed: owned by nobody") {
			t.Errorf("%q: exit %d, %q; want exit 2 refusing the link", args, code, stderr)
		}
		if strings.Contains(stderr, "capture read") {
			t.Errorf("%q: the link was found only after reading: %s", args, stderr)
		}
		if b, _ := os.ReadFile(secret); string(b) != "root only\n" {
			t.Fatalf("%q: the link's target was replaced: %.60q", args, b)
		}
	}
	// The same link owned by root (the directory's owner and the user) is followed.
	if err := os.Lchown(planted, 0, 0); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "analyze", "--quiet", "-o", planted, testdata("sample.pcapng")); code != exitOK {
		t.Fatalf("root's own link: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(secret); !strings.HasPrefix(string(b), "{") {
		t.Errorf("root's own link was not followed: the target holds %.40q", b)
	}
	if fi, err := os.Lstat(planted); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file (%v)", err)
	}
}

// TestOutputKeepsOwner: a report written by root over another user's file keeps that
// file's owner, group and mode, whether -o names it or a link to it.
func TestOutputKeepsOwner(t *testing.T) {
	uid, gid := nobody(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "theirs.json")
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("theirs.json", link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{target, link} {
		if err := os.WriteFile(target, []byte("old"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(target, uid, gid); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runCLI(t, "analyze", "--quiet", "-o", out, testdata("sample.pcapng")); code != exitOK {
			t.Fatalf("-o %s: exit %d: %s", out, code, stderr)
		}
		fi, err := os.Stat(target)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode().Perm() != 0o640 {
			t.Errorf("-o %s: the report is %d:%d %v, want the replaced file's %d:%d -rw-r-----", out, st.Uid, st.Gid, fi.Mode().Perm(), uid, gid)
		}
		if b, _ := os.ReadFile(target); !strings.HasPrefix(string(b), "{") {
			t.Errorf("-o %s: not replaced: %.20q", out, b)
		}
	}
}
