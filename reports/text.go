package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/reports/internal/termesc"
)

// Text writes the human report: a header with totals and the time span, then one
// aligned table per section (inputs, protocols, port classes, services, server ports,
// talkers, ephemeral-range traffic, connection states, Veeam hosts and rules). A
// section without data is a single line. Flow records are not listed (use ndjson or
// csv). Every cell goes through the terminal escaper, so a capture cannot inject
// control sequences; columns are aligned by hand (numbers to the right), since the
// escaped cells never hold tabs or newlines.
//
// Width, when above 0, fits the lines to that many columns (a terminal's width): a
// table too wide for it puts its long free-text columns (evidence, flags, notes) under
// each row, word-wrapped, and then truncates the widest text cells with "…" (numbers
// are never cut); the header's values and the notes are word-wrapped. 0 writes every
// line in full, as for a file or a pipe.
type Text struct {
	Width int
}

// Encode implements Encoder[*Summary].
func (t Text) Encode(w io.Writer, s *Summary) error {
	if s == nil {
		return errors.New("encode text: nil summary")
	}
	return writeText(w, summaryDoc(s), t.Width)
}

// writeText writes a human report: its warning (the first line, when there is one),
// the title, the aligned label/value pairs of the header and each section, fitted to
// width columns when width > 0 (see Text).
func writeText(w io.Writer, d *doc, width int) error {
	bw := bufio.NewWriter(w)
	if label, reason := d.warning(); label != "" {
		writeWrapped(bw, "! "+label+" ", "  ", termesc.String(reason), width)
		bw.WriteString("\n")
	}
	bw.WriteString(d.title + "\n\n")
	lw := 0
	for _, p := range d.kv {
		lw = max(lw, len(p[0]))
	}
	for _, p := range d.kv {
		writeWrapped(bw, "  "+p[0]+":"+strings.Repeat(" ", lw-len(p[0])+1), strings.Repeat(" ", lw+4), termesc.String(p[1]), width)
	}
	for _, sec := range d.secs {
		writeTextSection(bw, &sec, width)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode text: %w", err)
	}
	return nil
}

// writeTextSection writes one section after a blank line: its title and aligned table
// and notes, or a single line when it has no rows.
func writeTextSection(bw *bufio.Writer, sec *section, width int) {
	bw.WriteString("\n")
	if len(sec.rows) == 0 {
		writeWrapped(bw, "", "  ", sec.title+": "+sec.empty, width)
		return
	}
	bw.WriteString(sec.title + "\n")
	writeAligned(bw, sec, "  ", width)
	for _, n := range sec.notes {
		writeWrapped(bw, "  ! ", "    ", termesc.String(n), width)
	}
}

// writeAligned prints a section's table, each line after indent, with two spaces
// between columns and no trailing blanks. When width > 0 and the table is wider, the
// columns marked below go under each row ("    evidence: ...", word-wrapped) and the
// widest text columns are cut (see Text).
func writeAligned(bw *bufio.Writer, sec *section, indent string, width int) {
	header := make([]string, len(sec.cols))
	for i, c := range sec.cols {
		header[i] = strings.ToUpper(c.name)
	}
	rows := make([][]string, 0, len(sec.rows)+1)
	rows = append(rows, header)
	for _, r := range sec.rows {
		esc := make([]string, len(r))
		for i, cell := range r {
			esc[i] = termesc.String(cell)
		}
		rows = append(rows, esc)
	}
	widths := make([]int, len(sec.cols))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	shown := make([]int, len(sec.cols)) // the columns on the row's line, in order
	for i := range shown {
		shown[i] = i
	}
	gap := "  "
	if width > 0 && tableWidth(indent, widths, shown, len(gap)) > width {
		shown = fitColumns(sec, rows, widths, indent, width)
		if tableWidth(indent, widths, shown, len(gap)) > width {
			gap = " " // the last resort
		}
	}
	under := make([]bool, len(sec.cols)) // the columns written under the row
	for i := range under {
		under[i] = !slices.Contains(shown, i)
	}
	var line []byte
	for ri, r := range rows {
		line = append(line[:0], indent...)
		for k, i := range shown {
			cell := cutMiddle(r[i], widths[i])
			if ri == 0 {
				cell = cut(r[i], widths[i]) // a header's start says most
			}
			pad := widths[i] - utf8.RuneCountInString(cell)
			if k > 0 {
				line = append(line, gap...)
			}
			if sec.cols[i].right {
				line = appendSpaces(line, pad)
				line = append(line, cell...)
			} else {
				line = append(line, cell...)
				if k < len(shown)-1 {
					line = appendSpaces(line, pad)
				}
			}
		}
		line = append(trimRightSpaces(line), '\n')
		bw.Write(line)
		if ri == 0 {
			continue
		}
		for i, c := range sec.cols {
			if under[i] && r[i] != "" {
				writeWrapped(bw, indent+"    "+strings.ToLower(c.name)+": ", indent+"    ", r[i], width)
			}
		}
	}
}

// minCut is the narrowest a text column is cut to ("ab…de").
const minCut = 5

// fitColumns fits a table wider than width into it and returns the columns that stay
// on the row's line; the others go under each row. Numbers, addresses and ports are
// never cut, nor are timestamps, only the headers of number columns; a text column may
// lose a third of its width (down to 8). The columns the section names below go under the row first; then,
// while the table cannot fit so, the widest text column but the first. What still
// does not fit is cut: the number headers, then the widest text columns, down to
// their third, then to minCut. widths becomes the widths of the columns that stay.
func fitColumns(sec *section, rows [][]string, widths []int, indent string, width int) []int {
	n := len(sec.cols)
	soft := make([]int, n)  // how narrow a column may be before it goes under the row
	hard := make([]int, n)  // how narrow a column may be cut at all
	text := make([]bool, n) // may go under the row
	for i, c := range sec.cols {
		values, whole := 0, true
		for _, r := range rows[1:] {
			values = max(values, utf8.RuneCountInString(r[i]))
			whole = whole && isIdentifier(r[i])
		}
		switch {
		case c.right:
			hard[i] = max(values, min(widths[i], minCut))
			soft[i] = hard[i]
		case whole:
			text[i] = true
			hard[i], soft[i] = widths[i], widths[i]
		default:
			text[i] = true
			hard[i] = min(widths[i], minCut)
			soft[i] = max(min(widths[i], 8), (2*widths[i]+2)/3)
		}
	}
	under := make([]bool, n)
	for i, c := range sec.cols {
		under[i] = slices.Contains(sec.below, c.name)
	}
	shown := func() []int {
		var s []int
		for i := range n {
			if !under[i] {
				s = append(s, i)
			}
		}
		return s
	}
	for tableWidth(indent, soft, shown(), 2) > width {
		widest := -1
		for _, i := range shown()[1:] {
			if text[i] && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break
		}
		under[widest] = true
	}
	cols := shown()
	for _, pass := range []struct {
		numbers bool
		floor   []int
	}{{true, hard}, {false, soft}, {false, hard}} {
		for excess := tableWidth(indent, widths, cols, 2) - width; excess > 0; excess-- {
			widest := -1
			for _, i := range cols {
				if sec.cols[i].right == pass.numbers && widths[i] > pass.floor[i] && (widest < 0 || widths[i] > widths[widest]) {
					widest = i
				}
			}
			if widest < 0 {
				break // as narrow as it goes: the lines stay longer than width
			}
			widths[widest]--
		}
	}
	return cols
}

// isIdentifier reports whether a cell holds what is never cut: an address (with a port
// or a prefix length), a port ("tcp/6162", "udp/2500-3300") or a protocol, a
// timestamp, "any", "-" or nothing.
func isIdentifier(s string) bool {
	if s == "" || s == "-" || s == "any" {
		return true
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if _, err := netip.ParseAddrPort(s); err == nil {
		return true
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	if _, ok := capture.ParseProtoName(s); ok { // the port of a protocol without ports
		return true
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return true
	}
	proto, port, ok := strings.Cut(s, "/")
	return ok && proto != "" && strings.Trim(proto, "abcdefghijklmnopqrstuvwxyz0123456789-") == "" &&
		port != "" && strings.Trim(port, "0123456789-") == ""
}

// tableWidth is the length of a table's widest line with the columns shown, gap
// spaces apart.
func tableWidth(indent string, widths, shown []int, gap int) int {
	n := len(indent) + gap*max(len(shown)-1, 0)
	for _, i := range shown {
		n += widths[i]
	}
	return n
}

// cut shortens s to w runes, its last one "…", when it is longer.
func cut(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	r := []rune(s)
	return string(r[:max(w-1, 0)]) + "…"
}

// cutMiddle shortens s to w runes with "…" in the middle, when it is longer: the ends
// of names tell them apart ("backup-s…-deploy", "backup-s…-vcenter").
func cutMiddle(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	r := []rune(s)
	head := max(w-1, 0) - max(w-1, 0)/2
	return string(r[:head]) + "…" + string(r[len(r)-(max(w-1, 0)-head):])
}

// writeWrapped writes text after first, word-wrapped to width columns with the
// following lines after rest, or on one line when it fits or width is 0. A word longer
// than a line (a URL) is not broken: it gets a line of its own, longer than width.
func writeWrapped(bw *bufio.Writer, first, rest, text string, width int) {
	for _, l := range wrapText(first, rest, text, width) {
		bw.WriteString(l + "\n")
	}
}

// wrapText is writeWrapped's lines, without their newlines.
func wrapText(first, rest, text string, width int) []string {
	line := first + text
	if width <= 0 || utf8.RuneCountInString(line) <= width {
		return []string{line}
	}
	var out []string
	cur, n, words := first, utf8.RuneCountInString(first), 0
	restN := utf8.RuneCountInString(rest)
	for _, word := range strings.Fields(text) {
		wn := utf8.RuneCountInString(word)
		// The word starts the next line when it does not fit on this one, unless this
		// one has nothing yet (or only its label, and the word would not fit on the
		// next one either).
		if n+min(words, 1)+wn > width && (words > 0 || strings.TrimSpace(cur) != "" && restN+wn <= width) {
			out = append(out, strings.TrimRight(cur, " "))
			cur, n, words = rest, restN, 0
		}
		if words > 0 {
			cur, n = cur+" ", n+1
		}
		cur, n, words = cur+word, n+wn, words+1
	}
	return append(out, cur)
}

func appendSpaces(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, ' ')
	}
	return b
}

func trimRightSpaces(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}
