package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMergeGivenTwice: a summary given twice, by its name or through a hard link, is
// counted twice with a warning that says so; a copy of it gets the warning about an
// input in two summaries.
func TestMergeGivenTwice(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.json")
	if code, _, stderr := runCLI(t, "analyze", "--quiet", "-o", a, testdata("sample.pcapng")); code != exitOK {
		t.Fatalf("analyze: exit %d: %s", code, stderr)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Link(a, link); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "copy.json")
	if err := os.WriteFile(cp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		second, want string
	}{
		{a, "given twice"},
		{link, "given twice"},
		{cp, "the same input is in two summaries"},
	} {
		code, _, stderr := runCLI(t, "merge", "--format", "json", "-o", filepath.Join(dir, "m.json"), a, tc.second)
		if code != exitOK {
			t.Fatalf("merge a.json %s: exit %d: %s", filepath.Base(tc.second), code, stderr)
		}
		if !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "counted twice") {
			t.Errorf("merge a.json %s: stderr %q; want a warning %q", filepath.Base(tc.second), stderr, tc.want)
		}
		if n := strings.Count(stderr, "counted twice"); n != 1 {
			t.Errorf("merge a.json %s: %d warnings, want one: %s", filepath.Base(tc.second), n, stderr)
		}
	}
}
