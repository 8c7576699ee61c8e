package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/reports"
)

func (a *app) mergeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "merge REPORT.json ...",
		Short: "Combine saved JSON summaries into one report",
		Long: `merge reads JSON summaries written by analyze (--format json or -o FILE.json), for example
one per sensor, capture shard or day, and writes the report of all of them in any format.

The merge is exact: every breakdown (protocols, port classes, services, server ports,
talkers, ephemeral-range traffic, connection states, failed attempts and sweeps, Veeam
rules) is rebuilt from the flow records the summaries carry, so the result is what analyze writes for all the captures at
once, with one exception. Veeam host roles are combined address by address (the union of
roles, the higher confidence, the union of evidence) instead of being inferred again from
all flows, and each flow keeps the Veeam rules its own analysis matched. When a host shows
its role only in the sum of the captures, analyze of all captures at once can match more
rules than merge.

A summary written with --no-flows holds no flow records and cannot be merged exactly:
merge refuses it. An input that appears in two summaries, or a summary given twice (also
through a link), is counted twice, with a warning naming it. Errors name the file and, for JSON errors, the byte offset. "-" reads a summary from
standard input.`,
		Example: `  # one report per sensor, then the whole site as text
  portclass analyze -o sensor-a.json /captures/sensor-a/
  portclass analyze -o sensor-b.json /captures/sensor-b/
  portclass merge sensor-a.json sensor-b.json

  # a week of nightly summaries into one HTML page and one JSON summary
  portclass merge -o week.html nightly/*.json
  portclass merge --top 0 -o week.json nightly/*.json

  # shards of a batch job, straight from a pipe
  cat shard-017.json | portclass merge - shard-0[0-1]*.json --format md`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.merge(args)
		},
	}
	fs := cmd.Flags()
	fs.StringP("format", "f", "", "report format: "+fmt.Sprint(reports.Formats())+" (default: from -o's extension; text on a terminal, else json)")
	fs.StringP("output", "o", "", "write the report to FILE atomically instead of stdout")
	fs.Int("top", 10, "entries per breakdown (services, ports, talkers, ...); 0 for all")
	fs.Int("sweep-hosts", reports.DefaultSweepHosts, "list a client under sweeps when it failed to reach this many distinct servers")
	fs.Int("sweep-ports", reports.DefaultSweepPorts, "... or this many distinct ports")
	htmlFlag(fs)
	return cmd
}

// merge is the merge command.
func (a *app) merge(paths []string) error {
	format, err := a.reportFormat()
	if err != nil {
		return usageErr(err)
	}
	enc, err := a.encoderFor(format)
	if err != nil {
		return usageErr(err)
	}
	if i := slices.Index(paths, "-"); i >= 0 && slices.Contains(paths[i+1:], "-") {
		return usageErr(errors.New(`"-" given twice: standard input holds one summary`))
	}
	if err := a.checkOutput(a.cfg.Output, paths...); err != nil {
		return err
	}
	ss := make([]*reports.Summary, len(paths))
	for i, path := range paths {
		s, err := a.loadSummaryFile(path)
		if err != nil {
			return usageErr(err)
		}
		if err := checkRecords(path, s); err != nil {
			return usageErr(err)
		}
		ss[i] = s
	}
	same := a.warnRepeatedFiles(paths)
	a.warnDuplicateInputs(paths, ss, same)
	start := time.Now()
	m, err := reports.MergeAll(reports.Options{Top: a.cfg.Top, SweepHosts: a.cfg.SweepHosts, SweepPorts: a.cfg.SweepPorts}, ss...)
	if err != nil {
		return usageErr(err) // cannot happen: every summary was checked above
	}
	a.log.Info().Int("summaries", len(ss)).Int("inputs", m.Totals.Inputs).Uint64("flows", m.Totals.Flows).
		Str("took", logDur(time.Since(start))).Msg("summaries merged")
	return a.writeReport(enc, m)
}

// errNoRecords is the reason a summary cannot be merged or diffed.
var errNoRecords = errors.New("summary written without its flow records (--no-flows)")

// checkRecords refuses a summary that does not carry all its flow records.
func checkRecords(path string, s *reports.Summary) error {
	if s.Totals.Flows == uint64(len(s.Flows)) {
		return nil
	}
	return fmt.Errorf("%s: %w: it counts %d flows but carries %d flow records; rerun analyze without --no-flows",
		path, errNoRecords, s.Totals.Flows, len(s.Flows))
}

// warnRepeatedFiles logs every summary file given more than once (by the same name, or
// another name of the same file: a link): its flows are counted once per time it is
// given. It returns, for each path, the index of the first argument naming the same
// file.
func (a *app) warnRepeatedFiles(paths []string) []int {
	first := make([]int, len(paths))
	infos := make([]os.FileInfo, len(paths))
	for i, p := range paths {
		first[i] = i
		if p != "-" {
			infos[i], _ = os.Stat(p)
		}
		for j := range i {
			if p == paths[j] || (infos[i] != nil && infos[j] != nil && os.SameFile(infos[i], infos[j])) {
				first[i] = j
				a.log.Warn().Str("file", p).Str("and", paths[j]).Int("argument", i+1).
					Msg("the same summary given twice: its flows are counted twice")
				break
			}
		}
	}
	return first
}

// warnDuplicateInputs logs the inputs that appear in more than one summary: their flows
// would be counted once per summary. Summaries that are one file given twice (first,
// from warnRepeatedFiles) were warned about already.
func (a *app) warnDuplicateInputs(paths []string, ss []*reports.Summary, first []int) {
	type key struct {
		path    string
		size    int64
		packets uint64
		first   time.Time
	}
	seen := map[key]int{}
	for i, s := range ss {
		if first[i] != i {
			continue
		}
		for _, in := range s.Inputs {
			k := key{in.Path, in.Size, in.Packets, in.First.Time}
			if prev, ok := seen[k]; ok && prev != i {
				a.log.Warn().Str("input", in.Path).Str("in", paths[prev]).Str("and", paths[i]).
					Msg("the same input is in two summaries: its flows are counted twice")
			}
			seen[k] = i
		}
	}
}

// loadSummaryFile reads the JSON summary at path ("-": standard input). Errors name
// the file; a capture given by mistake is recognised and named as such.
func (a *app) loadSummaryFile(path string) (*reports.Summary, error) {
	var r io.Reader = a.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, fmt.Errorf("%s: a directory, not a JSON summary", path)
		}
		r = f
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if !looksLikeJSON(br) {
		if path != "-" && capture.Check([]string{path}) == nil {
			return nil, fmt.Errorf("%s: a capture, not a JSON summary: analyze it first (portclass analyze -o report.json %s)", path, path)
		}
	}
	s, err := reports.LoadSummary(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// looksLikeJSON reports whether the buffered input starts with "{" after white space,
// without consuming it.
func looksLikeJSON(br *bufio.Reader) bool {
	head, _ := br.Peek(512)
	head = bytes.TrimLeft(head, " \t\r\n")
	return len(head) > 0 && head[0] == '{'
}
