package reports

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/reports/internal/termesc"
)

// SchemaVersion is the version of the flow record and summary contracts. NDJSON lines
// and summaries carry it as "schema_version"; readers reject other versions.
const SchemaVersion = 1

// TimeLayout is how records and summaries write instants: RFC 3339 in UTC with exactly
// nine fractional digits, so that timestamps sort as strings.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Record is the flow record contract: one finished flow with its verdict, as written to
// NDJSON, CSV and the summary's "flows". The JSON field order is fixed (it is the
// order of the fields below) and new fields are only ever appended.
//
// Client and Server are "addr:port" ("[addr]:port" for IPv6) for protocols with ports
// and the bare address otherwise. First and Last are UTC. Flags, Veeam and ICMPErrors
// are never nil in a Record built by [NewRecord] or decoded from a record it wrote, so
// they encode as [] rather than null.
//
// A Record written by [Record.MarshalJSON] or any encoder of this package and read back
// with encoding/json equals the original, provided its strings are valid UTF-8 (invalid
// bytes are written as U+FFFD, as encoding/json does).
type Record struct {
	Proto            string        `json:"proto"`     // "tcp", "udp", "sctp", "icmp", "icmpv6" or "ip-N"
	Client           string        `json:"client"`    // the side that opened the flow
	Server           string        `json:"server"`    // the side that accepted it
	VLAN             uint16        `json:"vlan"`      // outermost 802.1Q VLAN ID, 0 if untagged
	Direction        string        `json:"direction"` // capture.Direction.String(): the rule that chose the client
	State            string        `json:"state"`     // Zeek conn_state, e.g. "SF", "S0", "REJ"
	First            time.Time     `json:"first"`
	Last             time.Time     `json:"last"`
	PacketsToServer  uint64        `json:"packets_to_server"`
	PacketsToClient  uint64        `json:"packets_to_client"`
	BytesToServer    uint64        `json:"bytes_to_server"` // frames' original wire lengths
	BytesToClient    uint64        `json:"bytes_to_client"`
	TCPFlagsToServer string        `json:"tcp_flags_to_server"` // capture.FlagString letters, "" for other protocols
	TCPFlagsToClient string        `json:"tcp_flags_to_client"`
	ICMPType         uint8         `json:"icmp_type,omitempty"` // ICMP flows: type of the first message; written for every ICMP flow, even when 0
	ICMPCode         uint8         `json:"icmp_code,omitempty"`
	PortClass        string        `json:"port_class"` // "well-known", "registered", "dynamic" or "" without ports
	Service          string        `json:"service"`    // service name of the server port, "" if none
	Flags            []string      `json:"flags"`      // classify flag names, sorted
	Veeam            []veeam.Match `json:"veeam"`      // Veeam rules that explain the flow, sorted by rule
	ICMPErrors       []ICMPError   `json:"icmp_errors"`
	Input            string        `json:"input"` // file path or interface name
	End              string        `json:"end"`   // capture.EndReason.String(): why the record was emitted
}

// ICMPError counts the ICMP or ICMPv6 error messages of one type and code that quoted a
// flow; they are not included in the flow's packets and bytes.
type ICMPError struct {
	Type  uint8  `json:"type"`
	Code  uint8  `json:"code"`
	V6    bool   `json:"v6,omitempty"` // ICMPv6 rather than ICMP
	From  string `json:"from"`         // address of the router or host that sent the first such error
	Count uint32 `json:"count"`
}

// NewRecord builds the record of flow f with verdict v (v may be nil: no verdict).
// The record shares v.Flags and v.Veeam with v instead of copying them; neither may be
// modified afterwards. It allocates the address strings and, when the flow has ICMP
// errors, their slice.
func NewRecord(f *capture.Flow, v *classify.Verdict) Record {
	r := Record{
		Proto:      capture.ProtoName(f.Proto),
		Client:     endpoint(f.Proto, f.Client),
		Server:     endpoint(f.Proto, f.Server),
		VLAN:       f.VLAN,
		Direction:  f.Direction.String(),
		State:      f.State.String(),
		First:      f.First.UTC(),
		Last:       f.Last.UTC(),
		Input:      f.Input,
		End:        f.End.String(),
		Flags:      []string{}, // zero-length literals do not allocate
		Veeam:      []veeam.Match{},
		ICMPErrors: []ICMPError{},

		PacketsToServer: f.Packets[capture.ToServer],
		PacketsToClient: f.Packets[capture.ToClient],
		BytesToServer:   f.Bytes[capture.ToServer],
		BytesToClient:   f.Bytes[capture.ToClient],
	}
	if f.Proto == capture.ProtoTCP {
		r.TCPFlagsToServer = capture.FlagString(f.TCPFlags[capture.ToServer])
		r.TCPFlagsToClient = capture.FlagString(f.TCPFlags[capture.ToClient])
	}
	if f.Proto == capture.ProtoICMP || f.Proto == capture.ProtoICMPv6 {
		r.ICMPType, r.ICMPCode = f.ICMPType, f.ICMPCode
	}
	if len(f.ICMPErrors) > 0 {
		r.ICMPErrors = make([]ICMPError, len(f.ICMPErrors))
		for i, e := range f.ICMPErrors {
			r.ICMPErrors[i] = ICMPError{Type: e.Type, Code: e.Code, V6: e.V6, Count: e.Count}
			if e.From.IsValid() {
				r.ICMPErrors[i].From = e.From.String()
			}
		}
	}
	if v != nil {
		r.PortClass = v.PortClass.String()
		r.Service = v.Service
		if v.Flags != nil {
			r.Flags = v.Flags
		}
		if v.Veeam != nil {
			r.Veeam = v.Veeam
		}
	}
	return r
}

// endpoint renders one side of a flow: "addr:port" or "[addr]:port" for protocols with
// ports, the bare address otherwise.
func endpoint(proto uint8, ap netip.AddrPort) string {
	if !ap.Addr().IsValid() {
		return ""
	}
	if capture.HasPorts(proto) {
		return ap.String()
	}
	return ap.Addr().String()
}

// Packets is the number of packets in both directions.
func (r *Record) Packets() uint64 { return r.PacketsToServer + r.PacketsToClient }

// Bytes is the number of bytes in both directions.
func (r *Record) Bytes() uint64 { return r.BytesToServer + r.BytesToClient }

// hasPorts reports whether records of protocol name proto carry ports in Client/Server.
func hasPorts(proto string) bool { return proto == "tcp" || proto == "udp" || proto == "sctp" }

func isICMP(proto string) bool { return proto == "icmp" || proto == "icmpv6" }

// HostOf returns the address part of an endpoint string of a record of protocol proto:
// "192.0.2.1:80" → "192.0.2.1", "[2001:db8::1]:80" → "2001:db8::1"; endpoints without
// ports are returned unchanged. The result shares memory with endpoint.
func HostOf(proto, endpoint string) string {
	if !hasPorts(proto) {
		return endpoint
	}
	if len(endpoint) > 0 && endpoint[0] == '[' {
		for i := 1; i < len(endpoint); i++ {
			if endpoint[i] == ']' {
				return endpoint[1:i]
			}
		}
		return endpoint
	}
	for i := len(endpoint) - 1; i >= 0; i-- {
		if endpoint[i] == ':' {
			return endpoint[:i]
		}
	}
	return endpoint
}

// PortOf returns the port of an endpoint string of a record of protocol proto, and false
// for protocols without ports or a malformed endpoint. It does not allocate.
func PortOf(proto, endpoint string) (uint16, bool) {
	if !hasPorts(proto) {
		return 0, false
	}
	for i := len(endpoint) - 1; i >= 0; i-- {
		if endpoint[i] == ':' {
			if i > 0 && endpoint[i-1] != ']' && endpoint[0] == '[' {
				return 0, false
			}
			p, err := strconv.ParseUint(endpoint[i+1:], 10, 16)
			if err != nil {
				return 0, false
			}
			return uint16(p), true
		}
	}
	return 0, false
}

// MarshalJSON writes the record with the same appender as the NDJSON encoder, so that
// records inside a summary and on their own look alike. It never fails.
func (r Record) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, 512), false), nil
}

// AppendJSON appends the record as one line of compact JSON (without a newline) to b,
// with "schema_version" first when withSchema is set (as NDJSON lines have it). It does
// not use reflection and, given a b with room, does not allocate.
func (r *Record) AppendJSON(b []byte, withSchema bool) []byte {
	b = append(b, '{')
	if withSchema {
		b = append(b, `"schema_version":`...)
		b = strconv.AppendInt(b, SchemaVersion, 10)
		b = append(b, ',')
	}
	b = append(b, `"proto":`...)
	b = appendJSONString(b, r.Proto)
	b = append(b, `,"client":`...)
	b = appendJSONString(b, r.Client)
	b = append(b, `,"server":`...)
	b = appendJSONString(b, r.Server)
	b = append(b, `,"vlan":`...)
	b = strconv.AppendUint(b, uint64(r.VLAN), 10)
	b = append(b, `,"direction":`...)
	b = appendJSONString(b, r.Direction)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, r.State)
	b = append(b, `,"first":"`...)
	b = appendTime(b, r.First)
	b = append(b, `","last":"`...)
	b = appendTime(b, r.Last)
	b = append(b, `","packets_to_server":`...)
	b = strconv.AppendUint(b, r.PacketsToServer, 10)
	b = append(b, `,"packets_to_client":`...)
	b = strconv.AppendUint(b, r.PacketsToClient, 10)
	b = append(b, `,"bytes_to_server":`...)
	b = strconv.AppendUint(b, r.BytesToServer, 10)
	b = append(b, `,"bytes_to_client":`...)
	b = strconv.AppendUint(b, r.BytesToClient, 10)
	b = append(b, `,"tcp_flags_to_server":`...)
	b = appendJSONString(b, r.TCPFlagsToServer)
	b = append(b, `,"tcp_flags_to_client":`...)
	b = appendJSONString(b, r.TCPFlagsToClient)
	// icmp_type/icmp_code are omitted for other protocols, but written for ICMP flows
	// even when zero (echo reply is type 0), and whenever non-zero so nothing is lost.
	if isICMP(r.Proto) || r.ICMPType != 0 || r.ICMPCode != 0 {
		b = append(b, `,"icmp_type":`...)
		b = strconv.AppendUint(b, uint64(r.ICMPType), 10)
		b = append(b, `,"icmp_code":`...)
		b = strconv.AppendUint(b, uint64(r.ICMPCode), 10)
	}
	b = append(b, `,"port_class":`...)
	b = appendJSONString(b, r.PortClass)
	b = append(b, `,"service":`...)
	b = appendJSONString(b, r.Service)
	b = append(b, `,"flags":[`...)
	for i, f := range r.Flags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f)
	}
	b = append(b, `],"veeam":[`...)
	for i, m := range r.Veeam {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"rule":`...)
		b = appendJSONString(b, m.Rule)
		b = append(b, `,"service":`...)
		b = appendJSONString(b, m.Service)
		b = append(b, `,"from":`...)
		b = appendJSONString(b, m.From)
		b = append(b, `,"to":`...)
		b = appendJSONString(b, m.To)
		b = append(b, '}')
	}
	b = append(b, `],"icmp_errors":[`...)
	for i, e := range r.ICMPErrors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = strconv.AppendUint(b, uint64(e.Type), 10)
		b = append(b, `,"code":`...)
		b = strconv.AppendUint(b, uint64(e.Code), 10)
		if e.V6 {
			b = append(b, `,"v6":true`...)
		}
		b = append(b, `,"from":`...)
		b = appendJSONString(b, e.From)
		b = append(b, `,"count":`...)
		b = strconv.AppendUint(b, uint64(e.Count), 10)
		b = append(b, '}')
	}
	b = append(b, `],"input":`...)
	b = appendJSONString(b, r.Input)
	b = append(b, `,"end":`...)
	b = appendJSONString(b, r.End)
	return append(b, '}')
}

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
