//go:build !unix

package main

import (
	"os"
	"time"
)

// usage returns the CPU time of a finished child; peak memory is not known here.
func usage(ps *os.ProcessState) (time.Duration, int64) {
	return ps.UserTime() + ps.SystemTime(), 0
}
