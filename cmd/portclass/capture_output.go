package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/portclass/portclass/pipeline"
	"github.com/portclass/portclass/reports"
)

// outputNotWrite refuses a capture whose report (-o) would land on the file that keeps
// its packets (--write, or one of its rotated files FILE-0001.pcapng, ... when
// rotating): the report would replace the evidence, or the packets the report. An -o
// with strftime verbs is compared as it expands now.
func outputNotWrite(out, write string, rotating bool) error {
	if out == "" || out == "-" || write == "" {
		return nil
	}
	name := out
	if strings.Contains(out, "%") {
		name = pipeline.Strftime(out, time.Now().UTC())
	}
	o, err1 := filepath.Abs(name)
	w, err2 := filepath.Abs(write)
	if err1 != nil || err2 != nil {
		return nil
	}
	same := o == w
	if fo, err := os.Stat(o); err == nil {
		if fw, err := os.Stat(w); err == nil && os.SameFile(fo, fw) {
			same = true
		}
	}
	if rotating && filepath.Dir(o) == filepath.Dir(w) {
		ext := filepath.Ext(w)
		stem := strings.TrimSuffix(filepath.Base(w), ext)
		if regexp.MustCompile(`^` + regexp.QuoteMeta(stem) + `-[0-9]{4,}` + regexp.QuoteMeta(ext) + `$`).MatchString(filepath.Base(o)) {
			same = true
		}
	}
	if same {
		return fmt.Errorf("-o %s is the file --write %s keeps the packets in: give the report another name", out, write)
	}
	return nil
}

// checkCaptureOutputs checks, before the capture starts and as the user that will
// write them (after --user dropped root), that the report (-o, as its strftime verbs
// expand now) and the packet file (--write) can be created: otherwise a capture of
// hours would be lost when its first report is written.
func (a *app) checkCaptureOutputs() error {
	cc := &a.cfg.Capture
	who := ""
	if cc.User != "" {
		who = " (as user " + cc.User + ")"
	}
	if out := a.cfg.Output; out != "" && out != "-" {
		name := out
		if strings.Contains(out, "%") {
			name = pipeline.Strftime(out, time.Now().UTC())
		}
		if err := reports.CheckWritable(name); err != nil {
			return usageErr(fmt.Errorf("-o %w%s", err, who))
		}
	}
	if cc.Write != "" {
		if err := reports.CheckWritable(cc.Write); err != nil {
			return usageErr(fmt.Errorf("--write %w%s", err, who))
		}
	}
	return nil
}
