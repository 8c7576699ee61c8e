package classify

import (
	"fmt"

	"github.com/portclass/portclass/capture"
)

// Outcome is what the network did with a connection attempt, and the verdict of a
// required check. The zero value is OutcomeUnknown.
type Outcome uint8

const (
	OutcomeUnknown    Outcome = iota // the flow does not tell (e.g. one-way mid-stream TCP)
	OutcomeOK                        // "ok": established (TCP S1, SF, S2, S3, RSTO, RSTR...) or answered (UDP, ICMP)
	OutcomeUnanswered                // "blocked-unanswered": attempts only (TCP S0, SH, RSTOS0; one-way UDP), no answer
	OutcomeRefused                   // "blocked-refused": a RST answered the SYN (TCP REJ)
	OutcomeICMP                      // "blocked-icmp": an ICMP unreachable (e.g. administratively prohibited) quoted the attempt
	OutcomeNotTested                 // "not-tested": no attempt in the capture; nothing can be said
)

var outcomeNames = [...]string{"", "ok", "blocked-unanswered", "blocked-refused", "blocked-icmp", "not-tested"}

// String is the verdict's name in reports.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return ""
}

// Blocked reports whether o is one of the blocked-* outcomes.
func (o Outcome) Blocked() bool {
	return o == OutcomeUnanswered || o == OutcomeRefused || o == OutcomeICMP
}

// FlowOutcome says what happened to flow f, by the rules reports.Reachability also
// uses for the attempts section:
//
//   - blocked-icmp: nothing came back from the server and an ICMP destination
//     unreachable (ICMP type 3, any code; ICMPv6 type 1) quoted the attempt. It wins over
//     the flow's own state, since a firewall that rejects with ICMP leaves a TCP flow in S0.
//   - TCP: ok once the server answered the SYN (S1, SF, S2, S3, RSTO; RSTR when the
//     server sent a SYN-ACK; RSTRH and SHR, whose SYN the capture missed; OTH with packets
//     both ways, a connection picked up mid-stream), refused for REJ and for RSTR without
//     a SYN-ACK, unanswered for S0, SH and RSTOS0. One-way OTH tells nothing (unknown).
//   - Other protocols: ok when both sides sent, unanswered when only the client did
//     (a one-way UDP protocol such as syslog looks the same: make such rules allowed,
//     not required), unknown when only the server did.
func FlowOutcome(f *capture.Flow) Outcome {
	toServer, toClient := f.Packets[capture.ToServer] > 0, f.Packets[capture.ToClient] > 0
	if !toClient {
		for _, e := range f.ICMPErrors {
			if BlockingICMP(e.V6, e.Type) {
				return OutcomeICMP
			}
		}
	}
	if f.Proto != capture.ProtoTCP {
		switch {
		case toServer && toClient:
			return OutcomeOK
		case toServer:
			return OutcomeUnanswered
		}
		return OutcomeUnknown
	}
	switch f.State {
	case capture.S1, capture.SF, capture.S2, capture.S3, capture.RSTO, capture.RSTRH, capture.SHR:
		return OutcomeOK
	case capture.RSTR:
		if f.TCPFlags[capture.ToClient]&capture.FlagSYN != 0 {
			return OutcomeOK
		}
		return OutcomeRefused
	case capture.REJ:
		return OutcomeRefused
	case capture.S0, capture.SH, capture.RSTOS0:
		return OutcomeUnanswered
	case capture.OTH:
		if toServer && toClient {
			return OutcomeOK
		}
	}
	return OutcomeUnknown
}

// BlockingICMP reports whether an ICMP error of this type says the quoted packet did
// not reach its destination: destination unreachable (ICMP type 3, ICMPv6 type 1), of
// any code (port unreachable from the server, administratively prohibited from a
// firewall, ...).
func BlockingICMP(v6 bool, typ uint8) bool {
	if v6 {
		return typ == 1
	}
	return typ == 3
}

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
