package main

import "runtime/debug"

// gcPercent is the garbage collector's target heap growth (GOGC) portclass runs with
// unless the GOGC environment variable says otherwise. Go's default, 100, lets the heap
// grow to twice what is live before the next collection. portclass's heap is mostly
// long-lived: the open flows, the Veeam inference's evidence, the aggregates and the
// records a report keeps, all of which stay until the end of the run. Such a heap
// leaves the collector little to free, so each collection costs the same whenever it
// runs, and halving the headroom costs little CPU but saves a third of the peak:
// on the burst capture of make bench-compare (500k flows open at once) peak RSS goes
// from 277 to 203 MB and on the flows capture from 164 to 152 MB, for the same wall
// time (docs/performance.md, "Less headroom for the collector"). Prometheus made the
// same change (GOGC 75 by default since 2.47) for the same reason.
const gcPercent = 50

// tuneGC sets gcPercent unless getenv("GOGC") is set (any value, "off" included, is
// the user's choice and stays), and reports whether it did.
func tuneGC(getenv func(string) string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(gcPercent)
	return true
}
