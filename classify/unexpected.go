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

func tcp(ports ...uint16) []BaselinePort { return baselinePorts(capture.ProtoTCP, ports) }
func udp(ports ...uint16) []BaselinePort { return baselinePorts(capture.ProtoUDP, ports) }

func baselinePorts(proto uint8, ps []uint16) []BaselinePort {
	out := make([]BaselinePort, len(ps))
	for i, p := range ps {
		out[i] = BaselinePort{proto, p, p}
	}
	return out
}

// baselineServices are the services a baseline entry may name. It is never written to.
var baselineServices = []BaselineService{
	{"dns", slices.Concat(tcp(53), udp(53, 5353, 5355))}, // mDNS and LLMNR too
	{"ntp", udp(123)},
	{"dhcp", udp(67, 68, 546, 547)}, // DHCPv6 too
	{"http", tcp(80)},
	{"https", slices.Concat(tcp(443), udp(443))}, // QUIC too
	{"ssh", tcp(22)},
	{"smb", tcp(445)},
	{"kerberos", slices.Concat(tcp(88, 464), udp(88, 464))},      // kpasswd too
	{"ldap", slices.Concat(tcp(389, 636, 3268, 3269), udp(389))}, // LDAPS, the global catalog, CLDAP
	{"netbios", slices.Concat(udp(137, 138), tcp(139))},
	{"msrpc", tcp(135)}, // the endpoint mapper only: the dynamic ports it hands out are not
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

// inBaseline reports whether the server port of protocol proto is a baseline port.
func (c *Classifier) inBaseline(proto uint8, port uint16) bool {
	for _, b := range c.baseline {
		if b.Proto == proto && b.Lo <= port && port <= b.Hi {
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
	base := c.inBaseline(f.Proto, f.Server.Port())
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
