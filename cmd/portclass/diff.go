package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portclass/portclass/pipeline"
	"github.com/portclass/portclass/reports"
)

// DiffConfig is the configuration of the diff command (key "diff").
type DiffConfig struct {
	Unchanged bool     `mapstructure:"unchanged"`
	FailOn    []string `mapstructure:"fail-on"`
}

// defaultFailOn is every kind of difference: by default any difference exits 1.
func defaultFailOn() []string {
	return slices.DeleteFunc(reports.Changes(), func(c string) bool { return c == reports.ChangeSame })
}

func (a *app) diffCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff BEFORE AFTER",
		Short: "Compare two captures or saved reports: new, gone, blocked and opened conversations",
		Long: `diff compares the traffic of BEFORE and AFTER, typically captures taken before and after a
firewall change. Each side is a capture file, a directory of captures (analysed as analyze
does, with the same configuration) or a JSON summary saved by analyze or merge (recognised by
its content, not its name); "-" reads one side from standard input.

Conversations are compared, not flows: a conversation is the protocol, client address,
server address and server port. Client ports are ephemeral and do not count, so the 12
connections a backup job opens to tcp/6162 are one conversation with 12 flows. Each flow's
outcome is the reachability the attempts section uses, from its connection state and the
ICMP errors that quoted it: established (answered), refused (a RST answered the SYN),
icmp-blocked (an ICMP destination unreachable and no answer), unanswered (SYNs and nothing
back), or unknown (one-way UDP, ICMP, TCP picked up mid-stream). ICMP error messages
(a firewall's "administratively prohibited", a port unreachable) are not conversations of
their own: they show on the flows they quote, which become icmp-blocked, and each side
counts their flows apart, as verify does.

Kinds of difference:
  blocked   answered before; after, only blocked attempts  (e.g. was SF ×12, now REJ ×12)
  opened    only blocked attempts before; answered after
  changed   another mix of outcomes (unanswered became refused, partly blocked,
            established became unknown: a UDP service that no longer answers, ...)
  new       only after
  gone      only before
Conversations with the same outcomes are "same", whatever their volume; --unchanged lists
them too. The report shows the counts, the server ports with differences and every differing
conversation grouped by server port, with flows and bytes before and after. A side that is
the summary of an interrupted run makes the diff say it is incomplete, and which side.

Exit codes, for a CI gate after a firewall change: 0 when no conversation differs in a way
--fail-on names (default: any difference), 1 when one does (the report is written either
way), 2 on a usage or input error (nothing is written), 130 when interrupted (no report:
a diff of half a capture would mislead).`,
		Example: `  # what the firewall change of last night changed, on a terminal
  portclass diff before.pcapng after.pcapng

  # the same from saved reports (analyze -o before.json ...) and as JSON for a script
  portclass diff --format json before.json after.json > diff.json

  # CI gate: fail only if something that worked is now blocked, or something new appears
  portclass diff --fail-on blocked,new -o diff.md baseline.json /captures/today/ || exit 1

  # the Veeam job before and after, only the data mover ports, as CSV for a spreadsheet
  portclass diff --filter 'tcp port 6162 or tcp portrange 2500-3300' -o diff.csv \
      testdata/veeam.pcap testdata/veeam-after.pcap`,
		Args: argsOrUsage(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.diff(cmd.Context(), args[0], args[1])
		},
	}
	fs := cmd.Flags()
	fs.StringP("format", "f", "", "report format: "+fmt.Sprint(reports.FormatsFor[*reports.Diff]())+" (default: from -o's extension; text on a terminal, else json)")
	fs.StringP("output", "o", "", "write the report to FILE atomically instead of stdout")
	fs.Bool("unchanged", false, "also list the conversations and ports that did not change")
	widthFlag(fs)
	fs.StringSlice("fail-on", defaultFailOn(), "kinds of difference that make the exit code 1: "+strings.Join(defaultFailOn(), ", ")+"; 'none' to always exit 0")
	fs.String("filter", "", "tcpdump filter expression applied to the packets of both sides (captures only)")
	strictFlag(fs)
	fs.Int("spill-after", maxSpillAfter, "finished flows kept in memory per capture side; beyond that they wait in a temporary file. Default: from the available memory, as analyze's")
	fs.String("temp-dir", "", "directory for the spilled flows and the copy of a summary read from standard input (default: $TMPDIR or /tmp)")
	tunnelFlags(fs)
	keyFlag(fs, "unchanged", "diff.unchanged")
	keyFlag(fs, "fail-on", "diff.fail-on")
	return cmd
}

// diff is the diff command.
func (a *app) diff(ctx context.Context, beforeArg, afterArg string) error {
	cfg := &a.cfg
	format, err := a.reportFormat()
	if err != nil {
		return usageErr(err)
	}
	enc, err := reports.EncoderFor[*reports.Diff](format)
	if err != nil {
		return usageErr(err)
	}
	enc = reports.WithWidth(enc, a.reportWidth())
	failOn, err := failOnKinds(cfg.Diff.FailOn)
	if err != nil {
		return usageErr(err)
	}
	if beforeArg == "-" && afterArg == "-" {
		return usageErr(errors.New(`BEFORE and AFTER are both "-": standard input holds one side`))
	}
	p, err := a.newPipeline(cfg)
	if err != nil {
		return err
	}
	// Resolve and check both sides before reading any packet.
	sides := make([]*pipeline.Side, 2)
	for i, arg := range []string{beforeArg, afterArg} {
		if sides[i], err = p.Side(arg); err != nil {
			return usageErr(err)
		}
		defer sides[i].Close()
	}
	if err := a.checkOutput(cfg.Output, append(append([]string{beforeArg, afterArg}, sides[0].Inputs.Files...), sides[1].Inputs.Files...)...); err != nil {
		return err
	}
	d, err := p.Diff(ctx, sides[0], sides[1], reports.DiffOptions{Unchanged: cfg.Diff.Unchanged})
	if errors.Is(err, context.Canceled) {
		return &exitError{exitSignal, err}
	}
	if err != nil {
		return usageErr(err)
	}
	if err := a.writeOutput(cfg.Output, func(w io.Writer) error { return enc.Encode(w, d) }); err != nil {
		return err
	}
	var failing []string
	for _, c := range failOn {
		if n := d.Counts.Of(c); n > 0 {
			failing = append(failing, fmt.Sprintf("%d %s", n, c))
		}
	}
	a.log.Info().Int("differences", d.Counts.Differences).Int("same", d.Counts.Same).Msg("diff done")
	var incomplete string // the last line on stderr (see incompleteError)
	if d.Interrupted {
		var why []string
		for _, s := range []*reports.DiffSource{&d.Before, &d.After} {
			if s.Interrupted {
				why = append(why, s.Source+" is the report of an interrupted run, "+s.InterruptedReason)
			}
		}
		incomplete = (&incompleteError{"diff", cfg.Output, strings.Join(why, "; ")}).Error()
	}
	if len(failing) > 0 {
		msg := "conversations differ: " + strings.Join(failing, ", ")
		if incomplete != "" {
			msg += "; " + incomplete
		}
		return &exitError{exitFindings, errors.New(msg)}
	}
	if incomplete != "" {
		a.log.Warn().Msg(incomplete)
	}
	return nil
}

// failOnKinds checks --fail-on: kinds of difference, or "none".
func failOnKinds(kinds []string) ([]string, error) {
	valid := defaultFailOn()
	var out []string
	for _, k := range kinds {
		for _, k := range strings.Split(k, ",") {
			k = strings.TrimSpace(k)
			switch {
			case k == "none" || k == "":
			case slices.Contains(valid, k):
				if !slices.Contains(out, k) {
					out = append(out, k)
				}
			default:
				return nil, fmt.Errorf("--fail-on %q: want some of %s, or none", k, strings.Join(valid, ", "))
			}
		}
	}
	return out, nil
}
