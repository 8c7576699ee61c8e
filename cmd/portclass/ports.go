package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
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

With --role it lists every port a host in that role must accept (inbound) and may open
(outbound), with the rules. Rules for a parent role apply to its children.

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
	if format != "text" && format != "json" {
		return usageErr(fmt.Errorf("ports: --format %q: want text or json", format))
	}
	role, _ := cmd.Flags().GetString("role")
	m, eph, err := portsMatrix(v)
	if err != nil {
		return usageErr(err)
	}
	w := cmd.OutOrStdout()
	if role != "" {
		ri, err := m.DescribeRole(role)
		if err != nil {
			return usageErr(fmt.Errorf("ports --role: %w", err))
		}
		if format == "json" {
			return writePortsJSON(w, ri)
		}
		return writeRoleText(w, ri)
	}
	infos := make([]*veeam.PortInfo, 0, len(args))
	for _, q := range args {
		pi, err := m.DescribePorts(q, eph)
		if err != nil {
			return usageErr(err)
		}
		infos = append(infos, pi)
	}
	if format == "json" {
		return writePortsJSON(w, infos)
	}
	for i, pi := range infos {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := writePortInfoText(w, pi); err != nil {
			return err
		}
	}
	return nil
}

func writePortsJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// termSafe escapes control characters (and other non-printing runes) so that text
// output cannot move the cursor or change the terminal; tabs become spaces so that
// they do not break the table columns.
func termSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// portsText collects the first write error, so that the text writers stay readable.
type portsText struct {
	w   io.Writer
	err error
}

func (p *portsText) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *portsText) line(cells ...string) {
	for i, c := range cells {
		cells[i] = termSafe(c)
	}
	p.printf("%s\n", strings.Join(cells, "\t"))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writePortInfoText(w io.Writer, pi *veeam.PortInfo) error {
	p := &portsText{w: w}
	p.printf("%s\n", termSafe(pi.Query))
	for _, e := range pi.Ports {
		switch {
		case e.Proto != "any":
			p.printf("\n%s/%s\n", termSafe(e.Proto), e.Ports)
		case e.Ports.Lo == e.Ports.Hi:
			p.printf("\nport %s (any protocol)\n", e.Ports)
		default:
			p.printf("\nports %s (any protocol)\n", e.Ports)
		}
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		q := &portsText{w: tw}
		q.line("  port class", orDash(strings.Join(e.Classes, ", ")))
		q.line("  ephemeral in", orDash(strings.Join(e.Ephemeral, ", ")))
		iana := "-"
		if e.IANACount > len(e.IANA) {
			iana = fmt.Sprintf("%d entries, first %d:", e.IANACount, len(e.IANA))
		}
		if len(e.IANA) == 0 {
			q.line("  IANA", iana)
		}
		for i, s := range e.IANA {
			label := ""
			if i == 0 {
				label = "  IANA"
				if iana != "-" {
					q.line(label, iana)
					label = ""
				}
			}
			q.line(label, fmt.Sprintf("%s/%s %s", s.Proto, s.Ports, s.Name), s.Description)
		}
		if q.err == nil {
			q.err = tw.Flush()
		}
		if q.err != nil {
			return q.err
		}
		p.printf("  Veeam rules: %d\n", len(e.Veeam))
		if err := writeRulesText(w, e.Veeam, "    "); err != nil {
			return err
		}
	}
	if len(pi.VeeamServices) > 0 {
		p.printf("\nVeeam rules whose service matches %q: %d\n", termSafe(pi.Query), len(pi.VeeamServices))
		if p.err != nil {
			return p.err
		}
		if err := writeRulesText(w, pi.VeeamServices, "    "); err != nil {
			return err
		}
	}
	return p.err
}

// writeRulesText writes rules as an aligned table.
func writeRulesText(w io.Writer, rules []veeam.RuleRef, indent string) error {
	if len(rules) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	p := &portsText{w: tw}
	p.line(indent+"RULE", "FROM -> TO", "PROTO", "PORTS", "VERSIONS", "SERVICE", "SOURCE")
	for _, r := range rules {
		p.line(indent+r.Rule, r.From+" -> "+r.To, r.Protocol, r.Ports, strings.Join(r.Versions, ","), r.Service, r.Source)
	}
	if p.err != nil {
		return p.err
	}
	return tw.Flush()
}

func writeRoleText(w io.Writer, ri *veeam.RoleInfo) error {
	p := &portsText{w: w}
	p.printf("%s: %s\n", termSafe(ri.Role), termSafe(ri.Description))
	p.printf("  parents:   %s\n", orDash(termSafe(strings.Join(ri.Parents, ", "))))
	p.printf("  ancestors: %s\n", orDash(termSafe(strings.Join(ri.Ancestors, ", "))))
	p.printf("  children:  %s\n", orDash(termSafe(strings.Join(ri.Children, ", "))))
	p.printf("  accepts:   %s\n", orDash(termSafe(strings.Join(ri.Accepts, " "))))
	p.printf("  opens:     %s\n", orDash(termSafe(strings.Join(ri.Opens, " "))))
	p.printf("\nInbound (must accept): %d rules\n", len(ri.Inbound))
	if p.err != nil {
		return p.err
	}
	if err := writeRulesText(w, ri.Inbound, "  "); err != nil {
		return err
	}
	p.printf("\nOutbound (opens): %d rules\n", len(ri.Outbound))
	if p.err != nil {
		return p.err
	}
	return writeRulesText(w, ri.Outbound, "  ")
}
