package policy

import "github.com/portclass/portclass/capture"

// Outcome is the verdict of a required check, and what one flow says about it. The zero
// value is OutcomeUnknown.
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

// FlowOutcome is what a flow with outcome o says of a required check: ok when the
// server answered (with or without a handshake seen), blocked-unanswered for TCP
// attempts nothing answered and for datagrams only the client sent (a one-way UDP
// protocol such as syslog looks the same: make such rules allowed, not required),
// blocked-refused and blocked-icmp as capture.OutcomeOf says.
func FlowOutcome(o capture.Outcome) Outcome {
	switch o {
	case capture.OutcomeEstablished, capture.OutcomeAnswered:
		return OutcomeOK
	case capture.OutcomeUnanswered, capture.OutcomeNoReply:
		return OutcomeUnanswered
	case capture.OutcomeRefused:
		return OutcomeRefused
	case capture.OutcomeICMPBlocked:
		return OutcomeICMP
	}
	return OutcomeUnknown
}
