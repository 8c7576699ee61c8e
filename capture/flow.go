package capture

import (
	"cmp"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// IP protocol numbers portclass names; any other protocol is reported as "ip-N".
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// HasPorts reports whether flows of protocol p are keyed by ports.
func HasPorts(p uint8) bool { return p == ProtoTCP || p == ProtoUDP || p == ProtoSCTP }

// ProtoName is the flow record's name for IP protocol p: "tcp", "udp", "sctp",
// "icmp", "icmpv6", or "ip-N".
func ProtoName(p uint8) string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoSCTP:
		return "sctp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	}
	return "ip-" + itoa(int(p))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Direction says which rule decided who is the client of a flow. The zero value is
// DirUnknown; the names are the flow record's `direction` values.
type Direction uint8

const (
	DirUnknown     Direction = iota
	DirSYN                   // "syn": the client sent the first SYN seen
	DirSYNACK                // "syn-ack": the client received a SYN-ACK (its SYN was missed)
	DirServicePort           // "service-port": only the server side uses a known service port
	DirPortClass             // "port-class": the server port is in a lower IANA class than the client port
	DirICMP                  // "icmp": the client sent the request of an ICMP request/reply pair
	DirFirstPacket           // "first-packet": the client sent the first packet seen (no better evidence)
)

var directionNames = [...]string{"unknown", "syn", "syn-ack", "service-port", "port-class", "icmp", "first-packet"}

func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return "unknown"
}

// Confident reports whether the direction came from the handshake itself rather
// than from a heuristic.
func (d Direction) Confident() bool { return d == DirSYN || d == DirSYNACK || d == DirICMP }

// ParseDirection is the inverse of Direction.String.
func ParseDirection(s string) Direction {
	for i, n := range directionNames {
		if n == s {
			return Direction(i)
		}
	}
	return DirUnknown
}

// State is a connection state in Zeek's conn_state vocabulary. The zero value is
// StateUnknown, which a finished flow never has. Flows without a handshake (UDP, ICMP,
// SCTP, other IP protocols) follow Zeek's rule for UDP: S0 when only the client sent,
// SF when both sides sent, SHR when only the server sent.
type State uint8

const (
	StateUnknown State = iota
	S0                 // connection attempt seen, no reply
	S1                 // established, not terminated
	SF                 // normal establishment and termination
	REJ                // connection attempt rejected (RST answered the SYN)
	S2                 // established, close attempt by originator seen (no reply from responder)
	S3                 // established, close attempt by responder seen (no reply from originator)
	RSTO               // established, originator aborted (sent a RST)
	RSTR               // responder sent a RST
	RSTOS0             // originator sent a SYN followed by a RST; no SYN-ACK from the responder
	RSTRH              // responder sent a SYN-ACK followed by a RST; no SYN from the originator
	SH                 // originator sent a SYN followed by a FIN; no SYN-ACK from the responder
	SHR                // responder sent a SYN-ACK followed by a FIN; no SYN from the originator
	OTH                // no SYN seen, just midstream traffic
)

var stateNames = [...]string{"", "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return ""
}

// ParseState is the inverse of State.String; unknown names give StateUnknown.
func ParseState(name string) State {
	for i, n := range stateNames {
		if i > 0 && n == name {
			return State(i)
		}
	}
	return StateUnknown
}

// TCP flag bits as they appear in the TCP header's flags byte.
const (
	FlagFIN uint8 = 0x01
	FlagSYN uint8 = 0x02
	FlagRST uint8 = 0x04
	FlagPSH uint8 = 0x08
	FlagACK uint8 = 0x10
	FlagURG uint8 = 0x20
	FlagECE uint8 = 0x40
	FlagCWR uint8 = 0x80
)

// FlagString renders TCP flag bits as tcpdump-like letters in a fixed order: "SAFRPUEC".
func FlagString(f uint8) string {
	const letters = "FSRPAUEC"
	order := [...]uint8{FlagSYN, FlagACK, FlagFIN, FlagRST, FlagPSH, FlagURG, FlagECE, FlagCWR}
	idx := [...]int{1, 4, 0, 2, 3, 5, 6, 7}
	var b []byte
	for i, bit := range order {
		if f&bit != 0 {
			b = append(b, letters[idx[i]])
		}
	}
	return string(b)
}

// ICMPError counts the ICMP or ICMPv6 error messages of one type and code that quoted a flow.
type ICMPError struct {
	V6    bool       // ICMPv6 rather than ICMP
	Type  uint8      // ICMP type, e.g. 3 (destination unreachable)
	Code  uint8      // ICMP code, e.g. 3 (port unreachable)
	From  netip.Addr // the router or host that sent the first such error
	Count uint32
}

// EndReason says why a flow record was emitted.
type EndReason uint8

const (
	EndUnknown EndReason = iota
	EndTimeout           // idle longer than its protocol's timeout
	EndInput             // the input ended with the flow still open
	EndEvicted           // pushed out early by Options.MaxFlows
	EndReused            // a new SYN arrived on the 4-tuple of a closed connection
	// EndActive marks a status record of a flow that is still open at an interval
	// boundary of a live capture: its counts, First and Last cover the packets since
	// the flow's previous record, so the records of one flow add up to the whole flow.
	EndActive
)

// endMark is an internal marker that never leaves the package: a worker's end of an
// interval, passed to the collector among the finished flows.
const endMark EndReason = 255

var endNames = [...]string{"", "timeout", "end-of-input", "evicted", "port-reuse", "active"}

func (e EndReason) String() string {
	if int(e) < len(endNames) {
		return endNames[e]
	}
	return ""
}

// Flow is one bidirectional flow, the record that crosses from capture to classify.
// Index 0 of the per-direction arrays is client→server, index 1 server→client.
// A Flow is a plain value; the ICMPErrors slice belongs to the Flow.
type Flow struct {
	Proto  uint8          // IP protocol number
	Client netip.AddrPort // port 0 for protocols without ports
	Server netip.AddrPort
	VLAN   uint16 // outermost 802.1Q VLAN ID, 0 if untagged (inside a tunnel: see README, Inputs)
	// Tunnel is the encapsulation the flow's packets travelled in, outermost first;
	// the zero value for none. Client and Server are the innermost packet's ends.
	Tunnel     TunnelPath
	Direction  Direction
	State      State
	First      time.Time // first packet, UTC
	Last       time.Time // last packet, UTC
	Packets    [2]uint64
	Bytes      [2]uint64 // frames' original wire lengths
	TCPFlags   [2]uint8  // OR of the TCP flags seen in each direction
	ICMPType   uint8     // for ICMP/ICMPv6 flows: the type of the first message
	ICMPCode   uint8
	ICMPErrors []ICMPError // errors that quoted this flow; they are not in Packets/Bytes
	Input      string      // file path or interface name
	End        EndReason
}

// ToServer and ToClient index the per-direction arrays of a Flow.
const (
	ToServer = 0
	ToClient = 1
)

// ParseProtoName is the inverse of ProtoName: "tcp" → 6, "ip-47" → 47. It reports
// false for any other string.
func ParseProtoName(s string) (uint8, bool) {
	switch s {
	case "tcp":
		return ProtoTCP, true
	case "udp":
		return ProtoUDP, true
	case "sctp":
		return ProtoSCTP, true
	case "icmp":
		return ProtoICMP, true
	case "icmpv6":
		return ProtoICMPv6, true
	}
	rest, ok := strings.CutPrefix(s, "ip-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 8)
	if err != nil || ProtoName(uint8(n)) != s { // "ip-6" is not a name: 6 is "tcp"; no leading zeros
		return 0, false
	}
	return uint8(n), true
}

// ParseEndReason is the inverse of EndReason.String; unknown names give EndUnknown.
func ParseEndReason(name string) EndReason {
	for i, n := range endNames {
		if i > 0 && n == name {
			return EndReason(i)
		}
	}
	return EndUnknown
}

// CompareFlows is the order in which reports list flows: first packet time, protocol
// number, client (address, then port), server, VLAN, tunnel path (TunnelPath.Compare:
// none first), last packet time, input, state,
// end reason, then the byte and packet counts, so that the order never depends on the
// order flows were emitted in (which varies with the number of workers). Addresses
// compare as netip does: IPv4 before IPv6, numerically.
func CompareFlows(a, b *Flow) int {
	if c := a.First.Compare(b.First); c != 0 {
		return c
	}
	return cmp.Or(
		cmp.Compare(a.Proto, b.Proto),
		a.Client.Compare(b.Client),
		a.Server.Compare(b.Server),
		cmp.Compare(a.VLAN, b.VLAN),
		a.Tunnel.Compare(b.Tunnel),
		a.Last.Compare(b.Last),
		cmp.Compare(a.Input, b.Input),
		cmp.Compare(a.State, b.State),
		cmp.Compare(a.End, b.End),
		cmp.Compare(a.Bytes[ToServer], b.Bytes[ToServer]),
		cmp.Compare(a.Bytes[ToClient], b.Bytes[ToClient]),
		cmp.Compare(a.Packets[ToServer], b.Packets[ToServer]),
		cmp.Compare(a.Packets[ToClient], b.Packets[ToClient]),
	)
}
