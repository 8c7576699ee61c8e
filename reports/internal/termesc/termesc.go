// Package termesc makes strings that came from a capture or from configuration safe to
// print on a terminal, in a CSV cell or in a Markdown table. Every text-like writer of
// package reports passes such strings through [String]; it is the one escaper they share.
//
// The idea is Hubble's terminalEscaperWriter: a DNS name, an SNI, a file name or a
// warning that quotes packet bytes must not be able to move the cursor, clear the
// screen, retitle the window or reorder the line that is printed around it.
package termesc

import (
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// String returns s with everything a terminal could act on replaced by a visible
// escape, and s itself (without allocating) when there is nothing to replace:
//
//   - C0 controls (U+0000–U+001F, including TAB, CR, LF and ESC, so that no escape
//     sequence survives) and DEL become \xNN;
//   - C1 controls (U+0080–U+009F, e.g. the 8-bit CSI U+009B) become the \xNN of
//     their two UTF-8 bytes, e.g. \xc2\x9b;
//   - each byte of invalid UTF-8 becomes \xNN, so the output is always valid UTF-8;
//   - line and paragraph separators (U+2028, U+2029) and the bidirectional
//     formatting characters (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), which can
//     make a line display in another order than it reads, become \uNNNN.
//
// A backslash is left as it is: an input that contains the text `\x1b` prints the same
// as one that contains ESC, which is harmless (nothing is interpreted) and keeps
// Windows paths readable.
func String(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return string(appendSlow(make([]byte, 0, len(s)+16), s, i))
		}
	}
	return s
}

// Append appends the escaped form of s (see [String]) to dst.
func Append(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return appendSlow(dst, s, i)
		}
	}
	return append(dst, s...)
}

// appendSlow appends s to dst escaping from byte i on; s[:i] is known to be clean.
func appendSlow(dst []byte, s string, i int) []byte {
	dst = append(dst, s[:i]...)
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf { // C0 or DEL
			dst = appendHex(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1: // invalid UTF-8: one byte at a time
			dst = appendHex(dst, c)
		case r >= 0x80 && r <= 0x9f: // C1 control
			for j := 0; j < size; j++ {
				dst = appendHex(dst, s[i+j])
			}
		case isFormatting(r):
			dst = append(dst, '\\', 'u',
				hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

func appendHex(dst []byte, c byte) []byte {
	return append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
}

// Unsafe reports whether a rune that JSON may carry unescaped must still be kept from a
// terminal: DEL, a C1 control, or a line separator or bidirectional formatting
// character. The JSON writers escape these as \uNNNN so that their output is safe to
// print too.
func Unsafe(r rune) bool {
	return r == 0x7f || (r >= 0x80 && r <= 0x9f) || isFormatting(r)
}

// isFormatting reports whether r is a line separator or a bidirectional formatting
// character (the "Trojan Source" set, CVE-2021-42574).
func isFormatting(r rune) bool {
	switch {
	case r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
