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
	code := m.Run()
	for _, f := range afterTests {
		f()
	}
	os.Exit(code)
}

// afterTests are run once every test is done (cleanups shared between tests).
var afterTests []func()
