package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

// LoadSummary reads a summary written by the JSON encoder, with its flow records in
// Flows: ReadSummary, keeping the records.
func LoadSummary(r io.Reader) (*Summary, error) {
	var flows []classify.Flow
	s, err := ReadSummary(r, func(f *classify.Flow) error {
		flows = append(flows, *f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if flows != nil {
		s.Flows = flows
	}
	return s, nil
}

// ReadSummary reads a summary written by the JSON encoder as a stream, and calls flow
// for each flow record in the order of the document instead of keeping the records:
// the returned summary has none (Flows is empty, Totals.Flows as written). The
// *classify.Flow is valid only during the call; an error from flow stops the reading
// and is returned wrapped, with the record's index and offset.
//
// A saved summary is input like any other, and every field is checked against what
// portclass writes (rawRecord.flow for the records, check.go for the rest); errors
// say where: the byte offset, and the field with the index of its entry
// ("flows[12].client: ...", "inputs[0].last: ..."). The document is never held whole:
// each record, input, host or breakdown entry is decoded and checked on its own, and
// strings, values and nesting are bounded as the bytes come (MaxSummaryString,
// MaxSummaryValue, MaxSummaryDepth: a *LimitError). The totals must agree with the
// inputs and the records (a summary without records, written with --no-flows, is
// read, and its totals.flows counts the records it left out); sums that overflow 64
// bits are an error. It rejects input that is not a portclass summary or has a
// schema_version other than SchemaVersion (ErrSchemaVersion).
func ReadSummary(r io.Reader, flow func(*classify.Flow) error) (*Summary, error) {
	l := &loader{s: new(Summary), dec: json.NewDecoder(newJSONGuard(r)), flow: flow, seen: map[string]bool{}}
	if err := l.read(); err != nil {
		var le *LimitError
		if errors.As(err, &le) {
			err = le // the reader's own words: where, and which limit
		}
		return nil, fmt.Errorf("read summary: %w", err)
	}
	return l.s, nil
}

// loader reads one summary (ReadSummary).
type loader struct {
	s    *Summary
	dec  *json.Decoder
	flow func(*classify.Flow) error
	seen map[string]bool // top-level fields read

	records          uint64    // flow records read
	packets, bytes   uint64    // their sums, both directions
	first, last      time.Time // of the records, as the Aggregator takes them
	flowsAt, totalAt int64     // offsets of the "flows" and "totals" values
}

// read reads the whole document.
func (l *loader) read() error {
	s, dec := l.s, l.dec
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var version *int
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fieldWhere(err, "", dec.InputOffset())
		}
		key, _ := tok.(string)
		start := dec.InputOffset()
		if l.seen[key] {
			return fmt.Errorf("at offset %d: a second %q field", start, key)
		}
		l.seen[key] = true
		switch key {
		case "schema_version":
			version = new(int)
			if err := dec.Decode(version); err != nil {
				return fieldWhere(err, key, start)
			}
			if *version != SchemaVersion {
				return fmt.Errorf("%w %d (this portclass reads %d)", ErrSchemaVersion, *version, SchemaVersion)
			}
		case "generator":
			err = l.value(key, start, &s.Generator, nil)
		case "top":
			err = l.value(key, start, &s.Top, func() error {
				if s.Top < 0 {
					return fieldError("top", "%d: want 0 (complete) or more", s.Top)
				}
				return nil
			})
		case "totals":
			l.totalAt = start
			err = l.value(key, start, &s.Totals, nil)
		case "attempts_overflow":
			err = l.value(key, start, &s.AttemptsOverflow, nil)
		case "interrupted":
			err = l.value(key, start, &s.Interrupted, nil)
		case "interrupted_reason":
			err = l.value(key, start, &s.InterruptedReason, nil)
		case "inputs":
			err = decodeList(l, key, &s.Inputs, (*Input).check)
		case "protocols":
			err = decodeList(l, key, &s.Protocols, (*ProtoCount).check)
		case "port_classes":
			err = decodeList(l, key, &s.PortClasses, (*ClassCount).check)
		case "services":
			err = decodeList(l, key, &s.Services, (*ServiceCount).check)
		case "server_ports":
			err = decodeList(l, key, &s.ServerPorts, (*PortCount).check)
		case "talkers":
			err = decodeList(l, key, &s.Talkers, (*Talker).check)
		case "ephemeral":
			err = decodeList(l, key, &s.Ephemeral, (*EphemeralPort).check)
		case "states":
			err = decodeList(l, key, &s.States, (*StateCount).check)
		case "veeam_rules":
			err = decodeList(l, key, &s.VeeamRules, (*RuleCount).check)
		case "hosts":
			err = decodeList(l, key, &s.Hosts, (*Host).check)
		case "attempts":
			err = decodeList(l, key, &s.Attempts, (*Attempt).check)
		case "sweeps":
			err = decodeList(l, key, &s.Sweeps, (*Sweep).check)
		case "skipped_files":
			err = decodeList(l, key, &s.SkippedFiles, (*SkippedFile).check)
		case "tunnels":
			err = decodeList(l, key, &s.Tunnels, (*TunnelCount).check)
		case "unexpected":
			err = decodeList(l, key, &s.Unexpected, (*Unexpected).check)
		case "unexpected_rest":
			r := new(UnexpectedRest)
			err = l.value(key, start, r, r.check)
			s.UnexpectedRest = r
		case "flows":
			l.flowsAt = start
			err = l.decodeFlows()
		default:
			err = skipValue(dec) // a field of a later version
			if err != nil {
				err = fieldWhere(err, key, start)
			}
		}
		if err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		var le *LimitError
		if errors.As(err, &le) {
			return err
		}
		return fmt.Errorf("at offset %d: data after the summary", dec.InputOffset())
	}
	if version == nil {
		return errors.New("not a portclass summary: no schema_version field")
	}
	s.SchemaVersion = *version
	if s.InterruptedReason != "" && !s.Interrupted {
		return errors.New("interrupted_reason without interrupted: only the report of an interrupted run has a reason")
	}
	s.normalise()
	return l.checkTotals()
}

// value decodes the value of key, which starts after offset start, into v and checks
// it with check (nil: no check).
func (l *loader) value(key string, start int64, v any, check func() error) error {
	if err := l.dec.Decode(v); err != nil {
		return fieldWhere(err, key, start)
	}
	if check != nil {
		if err := check(); err != nil {
			return fmt.Errorf("at offset %d: %w", start, err)
		}
	}
	return nil
}

// decodeList reads the array of key into list one entry at a time, checking each
// with check; null is an empty list.
func decodeList[T any](l *loader, key string, list *[]T, check func(*T) error) error {
	dec := l.dec
	off := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return fieldWhere(err, key, off)
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("at offset %d, field %s: want a list, found %v", off, key, tok)
	}
	for i := 0; dec.More(); i++ {
		off := dec.InputOffset()
		var v T
		if err := dec.Decode(&v); err != nil {
			return fieldWhere(err, key+"["+strconv.Itoa(i)+"]", off)
		}
		if err := check(&v); err != nil {
			return entryError(key, i, off, "entry", err)
		}
		*list = append(*list, v)
	}
	return expectDelim(dec, ']')
}

// entryError names the field of entry i of list key that err (a *recordError, or
// another error about the whole entry) concerns, and where the entry is.
func entryError(key string, i int, off int64, what string, err error) error {
	var re *recordError
	if errors.As(err, &re) {
		return fmt.Errorf("%s[%d].%s: %s (the %s at offset %d)", key, i, re.field, re.msg, what, off)
	}
	return fmt.Errorf("%s[%d]: %w (the %s at offset %d)", key, i, err, what, off)
}

// skipValue reads past one value token by token: a field this build does not know
// costs no memory beyond its largest token.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// expectDelim reads the next token and fails unless it is delim.
func expectDelim(dec *json.Decoder, delim json.Delim) error {
	off := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return jsonWhere(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != delim {
		if delim == '{' && off == 0 {
			return fmt.Errorf("not a portclass summary: it does not start with a JSON object")
		}
		return fmt.Errorf("at offset %d: want %q, found %v", off, string(delim), tok)
	}
	return nil
}

// decodeFlows reads the "flows" array one checked record at a time, hands each to
// l.flow and sums what the totals and a merge will sum: an overflow is an error here.
func (l *loader) decodeFlows() error {
	dec := l.dec
	if err := expectDelim(dec, '['); err != nil {
		return fmt.Errorf("flows: %w", err)
	}
	for i := 0; dec.More(); i++ {
		off := dec.InputOffset()
		var raw rawRecord
		if err := dec.Decode(&raw); err != nil {
			return fieldWhere(err, fmt.Sprintf("flows[%d]", i), off)
		}
		f, err := raw.flow()
		if err != nil {
			return entryError("flows", i, off, "record", err)
		}
		if err := addCounts(&l.packets, &l.bytes, &f); err != nil {
			return entryError("flows", i, off, "record", err)
		}
		l.records++
		if l.first.IsZero() || f.First.Before(l.first) {
			l.first = f.First
		}
		if f.Last.After(l.last) {
			l.last = f.Last
		}
		if err := l.flow(&f); err != nil {
			return fmt.Errorf("flows[%d] (the record at offset %d): %w", i, off, err)
		}
	}
	return expectDelim(dec, ']')
}

// rawRecord is a flow record as JSON has it, before decodeRecord checks it.
type rawRecord struct {
	Proto            string      `json:"proto"`
	Client           string      `json:"client"`
	Server           string      `json:"server"`
	VLAN             uint16      `json:"vlan"`
	Direction        string      `json:"direction"`
	State            string      `json:"state"`
	First            time.Time   `json:"first"`
	Last             time.Time   `json:"last"`
	PacketsToServer  uint64      `json:"packets_to_server"`
	PacketsToClient  uint64      `json:"packets_to_client"`
	BytesToServer    uint64      `json:"bytes_to_server"`
	BytesToClient    uint64      `json:"bytes_to_client"`
	TCPFlagsToServer string      `json:"tcp_flags_to_server"`
	TCPFlagsToClient string      `json:"tcp_flags_to_client"`
	ICMPType         uint8       `json:"icmp_type"`
	ICMPCode         uint8       `json:"icmp_code"`
	PortClass        string      `json:"port_class"`
	Service          string      `json:"service"`
	Flags            []string    `json:"flags"`
	Veeam            []rawMatch  `json:"veeam"`
	ICMPErrors       []ICMPError `json:"icmp_errors"`
	Input            string      `json:"input"`
	End              string      `json:"end"`
	IANAService      *string     `json:"iana_service"` // nil: a record written before the field
	Tunnel           []rawTunnel `json:"tunnel,omitempty"`
	AppProtocol      string      `json:"app_protocol"`
	TLSSNI           string      `json:"tls_sni,omitempty"`
	TLSALPN          string      `json:"tls_alpn,omitempty"`
	HTTPHost         string      `json:"http_host,omitempty"`
	SSHBanner        string      `json:"ssh_banner,omitempty"`
	Unexpected       []string    `json:"unexpected,omitempty"`
}

// rawTunnel is one layer of a record's "tunnel" list.
type rawTunnel struct {
	Type        string  `json:"type"`
	ID          *uint32 `json:"id,omitempty"`
	OuterClient string  `json:"outer_client,omitempty"`
	OuterServer string  `json:"outer_server,omitempty"`
}

// tunnelPath checks a record's "tunnel" list and returns its path: the layers
// portclass writes (a known type, an ID only for the types that have one, two outer
// addresses of one family without zones), or the one "unknown" layer of a flow whose
// path the capture could not keep.
func tunnelPath(raw []rawTunnel) (capture.TunnelPath, error) {
	if len(raw) == 1 && raw[0] == (rawTunnel{Type: "unknown"}) {
		return capture.OverflowPath(), nil
	}
	if len(raw) > capture.MaxTunnelDepth {
		return capture.TunnelPath{}, fieldError("tunnel", "%d layers, at most %d", len(raw), capture.MaxTunnelDepth)
	}
	layers := make([]capture.Tunnel, len(raw))
	for i, r := range raw {
		field := func(name string) string { return fmt.Sprintf("tunnel[%d].%s", i, name) }
		t := &layers[i]
		if t.Type = capture.ParseTunnelType(r.Type); t.Type == capture.TunnelUnknown {
			return capture.TunnelPath{}, fieldError(field("type"), "%q is not a tunnel type", r.Type)
		}
		if r.ID != nil {
			if !t.Type.MayHaveID() {
				return capture.TunnelPath{}, fieldError(field("id"), "%s tunnels have no ID", r.Type)
			}
			t.HasID, t.ID = true, *r.ID
		}
		for j, s := range [2]string{r.OuterClient, r.OuterServer} {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return capture.TunnelPath{}, fieldError(field([2]string{"outer_client", "outer_server"}[j]), "%q is not an address", s)
			}
			if j == 0 {
				t.Client = a
			} else if t.Server = a; a.Is4() != t.Client.Is4() {
				return capture.TunnelPath{}, fieldError(field("outer_server"), "%s and outer_client %s are of different families", s, t.Client)
			}
		}
	}
	return capture.MakeTunnelPath(layers...)
}

// rawMatch is one entry of a record's "veeam" list.
type rawMatch struct {
	Rule    string `json:"rule"`
	Service string `json:"service"`
	From    string `json:"from"`
	To      string `json:"to"`
}

// recordError is an error in one field of a flow record.
type recordError struct{ field, msg string }

func (e *recordError) Error() string { return e.field + ": " + e.msg }

func fieldError(field, format string, args ...any) error {
	return &recordError{field, fmt.Sprintf(format, args...)}
}

// flow checks r and returns the classified flow it records, which the record appender
// writes back as r was written by portclass. Every field is checked against what
// portclass writes: names from the vocabularies, addresses with ports exactly for
// protocols with ports (and without zones), first not after last, TCP flag letters only
// for TCP, ICMP type and code only for ICMP, the port class of the server port, known
// flags, Veeam rules of this build's matrix with their own service and roles. Errors
// name the field.
func (r *rawRecord) flow() (classify.Flow, error) {
	var f classify.Flow
	var ok bool
	if f.Proto, ok = capture.ParseProtoName(r.Proto); !ok {
		return f, fieldError("proto", "%q is not tcp, udp, sctp, icmp, icmpv6 or ip-N", r.Proto)
	}
	var err error
	if f.Client, err = parseEndpoint(f.Proto, r.Client); err != nil {
		return f, fieldError("client", "%v", err)
	}
	if f.Server, err = parseEndpoint(f.Proto, r.Server); err != nil {
		return f, fieldError("server", "%v", err)
	}
	f.VLAN = r.VLAN
	if f.Direction, ok = parseName(r.Direction, capture.Direction.String, 0, 16); !ok {
		return f, fieldError("direction", "%q is not a direction rule", r.Direction)
	}
	if f.State, ok = parseName(r.State, capture.State.String, 0, 32); !ok {
		return f, fieldError("state", "%q is not a connection state", r.State)
	}
	if f.End, ok = parseName(r.End, capture.EndReason.String, 0, 16); !ok {
		return f, fieldError("end", "%q is not an end reason", r.End)
	}
	f.First, f.Last = r.First.UTC(), r.Last.UTC()
	if f.Last.Before(f.First) {
		return f, fieldError("last", "%s is before first %s", r.Last.Format(TimeLayout), r.First.Format(TimeLayout))
	}
	f.Flow.Packets = [2]uint64{r.PacketsToServer, r.PacketsToClient}
	f.Flow.Bytes = [2]uint64{r.BytesToServer, r.BytesToClient}
	for i, s := range [2]string{r.TCPFlagsToServer, r.TCPFlagsToClient} {
		name := [2]string{"tcp_flags_to_server", "tcp_flags_to_client"}[i]
		if s != "" && f.Proto != capture.ProtoTCP {
			return f, fieldError(name, "%q on a %s flow: only TCP flows have TCP flags", s, r.Proto)
		}
		if f.TCPFlags[i], err = parseTCPFlags(s); err != nil {
			return f, fieldError(name, "%v", err)
		}
	}
	if isICMP(f.Proto) {
		f.ICMPType, f.ICMPCode = r.ICMPType, r.ICMPCode
	} else if r.ICMPType != 0 || r.ICMPCode != 0 {
		return f, fieldError("icmp_type", "%d/%d on a %s flow: only ICMP flows have a type and code", r.ICMPType, r.ICMPCode, r.Proto)
	}
	if capture.HasPorts(f.Proto) {
		f.PortClass = ports.ClassOf(f.Server.Port())
	}
	if r.PortClass != f.PortClass.String() {
		return f, fieldError("port_class", "%q, but server port %d is %q", r.PortClass, f.Server.Port(), f.PortClass.String())
	}
	f.Service = r.Service
	f.IANAService = r.Service // records before iana_service: service was IANA's (or the user's)
	if r.IANAService != nil {
		f.IANAService = *r.IANAService
	}
	if f.Flags, err = classify.ParseFlags(r.Flags...); err != nil {
		return f, fieldError("flags", "%v", err)
	}
	for i, m := range r.Veeam {
		v, err := veeamRuleOf(fmt.Sprintf("veeam[%d]", i), m.Rule, m.Service, m.From, m.To)
		if err != nil {
			return f, err
		}
		f.Veeam = append(f.Veeam, v)
	}
	slices.Sort(f.Veeam)
	for i, e := range r.ICMPErrors {
		ce := capture.ICMPError{V6: e.V6, Type: e.Type, Code: e.Code, Count: e.Count}
		if e.From != "" {
			if ce.From, err = netip.ParseAddr(e.From); err != nil || ce.From.Zone() != "" {
				return f, fieldError(fmt.Sprintf("icmp_errors[%d].from", i), "%q is not an address", e.From)
			}
		}
		f.ICMPErrors = append(f.ICMPErrors, ce)
	}
	f.Input = r.Input
	if f.Tunnel, err = tunnelPath(r.Tunnel); err != nil {
		return f, err
	}
	if err := r.app(&f.Flow); err != nil {
		return f, err
	}
	f.Outcome = capture.OutcomeOf(&f.Flow)
	if err := r.unexpected(&f); err != nil {
		return f, err
	}
	return f, nil
}

// unexpected checks and sets the reasons f is unexpected traffic: known names, in
// their order, on a flow with ports whose server answered, and consistent with its
// flags (protocol-mismatch with the flag, ephemeral-server with a dynamic or
// ephemeral server port).
func (r *rawRecord) unexpected(f *classify.Flow) error {
	if len(r.Unexpected) == 0 {
		return nil
	}
	rs, err := classify.ParseReasons(r.Unexpected...)
	if err != nil {
		return fieldError("unexpected", "%v", err)
	}
	switch names := rs.Names(); {
	case !slices.Equal(names, r.Unexpected):
		return fieldError("unexpected", "%q: want each reason once, in the order %q", r.Unexpected, names)
	case !capture.HasPorts(f.Proto) || !f.Outcome.Answered():
		return fieldError("unexpected", "on a %s flow in state %s: only answered flows with ports are unexpected traffic", r.Proto, r.State)
	case rs.Has(classify.ReasonProtocolMismatch) && !f.Flags.Has(classify.FlagProtocolMismatch):
		return fieldError("unexpected", "protocol-mismatch without the protocol-mismatch flag")
	case rs.Has(classify.ReasonEphemeralServer) && !f.Flags.InEphemeralRange() && !f.Flags.Has(classify.FlagDynamicServer):
		return fieldError("unexpected", "ephemeral-server, but the flags put the server port in no ephemeral or dynamic range")
	}
	f.Unexpected = rs
	return nil
}

// appMetaCarriers are the application protocols whose first messages carry each
// metadata field, in appMetaFields order: what the recogniser takes them from.
var appMetaCarriers = [4][]appid.Protocol{
	{appid.TLS, appid.PostgreSQL, appid.RDP}, // tls_sni: a ClientHello, also after an upgrade
	{appid.TLS, appid.PostgreSQL, appid.RDP}, // tls_alpn
	{appid.HTTP},                             // http_host
	{appid.SSH},                              // ssh_banner
}

// app checks and sets the application protocol and metadata of f: a name of the
// vocabulary, only on TCP and UDP flows; each metadata string at most appid.MaxMeta
// characters (bytes on the wire; one U+FFFD stands for an invalid byte) and only with
// a protocol that carries it.
func (r *rawRecord) app(f *capture.Flow) error {
	var err error
	if f.App, err = appid.ParseProtocol(r.AppProtocol); err != nil {
		return fieldError("app_protocol", "%q is not an application protocol of this portclass (see docs/protocols.md)", r.AppProtocol)
	}
	if f.App != appid.Unknown && f.Proto != capture.ProtoTCP && f.Proto != capture.ProtoUDP {
		return fieldError("app_protocol", "%q on a %s flow: only TCP and UDP flows are identified", r.AppProtocol, r.Proto)
	}
	m := capture.AppMeta{SNI: r.TLSSNI, ALPN: r.TLSALPN, HTTPHost: r.HTTPHost, SSHBanner: r.SSHBanner}
	for i, fld := range appMetaFields(&m) {
		v := *fld.v
		if v == "" {
			continue
		}
		if n := utf8.RuneCountInString(v); n > appid.MaxMeta {
			return fieldError(fld.name, "%d characters, more than the %d portclass takes", n, appid.MaxMeta)
		}
		if !slices.Contains(appMetaCarriers[i], f.App) {
			return fieldError(fld.name, "on a flow whose app_protocol is %q: only %v carry it", r.AppProtocol, appMetaCarriers[i])
		}
	}
	if !m.IsZero() {
		f.AppMeta = &m
	}
	return nil
}

// veeamRuleOf checks that rule is a rule of this build's Veeam matrix with this
// service and roles, as written in field, and returns it.
func veeamRuleOf(field, rule, service, from, to string) (veeam.Match, error) {
	v, ok := veeam.MatchOf(rule)
	if !ok {
		return v, fieldError(field+".rule", "%q is not a rule of this portclass's Veeam matrix", rule)
	}
	if r := v.Rule(); service != r.Service || from != r.From || to != r.To {
		return v, fieldError(field, "rule %s is %q from %s to %s, not %q from %s to %s",
			rule, r.Service, r.From, r.To, service, from, to)
	}
	return v, nil
}

// parseEndpoint is the inverse of endpoint for protocol proto: "addr:port" or
// "[addr]:port" for protocols with ports, a bare address otherwise; no zones.
func parseEndpoint(proto uint8, s string) (netip.AddrPort, error) {
	var ap netip.AddrPort
	if capture.HasPorts(proto) {
		var err error
		if ap, err = netip.ParseAddrPort(s); err != nil {
			return ap, fmt.Errorf("%q is not an address:port", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return ap, fmt.Errorf("%q is not an address (%s flows have no ports)", s, capture.ProtoName(proto))
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	if ap.Addr().Zone() != "" {
		return ap, fmt.Errorf("%q: an address with a zone", s)
	}
	return ap, nil
}

// parseName finds the value of an enum whose String is s, among the first n values.
func parseName[E ~uint8](s string, name func(E) string, first, n int) (E, bool) {
	for i := first; i < n; i++ {
		if name(E(i)) == s {
			return E(i), true
		}
	}
	return 0, false
}

// parseTCPFlags reads capture.FlagString letters, in any order, each at most once.
func parseTCPFlags(s string) (uint8, error) {
	const letters = "SAFRPUEC"
	bits := [...]uint8{capture.FlagSYN, capture.FlagACK, capture.FlagFIN, capture.FlagRST, capture.FlagPSH, capture.FlagURG, capture.FlagECE, capture.FlagCWR}
	var f uint8
	for i := 0; i < len(s); i++ {
		k := strings.IndexByte(letters, s[i])
		if k < 0 || f&bits[k] != 0 {
			return 0, fmt.Errorf("%q: want TCP flag letters %s, each at most once", s, letters)
		}
		f |= bits[k]
	}
	return f, nil
}

// fieldWhere says where decoding the value of key, which starts after offset start,
// failed: for a value of the wrong type the exact byte offset and the field's path
// ("totals.flows"); for a syntax error the value's place (json.Decoder's offsets of
// syntax errors are not offsets in the stream).
func fieldWhere(err error, key string, start int64) error {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		field := key
		if typ.Field != "" {
			field = strings.TrimPrefix(key+"."+typ.Field, ".")
		}
		// The offset is counted from the byte after the key's colon.
		return fmt.Errorf("at offset %d, field %s: %w", start+1+typ.Offset, field, err)
	case errors.As(err, &syn):
		if key == "" {
			return fmt.Errorf("after offset %d: %w", start, err)
		}
		return fmt.Errorf("in %s, the value after offset %d: %w", key, start, err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("after offset %d: the summary is cut short: %w", start, io.ErrUnexpectedEOF)
	}
	if key != "" {
		return fmt.Errorf("%s: %w", key, err)
	}
	return err
}

// jsonWhere adds the byte offset to encoding/json errors that know it.
func jsonWhere(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("at offset %d: %w", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("at offset %d, field %s: %w", typ.Offset, typ.Field, err)
	}
	return err
}

// UnmarshalJSON reads a summary as LoadSummary does, so that encoding/json gives the
// flow records too (they are not struct-tagged fields: see Summary.Flows).
func (s *Summary) UnmarshalJSON(b []byte) error {
	got, err := LoadSummary(bytes.NewReader(b))
	if err != nil {
		return err
	}
	*s = *got
	return nil
}
