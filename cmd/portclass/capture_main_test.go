package main

import (
	"os"
	"testing"
)

// TestMain lets a test run this test binary as the portclass command itself
// (PORTCLASS_TEST_MAIN=1 and portclass's arguments), to test what only a process
// shows: signals and exit codes.
func TestMain(m *testing.M) {
	if os.Getenv("PORTCLASS_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}
