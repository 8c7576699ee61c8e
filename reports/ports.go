package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/portclass/portclass/classify/veeam"
)

// PortsReport is what `portclass ports` says: what ports, ranges and services are
// (Ports, one entry per query), or the ports of a Veeam role (Role).
type PortsReport struct {
	Ports []*veeam.PortInfo
	Role  *veeam.RoleInfo
}

// PortsText writes a PortsReport as aligned text. Width fits the lines to a terminal:
// the rules tables put each rule's source (and what else does not fit) under its row
// and cut the widest cells, as Text does, and the long lines are word-wrapped; 0 is no
// limit.
type PortsText struct {
	Width int
}

// PortsJSON writes a PortsReport as indented JSON: the role, or the list of queries.
type PortsJSON struct{}

// Encode implements Encoder[*PortsReport].
func (PortsJSON) Encode(w io.Writer, r *PortsReport) error {
	if r.Role != nil {
		return writePortsJSON(w, r.Role)
	}
	return writePortsJSON(w, r.Ports)
}

// Encode implements Encoder[*PortsReport].
func (t PortsText) Encode(w io.Writer, r *PortsReport) error {
	if r.Role != nil {
		return writeRoleText(w, r.Role, t.Width)
	}
	for i, pi := range r.Ports {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := writePortInfoText(w, pi, t.Width); err != nil {
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
	w     io.Writer
	err   error
	width int // fit lines to this many columns; 0: no limit
}

func (p *portsText) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// wrapped writes text after first, word-wrapped to the width with the following lines
// after rest.
func (p *portsText) wrapped(first, rest, text string) {
	for _, l := range wrapText(first, rest, text, p.width) {
		p.printf("%s\n", l)
	}
}

func (p *portsText) line(cells ...string) {
	for i, c := range cells {
		cells[i] = termSafe(c)
	}
	p.printf("%s\n", strings.Join(cells, "\t"))
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writePortInfoText(w io.Writer, pi *veeam.PortInfo, width int) error {
	p := &portsText{w: w, width: width}
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
		// Veeam first: a port Veeam uses is reported under its Veeam service.
		if len(e.Veeam) > 0 {
			if e.Service != "" {
				p.wrapped("  Veeam service: ", "    ", termSafe(e.Service))
			}
			p.printf("  Veeam rules: %d\n", len(e.Veeam))
			if p.err != nil {
				return p.err
			}
			if err := writeRulesText(w, e.Veeam, "    ", width); err != nil {
				return err
			}
		}
		var buf bytes.Buffer
		tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
		q := &portsText{w: tw}
		q.line("  port class", dashIfEmpty(strings.Join(e.Classes, ", ")))
		q.line("  ephemeral in", dashIfEmpty(strings.Join(e.Ephemeral, ", ")))
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
		// The lines end with the IANA description: too long for the width, it is cut.
		for _, l := range strings.SplitAfter(buf.String(), "\n") {
			if width > 0 && utf8.RuneCountInString(strings.TrimSuffix(l, "\n")) > width {
				l = cut(strings.TrimSuffix(l, "\n"), width) + "\n"
			}
			p.printf("%s", l)
		}
		if len(e.Veeam) == 0 {
			p.printf("  Veeam rules: 0\n")
		}
	}
	if len(pi.VeeamServices) > 0 {
		p.printf("\n")
		p.wrapped("", "  ", fmt.Sprintf("Veeam rules whose service matches %q: %d", termSafe(pi.Query), len(pi.VeeamServices)))
		if p.err != nil {
			return p.err
		}
		if err := writeRulesText(w, pi.VeeamServices, "    ", width); err != nil {
			return err
		}
	}
	return p.err
}

// readOn is the documentation generations a rule was read on, "v13" or "v11,v12,v13",
// with "+v12?" when it says it applies to 12 but no v12-era page was read (carried
// back from later pages; see the reference's "What could not be verified").
func readOn(r veeam.RuleRef) string {
	var vs []string
	v12 := false
	for _, v := range r.Verified {
		vs = append(vs, "v"+v)
		v12 = v12 || strings.HasPrefix(v, "12")
	}
	s := dashIfEmpty(strings.Join(vs, ","))
	if !v12 && slices.Contains(r.Versions, "12") {
		s += " (12 not read)"
	}
	return s
}

// writeRulesText writes rules as an aligned table after indent, fitted to width
// columns when width > 0 (the source goes under each row; see Text).
func writeRulesText(w io.Writer, rules []veeam.RuleRef, indent string, width int) error {
	if len(rules) == 0 {
		return nil
	}
	sec := section{cols: []column{{"Rule", false}, {"From -> to", false}, {"Proto", false}, {"Ports", false},
		{"Versions", false}, {"Read on", false}, {"Service", false}, {"Source", false}}, below: []string{"Source"}}
	for _, r := range rules {
		svc := r.Service
		if r.DeploymentOnly {
			svc += " [deployment only]"
		}
		sec.rows = append(sec.rows, []string{r.Rule, r.From + " -> " + r.To, r.Protocol, r.Ports, strings.Join(r.Versions, ","), readOn(r), svc, r.Source})
	}
	bw := bufio.NewWriter(w)
	writeAligned(bw, &sec, indent, width)
	return bw.Flush()
}

func writeRoleText(w io.Writer, ri *veeam.RoleInfo, width int) error {
	p := &portsText{w: w, width: width}
	p.wrapped(termSafe(ri.Role)+": ", "  ", termSafe(ri.Description))
	const rest = "             " // under the values
	p.wrapped("  parents:   ", rest, dashIfEmpty(termSafe(strings.Join(ri.Parents, ", "))))
	p.wrapped("  ancestors: ", rest, dashIfEmpty(termSafe(strings.Join(ri.Ancestors, ", "))))
	p.wrapped("  children:  ", rest, dashIfEmpty(termSafe(strings.Join(ri.Children, ", "))))
	p.wrapped("  accepts:   ", rest, dashIfEmpty(termSafe(strings.Join(ri.Accepts, " "))))
	p.wrapped("  opens:     ", rest, dashIfEmpty(termSafe(strings.Join(ri.Opens, " "))))
	p.printf("\nInbound (must accept): %d rules\n", len(ri.Inbound))
	if p.err != nil {
		return p.err
	}
	if err := writeRulesText(w, ri.Inbound, "  ", width); err != nil {
		return err
	}
	p.printf("\nOutbound (opens): %d rules\n", len(ri.Outbound))
	if p.err != nil {
		return p.err
	}
	if err := writeRulesText(w, ri.Outbound, "  ", width); err != nil {
		return err
	}
	for _, os := range []struct {
		name  string
		rules []veeam.RuleRef
	}{{"Windows", ri.Windows}, {"Linux", ri.Linux}} {
		if len(os.rules) == 0 {
			continue
		}
		p.printf("\n")
		p.wrapped("", "  ", fmt.Sprintf("On %s, also accepts (operating-system ports of a managed %s server): %d rules", os.name, os.name, len(os.rules)))
		if p.err != nil {
			return p.err
		}
		if err := writeRulesText(w, os.rules, "  ", width); err != nil {
			return err
		}
	}
	return p.err
}
