package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// logLines decodes the JSON log lines of stderr (the lines that are JSON objects).
func logLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLogDurationsHaveUnits: every duration in the log says its unit ("took":"12ms"),
// in analyze's and merge's lines alike.
func TestLogDurationsHaveUnits(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "r.json")
	code, _, stderr := runCLI(t, "analyze", "-o", report, testdata("sample.pcapng"))
	if code != exitOK {
		t.Fatalf("analyze: exit %d: %s", code, stderr)
	}
	code, _, stderr2 := runCLI(t, "merge", "--format", "json", "-o", filepath.Join(dir, "m.json"), report)
	if code != exitOK {
		t.Fatalf("merge: exit %d: %s", code, stderr2)
	}
	unit := regexp.MustCompile(`^[0-9][0-9.hmµn]*s$`) // time.Duration.String
	seen := 0
	for _, m := range logLines(t, stderr+"\n"+stderr2) {
		took, ok := m["took"]
		if !ok {
			continue
		}
		seen++
		s, isString := took.(string)
		if !isString || !unit.MatchString(s) {
			t.Errorf("%q: took is %#v, want a duration with its unit such as \"12ms\"", m["message"], took)
		}
	}
	if seen < 2 {
		t.Errorf("%d log lines with took, want analyze's and merge's: %s%s", seen, stderr, stderr2)
	}
}
