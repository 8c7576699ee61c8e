package reports

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestWriteFileLinkChain: a chain of links is followed to the file it names, which is
// created when missing (the links stay links); a loop is an error and writes nothing.
func TestWriteFileLinkChain(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks")
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// a.json -> sub/b.json -> ../c.json (missing)
	if err := os.Symlink("sub/b.json", filepath.Join(dir, "a.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../c.json", filepath.Join(sub, "b.json")); err != nil {
		t.Fatal(err)
	}
	write := func(p string) error {
		return WriteFile(p, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err })
	}
	if err := CheckWritable(filepath.Join(dir, "a.json")); err != nil {
		t.Fatal(err)
	}
	if err := write(filepath.Join(dir, "a.json")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "c.json")); err != nil || string(b) != "new" {
		t.Fatalf("c.json: %q %v", b, err)
	}
	for _, l := range []string{filepath.Join(dir, "a.json"), filepath.Join(sub, "b.json")} {
		if fi, err := os.Lstat(l); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer a link", l)
		}
	}
	loop := filepath.Join(dir, "loop.json")
	if err := os.Symlink("loop.json", loop); err != nil {
		t.Fatal(err)
	}
	if err := write(loop); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("a link loop: %v", err)
	}
	if err := CheckWritable(loop); err == nil || errors.Is(err, ErrUnsafeLink) {
		t.Errorf("CheckWritable of a link loop: %v", err)
	}
}
