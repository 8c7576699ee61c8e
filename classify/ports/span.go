package ports

import (
	"strconv"
	"strings"
)

// Span is an inclusive range of ports; Lo == Hi for a single port. Its text form is
// "6162" or "2500-3300", in JSON too.
type Span struct {
	Lo, Hi uint16
}

// Contains reports whether Lo <= port <= Hi.
func (s Span) Contains(port uint16) bool { return s.Lo <= port && port <= s.Hi }

// Overlaps reports whether s and o share a port.
func (s Span) Overlaps(o Span) bool { return s.Lo <= o.Hi && o.Lo <= s.Hi }

// String is "6162" or "2500-3300".
func (s Span) String() string {
	if s.Lo == s.Hi {
		return strconv.Itoa(int(s.Lo))
	}
	return strconv.Itoa(int(s.Lo)) + "-" + strconv.Itoa(int(s.Hi))
}

// MarshalText writes s.String().
func (s Span) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses "6162" or "2500-3300" with ParseRange.
func (s *Span) UnmarshalText(b []byte) error {
	lo, hi, err := ParseRange(string(b))
	if err != nil {
		return err
	}
	*s = Span{lo, hi}
	return nil
}

// JoinSpans joins spans with ", ": "22, 2500-3300".
func JoinSpans(spans []Span) string {
	var b strings.Builder
	for i, s := range spans {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.String())
	}
	return b.String()
}
