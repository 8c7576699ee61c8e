package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes a report to path atomically: fn writes to a buffered temporary file in
// the same directory, which is fsynced and renamed over path. On any error, or if fn
// panics, the temporary file is removed and an existing file at path is left untouched
// (the panic is not recovered). The new file keeps the permission bits of the file it
// replaces, or gets 0644.
//
// A symbolic link at path is followed: its target is replaced and the link kept. A path
// that exists and is not a regular file (a device such as /dev/stdout, a named pipe) is
// written in place, since it cannot be renamed over.
func WriteFile(path string, fn func(io.Writer) error) (err error) {
	mode := fs.FileMode(0o644)
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, serr := filepath.EvalSymlinks(path)
		if serr != nil && !errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("write %s: %w", path, serr)
		}
		if serr == nil {
			path = target
		}
	}
	switch fi, serr := os.Stat(path); {
	case serr == nil && !fi.Mode().IsRegular():
		return writeInPlace(path, fn)
	case serr == nil:
		mode = fi.Mode().Perm()
	case !errors.Is(serr, fs.ErrNotExist):
		return fmt.Errorf("write %s: %w", path, serr)
	}

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() { // also runs while fn panics
		if !renamed {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(f, 64<<10)
	if err := fn(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	renamed = true
	// Make the rename itself durable; not every system can fsync a directory, and the
	// report is complete either way, so a failure here is not an error.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// writeInPlace writes to an existing non-regular file such as a device or a FIFO.
func writeInPlace(path string, fn func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	err = fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
