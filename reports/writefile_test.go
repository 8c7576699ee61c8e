package reports

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	s := fixtureSummary(0)
	if err := WriteFile(path, func(w io.Writer) error { return (JSON{}).Encode(w, s) }); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := LoadSummary(f); err != nil || got.Totals.Flows != 16 {
		t.Fatalf("written report does not load: %v", err)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v, want 0644", fi.Mode().Perm())
	}
	assertOnlyFiles(t, dir, "report.json")
}

func TestWriteFileKeepsMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "r.txt")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if b, _ := os.ReadFile(path); string(b) != "new" || fi.Mode().Perm() != 0o600 {
		t.Errorf("content %q mode %v, want \"new\" 0600", b, fi.Mode().Perm())
	}
}

// TestWriteFileFailure: an error or a panic in the writer leaves the old file as it was
// and no temporary file behind.
func TestWriteFileFailure(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		fn   func(w io.Writer) error
	}{
		{"error", func(w io.Writer) error {
			_, _ = io.WriteString(w, "partial output that must not land")
			return errBoom
		}},
		{"panic", func(w io.Writer) error {
			_, _ = io.WriteString(w, "partial")
			panic("writer panicked")
		}},
		{"large then error", func(w io.Writer) error {
			buf := make([]byte, 1<<20) // more than the buffer, so bytes reach the temp file
			_, _ = w.Write(buf)
			return errBoom
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "report.txt")
			if err := os.WriteFile(path, []byte("old report"), 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil && tt.name != "panic" {
						t.Fatalf("unexpected panic %v", r)
					}
				}()
				err = WriteFile(path, tt.fn)
				if tt.name == "panic" {
					t.Fatal("WriteFile swallowed the panic")
				}
			}()
			if tt.name != "panic" && !errors.Is(err, errBoom) {
				t.Errorf("error %v does not wrap the writer's error", err)
			}
			if b, _ := os.ReadFile(path); string(b) != "old report" {
				t.Errorf("old file changed to %q", b)
			}
			assertOnlyFiles(t, dir, "report.txt")
		})
	}
}

func TestWriteFileNewFileFailure(t *testing.T) {
	dir := t.TempDir()
	err := WriteFile(filepath.Join(dir, "new.csv"), func(io.Writer) error { return errors.New("no") })
	if err == nil {
		t.Fatal("no error")
	}
	assertOnlyFiles(t, dir)
}

func TestWriteFileMissingDir(t *testing.T) {
	err := WriteFile(filepath.Join(t.TempDir(), "nope", "r.json"), func(io.Writer) error { return nil })
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v, want a wrapped not-exist error", err)
	}
}

func TestWriteFileSymlinkAndDevice(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks and /dev/null")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "target.txt")
	link := filepath.Join(dir, "link.txt")
	if err := os.WriteFile(target, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target.txt", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Errorf("target holds %q", b)
	}
	assertOnlyFiles(t, dir, "link.txt", "target.txt")

	// A device is written in place, never renamed over.
	if err := WriteFile(os.DevNull, func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
		t.Fatalf("%s is no longer a device: %v", os.DevNull, err)
	}
}

func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
	for i := range names {
		if got[i] != names[i] {
			t.Fatalf("directory holds %v, want %v", got, names)
		}
	}
}
