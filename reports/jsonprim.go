package reports

import (
	"time"
	"unicode/utf8"

	"github.com/portclass/portclass/reports/internal/termesc"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping what encoding/json escapes with
// HTML escaping off (quote, backslash, C0 controls, U+2028, U+2029; invalid UTF-8
// becomes U+FFFD) and also DEL, C1 controls and bidi formatting characters as \uNNNN,
// so that JSON output printed on a terminal is as safe as the text report. Decoding
// gives the original string back either way.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if termesc.Unsafe(r) {
			b = append(b, s[start:i]...)
			b = appendUnicodeEscape(b, r)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendUnicodeEscape(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// jsonTerminalSafe rewrites the DEL, C1 and bidi formatting characters that
// encoding/json leaves raw as \uNNNN escapes. Such runes can only occur inside JSON
// strings, so the rewrite is valid anywhere in a document. b is returned unchanged
// (not copied) when there is nothing to rewrite.
func jsonTerminalSafe(b []byte) []byte {
	clean := true
	for _, c := range b {
		if c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if termesc.Unsafe(r) {
			out = appendUnicodeEscape(out, r)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// appendTime appends t in UTC in TimeLayout. It formats by hand for years 0–9999
// (about 4× faster than time.AppendFormat, which parses the layout every call) and
// falls back to AppendFormat otherwise.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeLayout)
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

// appendDigits appends the n lowest decimal digits of v (v ≥ 0), zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	var d [9]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}
