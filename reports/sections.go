package reports

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// section is one part of a human report, independent of the format that prints it:
// text.go and markdown.go render the same sections, so both always list the same facts.
// Cells hold raw strings; each format escapes every cell with its own escaper.
type section struct {
	title string
	empty string // one line printed instead of the table when there are no rows
	cols  []column
	rows  [][]string
	notes []string // lines printed after the table
	// below names the columns of long free text (evidence, flags) that a text table
	// too wide for the terminal puts under each row (see Text).
	below []string
}

// doc is a human report, independent of the format that prints it: its title, the
// label/value pairs of its header and its sections. An incomplete report (see
// Summary.Interrupted) says so before everything else: "Incomplete " + incomplete
// + ": " + reason.
type doc struct {
	title      string
	incomplete string // what is incomplete ("report", "verification", "diff"); "" when nothing is
	reason     string
	kv         [][2]string
	secs       []section
}

// warning is the line that says the report is incomplete; "" when it is not.
func (d *doc) warning() (label, reason string) {
	if d.incomplete == "" {
		return "", ""
	}
	return "Incomplete " + d.incomplete + ":", orDash(d.reason, "interrupted")
}

// summaryDoc is the human report of a summary.
func summaryDoc(s *Summary) *doc {
	d := &doc{title: "portclass report", kv: overview(s), secs: sections(s)}
	if s.Interrupted {
		d.incomplete, d.reason = "report", s.InterruptedReason
	}
	return d
}

type column struct {
	name  string
	right bool // numbers are right-aligned
}

// overview is the report header: label/value pairs with totals and the time span.
func overview(s *Summary) [][2]string {
	t := &s.Totals
	kv := [][2]string{
		{"Inputs", strconv.Itoa(t.Inputs)},
		{"Packets read", strconv.FormatUint(t.Packets, 10)},
		{"Bytes on the wire", bytesLong(t.Bytes)},
		{"File size", fileSize(s.Inputs)},
		{"Flows", strconv.FormatUint(t.Flows, 10)},
		{"Packets decoded", strconv.FormatUint(t.Decoded, 10)},
		{"Non-IP packets", strconv.FormatUint(t.NonIP, 10)},
		{"Decode errors", strconv.FormatUint(t.DecodeErrors, 10)},
		{"Filtered packets", strconv.FormatUint(t.Filtered, 10)},
		{"Unsupported packets", strconv.FormatUint(t.Unsupported, 10)},
		{"Evicted flows", strconv.FormatUint(t.EvictedFlows, 10)},
	}
	if t.EvictedFlows > 0 {
		kv[len(kv)-1][1] += " (warning: flow table full, see --max-flows)" // a flow ended early may show as several records
	}
	if t.SpilledFlows > 0 {
		kv = append(kv, [2]string{"Spilled flows", strconv.FormatUint(t.SpilledFlows, 10) + " (waited in a temporary file, see --spill-after)"})
	}
	if n := len(s.SkippedFiles); n > 0 {
		kv = append(kv, [2]string{"Skipped files", strconv.Itoa(n) + " (not captures; see Inputs)"})
	}
	if t.First.IsZero() {
		return append(kv, [2]string{"Time span", "no packets"})
	}
	d := t.Last.Sub(t.First.Time)
	return append(kv,
		[2]string{"First packet", stamp(t.First.Time)},
		[2]string{"Last packet", stamp(t.Last.Time)},
		[2]string{"Duration", d.String()},
	)
}

// fileSize is the size of the input files as stored (compressed, when they are), which
// is not the bytes on the wire: a capture keeps the packets cut to its snap length and
// adds its own headers. Standard input, a pipe and a live capture have no size
// (Input.Size -1): the line says for how many inputs the sum is.
func fileSize(inputs []Input) string {
	var sum uint64
	known := 0
	for _, in := range inputs {
		if in.Size >= 0 {
			sum += uint64(in.Size)
			known++
		}
	}
	switch {
	case known == len(inputs):
		return bytesLong(sum)
	case known == 0:
		return "unknown (standard input, a pipe or a live capture)"
	}
	return bytesLong(sum) + " for " + strconv.Itoa(known) + " of " + strconv.Itoa(len(inputs)) + " inputs; " +
		strconv.Itoa(len(inputs)-known) + " without a size (standard input, a pipe or a live capture)"
}

// sections lists the report's sections in order.
func sections(s *Summary) []section {
	top := ""
	if s.Top > 0 {
		top = " (top " + strconv.Itoa(s.Top) + ")"
	}
	num := func(n uint64) string { return strconv.FormatUint(n, 10) }
	counts := func(c Counts) []string { return []string{num(c.Flows), num(c.Packets), humanBytes(c.Bytes)} }
	countCols := []column{{"Flows", true}, {"Packets", true}, {"Bytes", true}}
	cols := func(c ...column) []column { return append(c, countCols...) }

	var out []section

	in := section{title: "Inputs", empty: "No inputs.",
		cols: []column{{"Path", false}, {"Format", false}, {"Link types", false}, {"Packets", true},
			{"Bytes", true}, {"Decoded", true}, {"Notes", false}}, below: []string{"Notes"}}
	for _, i := range s.Inputs {
		format := i.Format
		if i.Compression != "" {
			format += "+" + i.Compression
		}
		in.rows = append(in.rows, []string{i.Path, format, countMap(i.LinkTypes), num(i.Packets),
			humanBytes(i.Bytes), num(i.Decoded), inputNotes(&i)})
		for _, w := range i.Warnings {
			in.notes = append(in.notes, i.Path+": "+w)
		}
	}
	for _, f := range s.SkippedFiles {
		in.notes = append(in.notes, "skipped "+f.Path+": "+f.Reason)
	}
	out = append(out, in)

	// Tunnels only for captures with encapsulated packets.
	if len(s.Tunnels) > 0 {
		sec := section{title: "Tunnels" + top,
			cols: cols(column{"Type", false}, column{"ID", true}, column{"Outer client", false}, column{"Outer server", false})}
		for _, t := range s.Tunnels {
			id := "-"
			if t.ID != nil {
				id = num(uint64(*t.ID))
			}
			sec.rows = append(sec.rows, append([]string{t.Type, id, orDash(t.OuterClient, "-"), orDash(t.OuterServer, "-")}, counts(t.Counts)...))
		}
		out = append(out, sec)
	}

	sec := section{title: "Protocols", empty: "No flows.", cols: cols(column{"Protocol", false})}
	for _, p := range s.Protocols {
		sec.rows = append(sec.rows, append([]string{p.Proto}, counts(p.Counts)...))
	}
	out = append(out, sec)

	sec = section{title: "Port classes", empty: "No flows.", cols: cols(column{"Server port class", false})}
	for _, c := range s.PortClasses {
		sec.rows = append(sec.rows, append([]string{orDash(c.PortClass, "(no ports)")}, counts(c.Counts)...))
	}
	out = append(out, sec)

	sec = section{title: "Top services" + top, empty: "No flow has a known service.", cols: cols(column{"Service", false})}
	for _, c := range s.Services {
		sec.rows = append(sec.rows, append([]string{c.Service}, counts(c.Counts)...))
	}
	out = append(out, sec)

	sec = section{title: "Top server ports" + top, empty: "No flows with ports.",
		cols: cols(column{"Protocol", false}, column{"Port", true}, column{"Class", false}, column{"Service", false})}
	for _, p := range s.ServerPorts {
		sec.rows = append(sec.rows, append([]string{p.Proto, num(uint64(p.Port)), p.PortClass, orDash(p.Service, "-")}, counts(p.Counts)...))
	}
	out = append(out, sec)

	sec = section{title: "Top talkers" + top, empty: "No flows.",
		cols: []column{{"Address", false}, {"Flows", true}, {"As client", true}, {"As server", true},
			{"Packets", true}, {"Sent", true}, {"Received", true}, {"Bytes", true}}}
	for _, t := range s.Talkers {
		sec.rows = append(sec.rows, []string{t.Addr, num(t.Flows), num(t.AsClient), num(t.AsServer),
			num(t.Packets), humanBytes(t.BytesSent), humanBytes(t.BytesReceived), humanBytes(t.Bytes)})
	}
	out = append(out, sec)

	sec = section{title: "Ephemeral-range traffic" + top, empty: "No flow to an ephemeral or dynamic server port.",
		cols: []column{{"Protocol", false}, {"Port", true}, {"Class", false}, {"Service", false},
			{"Flows", true}, {"Unexplained", true}, {"Veeam", true}, {"Packets", true}, {"Bytes", true},
			{"Last seen", false}, {"Flags", false}}, below: []string{"Flags"}}
	for _, e := range s.Ephemeral {
		sec.rows = append(sec.rows, []string{e.Proto, num(uint64(e.Port)), e.PortClass, orDash(e.Service, "-"),
			num(e.Flows), num(e.Unexplained), num(e.Veeam), num(e.Packets), humanBytes(e.Bytes),
			stamp(e.Last.Time), strings.Join(e.Flags, ", ")})
	}
	out = append(out, sec)

	sec = section{title: "Connection states", empty: "No flows.",
		cols: cols(column{"Protocol", false}, column{"State", false}, column{"Meaning", false})}
	for _, st := range s.States {
		sec.rows = append(sec.rows, append([]string{st.Proto, orDash(st.State, "-"), stateMeaning(st.Proto, st.State)}, counts(st.Counts)...))
	}
	out = append(out, sec)
	out = append(out, attemptsSections(s, top)...)

	sec = section{title: "Veeam hosts", empty: "No Veeam hosts identified.",
		cols:  []column{{"Address", false}, {"Role", false}, {"Confidence", true}, {"Source", false}, {"Evidence", false}},
		below: []string{"Evidence"}}
	for _, h := range s.Hosts {
		for i, r := range h.Roles {
			addr := h.Addr
			if i > 0 {
				addr = ""
			}
			source := "inferred"
			if r.Declared {
				source = "declared"
			}
			sec.rows = append(sec.rows, []string{addr, r.Role, strconv.FormatFloat(r.Confidence, 'f', 2, 64), source,
				strings.Join(r.Evidence, "; ")})
		}
	}
	out = append(out, sec)

	sec = section{title: "Veeam rules" + top, empty: "No flow matched a Veeam rule.",
		cols: cols(column{"Rule", false}, column{"Service", false}, column{"From", false}, column{"To", false})}
	for _, r := range s.VeeamRules {
		sec.rows = append(sec.rows, append([]string{r.Rule, r.Service, r.From, r.To}, counts(r.Counts)...))
	}
	out = append(out, sec)
	return out
}

// inputNotes summarises what went wrong or is worth knowing about one input.
func inputNotes(i *Input) string {
	var notes []string
	if i.Truncated {
		notes = append(notes, "truncated at offset "+strconv.FormatInt(i.TruncatedAt, 10))
	}
	if n := len(i.Warnings); n == 1 {
		notes = append(notes, "1 warning")
	} else if n > 1 {
		notes = append(notes, strconv.Itoa(n)+" warnings")
	}
	if i.DecodeErrors > 0 {
		notes = append(notes, strconv.FormatUint(i.DecodeErrors, 10)+" decode errors")
	}
	if len(i.Unsupported) > 0 {
		notes = append(notes, "unsupported "+countMap(i.Unsupported))
	}
	if i.Decapsulated > 0 {
		notes = append(notes, strconv.FormatUint(i.Decapsulated, 10)+" in tunnels")
	}
	if i.TunnelsTooDeep > 0 {
		notes = append(notes, strconv.FormatUint(i.TunnelsTooDeep, 10)+" nested too deep")
	}
	if i.TunnelPathsFull > 0 {
		notes = append(notes, strconv.FormatUint(i.TunnelPathsFull, 10)+" without their tunnel path (too many paths)")
	}
	if i.KernelReceived > 0 || i.KernelDropped > 0 {
		notes = append(notes, "kernel dropped "+strconv.FormatUint(i.KernelDropped, 10)+
			" of "+strconv.FormatUint(i.KernelReceived, 10))
	}
	return strings.Join(notes, "; ")
}

// countMap renders a name→count map as "A:1, B:2", sorted by name.
func countMap(m map[string]uint64) string {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + strconv.FormatUint(m[k], 10)
	}
	return strings.Join(parts, ", ")
}

func orDash(s, dash string) string {
	if s == "" {
		return dash
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return string(appendTime(nil, t))
}

// humanBytes renders a byte count with binary (IEC) units: "512 B", "1.5 KiB".
func humanBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	const units = "KMGTPE"
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}

// bytesLong is humanBytes with the exact count when they differ.
func bytesLong(n uint64) string {
	if n < 1024 {
		return humanBytes(n)
	}
	return humanBytes(n) + " (" + strconv.FormatUint(n, 10) + " bytes)"
}

// stateMeaning explains a Zeek conn_state; protocols without a handshake use S0, SF
// and SHR in Zeek's UDP sense.
func stateMeaning(proto, state string) string {
	if proto != "tcp" {
		switch state {
		case "S0":
			return "only the client sent"
		case "SF":
			return "both sides sent"
		case "SHR":
			return "only the server sent"
		}
	}
	switch state {
	case "S0":
		return "attempt, no reply"
	case "S1":
		return "established, not closed"
	case "SF":
		return "established and closed"
	case "REJ":
		return "attempt rejected (RST)"
	case "S2":
		return "established, client closed, no reply"
	case "S3":
		return "established, server closed, no reply"
	case "RSTO":
		return "established, client aborted"
	case "RSTR":
		return "server sent a RST"
	case "RSTOS0":
		return "client SYN then RST, no SYN-ACK"
	case "RSTRH":
		return "server SYN-ACK then RST, no SYN"
	case "SH":
		return "client SYN then FIN, no SYN-ACK"
	case "SHR":
		return "server SYN-ACK then FIN, no SYN"
	case "OTH":
		return "midstream, no SYN seen"
	}
	return ""
}
