package filter

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrLinkType is wrapped by Compile and Matcher when a filter cannot be compiled for a
// link type: the link type itself is not supported, or the filter uses a construct
// (vlan) that libpcap does not support on it either.
var ErrLinkType = errors.New("unsupported link type")

// ErrTooLong is wrapped by Compile when the program is longer than MaxInstructions,
// the Linux kernel's limit for a classic BPF socket filter. Matcher has no such limit.
var ErrTooLong = errors.New("filter program too long")

// MaxInstructions is BPF_MAXINSNS, the most instructions the Linux kernel accepts in a
// classic BPF socket filter (SO_ATTACH_FILTER).
const MaxInstructions = 4096

// SyntaxError is the error Parse returns for every expression it rejects, for bad
// syntax and for well-formed but meaningless qualifier combinations alike.
type SyntaxError struct {
	Expr string // the expression as given to Parse
	Pos  int    // byte offset into Expr of the offending token (0-based)
	Msg  string // what is wrong, lowercase
}

// Error names the 1-based column (in characters) and quotes the expression under a
// caret on two further lines, for example:
//
//	filter: column 10: expected port number after "port"
//		tcp port x
//		         ^
func (e *SyntaxError) Error() string {
	pos := min(max(e.Pos, 0), len(e.Expr))
	col := utf8.RuneCountInString(e.Expr[:pos]) + 1
	var b strings.Builder
	fmt.Fprintf(&b, "filter: column %d: %s\n\t", col, e.Msg)
	b.WriteString(e.Expr)
	b.WriteString("\n\t")
	for _, r := range e.Expr[:pos] {
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteByte('^')
	return b.String()
}
