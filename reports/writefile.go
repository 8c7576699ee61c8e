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
// replaces, or gets 0644, and, where the process may give it (root), its owner and group.
//
// A symbolic link at path is followed, link by link, to the file it names, which is
// replaced (or created) while the links are kept; a link in a sticky, world-writable
// directory that neither the process's user nor the directory's owner owns is refused
// (ErrUnsafeLink), as the kernel's protected_symlinks rule refuses to follow it. A path
// that exists and is not a regular file (a device such as /dev/stdout, a named pipe) is
// written in place, since it cannot be renamed over.
//
// Errors name path once ("write PATH: ..."), never the temporary file.
func WriteFile(path string, fn func(io.Writer) error) (err error) {
	mode := fs.FileMode(0o644)
	given := path
	path, err = resolveLinks(path)
	if err != nil {
		return writeErr(given, "", err)
	}
	var old fs.FileInfo
	switch fi, serr := os.Stat(path); {
	case serr == nil && fi.IsDir():
		return writeErr(given, "", errors.New("is a directory"))
	case serr == nil && !fi.Mode().IsRegular():
		return writeInPlace(path, fn)
	case serr == nil:
		mode, old = fi.Mode().Perm(), fi
	case !errors.Is(serr, fs.ErrNotExist):
		return writeErr(given, "", serr)
	}

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return writeErr(path, "cannot create a file in "+filepath.Clean(dir), err)
	}
	tmp := f.Name()
	renamed := false
	defer func() { // also runs while fn panics
		if !renamed {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(anonWriter{f}, 64<<10)
	if err := fn(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return writeErr(path, "", err)
	}
	if old != nil {
		keepOwner(f, old) // before Chmod: a change of owner clears the set-id bits
	}
	if err := f.Chmod(mode); err != nil {
		return writeErr(path, "", err)
	}
	if err := f.Sync(); err != nil {
		return writeErr(path, "fsync", err)
	}
	if err := f.Close(); err != nil {
		return writeErr(path, "", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return writeErr(path, "rename", err)
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

// ErrUnsafeLink is returned (wrapped) by WriteFile and CheckWritable for a symbolic link
// they refuse to follow: one in a sticky, world-writable directory owned by another user.
var ErrUnsafeLink = errors.New("symbolic link not followed")

// maxLinks is the number of symbolic links resolveLinks follows, as Linux's MAXSYMLINKS.
const maxLinks = 40

// resolveLinks returns the file WriteFile writes for path: path itself, or, when path
// is a symbolic link, the file it names, following the links of the last component
// one by one, each checked by followLink. A dangling link gives the file it names, to
// be created. Links among the directories are left to the kernel, which applies its
// own rule to them: relative targets are appended to the link's directory as it was
// given, not cleaned ("a/link/../x" is resolved by the kernel, like the shell does).
func resolveLinks(path string) (string, error) {
	for hops := 0; ; hops++ {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		if hops == maxLinks {
			return "", fmt.Errorf("more than %d symbolic links", maxLinks)
		}
		if err := followLink(path, fi); err != nil {
			return "", err
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Dir(path) + string(filepath.Separator) + target
		}
		path = target
	}
}

// anonWriter writes to a temporary file, returning its errors without the file's name
// (fn's errors end up in WriteFile's, which names the path that is meant).
type anonWriter struct{ f *os.File }

func (w anonWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return n, err
}

// writeErr is the error of writing path: "write PATH: [what: ]cause", where cause is
// err without the file name an *fs.PathError or *os.LinkError adds (that of the
// temporary file, which means nothing to the user). It still wraps the cause, so that
// errors.Is(err, fs.ErrNotExist) and the like hold.
func writeErr(path, what string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	if what != "" {
		return fmt.Errorf("write %s: %s: %w", path, what, err)
	}
	return fmt.Errorf("write %s: %w", path, err)
}

// CheckWritable reports whether WriteFile can write path, without writing it: path is
// not a directory, and its directory exists and lets this process create a file (a
// probe file is created and removed at once). A command calls it before work that
// takes long, so that an output it cannot write stops it before it starts rather than
// at the end. An existing file that is not a regular file (a device, a named pipe) is
// not probed. The error names path once; a full file system is found only by WriteFile.
func CheckWritable(path string) error {
	target, err := resolveLinks(path)
	if err != nil {
		return checkErr(path, "", err)
	}
	if fi, err := os.Stat(target); err == nil {
		switch {
		case fi.IsDir():
			return fmt.Errorf("%s: is a directory", path)
		case !fi.Mode().IsRegular():
			return nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return checkErr(path, "", err)
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	shown := filepath.Clean(dir) // for messages; the kernel resolves dir itself
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: directory %s does not exist", path, shown)
	case err != nil:
		return checkErr(path, "directory "+shown, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a directory", path, shown)
	}
	f, err := os.CreateTemp(dir, "."+base+".probe-*")
	if err != nil {
		return checkErr(path, "cannot create a file in "+shown, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return checkErr(path, "cannot remove a file from "+shown, err)
	}
	return nil
}

// checkErr is CheckWritable's error: "PATH: [what: ]cause", cause without the file
// name of an *fs.PathError.
func checkErr(path, what string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if what != "" {
		return fmt.Errorf("%s: %s: %w", path, what, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// writeInPlace writes to an existing non-regular file such as a device or a FIFO.
func writeInPlace(path string, fn func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return writeErr(path, "", err)
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
		return writeErr(path, "", err)
	}
	return nil
}
