package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/portclass/portclass/reports/internal/termesc"
)

// Markdown writes the human report as GitHub-flavoured Markdown: the same header and
// sections as Text, each section a table. Every cell is escaped for the terminal first
// and then for Markdown (mdEscape), so that a capture can neither break a table nor
// inject links, emphasis, code spans or HTML.
type Markdown struct{}

// Encode implements Encoder[*Summary].
func (Markdown) Encode(w io.Writer, s *Summary) error {
	if s == nil {
		return errors.New("encode markdown: nil summary")
	}
	return writeMarkdown(w, summaryDoc(s))
}

// writeMarkdown writes a human report as Markdown: its warning as a quote (the first
// line, when there is one), the title, the header's label/value pairs as a list and
// each section as a table (see Markdown).
func writeMarkdown(w io.Writer, d *doc) error {
	bw := bufio.NewWriter(w)
	if label, reason := d.warning(); label != "" {
		bw.WriteString("> **" + label + "** " + mdEscape(reason) + "\n\n")
	}
	bw.WriteString("# " + d.title + "\n\n")
	for _, p := range d.kv {
		bw.WriteString("- **" + p[0] + ":** " + mdEscape(p[1]) + "\n")
	}
	for _, sec := range d.secs {
		writeMarkdownSection(bw, &sec)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode markdown: %w", err)
	}
	return nil
}

// writeMarkdownSection writes one section as a level-2 heading and a table (or its
// empty line), then its notes as a list.
func writeMarkdownSection(bw *bufio.Writer, sec *section) {
	bw.WriteString("\n## " + sec.title + "\n\n")
	if len(sec.rows) == 0 {
		bw.WriteString(sec.empty + "\n")
		return
	}
	bw.WriteString("|")
	for _, c := range sec.cols {
		bw.WriteString(" " + c.name + " |")
	}
	bw.WriteString("\n|")
	for _, c := range sec.cols {
		if c.right {
			bw.WriteString(" ---: |")
		} else {
			bw.WriteString(" --- |")
		}
	}
	bw.WriteString("\n")
	for _, r := range sec.rows {
		bw.WriteString("|")
		for _, cell := range r {
			bw.WriteString(" " + mdEscape(cell) + " |")
		}
		bw.WriteString("\n")
	}
	if len(sec.notes) > 0 {
		bw.WriteString("\n")
		for _, n := range sec.notes {
			bw.WriteString("- " + mdEscape(n) + "\n")
		}
	}
}

// mdReplacer backslash-escapes the characters that would end a table cell (|) or start
// Markdown or HTML markup inside one. The backslash goes first so that the escapes the
// terminal escaper wrote (\x1b) render as typed.
var mdReplacer = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "`", "\\`", "*", `\*`, "_", `\_`,
	"[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "~", `\~`, "#", `\#`,
)

// mdEscape makes a string safe for a Markdown table cell or list item.
func mdEscape(s string) string {
	return mdReplacer.Replace(termesc.String(s))
}
