package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMakeTestSaysWhatRuns: make test, which prints nothing for minutes while the
// first package's tests run, says first what it runs and how long that usually takes.
func TestMakeTestSaysWhatRuns(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command(mk, "-n", "--no-print-directory", "test")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n test: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "echo ") || !strings.Contains(lines[0], "minutes") {
		t.Errorf("make test does not start by saying what runs and for how long:\n%s", out)
	}
	if !strings.Contains(string(out), "took") {
		t.Errorf("make test does not say how long the tests took:\n%s", out)
	}
}
