package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portclass/portclass/classify/policy"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/pipeline"
	"github.com/portclass/portclass/reports"
)

func (a *app) verifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify FILE|DIR|- ... --policy POLICY.yaml",
		Short: "Check captures against a policy: required flows ok or blocked, forbidden and undocumented traffic",
		Long: `verify reads captures like analyze and checks every flow against a policy file (see
"portclass policy --help" and the README for the format): hosts and their Veeam roles,
named groups, and rules from -> to, protocol, ports that are required, allowed or
forbidden; with "veeam: true" the required rules come from the Veeam port matrix between
the declared roles.

For every required (from host, to host, protocol, port) it says:
  ok                  a connection was established (TCP S1, SF, S2, S3, RSTO, RSTR after a
                      SYN-ACK) or a UDP/ICMP exchange was answered
  blocked-unanswered  only attempts (TCP S0, SH, RSTOS0; one-way UDP), no answer
  blocked-refused     a RST answered the SYN (REJ)
  blocked-icmp        an ICMP unreachable (e.g. administratively prohibited) quoted the
                      attempt and nothing else came back
  not-tested          no attempt in the capture: nothing can be said
Every other flow is documented (by the first rule that matches it, in file order),
forbidden or undocumented. A port range (2500-3300) is checked per port tried.

Exit codes: 0 pass, 1 findings, 2 usage or input error (bad policy, not a capture),
130 interrupted. Findings are, by default, blocked required flows, forbidden traffic
that was answered (it got through) and undocumented traffic; --fail-on chooses
(blocked, forbidden, undocumented, not-tested, all, none). The report is written in
every case, to stdout or atomically to -o FILE; when a signal interrupted the reading,
it covers what was read and says it is incomplete.`,
		Example: `  # after a firewall change: do the required ports work? (exit code 1 if not)
  portclass verify --policy veeam-policy.yaml after-change.pcapng

  # a CI gate that only fails on blocked required flows, with a Markdown report
  portclass verify --policy policy.yaml --fail-on blocked -o verify.md captures/

  # the JSON report for scripts
  portclass verify --policy policy.yaml --format json capture.pcap | jq '.required[] | select(.verdict != "ok")'`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.verify(cmd.Context(), args)
		},
	}
	fs := cmd.Flags()
	fs.String("policy", "", "policy file (YAML, at most 2 MiB and 10000 rules) to check against (required)")
	fs.String("fail-on", strings.Join(policy.FailDefault.Names(), ","), "finding kinds that give exit code 1: blocked, forbidden, undocumented, not-tested, all or none")
	fs.StringP("format", "f", "", "report format: "+fmt.Sprint(reports.FormatsFor[*reports.VerifyReport]())+" (default: from -o's extension; text on a terminal, else json)")
	fs.StringP("output", "o", "", "write the report to FILE atomically instead of stdout")
	widthFlag(fs)
	keyFlag(fs, "fail-on", "verify.fail-on")
	keyFlag(fs, "format", "verify.format")
	addPipelineFlags(fs)
	return cmd
}

// loadPolicy reads the policy file of the configuration. The configuration's veeam
// options are the defaults the policy's own veeam section refines.
func (a *app) loadPolicy(cfg *Config) (*policy.Policy, error) {
	if cfg.Policy == "" {
		return nil, usageErr(errors.New("--policy FILE is required (or policy: in portclass.yaml)"))
	}
	if _, err := veeam.DefaultMatrix().With(cfg.Veeam); err != nil {
		return nil, usageErr(fmt.Errorf("config veeam: %w", err))
	}
	data, err := policy.ReadFile(cfg.Policy)
	if err != nil {
		return nil, usageErr(fmt.Errorf("policy: %w", err))
	}
	pol, err := policy.Load(cfg.Policy, data, policy.Options{Veeam: cfg.Veeam})
	if err != nil {
		return nil, usageErr(err)
	}
	a.log.Debug().Str("file", cfg.Policy).Int("rules", len(pol.Rules)).Bool("veeam", pol.VeeamDerived()).Msg("policy loaded")
	return pol, nil
}

// verify is the verify command.
func (a *app) verify(ctx context.Context, args []string) error {
	cfg := a.cfg // a copy: the policy's inventory and Veeam options are added to it
	failOn, err := policy.ParseFailOn(cfg.Verify.FailOn)
	if err != nil {
		return usageErr(fmt.Errorf("--fail-on: %w", err))
	}
	format, err := a.outputFormat(cfg.Verify.Format, reports.FormatsFor[*reports.VerifyReport]())
	if err != nil {
		return usageErr(err)
	}
	enc, err := reports.EncoderFor[*reports.VerifyReport](format)
	if err != nil {
		return usageErr(err)
	}
	enc = reports.WithWidth(enc, a.reportWidth())
	pol, err := a.loadPolicy(&cfg)
	if err != nil {
		return err
	}
	// The pipeline classifies with the policy's roles and Veeam options, and keeps no
	// flow records in the summary: the verifier reads the flows from the run.
	o, err := a.pipelineOptions(&cfg)
	if err != nil {
		return usageErr(err)
	}
	p, err := a.pipelineOf(pipeline.PolicyOptions(o, pol))
	if err != nil {
		return err
	}
	in, err := a.inputs(p, &cfg, args)
	if err != nil {
		return err
	}
	rep, err := p.Verify(ctx, in, pol, failOn)
	if rep == nil {
		return runErr(err)
	}
	if err != nil {
		rep.MarkInterrupted(interruption(ctx))
	}
	if err := a.writeOutput(cfg.Output, func(w io.Writer) error { return enc.Encode(w, rep) }); err != nil {
		return err
	}
	if err := a.interrupted(err, "verification", rep.InterruptedReason); err != nil {
		return err
	}
	if rep.Result == "fail" {
		return &exitError{exitFindings, errors.New("verify: " + findingsText(rep.Findings, failOn))}
	}
	a.log.Info().Int("required_ok", rep.Findings.RequiredOK).Int("not_tested", rep.Findings.NotTested).Msg("verify: pass")
	return nil
}

// findingsText says what made verify fail.
func findingsText(f reports.VerifyFindings, fo policy.FailOn) string {
	var parts []string
	add := func(kind policy.FailOn, n int, one, many string) {
		switch {
		case fo&kind == 0 || n == 0:
		case n == 1:
			parts = append(parts, "1 "+one)
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(policy.FailBlocked, f.Blocked, "required flow blocked", "required flows blocked")
	add(policy.FailForbidden, f.Forbidden, "forbidden flow answered", "forbidden flows answered")
	add(policy.FailUndocumented, f.Undocumented, "undocumented (client, server, port) group", "undocumented (client, server, port) groups")
	add(policy.FailNotTested, f.NotTested, "required flow not tested", "required flows not tested")
	return strings.Join(parts, ", ")
}

// outputFormat decides a report format among valid: the flag or setting, else -o's
// extension, else text on a terminal and json otherwise.
func (a *app) outputFormat(flag string, valid []string) (string, error) {
	f := flag
	if f == "" && a.cfg.Output != "" {
		var ok bool
		if f, ok = reports.FormatFromPath(a.cfg.Output); !ok || !slices.Contains(valid, f) {
			return "", fmt.Errorf("-o %s: cannot tell the format from the extension; use --format (one of %s)", a.cfg.Output, strings.Join(valid, ", "))
		}
	}
	if f == "" {
		f = "json"
		if isTerminal(a.stdout) {
			f = "text"
		}
	}
	if !slices.Contains(valid, f) {
		return "", fmt.Errorf("--format %q: want one of %s", f, strings.Join(valid, ", "))
	}
	return f, nil
}

// writeOutput writes through fn to path atomically, or to stdout when path is "" or "-".
func (a *app) writeOutput(path string, fn func(io.Writer) error) error {
	if path == "" || path == "-" {
		return fn(a.stdout)
	}
	if err := reports.WriteFile(path, fn); err != nil {
		return err // names path
	}
	a.log.Info().Str("file", path).Msg("written")
	return nil
}
