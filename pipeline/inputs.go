package pipeline

import (
	"errors"
	"fmt"
	"os"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/reports"
)

// Inputs are the capture files a run reads, and the files of directory arguments
// skipped because they are not captures (listed in the report).
type Inputs struct {
	Files   []string
	Skipped []reports.SkippedFile
}

// Inputs expands the command line's inputs (files, directories, "-") into the capture
// files to read and refuses bad input before anything is read, so that no report is
// written. A file named on the command line that is not a capture is an error. In a
// directory, a file that is not a capture (a manifest, a checksum list, an empty file)
// is skipped with a warning and listed in Skipped, unless Options.Strict; and the
// run's own output (Options.Output), a report from an earlier run, is never read.
func (p *Pipeline) Inputs(args []string) (Inputs, error) {
	var in Inputs
	var out os.FileInfo
	if o := p.opts.Output; o != "" && o != "-" {
		out, _ = os.Stat(o)
	}
	for _, arg := range args {
		st, err := os.Stat(arg)
		if arg == "-" || (err == nil && !st.IsDir()) {
			if err := capture.Check([]string{arg}); err != nil {
				return Inputs{}, err
			}
			in.Files = append(in.Files, arg)
			continue
		}
		if err != nil {
			return Inputs{}, err
		}
		files, err := capture.Expand([]string{arg})
		if err != nil {
			return Inputs{}, err
		}
		for _, f := range files {
			cerr := capture.Check([]string{f})
			if out != nil && cerr != nil {
				if fi, err := os.Stat(f); err == nil && os.SameFile(fi, out) {
					p.log.Debug().Str("file", f).Msg("the run's own output (-o): not read")
					continue
				}
			}
			var fe *capture.FormatError
			switch {
			case cerr == nil:
				in.Files = append(in.Files, f)
			case errors.As(cerr, &fe) && !p.opts.Strict:
				in.Skipped = append(in.Skipped, reports.SkippedFile{Path: f, Reason: fe.Reason()})
				p.log.Warn().Str("file", f).Str("reason", fe.Reason()).Msg("not a capture: skipped (--strict makes it an error)")
			default:
				return Inputs{}, cerr
			}
		}
	}
	switch {
	case len(in.Files) == 0 && len(in.Skipped) > 0:
		return Inputs{}, fmt.Errorf("no capture files found (%s skipped, not captures)", plural(len(in.Skipped), "file"))
	case len(in.Files) == 0:
		return Inputs{}, errors.New("no input files found")
	}
	return in, nil
}

// plural is "1 file", "2 files".
func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}
