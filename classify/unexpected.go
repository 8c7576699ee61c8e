package classify

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"
)

// Reason is why a flow is unexpected traffic: what nothing explains about it. A flow
// that got through to a port is expected when the user's policy documents it, a
// Veeam rule explains it between two hosts with Veeam roles, or the port is one of the
// baseline's infrastructure services and the protocol recognised from the payload
// does not contradict it; otherwise it is unexpected, with one or more reasons.
type Reason uint8

const (
	// ReasonUnexplainedPort ("unexplained-port"): the server port is neither in the
	// baseline nor documented by the policy or a Veeam rule between hosts with roles;
	// the IANA name alone explains nothing.
	ReasonUnexplainedPort Reason = iota
	// ReasonProtocolMismatch ("protocol-mismatch"): the flow carries the
	// protocol-mismatch flag, so the port's word does not explain it.
	ReasonProtocolMismatch
	// ReasonEphemeralServer ("ephemeral-server"): the server port is dynamic
	// (49152-65535) or in a configured OS ephemeral range.
	ReasonEphemeralServer
	numReasons
)

var reasonNames = [numReasons]string{"unexplained-port", "protocol-mismatch", "ephemeral-server"}

// String is the reason's name in records and reports.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Reasons is a set of reasons; the zero value is empty: the flow is expected (or not
// the section's business: see Classifier.Classify).
type Reasons uint8

// Has reports whether rs holds r.
func (rs Reasons) Has(r Reason) bool { return rs&(1<<r) != 0 }

// With returns rs with r added.
func (rs Reasons) With(r Reason) Reasons { return rs | 1<<r }

// AppendNames appends the names of rs to dst in the order of the Reason values.
func (rs Reasons) AppendNames(dst []string) []string {
	for r := range numReasons {
		if rs.Has(r) {
			dst = append(dst, reasonNames[r])
		}
	}
	return dst
}

// Names returns the names of rs.
func (rs Reasons) Names() []string { return rs.AppendNames(nil) }

// ParseReasons returns the set of the named reasons.
func ParseReasons(names ...string) (Reasons, error) {
	var rs Reasons
	for _, n := range names {
		i := slices.Index(reasonNames[:], n)
		if i < 0 {
			return 0, fmt.Errorf("%q is not a reason (%s)", n, strings.Join(reasonNames[:], ", "))
		}
		rs = rs.With(Reason(i))
	}
	return rs, nil
}

// BaselineService is one of the infrastructure services the unexpected traffic
// section takes as expected on their ports, unless the payload says otherwise.
type BaselineService struct {
	Name  string
	Ports []BaselinePort
}

// BaselinePort is a protocol and a range of server ports.
type BaselinePort struct {
	Proto  uint8
	Lo, Hi uint16
}

func (p BaselinePort) String() string {
	s := capture.ProtoName(p.Proto) + "/" + strconv.Itoa(int(p.Lo))
	if p.Hi != p.Lo {
		s += "-" + strconv.Itoa(int(p.Hi))
	}
	return s
}

// baselineServices are the services a baseline entry may name: static data, never
// written to.
var baselineServices = []BaselineService{
	{"dns", []BaselinePort{{capture.ProtoTCP, 53, 53}, {capture.ProtoUDP, 53, 53}, {capture.ProtoUDP, 5353, 5353}, {capture.ProtoUDP, 5355, 5355}}}, // mDNS and LLMNR too
	{"ntp", []BaselinePort{{capture.ProtoUDP, 123, 123}}},
	{"dhcp", []BaselinePort{{capture.ProtoUDP, 67, 68}, {capture.ProtoUDP, 546, 547}}}, // DHCPv6 too
	{"http", []BaselinePort{{capture.ProtoTCP, 80, 80}}},
	{"https", []BaselinePort{{capture.ProtoTCP, 443, 443}, {capture.ProtoUDP, 443, 443}}}, // QUIC too
	{"ssh", []BaselinePort{{capture.ProtoTCP, 22, 22}}},
	{"smb", []BaselinePort{{capture.ProtoTCP, 445, 445}}},
	{"kerberos", []BaselinePort{{capture.ProtoTCP, 88, 88}, {capture.ProtoUDP, 88, 88}, {capture.ProtoTCP, 464, 464}, {capture.ProtoUDP, 464, 464}}},   // kpasswd too
	{"ldap", []BaselinePort{{capture.ProtoTCP, 389, 389}, {capture.ProtoUDP, 389, 389}, {capture.ProtoTCP, 636, 636}, {capture.ProtoTCP, 3268, 3269}}}, // LDAPS, the global catalog, CLDAP
	{"netbios", []BaselinePort{{capture.ProtoUDP, 137, 138}, {capture.ProtoTCP, 139, 139}}},
	{"msrpc", []BaselinePort{{capture.ProtoTCP, 135, 135}}}, // the endpoint mapper only: the dynamic ports it hands out are not
}

// DefaultBaseline names every baseline service: what Options.Baseline nil means.
var DefaultBaseline = []string{"dns", "ntp", "dhcp", "http", "https", "ssh", "smb", "kerberos", "ldap", "netbios", "msrpc"}

// BaselineServices returns the services a baseline entry may name. Shared: do not
// modify.
func BaselineServices() []BaselineService { return baselineServices }

// parseBaseline resolves baseline entries: service names (BaselineServices) or
// "proto/port" and "proto/lo-hi" (tcp, udp or sctp) for a port of the user's own.
func parseBaseline(entries []string) ([]BaselinePort, error) {
	var out []BaselinePort
	for i, e := range entries {
		name := strings.ToLower(strings.TrimSpace(e))
		if j := slices.IndexFunc(baselineServices, func(s BaselineService) bool { return s.Name == name }); j >= 0 {
			out = append(out, baselineServices[j].Ports...)
			continue
		}
		proto, rng, ok := strings.Cut(name, "/")
		p, known := capture.ParseProtoName(proto)
		if !ok || !known || !capture.HasPorts(p) {
			names := make([]string, len(baselineServices))
			for k, s := range baselineServices {
				names[k] = s.Name
			}
			return nil, fmt.Errorf("baseline[%d]: %q is neither a service (%s) nor tcp/PORT, udp/PORT or sctp/PORT",
				i, e, strings.Join(names, ", "))
		}
		lo, hi, err := ports.ParseRange(rng)
		if err != nil {
			return nil, fmt.Errorf("baseline[%d] (%s): %w", i, e, err)
		}
		out = append(out, BaselinePort{p, lo, hi})
	}
	return out, nil
}

// baselineSet is the baseline as a set of ports: one bit a TCP port and one a UDP
// port (16 KiB), a list for the other protocols.
type baselineSet struct {
	tcp, udp [1024]uint64
	other    []BaselinePort
}

func newBaselineSet(ps []BaselinePort) *baselineSet {
	b := new(baselineSet)
	for _, p := range ps {
		var bits *[1024]uint64
		switch p.Proto {
		case capture.ProtoTCP:
			bits = &b.tcp
		case capture.ProtoUDP:
			bits = &b.udp
		default:
			b.other = append(b.other, p)
			continue
		}
		for port := uint32(p.Lo); port <= uint32(p.Hi); port++ {
			bits[port>>6] |= 1 << (port & 63)
		}
	}
	return b
}

// has reports whether the server port of protocol proto is a baseline port.
func (b *baselineSet) has(proto uint8, port uint16) bool {
	switch proto {
	case capture.ProtoTCP:
		return b.tcp[port>>6]&(1<<(port&63)) != 0
	case capture.ProtoUDP:
		return b.udp[port>>6]&(1<<(port&63)) != 0
	}
	for _, p := range b.other {
		if p.Proto == proto && p.Lo <= port && port <= p.Hi {
			return true
		}
	}
	return false
}

// unexpected returns the reasons flow f (with ports, the server answered) with verdict
// v is unexpected traffic, none when something explains it: the policy documents it,
// a Veeam rule explains it between two hosts with roles, or its port is in the
// baseline and its payload does not contradict the port.
func (c *Classifier) unexpected(f *capture.Flow, v *Verdict) Reasons {
	if c.documented != nil && c.documented(f) {
		return 0
	}
	if len(v.Veeam) > 0 && (c.hasRoles == nil || c.hasRoles(f.Client.Addr()) && c.hasRoles(f.Server.Addr())) {
		return 0
	}
	mismatch := v.Flags.Has(FlagProtocolMismatch)
	base := c.baseline.has(f.Proto, f.Server.Port())
	if base && !mismatch {
		return 0
	}
	var rs Reasons
	if !base {
		rs = rs.With(ReasonUnexplainedPort)
	}
	if mismatch {
		rs = rs.With(ReasonProtocolMismatch)
	}
	if v.Flags.ranges != 0 || v.Flags.Has(FlagDynamicServer) {
		rs = rs.With(ReasonEphemeralServer)
	}
	return rs
}
