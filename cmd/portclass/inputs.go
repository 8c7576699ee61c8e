package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/reports"
)

// captureInputs expands the command line's inputs (files, directories, "-") into the
// capture files to read and refuses bad input before anything is read, so that no
// report is written. A file named on the command line that is not a capture is an
// error. In a directory, a file that is not a capture (a manifest, a checksum list, an
// empty file) is skipped with a warning and listed in skipped, unless cfg.Strict; and
// the run's own output (-o), a report from an earlier run, is never read.
func (a *app) captureInputs(args []string, cfg *Config) (inputs []string, skipped []reports.SkippedFile, err error) {
	var out os.FileInfo
	if cfg.Output != "" && cfg.Output != "-" {
		out, _ = os.Stat(cfg.Output)
	}
	for _, arg := range args {
		st, err := os.Stat(arg)
		if arg == "-" || (err == nil && !st.IsDir()) {
			if err := capture.Check([]string{arg}); err != nil {
				return nil, nil, usageErr(err)
			}
			inputs = append(inputs, arg)
			continue
		}
		if err != nil {
			return nil, nil, usageErr(err)
		}
		files, err := capture.Expand([]string{arg})
		if err != nil {
			return nil, nil, usageErr(err)
		}
		for _, f := range files {
			cerr := capture.Check([]string{f})
			if out != nil && cerr != nil {
				if fi, err := os.Stat(f); err == nil && os.SameFile(fi, out) {
					a.log.Debug().Str("file", f).Msg("the run's own output (-o): not read")
					continue
				}
			}
			var fe *capture.FormatError
			switch {
			case cerr == nil:
				inputs = append(inputs, f)
			case errors.As(cerr, &fe) && !cfg.Strict:
				skipped = append(skipped, reports.SkippedFile{Path: f, Reason: fe.Reason()})
				a.log.Warn().Str("file", f).Str("reason", fe.Reason()).Msg("not a capture: skipped (--strict makes it an error)")
			default:
				return nil, nil, usageErr(cerr)
			}
		}
	}
	switch {
	case len(inputs) == 0 && len(skipped) > 0:
		return nil, nil, usageErr(fmt.Errorf("no capture files found (%s skipped, not captures)", plural(len(skipped), "file")))
	case len(inputs) == 0:
		return nil, nil, usageErr(errors.New("no input files found"))
	}
	return inputs, skipped, nil
}

// strictFlag adds --strict to the flags of a command that reads captures.
func strictFlag(fs *pflag.FlagSet) {
	fs.Bool("strict", false, "a file of a directory argument that is not a capture is an error (default: skipped with a warning, and listed in the report)")
}

// plural is "1 file", "2 files".
func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}
