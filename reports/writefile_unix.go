//go:build unix

package reports

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// followLink reports whether WriteFile may follow the symbolic link at path (link is
// its Lstat): the kernel's rule for protected_symlinks, which WriteFile would
// otherwise sidestep by reading the link itself. A link in a sticky, world-writable
// directory (/tmp) is followed only when the process's user or the directory's owner
// owns it, so that a link another user planted there cannot make a report replace a
// file of the user who runs portclass.
func followLink(path string, link fs.FileInfo) error {
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if di.Mode()&fs.ModeSticky == 0 || di.Mode().Perm()&0o002 == 0 {
		return nil
	}
	ls, ok1 := link.Sys().(*syscall.Stat_t)
	ds, ok2 := di.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 || ls.Uid == uint32(os.Geteuid()) || ls.Uid == ds.Uid {
		return nil
	}
	owner := "uid " + strconv.FormatUint(uint64(ls.Uid), 10)
	if u, err := user.LookupId(strconv.FormatUint(uint64(ls.Uid), 10)); err == nil {
		owner = u.Username + " (" + owner + ")"
	}
	return fmt.Errorf("%w: owned by %s in the sticky, world-writable directory %s: not followed (as the kernel's protected_symlinks rule: only its owner or the directory's follows it); remove the link or write elsewhere",
		ErrUnsafeLink, owner, dir)
}

// keepOwner gives the temporary file f the owner and group of fi, the file it is to
// replace, where the process may (root, or the user's own file with one of its
// groups); it is not an error when it may not.
func keepOwner(f *os.File, fi fs.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (int(st.Uid) == os.Geteuid() && int(st.Gid) == os.Getegid()) {
		return
	}
	_ = f.Chown(int(st.Uid), int(st.Gid))
}
