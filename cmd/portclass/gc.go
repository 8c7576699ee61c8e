package main

import "runtime/debug"

// gcPercent is the garbage collector's target heap growth (GOGC) portclass runs with
// unless the GOGC environment variable says otherwise. Go's default, 100, lets the heap
// grow to twice what is live before the next collection. portclass's heap is mostly
// long-lived: the open flows, the Veeam inference's evidence, the aggregates and the
// records a report keeps, all of which stay until the end of the run. Such a heap
// leaves the collector little to free, and half the headroom saves up to a quarter of
// the peak for a few percent of CPU: on the burst capture of make bench-compare (500k
// flows open at once) peak RSS goes from 268 to 200 MB for 5-7 % more CPU time and
// 2-4 % more wall time (one core, alternating runs), on the flows capture from 165 to
// 158 MB for 5 % and 2.5 % (docs/performance.md, "Less headroom for the collector").
// GOGC 75 would leave the burst capture at 252-257 MB. Prometheus made the same kind of
// change (GOGC 75 by default since 2.47) for the same reason.
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
