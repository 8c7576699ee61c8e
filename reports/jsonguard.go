package reports

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits on a saved summary, so that a broken or hostile file costs bounded memory and
// time whatever it holds: encoding/json's Decoder holds a whole string, number or value
// in memory before it looks at it, so the loader's reader checks these as the bytes
// come (jsonGuard) and stops at the first one exceeded with a *LimitError naming the
// offset and the field. Summaries portclass writes stay far below them.
const (
	// MaxSummaryString is the longest JSON string, in bytes as written (escapes
	// included), and the longest run of white space: a path, a warning, a piece of
	// evidence or a service name is a few hundred bytes.
	MaxSummaryString = 64 << 10
	// MaxSummaryValue is the largest value the loader decodes whole: one flow record,
	// input, host, breakdown entry, attempt or sweep, or the totals (a record is
	// about 600 bytes).
	MaxSummaryValue = 1 << 20
	// MaxSummaryDepth is the deepest nesting of objects and arrays (portclass writes 5).
	MaxSummaryDepth = 32
	// maxSummaryToken is the longest number or literal (a uint64 has 20 digits).
	maxSummaryToken = 64
)

// LimitError is a summary that exceeds one of the limits above, found before the value
// was read into memory.
type LimitError struct {
	Offset int64  // where the string, value or run starts
	Field  string // where it is: "inputs[0].warnings[3]"; "" at the top level
	Msg    string // what exceeds which limit
}

func (e *LimitError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("at offset %d: %s", e.Offset, e.Msg)
	}
	return fmt.Sprintf("at offset %d, %s: %s", e.Offset, e.Field, e.Msg)
}

// jsonGuard passes a JSON document through unchanged while it follows its structure
// (objects, arrays, keys, strings and other tokens) and fails, with a *LimitError, as
// soon as a string, a number, a run of white space, the nesting or a value the loader
// decodes whole exceeds its limit. Values decoded whole are the top-level object's
// values other than arrays (totals) and the elements of its arrays (a flow record, an
// input): the loader reads those arrays element by element. It does not check the
// syntax, which encoding/json does, and never panics on input that is not JSON. After
// an error every Read returns the same error.
type jsonGuard struct {
	r     io.Reader
	off   int64 // offset of the next byte scanned
	err   error
	stack []guardFrame

	state    uint8 // guardValue, guardString, guardEscape or guardToken
	runStart int64 // start of the current string or token
	isKey    bool  // the current string is an object key, which goes to the top frame's key
	wsStart  int64 // start of the current run of white space, or -1

	heldStart int64 // start of the value decoded whole that is being read, or -1
	heldDepth int   // len(stack) when it began
}

const (
	guardValue  = iota // between tokens
	guardString        // inside a string
	guardEscape        // after a backslash inside a string
	guardToken         // inside a number or literal
)

// guardFrame is one open object or array.
type guardFrame struct {
	array   bool
	wantKey bool   // object: the next string is a key
	key     []byte // object: the current key (its first bytes); the buffer is reused
	n       int    // array: elements begun
}

// maxKeyInPath is how much of a key the error's field path keeps.
const maxKeyInPath = 64

func newJSONGuard(r io.Reader) *jsonGuard {
	return &jsonGuard{r: r, wsStart: -1, heldStart: -1}
}

func (g *jsonGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	if serr := g.scan(p[:n]); serr != nil {
		g.err = serr
		return 0, serr
	}
	return n, err
}

// scan follows the document through b, the bytes at g.off.
func (g *jsonGuard) scan(b []byte) error {
	base := g.off
	defer func() { g.off = base + int64(len(b)) }()
scan:
	for i := 0; i < len(b); i++ {
		switch g.state {
		case guardString:
			// Jump to the next quote or backslash.
			rest := b[i:]
			j := bytes.IndexByte(rest, '"')
			if j < 0 {
				j = len(rest)
			}
			if k := bytes.IndexByte(rest[:j], '\\'); k >= 0 {
				j = k
			}
			if top := g.top(); g.isKey && len(top.key) < maxKeyInPath {
				top.key = append(top.key, rest[:min(j, maxKeyInPath-len(top.key))]...)
			}
			i += j
			if base+int64(i)-g.runStart > MaxSummaryString {
				return g.fail(g.runStart, g.isKey, fmt.Sprintf("a string longer than %d bytes (the limit of a summary's strings)", MaxSummaryString))
			}
			if i == len(b) {
				break scan
			}
			if b[i] == '\\' {
				g.state = guardEscape
				continue
			}
			g.state = guardValue
			continue
		case guardEscape:
			g.state = guardString
			continue
		case guardToken:
			if c := b[i]; c > ' ' && c != ',' && c != ':' && c != '"' && c != '{' && c != '}' && c != '[' && c != ']' {
				if base+int64(i)-g.runStart >= maxSummaryToken {
					return g.fail(g.runStart, false, fmt.Sprintf("a number or literal longer than %d bytes", maxSummaryToken))
				}
				continue
			}
			g.state = guardValue
		}
		off := base + int64(i)
		c := b[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			if g.wsStart < 0 {
				g.wsStart = off
			} else if off-g.wsStart >= MaxSummaryString {
				return g.fail(g.wsStart, false, fmt.Sprintf("more than %d bytes of white space in a row", MaxSummaryString))
			}
			continue
		}
		g.wsStart = -1
		if g.heldStart >= 0 && off-g.heldStart >= MaxSummaryValue {
			return g.failHeld()
		}
		switch c {
		case ':':
			if top := g.top(); top != nil && !top.array {
				top.wantKey = false
			}
		case ',':
			if top := g.top(); top != nil && !top.array {
				top.wantKey = true
			}
		case '}', ']':
			if len(g.stack) > 0 {
				g.stack = g.stack[:len(g.stack)-1]
			}
			if len(g.stack) <= g.heldDepth {
				g.heldStart = -1
			}
		case '"':
			g.state, g.runStart = guardString, off
			g.isKey = false
			if top := g.top(); top != nil && !top.array && top.wantKey {
				g.isKey, top.key = true, top.key[:0]
			} else {
				g.beginValue(off, 0)
			}
		case '{', '[':
			g.beginValue(off, c)
			if len(g.stack) >= MaxSummaryDepth {
				return g.fail(off, false, fmt.Sprintf("objects and arrays nested deeper than %d", MaxSummaryDepth))
			}
			g.push(c == '[')
		default:
			g.beginValue(off, 0)
			g.state, g.runStart = guardToken, off
		}
	}
	if g.heldStart >= 0 && base+int64(len(b))-g.heldStart > MaxSummaryValue {
		return g.failHeld()
	}
	return nil
}

// push opens an object or array, reusing the key buffer of a frame closed before.
func (g *jsonGuard) push(array bool) {
	if len(g.stack) < cap(g.stack) {
		g.stack = g.stack[:len(g.stack)+1]
		fr := &g.stack[len(g.stack)-1]
		*fr = guardFrame{array: array, wantKey: !array, key: fr.key[:0]}
		return
	}
	g.stack = append(g.stack, guardFrame{array: array, wantKey: !array})
}

func (g *jsonGuard) top() *guardFrame {
	if len(g.stack) == 0 {
		return nil
	}
	return &g.stack[len(g.stack)-1]
}

// beginValue notes a value starting at off in the innermost open container: an
// object or array when open is '{' or '[', a string or other token when 0. It notes
// whether the value is one the loader decodes whole.
func (g *jsonGuard) beginValue(off int64, open byte) {
	top := g.top()
	if top != nil && top.array {
		top.n++
	}
	if open == 0 || g.heldStart >= 0 || len(g.stack) == 0 || g.stack[0].array {
		return
	}
	// A value of the top-level object that is no array, or an element of one of its
	// arrays.
	if len(g.stack) == 1 && open == '{' || len(g.stack) == 2 && top.array {
		g.heldStart, g.heldDepth = off, len(g.stack)
	}
}

// failHeld is the error for the value decoded whole that exceeds MaxSummaryValue.
func (g *jsonGuard) failHeld() error {
	return g.fail(g.heldStart, false, fmt.Sprintf("a value longer than %d bytes (the limit of one flow record, input, host or entry)", MaxSummaryValue))
}

// fail is the error for the string, value or run at off in the current place (for a
// key: the key's place); the place of the value decoded whole when it is that value.
func (g *jsonGuard) fail(off int64, key bool, msg string) error {
	frames := g.stack
	if off == g.heldStart && len(frames) > g.heldDepth {
		frames = frames[:g.heldDepth]
	}
	var b strings.Builder
	for i, fr := range frames {
		switch {
		case fr.array:
			b.WriteString("[" + strconv.Itoa(max(fr.n-1, 0)) + "]")
		case key && i == len(frames)-1:
			if i > 0 {
				b.WriteString(".")
			}
			b.WriteString("(a key)")
		default:
			if i > 0 {
				b.WriteString(".")
			}
			q := strconv.QuoteToASCII(string(fr.key)) // a key from the file, printed safely
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return &LimitError{Offset: off, Field: b.String(), Msg: msg}
}
