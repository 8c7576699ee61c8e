package main

import (
	"fmt"
	"os"

	"github.com/portclass/portclass/reports"
)

// checkOutput refuses, before a command reads anything, an -o it must not or could not
// write at the end: one of the command's inputs (the same file, also under another
// name, through a link or a hard link, or found in a directory argument), the policy
// or the configuration file in use; or a file in a directory that does not exist or
// where this process cannot create a file. Standard output ("" or "-") is always
// writable.
func (a *app) checkOutput(out string, inputs ...string) error {
	if out == "" || out == "-" {
		return nil
	}
	if err := notAnInput(out, append(inputs, a.cfg.Policy, a.v.ConfigFileUsed())); err != nil {
		return usageErr(err)
	}
	if err := reports.CheckWritable(out); err != nil {
		return usageErr(fmt.Errorf("-o %w", err))
	}
	return nil
}

// notAnInput refuses out when it is the same file as one of inputs ("" and "-" are
// skipped): writing the report would replace what the run reads.
func notAnInput(out string, inputs []string) error {
	ofi, err := os.Stat(out) // follows links: a link to an input is that input
	if err != nil || !ofi.Mode().IsRegular() {
		return nil // a file that does not exist is no input; a device is written in place
	}
	for _, in := range inputs {
		if in == "" || in == "-" {
			continue
		}
		if fi, err := os.Stat(in); err == nil && os.SameFile(ofi, fi) {
			if in == out {
				return fmt.Errorf("-o %s is also an input: refusing to overwrite it", out)
			}
			return fmt.Errorf("-o %s is the same file as the input %s: refusing to overwrite it", out, in)
		}
	}
	return nil
}
