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
//
// Errors name path once ("write PATH: ..."), never the temporary file.
func WriteFile(path string, fn func(io.Writer) error) (err error) {
	mode := fs.FileMode(0o644)
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, serr := filepath.EvalSymlinks(path)
		if serr != nil && !errors.Is(serr, fs.ErrNotExist) {
			return writeErr(path, "", serr)
		}
		if serr == nil {
			path = target
		}
	}
	switch fi, serr := os.Stat(path); {
	case serr == nil && fi.IsDir():
		return writeErr(path, "", errors.New("is a directory"))
	case serr == nil && !fi.Mode().IsRegular():
		return writeInPlace(path, fn)
	case serr == nil:
		mode = fi.Mode().Perm()
	case !errors.Is(serr, fs.ErrNotExist):
		return writeErr(path, "", serr)
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
	if fi, err := os.Stat(path); err == nil {
		switch {
		case fi.IsDir():
			return fmt.Errorf("%s: is a directory", path)
		case !fi.Mode().IsRegular():
			return nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return checkErr(path, "", err)
	}
	target := path
	if t, err := filepath.EvalSymlinks(path); err == nil {
		target = t
	}
	dir, base := filepath.Split(target)
	dir = filepath.Clean(dir)
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: directory %s does not exist", path, dir)
	case err != nil:
		return checkErr(path, "directory "+dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a directory", path, dir)
	}
	f, err := os.CreateTemp(dir, "."+base+".probe-*")
	if err != nil {
		return checkErr(path, "cannot create a file in "+dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return checkErr(path, "cannot remove a file from "+dir, err)
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
