package main

import "github.com/schollz/progressbar/v3"

// startBar starts the clock of a new progress bar now, when reading starts, by
// drawing it empty. A bar's clock otherwise starts at its first drawing, the first
// tick, so that the bytes of the whole first tick were divided by the microseconds
// since then: "reading (4.5 TB/s)".
func startBar(bar *progressbar.ProgressBar) {
	_ = bar.RenderBlank()
}
