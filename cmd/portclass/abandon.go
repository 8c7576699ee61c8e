package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/spool"
)

// A signal while a command reads its inputs stops the reading, and the report of what
// was read is written (exit 130). A signal once every input was read to its end, while
// the flows open at the end are finished, classified or the report is written, stops
// the work where it is: no report, exit 130. Both are prompt: reading stops at the
// next record, the other phases every 1024 flows.

// errAbandoned ends a run interrupted after its inputs were read.
var errAbandoned = errors.New("interrupted after every input was read, while the report was being made: no report written")

// abandoned is the error of a run stopped by a signal after reading: exit code 130.
func abandoned() error {
	return &exitError{exitSignal, fmt.Errorf("%w (%w)", errAbandoned, context.Canceled)}
}

// each is the spool's Each for the stages after the capture (classification, the
// report, verify, learn): once an.stop is done, it stops with abandoned().
func (an *analysis) each(fn func(*capture.Flow) error) error {
	if an.stop == nil {
		return an.spool.Each(fn)
	}
	n := 0
	return an.spool.Each(func(f *capture.Flow) error {
		if n++; n&1023 == 0 && an.stop.Err() != nil {
			return abandoned()
		}
		return fn(f)
	})
}

// spillErr says what to do about a spool that could not spill (--temp-dir full or
// missing); other errors pass unchanged.
func spillErr(err error) error {
	var se *spool.SpillError
	if !errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("%w; the flows that do not fit in memory (--spill-after) go to --temp-dir: free space there, or give --temp-dir a larger directory", err)
}
