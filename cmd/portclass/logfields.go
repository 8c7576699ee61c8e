package main

import "time"

// logDur is how durations appear in the log: a Go duration string with its unit
// ("271ms", "8.183s", "1h0m0s"), rounded to the millisecond (to the microsecond under
// a millisecond). zerolog's Dur writes a bare number of milliseconds, which a reader
// of the JSON log cannot tell from seconds.
func logDur(d time.Duration) string {
	if d < time.Millisecond && d > -time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}
