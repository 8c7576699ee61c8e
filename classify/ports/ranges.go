package ports

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Range is a named, inclusive range of ports, such as an operating system's
// ephemeral (client source) port range. Name appears in flags ("server-ephemeral:linux").
type Range struct {
	Name   string
	Lo, Hi uint16
}

// Contains reports whether Lo <= port <= Hi.
func (r Range) Contains(port uint16) bool { return r.Lo <= port && port <= r.Hi }

// DefaultEphemeral is the ephemeral ranges a classify.Classifier uses when its Options.Ephemeral is
// nil: Linux's default net.ipv4.ip_local_port_range (32768-60999) and the range of
// Windows since Vista and Server 2008 (49152-65535), which is also RFC 6335's dynamic
// range and the default of macOS and the BSDs. Treat it as read-only; New copies it.
var DefaultEphemeral = []Range{{"linux", 32768, 60999}, {"windows", 49152, 65535}}

// ParseRange parses a port ("6162") or an inclusive range of ports ("2500-3300").
// White space around the numbers is ignored; signs, empty parts, numbers above 65535
// and ranges that end before they start are errors that quote s.
func ParseRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(s, a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parsePort(s, b); err != nil {
		return 0, 0, err
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("port range %q: starts at %d, after its end %d", s, lo, hi)
	}
	return lo, hi, nil
}

// parsePort parses part, one number of the port range s.
func parsePort(s, part string) (uint16, error) {
	part = strings.TrimSpace(part)
	if part == "" {
		return 0, fmt.Errorf("port range %q: missing port number", s)
	}
	n, err := strconv.ParseUint(part, 10, 16)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("port range %q: %s is above 65535", s, part)
	}
	if err != nil {
		return 0, fmt.Errorf("port range %q: %q is not a port number", s, part)
	}
	return uint16(n), nil
}
