package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portclass/portclass/classify/policy"
	"github.com/portclass/portclass/reports"
)

func (a *app) policyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy learn|rules",
		Short: "Write a policy from captures, or firewall rules from a policy",
		Long: `A policy (YAML, read by verify and policy rules) says which traffic a network is meant to
carry:

  version: 1
  inventory:                    # Veeam role -> hosts, as in portclass.yaml
    backup-server: [192.0.2.10]
    repository-linux: [192.0.2.30]
  groups:                       # named address sets
    admins: [192.0.2.100, 192.0.2.101]
  veeam: true                   # derive required rules from the Veeam port matrix
  rules:                        # matched in order; the first match decides
    - {name: console, from: admins, to: backup-server, proto: tcp, ports: [9392], expect: required}
    - {name: no-ssh, from: any, to: repository-linux, proto: tcp, ports: 22, expect: forbidden}

from and to take addresses, CIDR prefixes, group names, Veeam roles (a rule for a
parent role covers its children) or any; expect is required, allowed or forbidden.
See the README ("Policy file") for every key.

policy learn writes a policy from what captures show; policy rules turns a policy into
nftables, iptables or Windows Firewall rules.`,
		Example: `  # learn before a change, verify after it
  portclass policy learn -o policy.yaml before.pcapng
  portclass verify --policy policy.yaml after.pcapng

  # the firewall rules that allow exactly the policy
  portclass policy rules --policy policy.yaml --format nftables > portclass.nft`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.policyLearnCmd(), a.policyRulesCmd())
	return cmd
}

func (a *app) policyLearnCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "learn FILE|DIR|- ...",
		Short: "Write a policy from the established flows of captures, for review",
		Long: `learn reads captures like analyze and writes a policy from what worked in them: the hosts'
Veeam roles (declared in portclass.yaml's inventory, or inferred with at least
--min-confidence) as the inventory with "veeam: enabled", which derives the Veeam rules
between those roles, and one required rule for every other group of established flows:
flows to the same server port grouped by their servers and clients, merged across ports
when the hosts are the same. Attempts that were never answered are not learned.

Review the result before use: it says what happened, not what should. Typical use:
learn from a capture taken before a firewall change, then verify one taken after it.`,
		Example: `  portclass policy learn -o policy.yaml before-change.pcapng
  portclass policy learn --min-confidence 0.8 captures/ > policy.yaml`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.learn(cmd.Context(), args)
		},
	}
	fs := cmd.Flags()
	fs.StringP("output", "o", "", "write the policy to FILE atomically instead of stdout")
	fs.Float64("min-confidence", 0.5, "confidence an inferred Veeam role needs to enter the inventory")
	fs.Int("max-clients", 16, "a learned rule with more clients than this is written from: any")
	keyFlag(fs, "min-confidence", "learn.min-confidence")
	keyFlag(fs, "max-clients", "learn.max-clients")
	addPipelineFlags(fs)
	return cmd
}

func (a *app) learn(ctx context.Context, args []string) error {
	cfg := a.cfg
	if cfg.Learn.MinConfidence < 0 || cfg.Learn.MinConfidence > 1 {
		return usageErr(fmt.Errorf("--min-confidence %v: want 0 to 1", cfg.Learn.MinConfidence))
	}
	if cfg.Learn.MaxClients < 1 {
		return usageErr(fmt.Errorf("--max-clients %d: want at least 1", cfg.Learn.MaxClients))
	}
	cfg.NoFlows = true
	p, err := a.newPipeline(&cfg)
	if err != nil {
		return err
	}
	in, err := a.inputs(p, &cfg, args)
	if err != nil {
		return err
	}
	l, err := p.Learn(ctx, in, policy.LearnOptions{MinConfidence: cfg.Learn.MinConfidence, MaxClients: cfg.Learn.MaxClients})
	if l == nil {
		return runErr(err)
	}
	write := l.Write
	var reason string
	if err != nil {
		// A YAML comment first: the policy learned only from what was read.
		reason = interruption(ctx)
		write = func(w io.Writer) error {
			if _, err := io.WriteString(w, "# INCOMPLETE: "+reason+"\n"); err != nil {
				return err
			}
			return l.Write(w)
		}
	}
	if err := a.writeOutput(cfg.Output, write); err != nil {
		return err
	}
	return a.interrupted(err, "policy", reason)
}

func (a *app) policyRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules --policy FILE [--format nftables|iptables|ip6tables|windows-firewall]",
		Short: "Write the firewall rules that allow exactly a policy's required and allowed traffic",
		Long: `rules turns a policy into firewall rules: required and allowed rules accept new
connections, forbidden rules drop, in the policy's order (the first match decides), after
a rule that accepts established and related traffic (replies, ICMP errors); the chain's
policy drops everything else. Rules derived from the Veeam matrix are included, but for
the ports a Veeam service takes when its documented port is busy (vPower NFS: 1058+,
1063+, 2049+, bounded to the next four): only the documented port is opened unless
--succeeding-ports is given.

  nftables          nft -f input: table inet TABLE, chain CHAIN (a base chain hooks forward,
                    input or output with policy drop)
  iptables          iptables-restore input (IPv4 rules); ip6tables: ip6tables-restore input
  windows-firewall  PowerShell New-NetFirewallRule commands (inbound, on the hosts in To);
                    Windows Firewall has no rule order: block rules win over allow rules

Review the output before loading it: it replaces what the chain held.`,
		Example: `  portclass policy rules --policy policy.yaml --format nftables > portclass.nft && nft -c -f portclass.nft
  portclass policy rules --policy policy.yaml --format iptables --chain FORWARD | iptables-restore --test
  portclass policy rules --policy policy.yaml --format windows-firewall -o portclass-firewall.ps1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			succeeding, _ := cmd.Flags().GetBool("succeeding-ports")
			return a.firewallRules(succeeding)
		},
	}
	fs := cmd.Flags()
	fs.String("policy", "", "policy file (YAML, at most 2 MiB and 10000 rules) (required)")
	fs.StringP("format", "f", "nftables", "rule format: "+strings.Join(reports.FormatsFor[*reports.FirewallRules](), ", "))
	fs.String("table", "filter", "nftables table (family inet)")
	fs.String("chain", "", "chain (default forward for nftables, FORWARD for iptables)")
	fs.StringP("output", "o", "", "write the rules to FILE atomically instead of stdout")
	fs.Bool("succeeding-ports", false, "also open the ports a Veeam service takes when its documented port is busy (vPower NFS 1059-1062, 1064-1067, 2050-2053)")
	keyFlag(fs, "format", "rules.format")
	keyFlag(fs, "table", "rules.table")
	keyFlag(fs, "chain", "rules.chain")
	return cmd
}

func (a *app) firewallRules(succeeding bool) error {
	cfg := a.cfg
	enc, err := reports.EncoderFor[*reports.FirewallRules](cfg.Rules.Format)
	if err != nil {
		return usageErr(fmt.Errorf("--format %q: want one of %s", cfg.Rules.Format, strings.Join(reports.FormatsFor[*reports.FirewallRules](), ", ")))
	}
	pol, err := a.loadPolicy(&cfg)
	if err != nil {
		return err
	}
	if err := a.checkOutput(cfg.Output, cfg.Policy); err != nil {
		return err
	}
	// Render into memory first: a bad table or chain name writes nothing.
	var b strings.Builder
	if err := enc.Encode(&b, &reports.FirewallRules{Policy: pol, Table: cfg.Rules.Table, Chain: cfg.Rules.Chain, Source: cfg.Policy, Succeeding: succeeding}); err != nil {
		return usageErr(err)
	}
	return a.writeOutput(cfg.Output, func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	})
}
