package classify

import (
	"fmt"

	"github.com/portclass/portclass/capture"
)

// IsICMPError reports whether f is a flow of ICMP error messages (destination
// unreachable, time exceeded, parameter problem, packet too big, source quench): they
// speak about other flows, which carry them in their ICMPErrors, so verify does not
// count them as traffic of their own unless a rule matches them.
func IsICMPError(f *capture.Flow) bool {
	switch f.Proto {
	case capture.ProtoICMP:
		return f.ICMPType == 3 || f.ICMPType == 4 || f.ICMPType == 11 || f.ICMPType == 12
	case capture.ProtoICMPv6:
		return f.ICMPType >= 1 && f.ICMPType <= 4
	}
	return false
}

// ICMPErrorMeaning names an ICMP or ICMPv6 error type and code, e.g. "communication
// administratively prohibited" for ICMP 3/13.
func ICMPErrorMeaning(v6 bool, typ, code uint8) string {
	if v6 {
		switch typ {
		case 1:
			names := [...]string{"no route to destination", "communication administratively prohibited",
				"beyond scope of source address", "address unreachable", "port unreachable",
				"source address failed ingress/egress policy", "reject route to destination"}
			if int(code) < len(names) {
				return names[code]
			}
			return "destination unreachable"
		case 2:
			return "packet too big"
		case 3:
			return "time exceeded"
		case 4:
			return "parameter problem"
		}
		return fmt.Sprintf("ICMPv6 type %d", typ)
	}
	switch typ {
	case 3:
		names := [...]string{"network unreachable", "host unreachable", "protocol unreachable", "port unreachable",
			"fragmentation needed", "source route failed", "destination network unknown", "destination host unknown",
			"source host isolated", "network administratively prohibited", "host administratively prohibited",
			"network unreachable for TOS", "host unreachable for TOS", "communication administratively prohibited",
			"host precedence violation", "precedence cutoff in effect"}
		if int(code) < len(names) {
			return names[code]
		}
		return "destination unreachable"
	case 4:
		return "source quench"
	case 11:
		return "time exceeded"
	case 12:
		return "parameter problem"
	}
	return fmt.Sprintf("ICMP type %d", typ)
}
