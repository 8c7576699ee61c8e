package main

import "testing"

// TestMemoryDefaults: --max-flows and --spill-after from the available memory, between
// their floors and caps (README, Memory).
func TestMemoryDefaults(t *testing.T) {
	for _, tc := range []struct {
		avail           uint64
		known           bool
		maxFlows, spill int
	}{
		{0, false, 1_000_000, 200_000},
		{24 << 30, true, 1_000_000, 200_000},
		{1 << 30, true, 419_430, 69_905},
		{256 << 20, true, 104_857, 17_476},
		{96 << 20, true, 50_000, 10_000},
		{0, true, 50_000, 10_000},
	} {
		m, s := defaultsFor(tc.avail, tc.known)
		if m != tc.maxFlows || s != tc.spill {
			t.Errorf("%d MiB (known %v): max-flows %d, spill-after %d; want %d, %d", tc.avail>>20, tc.known, m, s, tc.maxFlows, tc.spill)
		}
	}
}
