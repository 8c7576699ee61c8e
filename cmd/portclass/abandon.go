package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/portclass/portclass/capture/spool"
	"github.com/portclass/portclass/pipeline"
)

// A signal while a command reads its inputs stops the reading, and the report of what
// was read is written (exit 130). A signal once every input was read to its end, while
// the flows open at the end are finished, classified or the report is written, stops
// the work where it is: no report, exit 130 (pipeline.ErrAbandoned). Both are prompt:
// reading stops at the next record, the other phases every 1024 flows.

// runErr is the exit error of a pipeline run's error err: nil when err is nil or says
// only that the reading was interrupted (the report of what was read is still
// written), exit 130 when the run was abandoned, and otherwise exit 2, with advice
// for a spool that could not spill.
func runErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pipeline.ErrAbandoned):
		return &exitError{exitSignal, err}
	case errors.Is(err, context.Canceled):
		return nil
	}
	return usageErr(spillErr(err))
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
