package main

import (
	"fmt"

	"github.com/portclass/portclass/reports"
)

// checkOutput refuses, before a command reads anything, an -o it could not write at
// the end: a directory that does not exist or where this process cannot create a
// file. Standard output ("" or "-") is always writable.
func (a *app) checkOutput(out string) error {
	if out == "" || out == "-" {
		return nil
	}
	if err := reports.CheckWritable(out); err != nil {
		return usageErr(fmt.Errorf("-o %w", err))
	}
	return nil
}
