package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

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
through a link), is counted twice, with a warning naming it. The merge of a summary
that an interrupted run wrote ("interrupted": true) is marked the same way, and says
which file made it so. "-" reads a summary from standard input.

A saved summary is checked field by field against what portclass writes (names,
addresses, ports and times in every section), its totals against its inputs and records,
and sums that would overflow 64 bits are refused; errors name the file, the entry, the
field and the byte offset. Strings over 64 KiB and records or entries over 1 MiB are
refused as they are read. merge holds no flow record in memory: it aggregates each
summary's records as it reads them and reads them again from the files, in report
order, as the report is written (standard input is copied to a temporary file in
--temp-dir for that).`,
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
	fs.String("temp-dir", "", "directory for the copy of a summary read from standard input (default: $TMPDIR or /tmp)")
	htmlFlag(fs)
	widthFlag(fs)
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
	p, err := a.newPipeline(&a.cfg)
	if err != nil {
		return err
	}
	m, err := p.Merge(paths)
	if err != nil {
		return usageErr(err)
	}
	defer m.Close()
	if err := a.writeReport(enc, m.Summary); err != nil {
		return err
	}
	if m.Interrupted {
		a.log.Warn().Msg((&incompleteError{"report", a.cfg.Output, m.InterruptedReason}).Error())
	}
	return nil
}
