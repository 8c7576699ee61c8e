package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRoot(t *testing.T) {
	root := Root(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(Testdata(t, "sample.pcapng")); err != nil {
		t.Fatalf("the module's testdata not found from %s: %v", root, err)
	}
}

// TestManifest: every manifest entry names a file of the corpus, and the flags the
// tests select on are there (malformed and unreadable captures exist).
func TestManifest(t *testing.T) {
	dir, entries := Manifest(t)
	var malformed, unreadable int
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Path)); err != nil {
			t.Errorf("manifest entry %s: %v", e.Path, err)
		}
		if e.Format == "" || e.Packets == "" {
			t.Errorf("manifest entry %s lacks format or packet count: %+v", e.Path, e)
		}
		if e.Malformed() {
			malformed++
		}
		if e.Unreadable() {
			unreadable++
		}
	}
	if malformed == 0 || unreadable == 0 || unreadable > malformed {
		t.Errorf("%d malformed and %d unreadable of %d entries", malformed, unreadable, len(entries))
	}
}

func TestSharedSkipsWhenAbsent(t *testing.T) {
	var inner *testing.T
	t.Run("absent", func(t *testing.T) {
		inner = t
		Shared(t, "no-such-directory-here")
		t.Error("Shared returned for a path that does not exist")
	})
	if !inner.Skipped() {
		t.Error("a missing shared path did not skip the test")
	}
}
