package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/portclass/portclass/reports/internal/termesc"
)

// Text writes the human report: a header with totals and the time span, then one
// aligned table per section (inputs, protocols, port classes, services, server ports,
// talkers, ephemeral-range traffic, connection states, Veeam hosts and rules). A
// section without data is a single line. Flow records are not listed (use ndjson or
// csv). Every cell goes through the terminal escaper, so a capture cannot inject
// control sequences; columns are aligned by hand (numbers to the right), since the
// escaped cells never hold tabs or newlines.
type Text struct{}

// Encode implements Encoder[*Summary].
func (Text) Encode(w io.Writer, s *Summary) error {
	if s == nil {
		return errors.New("encode text: nil summary")
	}
	return writeText(w, summaryDoc(s))
}

// writeText writes a human report: its warning (the first line, when there is one),
// the title, the aligned label/value pairs of the header and each section (see Text).
func writeText(w io.Writer, d *doc) error {
	bw := bufio.NewWriter(w)
	if label, reason := d.warning(); label != "" {
		bw.WriteString("! " + label + " " + termesc.String(reason) + "\n\n")
	}
	bw.WriteString(d.title + "\n\n")
	width := 0
	for _, p := range d.kv {
		width = max(width, len(p[0]))
	}
	for _, p := range d.kv {
		bw.WriteString("  " + p[0] + ":" + strings.Repeat(" ", width-len(p[0])+1) + termesc.String(p[1]) + "\n")
	}
	for _, sec := range d.secs {
		writeTextSection(bw, &sec)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode text: %w", err)
	}
	return nil
}

// writeTextSection writes one section after a blank line: its title and aligned table
// and notes, or a single line when it has no rows.
func writeTextSection(bw *bufio.Writer, sec *section) {
	bw.WriteString("\n")
	if len(sec.rows) == 0 {
		bw.WriteString(sec.title + ": " + sec.empty + "\n")
		return
	}
	bw.WriteString(sec.title + "\n")
	writeAligned(bw, sec)
	for _, n := range sec.notes {
		bw.WriteString("  ! " + termesc.String(n) + "\n")
	}
}

// writeAligned prints a section's table indented by two spaces with two spaces between
// columns and no trailing blanks.
func writeAligned(bw *bufio.Writer, sec *section) {
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
	var line []byte
	for _, r := range rows {
		line = append(line[:0], "  "...)
		for i, cell := range r {
			pad := widths[i] - utf8.RuneCountInString(cell)
			if i > 0 {
				line = append(line, "  "...)
			}
			if sec.cols[i].right {
				line = appendSpaces(line, pad)
				line = append(line, cell...)
			} else {
				line = append(line, cell...)
				if i < len(r)-1 {
					line = appendSpaces(line, pad)
				}
			}
		}
		line = append(trimRightSpaces(line), '\n')
		bw.Write(line)
	}
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
