// Package corpus finds the test data that lives outside the repository: the shared
// capture corpus (../shared/pcaps, described by its MANIFEST.tsv) and the shared
// reference material (../shared/reference), both next to the module root. Tests call
// it instead of walking up from their own directory; when the data is absent (a fresh
// clone without the shared directory) the test is skipped with a message saying what
// is missing, never failed.
//
// It is only imported by tests.
package corpus

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Root returns the module root: the nearest directory above the working directory
// (a test's package directory) that holds go.mod. It fails the test when there is none.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// Testdata returns a path under the module's own testdata directory.
func Testdata(tb testing.TB, elem ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{Root(tb), "testdata"}, elem...)...)
}

// Shared returns a path under ../shared next to the module root, and skips the test
// when it does not exist.
func Shared(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Root(tb), "..", "shared"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("shared test data absent: %v", err)
	}
	return p
}

// Reference returns ../shared/reference/file, or skips the test.
func Reference(tb testing.TB, file string) string {
	tb.Helper()
	return Shared(tb, "reference", file)
}

// Pcaps returns the shared capture corpus directory (../shared/pcaps), or skips the
// test when it or its MANIFEST.tsv is absent.
func Pcaps(tb testing.TB) string {
	tb.Helper()
	dir := Shared(tb, "pcaps")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		tb.Skipf("shared capture corpus has no manifest: %v", err)
	}
	return dir
}

// Entry is one line of MANIFEST.tsv.
type Entry struct {
	Path      string // relative to the corpus directory
	Format    string // e.g. "pcap LE usec", "gzip+pcap LE usec", "pcapng LE 1 section 1 IDB"
	LinkTypes string // e.g. "EN10MB(1)", "LINUX_SLL2(276)"
	Packets   string // a count, or "n/a (unreadable)"
	Notes     string // free text; "malformed" marks damaged files
}

// Malformed reports whether the manifest's notes say the file is damaged.
func (e Entry) Malformed() bool { return strings.Contains(e.Notes, "malformed") }

// Unreadable reports whether the manifest says no reader can use the file at all
// (its packet count is "n/a").
func (e Entry) Unreadable() bool { return strings.HasPrefix(e.Packets, "n/a") }

// Manifest returns the corpus directory and its entries, in manifest order, or skips
// the test when the corpus is absent.
func Manifest(tb testing.TB) (string, []Entry) {
	tb.Helper()
	dir := Pcaps(tb)
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		tb.Fatalf("open manifest: %v", err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for first := true; sc.Scan(); first = false {
		c := strings.Split(sc.Text(), "\t")
		if first || len(c) < 11 {
			continue
		}
		out = append(out, Entry{Path: c[0], Format: c[5], LinkTypes: c[6], Packets: c[7], Notes: c[10]})
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read manifest: %v", err)
	}
	if len(out) == 0 {
		tb.Fatalf("%s/MANIFEST.tsv lists no captures", dir)
	}
	return dir, out
}

// DocSection returns the section of the project's documentation file docs/file
// headed "## heading", from its heading line to the next "## " heading (or the end),
// and fails the test when there is none.
func DocSection(tb testing.TB, file, heading string) string {
	tb.Helper()
	md, err := os.ReadFile(filepath.Join(Root(tb), "docs", file))
	if err != nil {
		tb.Fatal(err)
	}
	doc := string(md)
	start := strings.Index(doc, "\n## "+heading+"\n")
	if start < 0 {
		tb.Fatalf("docs/%s has no %q section", file, "## "+heading)
	}
	doc = doc[start+1:]
	if end := strings.Index(doc[1:], "\n## "); end >= 0 {
		doc = doc[:end+1]
	}
	return doc
}
