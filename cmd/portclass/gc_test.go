package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: without GOGC portclass runs the collector at gcPercent; a GOGC the user
// set (a number or "off") is left as the runtime read it.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	if !tuneGC(func(string) string { return "" }) {
		t.Error("tuneGC without GOGC did nothing")
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent %d after tuneGC without GOGC, want %d", got, gcPercent)
	}
	for _, v := range []string{"200", "off"} {
		env := map[string]string{"GOGC": v}
		if tuneGC(func(k string) string { return env[k] }) {
			t.Errorf("GOGC=%s: tuneGC changed the setting", v)
		}
		if got := debug.SetGCPercent(100); got != 100 {
			t.Errorf("GOGC=%s: GC percent %d, want the runtime's 100 left alone", v, got)
		}
	}
}
