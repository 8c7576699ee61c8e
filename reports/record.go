package reports

import (
	"net/netip"
	"strconv"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
)

// SchemaVersion is the version of the flow record and summary contracts. NDJSON lines
// and summaries carry it as "schema_version"; readers reject other versions.
const SchemaVersion = 1

// TimeLayout is how records and summaries write instants: RFC 3339 in UTC with exactly
// nine fractional digits, so that timestamps sort as strings.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// The flow record contract: one classified flow ([classify.Flow]) as written to
// NDJSON, CSV and the summary's "flows", a JSON object with these fields in this order
// (new fields are only ever appended):
//
//	proto                "tcp", "udp", "sctp", "icmp", "icmpv6" or "ip-N"
//	client, server       "addr:port" ("[addr]:port" for IPv6) for protocols with ports,
//	                     the bare address otherwise; the client opened the flow
//	vlan                 outermost 802.1Q VLAN ID, 0 if untagged
//	direction            the rule that chose the client (capture.Direction)
//	state                Zeek conn_state, e.g. "SF", "S0", "REJ"
//	first, last          UTC, TimeLayout
//	packets_to_server, packets_to_client, bytes_to_server, bytes_to_client
//	                     bytes are the frames' original wire lengths
//	tcp_flags_to_server, tcp_flags_to_client
//	                     capture.FlagString letters, "" for other protocols
//	icmp_type, icmp_code ICMP flows only: type and code of the first message (written
//	                     even when 0: echo reply is type 0)
//	port_class           "well-known", "registered", "dynamic", or "" without ports
//	service              service of the server port: user-defined, else the Veeam
//	                     service when veeam is not empty, else IANA's; "" if none
//	flags                classify flag names, sorted
//	veeam                [{rule, service, from, to}]: the Veeam rules that explain the
//	                     flow, sorted by rule
//	icmp_errors          [{type, code, v6 (only when true), from, count}]: the ICMP
//	                     errors that quoted the flow, not counted in its packets
//	input                file path or interface name
//	end                  why the record was emitted (capture.EndReason)
//	iana_service         IANA's name of the server port, "" if none (appended for
//	                     issue 14; records without it load with service's value)
//	tunnel               [{type, id, outer_client, outer_server}]: the tunnels the
//	                     flow's packets travelled in, outermost first (capture.Tunnel;
//	                     id only for the types that have one, the VNI, GRE key or
//	                     ERSPAN session); only for flows inside a tunnel. A flow whose
//	                     path the capture could not keep has [{"type":"unknown"}]
//	app_protocol         the application protocol recognised from the payload
//	                     (capture/appid's vocabulary: "tls", "http", ...), "" when none
//	                     was (always "" for protocols other than TCP and UDP)
//	tls_sni, tls_alpn    only when found: the TLS server name and the ALPN names the
//	                     client offered (joined by ","), for app_protocol tls,
//	                     postgresql or rdp
//	http_host            only when found: the Host of the first HTTP request (http)
//	ssh_banner           only when found: the server's SSH identification string (ssh)
//	                     The four are bytes from the wire, at most 255, escaped like
//	                     every string (invalid UTF-8 becomes U+FFFD)
//	unexpected           only for unexpected traffic: why nothing explains the flow,
//	                     ["unexplained-port", "protocol-mismatch", "ephemeral-server"]
//	                     in that order (classify.Reason); what the unexpected section
//	                     is built from
//
// appendRecord writes it; decodeRecord (load.go) reads it back into an equal flow.

// ICMPError is the ICMP or ICMPv6 error messages of one type and code that quoted the
// flows of a diff's conversation, as the diff report lists them.
type ICMPError struct {
	Type  uint8  `json:"type"`
	Code  uint8  `json:"code"`
	V6    bool   `json:"v6,omitempty"` // ICMPv6 rather than ICMP
	From  string `json:"from"`         // address of the router or host that sent the first such error
	Count uint32 `json:"count"`
}

// icmpErrorOf is e as reports name it.
func icmpErrorOf(e capture.ICMPError) ICMPError {
	r := ICMPError{Type: e.Type, Code: e.Code, V6: e.V6, Count: e.Count}
	if e.From.IsValid() {
		r.From = e.From.String()
	}
	return r
}

// isICMP reports whether flows of protocol p carry an ICMP type and code.
func isICMP(p uint8) bool { return p == capture.ProtoICMP || p == capture.ProtoICMPv6 }

// endpoint renders one side of a flow: "addr:port" or "[addr]:port" for protocols with
// ports, the bare address otherwise, "" for none.
func endpoint(proto uint8, ap netip.AddrPort) string {
	if !ap.Addr().IsValid() {
		return ""
	}
	if capture.HasPorts(proto) {
		return ap.String()
	}
	return ap.Addr().String()
}

// appendEndpoint appends endpoint(proto, ap) without allocating. Addresses hold no
// character JSON escapes (records with zones are refused on load).
func appendEndpoint(b []byte, proto uint8, ap netip.AddrPort) []byte {
	if !ap.Addr().IsValid() {
		return b
	}
	if capture.HasPorts(proto) {
		return ap.AppendTo(b)
	}
	return ap.Addr().AppendTo(b)
}

// appendTCPFlags appends capture.FlagString(f) without allocating.
func appendTCPFlags(b []byte, f uint8) []byte {
	const order = "SAFRPUEC"
	bits := [...]uint8{capture.FlagSYN, capture.FlagACK, capture.FlagFIN, capture.FlagRST, capture.FlagPSH, capture.FlagURG, capture.FlagECE, capture.FlagCWR}
	for i, bit := range bits {
		if f&bit != 0 {
			b = append(b, order[i])
		}
	}
	return b
}

// tcpFlags returns the record's tcp_flags_to_server and tcp_flags_to_client: the letters
// for TCP flows, "" for others.
func tcpFlags(f *classify.Flow) (toServer, toClient string) {
	if f.Proto != capture.ProtoTCP {
		return "", ""
	}
	return tcpFlagNames[f.TCPFlags[capture.ToServer]], tcpFlagNames[f.TCPFlags[capture.ToClient]]
}

// tcpFlagNames is capture.FlagString of every set of flags, so that tcpFlags does not
// allocate (two strings a record otherwise: the Parquet encoder's most frequent
// allocation with the endpoints).
var tcpFlagNames = func() (names [256]string) {
	for f := range names {
		names[f] = capture.FlagString(uint8(f))
	}
	return names
}()

// portClassName is the record's port_class: "" for protocols without ports.
func portClassName(c ports.Class) string { return c.String() }

// appendRecord appends f as one flow record of compact JSON (without a newline) to b,
// with "schema_version" first when withSchema is set (as NDJSON lines have it). It does
// not use reflection and, given a b with room, does not allocate.
func appendRecord(b []byte, f *classify.Flow, withSchema bool) []byte {
	b = append(b, '{')
	if withSchema {
		b = append(b, `"schema_version":`...)
		b = strconv.AppendInt(b, SchemaVersion, 10)
		b = append(b, ',')
	}
	b = append(b, `"proto":`...)
	b = appendJSONString(b, capture.ProtoName(f.Proto))
	b = append(b, `,"client":"`...)
	b = appendEndpoint(b, f.Proto, f.Client)
	b = append(b, `","server":"`...)
	b = appendEndpoint(b, f.Proto, f.Server)
	b = append(b, `","vlan":`...)
	b = strconv.AppendUint(b, uint64(f.VLAN), 10)
	b = append(b, `,"direction":`...)
	b = appendJSONString(b, f.Direction.String())
	b = append(b, `,"state":`...)
	b = appendJSONString(b, f.State.String())
	b = append(b, `,"first":"`...)
	b = appendTime(b, f.First)
	b = append(b, `","last":"`...)
	b = appendTime(b, f.Last)
	b = append(b, `","packets_to_server":`...)
	b = strconv.AppendUint(b, f.Flow.Packets[capture.ToServer], 10)
	b = append(b, `,"packets_to_client":`...)
	b = strconv.AppendUint(b, f.Flow.Packets[capture.ToClient], 10)
	b = append(b, `,"bytes_to_server":`...)
	b = strconv.AppendUint(b, f.Flow.Bytes[capture.ToServer], 10)
	b = append(b, `,"bytes_to_client":`...)
	b = strconv.AppendUint(b, f.Flow.Bytes[capture.ToClient], 10)
	b = append(b, `,"tcp_flags_to_server":"`...)
	if f.Proto == capture.ProtoTCP {
		b = appendTCPFlags(b, f.TCPFlags[capture.ToServer])
	}
	b = append(b, `","tcp_flags_to_client":"`...)
	if f.Proto == capture.ProtoTCP {
		b = appendTCPFlags(b, f.TCPFlags[capture.ToClient])
	}
	b = append(b, '"')
	// icmp_type/icmp_code are written for ICMP flows only, even when zero (echo reply
	// is type 0).
	if isICMP(f.Proto) {
		b = append(b, `,"icmp_type":`...)
		b = strconv.AppendUint(b, uint64(f.ICMPType), 10)
		b = append(b, `,"icmp_code":`...)
		b = strconv.AppendUint(b, uint64(f.ICMPCode), 10)
	}
	b = append(b, `,"port_class":`...)
	b = appendJSONString(b, portClassName(f.PortClass))
	b = append(b, `,"service":`...)
	b = appendJSONString(b, f.Service)
	b = append(b, `,"flags":`...)
	var names [8]string
	b = appendJSONStrings(b, f.Flags.AppendNames(names[:0]))
	b = append(b, `,"veeam":[`...)
	for i, m := range f.Veeam {
		if i > 0 {
			b = append(b, ',')
		}
		r := m.Rule()
		b = append(b, `{"rule":`...)
		b = appendJSONString(b, r.ID)
		b = append(b, `,"service":`...)
		b = appendJSONString(b, r.Service)
		b = append(b, `,"from":`...)
		b = appendJSONString(b, r.From)
		b = append(b, `,"to":`...)
		b = appendJSONString(b, r.To)
		b = append(b, '}')
	}
	b = append(b, `],"icmp_errors":[`...)
	for i, e := range f.ICMPErrors {
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
		b = append(b, `,"from":"`...)
		if e.From.IsValid() {
			b = e.From.AppendTo(b)
		}
		b = append(b, `","count":`...)
		b = strconv.AppendUint(b, uint64(e.Count), 10)
		b = append(b, '}')
	}
	b = append(b, `],"input":`...)
	b = appendJSONString(b, f.Input)
	b = append(b, `,"end":`...)
	b = appendJSONString(b, f.End.String())
	b = append(b, `,"iana_service":`...)
	b = appendJSONString(b, f.IANAService)
	if n := f.Tunnel.Len(); n > 0 {
		b = append(b, `,"tunnel":[`...)
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTunnel(b, f.Tunnel.At(i))
		}
		b = append(b, ']')
	}
	b = append(b, `,"app_protocol":`...)
	b = appendJSONString(b, f.App.String())
	if m := f.AppMeta; m != nil {
		for _, fld := range appMetaFields(m) {
			if *fld.v != "" {
				b = append(b, ',', '"')
				b = append(b, fld.name...)
				b = append(b, '"', ':')
				b = appendJSONString(b, *fld.v)
			}
		}
	}
	if f.Unexpected != 0 {
		b = append(b, `,"unexpected":`...)
		b = appendJSONStrings(b, f.Unexpected.AppendNames(names[:0]))
	}
	return append(b, '}')
}

// appendTunnel appends one layer of a record's "tunnel" list. Type names and
// addresses hold no character JSON escapes.
func appendTunnel(b []byte, t capture.Tunnel) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, t.Type.String()...)
	b = append(b, '"')
	if t.HasID {
		b = append(b, `,"id":`...)
		b = strconv.AppendUint(b, uint64(t.ID), 10)
	}
	if t.Client.IsValid() {
		b = append(b, `,"outer_client":"`...)
		b = t.Client.AppendTo(b)
		b = append(b, '"')
	}
	if t.Server.IsValid() {
		b = append(b, `,"outer_server":"`...)
		b = t.Server.AppendTo(b)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendJSONStrings appends ss as a JSON array of strings.
func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appMetaField is one metadata field of a record: its name and the AppMeta string.
type appMetaField struct {
	name string
	v    *string
}

// appMetaFields are m's record fields, in record order.
func appMetaFields(m *capture.AppMeta) [4]appMetaField {
	return [4]appMetaField{{"tls_sni", &m.SNI}, {"tls_alpn", &m.ALPN}, {"http_host", &m.HTTPHost}, {"ssh_banner", &m.SSHBanner}}
}
