package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/reports"
)

// saveSummary analyses the project's captures named and saves their JSON summary in
// dir; reverse writes its records in the reverse of report order, as portclass never
// does.
func saveSummary(t *testing.T, dir, name string, reverse bool, captures ...string) string {
	t.Helper()
	_, r := read(t, Options{Top: 0}, captures...)
	s, err := r.Summary()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := (reports.JSON{}).Encode(&b, s); err != nil {
		t.Fatal(err)
	}
	if reverse {
		loaded, err := reports.LoadSummary(&b)
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(loaded.Flows)
		b.Reset()
		if err := (reports.JSON{}).Encode(&b, loaded); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mergeJSON merges paths and returns the JSON report.
func mergeJSON(t *testing.T, paths ...string) string {
	t.Helper()
	p, err := New(Options{Top: 5})
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Merge(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var b strings.Builder
	if err := (reports.JSON{}).Encode(&b, m.Summary); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestMergeReadsRecordsAgain: merge, which keeps no record and reads them again from
// the summaries' files, merging them in report order, writes exactly the report of
// MergeAll over the loaded summaries: summaries whose records are not in report order
// are sorted, and the same summary given twice is read twice.
func TestMergeReadsRecordsAgain(t *testing.T) {
	dir := t.TempDir()
	veeam := saveSummary(t, dir, "veeam.json", false, "veeam.pcap")
	after := saveSummary(t, dir, "after.json", false, "veeam-after.pcap")
	sample := saveSummary(t, dir, "sample-reversed.json", true, "sample.pcapng", "veeam-firewall.pcap")
	paths := []string{veeam, sample, after, veeam}

	var loaded []*reports.Summary
	for _, path := range paths {
		s, err := LoadSummaryFile(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, s)
	}
	all, err := reports.MergeAll(reports.Options{Top: 5}, loaded...)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	if err := (reports.JSON{}).Encode(&want, all); err != nil {
		t.Fatal(err)
	}
	if got, w := mergeJSON(t, paths...), want.String(); got != w {
		i := 0
		for i < min(len(got), len(w)) && got[i] == w[i] {
			i++
		}
		t.Errorf("the merge differs from MergeAll's at byte %d:\n- %.300s\n+ %.300s", i, w[i:], got[i:])
	}
}

// TestMergeFileChanged: a summary changed between the two readings is an error when
// the records are read again, naming the file.
func TestMergeFileChanged(t *testing.T) {
	dir := t.TempDir()
	path := saveSummary(t, dir, "veeam.json", false, "veeam.pcap")
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Merge([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n")
	f.Close()
	err = (reports.JSON{}).Encode(&strings.Builder{}, m.Summary)
	if err == nil || !strings.Contains(err.Error(), path+": changed while it was being read") {
		t.Errorf("err %v, want the file named as changed", err)
	}
}
