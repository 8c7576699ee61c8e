package reports

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxReachLines caps the one-line summaries of reachability changes in the human
// reports; the table that follows lists every conversation.
const maxReachLines = 25

// diffDoc is the human report of a diff.
func diffDoc(d *Diff) *doc {
	var warnings []string
	for _, side := range []struct {
		name string
		src  *DiffSource
	}{{"BEFORE", &d.Before}, {"AFTER", &d.After}} {
		if side.src.Interrupted {
			warnings = append(warnings, side.name+" ("+side.src.Source+") is the report of an interrupted run, "+
				orDash(side.src.InterruptedReason, "interrupted"))
		}
	}
	doc := &doc{title: "portclass diff", kv: diffOverview(d), secs: diffSections(d)}
	if d.Interrupted {
		doc.incomplete, doc.reason = "diff", strings.Join(warnings, "; ")
	}
	return doc
}

// diffOverview is the header of the human diff reports.
func diffOverview(d *Diff) [][2]string {
	side := func(s *DiffSource) string {
		desc := s.Source
		if s.Kind != "" {
			desc += " (" + s.Kind + ")"
		}
		desc += ": " + plural(uint64(len(s.Inputs)), "input") + ", " + plural(s.Flows, "flow") + ", " +
			plural(uint64(s.Conversations), "conversation")
		if s.ICMPErrorFlows > 0 {
			desc += "; " + plural(s.ICMPErrorFlows, "flow") + " of ICMP errors, shown on the flows they quote"
		}
		return desc
	}
	c := &d.Counts
	result := "none"
	if c.Differences > 0 {
		var parts []string
		for _, ch := range Changes()[:5] {
			if n := c.Of(ch); n > 0 {
				parts = append(parts, strconv.Itoa(n)+" "+ch)
			}
		}
		result = plural(uint64(c.Differences), "conversation") + ": " + strings.Join(parts, ", ")
	}
	return [][2]string{
		{"Before", side(&d.Before)},
		{"Before time", sideSpan(d.Before.First, d.Before.Last)},
		{"After", side(&d.After)},
		{"After time", sideSpan(d.After.First, d.After.Last)},
		{"Differences", result},
		{"Unchanged", plural(uint64(c.Same), "conversation")},
	}
}

// reachLine is the one-line account of a conversation for a firewall admin:
// "tcp/6162 192.0.2.10 → 192.0.2.21: was SF ×12, now REJ ×12".
func reachLine(e *DiffEntry) string {
	return PortLabel(e.Proto, e.Port) + " " + e.Client + " → " + e.Server + ": " + e.Change +
		", was " + e.Before.StatesString() + ", now " + e.After.StatesString()
}

// diffSections lists the human diff report's sections.
func diffSections(d *Diff) []section {
	num := func(n uint64) string { return strconv.FormatUint(n, 10) }
	inum := func(n int) string { return strconv.Itoa(n) }

	changes := section{title: "Changes", cols: []column{{"Change", false}, {"Conversations", true}, {"Meaning", false}}}
	for _, ch := range Changes() {
		changes.rows = append(changes.rows, []string{ch, inum(d.Counts.Of(ch)), changeMeaning[ch]})
	}
	n := 0
	for i := range d.Entries {
		e := &d.Entries[i]
		if e.Change != ChangeBlocked && e.Change != ChangeOpened && e.Change != ChangeChanged {
			continue
		}
		if n++; n > maxReachLines {
			continue
		}
		changes.notes = append(changes.notes, reachLine(e))
	}
	if n > maxReachLines {
		changes.notes = append(changes.notes, "… and "+inum(n-maxReachLines)+" more reachability changes (listed below)")
	}

	title := "Server ports with differences"
	if d.Options.Unchanged {
		title = "Server ports"
	}
	ports := section{title: title, empty: "No differences.",
		cols: []column{{"Port", false}, {"Service", false}, {"Blocked", true}, {"Opened", true}, {"Changed", true},
			{"New", true}, {"Gone", true}, {"Same", true}, {"Flows before", true}, {"Flows after", true},
			{"Bytes before", true}, {"Bytes after", true}}}
	for _, p := range d.Ports {
		ports.rows = append(ports.rows, []string{PortLabel(p.Proto, p.Port), orDash(p.Service, "-"),
			inum(p.Blocked), inum(p.Opened), inum(p.Changed), inum(p.New), inum(p.Gone), inum(p.Same),
			num(p.Before.Flows), num(p.After.Flows), humanBytes(p.Before.Bytes), humanBytes(p.After.Bytes)})
	}

	title = "Conversations that differ, by server port"
	if d.Options.Unchanged {
		title = "Conversations by server port"
	}
	convs := section{title: title, empty: "No differences.",
		cols: []column{{"Port", false}, {"Service", false}, {"Server", false}, {"Client", false}, {"Change", false},
			{"Was", false}, {"Now", false}, {"Flows", false}, {"Bytes before", true}, {"Bytes after", true}, {"Veeam rules", false}},
		below: []string{"Veeam rules"}}
	var last string
	for i := range d.Entries {
		e := &d.Entries[i]
		port, service := PortLabel(e.Proto, e.Port), orDash(e.Service, "-")
		if port == last {
			port, service = "", ""
		} else {
			last = port
		}
		var fb, fa, bb, ba uint64
		if e.Before != nil {
			fb, bb = e.Before.Flows, e.Before.Bytes
		}
		if e.After != nil {
			fa, ba = e.After.Flows, e.After.Bytes
		}
		convs.rows = append(convs.rows, []string{port, service, e.Server, e.Client, e.Change,
			e.Before.StatesString(), e.After.StatesString(), num(fb) + " → " + num(fa),
			humanBytes(bb), humanBytes(ba), strings.Join(e.VeeamRules(), ", ")})
	}
	return []section{changes, ports, convs}
}

// DiffText writes the diff for a terminal: a header with both sides and the result,
// the count of each kind of change with a one-line account of each reachability
// change, the server ports with differences, and every conversation that differs,
// grouped by server port. Every string passes through the terminal escaper. Width fits
// the lines to a terminal as Text's does.
type DiffText struct {
	Width int
}

// Encode implements Encoder[*Diff].
func (t DiffText) Encode(w io.Writer, d *Diff) error {
	if d == nil {
		return errors.New("encode diff text: nil diff")
	}
	if err := writeText(w, diffDoc(d), t.Width); err != nil {
		return fmt.Errorf("encode diff text: %w", err)
	}
	return nil
}

// DiffMarkdown writes the same header and sections as DiffText as GitHub-flavoured
// Markdown, every cell escaped for the terminal and for Markdown.
type DiffMarkdown struct{}

// Encode implements Encoder[*Diff].
func (DiffMarkdown) Encode(w io.Writer, d *Diff) error {
	if d == nil {
		return errors.New("encode diff markdown: nil diff")
	}
	if err := writeMarkdown(w, diffDoc(d)); err != nil {
		return fmt.Errorf("encode diff markdown: %w", err)
	}
	return nil
}

// DiffJSON writes the whole Diff as indented JSON, strings escaped as the summary's
// JSON is (terminal-safe).
type DiffJSON struct{}

// Encode implements Encoder[*Diff].
func (DiffJSON) Encode(w io.Writer, d *Diff) error {
	if d == nil {
		return errors.New("encode diff json: nil diff")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("encode diff json: %w", err)
	}
	if _, err := w.Write(jsonTerminalSafe(buf.Bytes())); err != nil {
		return fmt.Errorf("encode diff json: %w", err)
	}
	return nil
}

// DiffNDJSON writes one line of JSON per conversation in Diff.Entries, each with
// "schema_version" first and the fields of DiffEntry.
type DiffNDJSON struct{}

// Encode implements Encoder[*Diff].
func (DiffNDJSON) Encode(w io.Writer, d *Diff) error {
	if d == nil {
		return errors.New("encode diff ndjson: nil diff")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range d.Entries {
		buf.Reset()
		line := struct {
			SchemaVersion int `json:"schema_version"`
			*DiffEntry
		}{SchemaVersion, &d.Entries[i]}
		if err := enc.Encode(&line); err != nil {
			return fmt.Errorf("encode diff ndjson: entry %d: %w", i+1, err)
		}
		bw.Write(jsonTerminalSafe(buf.Bytes()))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode diff ndjson: %w", err)
	}
	return nil
}

// diffCSVHeader is the header row of DiffCSV.
var diffCSVHeader = []string{
	"change", "proto", "client", "server", "port", "service", "port_class",
	"before_reach", "before_states", "before_flows", "before_packets", "before_bytes", "before_first", "before_last",
	"after_reach", "after_states", "after_flows", "after_packets", "after_bytes", "after_first", "after_last", "veeam",
}

// DiffCSV writes one row per conversation in Diff.Entries with a header row: both
// sides' reachability, states (as in the text report), counts and times side by
// side; empty cells for the side a conversation is missing from. Text cells are
// escaped as in the CSV report (terminal escaper, formula characters neutralised).
type DiffCSV struct{}

// Encode implements Encoder[*Diff].
func (DiffCSV) Encode(w io.Writer, d *Diff) error {
	if d == nil {
		return errors.New("encode diff csv: nil diff")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write(diffCSVHeader); err != nil {
		return fmt.Errorf("encode diff csv: %w", err)
	}
	row := make([]string, 0, len(diffCSVHeader))
	side := func(s *DiffSide) []string {
		if s == nil {
			return make([]string, 7)
		}
		return []string{csvCell(s.Reach), csvCell(s.StatesString()), strconv.FormatUint(s.Flows, 10),
			strconv.FormatUint(s.Packets, 10), strconv.FormatUint(s.Bytes, 10), stampOrEmpty(s.First), stampOrEmpty(s.Last)}
	}
	for i := range d.Entries {
		e := &d.Entries[i]
		row = append(row[:0], csvCell(e.Change), csvCell(e.Proto), csvCell(e.Client), csvCell(e.Server),
			strconv.FormatUint(uint64(e.Port), 10), csvCell(e.Service), csvCell(e.PortClass))
		row = append(row, side(e.Before)...)
		row = append(row, side(e.After)...)
		row = append(row, csvCell(strings.Join(e.VeeamRules(), ";")))
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("encode diff csv: entry %d: %w", i+1, err)
		}
	}
	return flushCSV(cw, bw, "encode diff csv")
}

func stampOrEmpty(t Time) string {
	if t.IsZero() {
		return ""
	}
	return stamp(t.Time)
}
