package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/reports"
)

// newPortsCmd is `portclass ports`: what a port, range, service or Veeam role is. It
// reads the Veeam options (veeam.versions, veeam.data_mover_range, veeam.ports) and the
// ephemeral ranges from v, and sets defaults for those keys that have none yet.
func newPortsCmd(v *viper.Viper) *cobra.Command {
	for k, d := range map[string]any{
		"veeam.versions":         []string{},
		"veeam.data_mover_range": "",
		"veeam.ports":            map[string]any{},
	} {
		if !v.IsSet(k) {
			v.SetDefault(k, d)
		}
	}
	cmd := &cobra.Command{
		Use:   "ports QUERY... | --role ROLE",
		Short: "Explain a port, port range, service name or Veeam role",
		Long: `ports says what a port, a port range or a service is: its IANA port class and
registered services, the OS ephemeral ranges it falls in, and every Veeam Backup &
Replication rule that uses it, with direction (from role -> to role) and the public page
the rule comes from. A query is a port (6162), a range (2500-3300), either with a
protocol (tcp/6162, udp/53), an IANA service name (ssh) or part of a Veeam service name
("data mover") or a rule id.

A port's Veeam service and rules come first, then IANA's view. Each rule shows the
versions it applies to and the documentation generations it was read on (READ ON; "12
not read" when a rule said to hold for v12 was read on later pages only).

With --role it lists every port a host in that role must accept (inbound) and may open
(outbound), with the rules, and for a Veeam component of either OS the ports a managed
Windows server (SMB, RPC, dynamic RPC) or Linux server (SSH) also accepts; rules Veeam
needs only while deploying components are marked [deployment only]. Rules for a parent
role apply to its children.

The Veeam rules follow the configuration: veeam.versions (default the current releases
12 and 13; add pre-10-upgraded for the 2500-5000 range), veeam.data_mover_range and
veeam.ports (ports changed at setup).`,
		Example: `  portclass ports 6162
  portclass ports 2500-3300 tcp/902
  portclass ports ssh
  portclass ports "data mover"
  portclass ports --role backup-proxy-vmware
  portclass ports --role repository-linux --format json`,
		Args: func(cmd *cobra.Command, args []string) error {
			role, _ := cmd.Flags().GetString("role")
			switch {
			case role == "" && len(args) == 0:
				return usageErr(errors.New("ports: give a port, range or service name, or --role"))
			case role != "" && len(args) > 0:
				return usageErr(errors.New("ports: give either queries or --role, not both"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPorts(cmd, v, args)
		},
	}
	fs := cmd.Flags()
	fs.String("role", "", "list the ports of a Veeam role (e.g. backup-proxy-vmware)")
	fs.String("format", "text", "output format: text or json")
	widthFlag(fs)
	return cmd
}

// portsMatrix builds the Veeam matrix and the ephemeral ranges from the configuration.
func portsMatrix(v *viper.Viper) (*veeam.Matrix, []ports.Range, error) {
	var o veeam.Options
	if err := v.UnmarshalKey("veeam", &o); err != nil {
		return nil, nil, fmt.Errorf("config veeam: %w", err)
	}
	m, err := veeam.DefaultMatrix().With(o)
	if err != nil {
		return nil, nil, fmt.Errorf("config %w", err)
	}
	eph := ports.DefaultEphemeral
	if conf := v.GetStringMapString("ephemeral"); len(conf) > 0 {
		names := make([]string, 0, len(conf))
		for n := range conf {
			names = append(names, n)
		}
		sort.Strings(names)
		eph = nil
		for _, n := range names {
			lo, hi, err := ports.ParseRange(conf[n])
			if err != nil {
				return nil, nil, fmt.Errorf("config ephemeral.%s: %w", n, err)
			}
			eph = append(eph, ports.Range{Name: n, Lo: lo, Hi: hi})
		}
	}
	return m, eph, nil
}

func runPorts(cmd *cobra.Command, v *viper.Viper, args []string) error {
	format, _ := cmd.Flags().GetString("format")
	enc, err := reports.EncoderFor[*reports.PortsReport](format)
	if err != nil {
		return usageErr(fmt.Errorf("ports: --format %q: want %s", format, strings.Join(reports.FormatsFor[*reports.PortsReport](), " or ")))
	}
	role, _ := cmd.Flags().GetString("role")
	m, eph, err := portsMatrix(v)
	if err != nil {
		return usageErr(err)
	}
	var r reports.PortsReport
	if role != "" {
		if r.Role, err = m.DescribeRole(role); err != nil {
			return usageErr(fmt.Errorf("ports --role: %w", err))
		}
	}
	for _, q := range args {
		pi, err := m.DescribePorts(q, eph)
		if err != nil {
			return usageErr(err)
		}
		r.Ports = append(r.Ports, pi)
	}
	out := cmd.OutOrStdout()
	return reports.WithWidth(enc, textWidth(v, out)).Encode(out, &r)
}
