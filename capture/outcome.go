package capture

// Outcome is what the network did with a flow: whether its server answered, refused or
// never saw it. It is computed from the flow alone (connection state, packets each way,
// the ICMP errors that quoted it) by [OutcomeOf], the one place that reads states for
// this; the zero value is OutcomeUnknown. Reports name the outcomes the way their
// sections do (a "reachability" of established, refused, unanswered or icmp-blocked;
// verify's ok and blocked-*): see Answered, Blocked and Attempt.
type Outcome uint8

const (
	OutcomeUnknown     Outcome = iota // the flow does not tell: only the server side was seen, or TCP mid-stream one way
	OutcomeEstablished                // TCP: the server accepted the SYN (S1, SF, S2, S3, RSTO; RSTR after a SYN-ACK); UDP, SCTP: both sides sent
	OutcomeAnswered                   // the server answered, but no attempt to judge was seen: TCP mid-stream (OTH both ways, RSTRH, SHR), or another protocol (ICMP, GRE, ...) both ways
	OutcomeRefused                    // TCP: a RST answered the SYN (REJ, RSTR without a SYN-ACK)
	OutcomeUnanswered                 // TCP: SYNs and nothing back (S0; SH, RSTOS0 when the client gave up)
	OutcomeNoReply                    // not TCP: only the client sent (a one-way protocol such as syslog, or a blocked one)
	OutcomeICMPBlocked                // nothing came back and an ICMP destination unreachable quoted the flow
)

var outcomeNames = [...]string{"unknown", "established", "answered", "refused", "unanswered", "no-reply", "icmp-blocked"}

// String is the outcome's name: "unknown", "established", "answered", "refused",
// "unanswered", "no-reply" or "icmp-blocked".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Answered reports whether the server answered: the path to its port works.
func (o Outcome) Answered() bool { return o == OutcomeEstablished || o == OutcomeAnswered }

// Blocked reports whether nothing got through: refused, unanswered, no reply, or an
// ICMP unreachable.
func (o Outcome) Blocked() bool {
	return o == OutcomeRefused || o == OutcomeUnanswered || o == OutcomeNoReply || o == OutcomeICMPBlocked
}

// Attempt reports whether the flow is a connection attempt whose fate the capture
// shows, as the attempts section and diff count them: established, refused, unanswered
// or ICMP-blocked. Mid-stream TCP, answered ICMP and one-way datagrams are not: a
// one-way datagram may belong to a one-way protocol (syslog), so it is not counted as a
// failure.
func (o Outcome) Attempt() bool {
	return o == OutcomeEstablished || o == OutcomeRefused || o == OutcomeUnanswered || o == OutcomeICMPBlocked
}

// Failed reports whether the flow is an attempt that did not get through: refused,
// unanswered or ICMP-blocked (Attempt and not established).
func (o Outcome) Failed() bool {
	return o == OutcomeRefused || o == OutcomeUnanswered || o == OutcomeICMPBlocked
}

// OutcomeOf says what happened to flow f:
//
//   - icmp-blocked: nothing came back from the server and an ICMP destination
//     unreachable (ICMP type 3, any code; ICMPv6 type 1) quoted the flow. It wins over
//     the flow's own state, since a firewall that rejects with ICMP leaves a TCP flow in
//     S0.
//   - TCP: established once the server answered the SYN (S1, SF, S2, S3, RSTO; RSTR
//     when the server sent a SYN-ACK), answered for RSTRH and SHR (whose SYN the capture
//     missed) and OTH with packets both ways (a connection picked up mid-stream),
//     refused for REJ and for RSTR without a SYN-ACK, unanswered for S0, SH and RSTOS0;
//     unknown otherwise (one-way OTH).
//   - UDP and SCTP: established when both sides sent, no-reply when only the client
//     did; other protocols: answered and no-reply likewise. Unknown when only the
//     server sent.
func OutcomeOf(f *Flow) Outcome {
	toServer, toClient := f.Packets[ToServer] > 0, f.Packets[ToClient] > 0
	if !toClient {
		for _, e := range f.ICMPErrors {
			if BlockingICMP(e.V6, e.Type) {
				return OutcomeICMPBlocked
			}
		}
	}
	if f.Proto != ProtoTCP {
		switch {
		case toServer && toClient:
			if f.Proto == ProtoUDP || f.Proto == ProtoSCTP {
				return OutcomeEstablished
			}
			return OutcomeAnswered
		case toServer:
			return OutcomeNoReply
		}
		return OutcomeUnknown
	}
	switch f.State {
	case S1, SF, S2, S3, RSTO:
		return OutcomeEstablished
	case RSTRH, SHR:
		return OutcomeAnswered
	case RSTR:
		if f.TCPFlags[ToClient]&FlagSYN != 0 {
			return OutcomeEstablished
		}
		return OutcomeRefused
	case REJ:
		return OutcomeRefused
	case S0, SH, RSTOS0:
		return OutcomeUnanswered
	case OTH:
		if toServer && toClient {
			return OutcomeAnswered
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
