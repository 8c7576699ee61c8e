package classify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

// Options configures a Classifier. The zero value is usable: the default ephemeral
// ranges, no user-defined services, no Veeam rules.
type Options struct {
	// Ephemeral lists the OS ephemeral port ranges the flags are computed against. nil
	// means ports.DefaultEphemeral; a non-nil empty slice means none. Each range needs a
	// unique name of letters, digits, '.', '_' or '-' and Lo <= Hi.
	Ephemeral []ports.Range

	// Services are user-defined services. They take precedence over IANA's names, the
	// first matching entry winning, and their ports count as service ports for the
	// direction heuristic (see Classifier.ServerPort) and for "both-ephemeral".
	Services []ports.UserService

	// Explain, if set, returns the Veeam rules that explain a flow; package veeam
	// provides it (Matrix.Explain, Inferer.Explain). Classify calls it first, so that a
	// flow it explains is flagged "veeam" and not "unexplained-ephemeral". The returned
	// slice becomes Verdict.Veeam; it may be shared read-only storage when it is sorted
	// already, and is sorted in place otherwise. Explain must be safe for concurrent use
	// if Classify is called concurrently.
	Explain func(*capture.Flow) []veeam.Match
}

// Classifier turns flow records into verdicts. Create one with New; it is read-only
// afterwards and safe for concurrent use (as far as Options.Explain is).
type Classifier struct {
	ephemeral []ports.Range
	ephBits   []uint8         // the interned bit of each ephemeral range's name in Flags
	user      []ports.Service // Options.Services, validated, in configuration order
	explain   func(*capture.Flow) []veeam.Match
}

// New validates opts and returns a Classifier. Errors name the offending entry and
// field, e.g. "services[2] (backup).ports: ...".
func New(opts Options) (*Classifier, error) {
	eph := opts.Ephemeral
	if eph == nil {
		eph = ports.DefaultEphemeral
	}
	c := &Classifier{explain: opts.Explain}
	seen := map[string]bool{}
	for i, r := range eph {
		if err := checkRangeName(r.Name); err != nil {
			return nil, fmt.Errorf("ephemeral[%d].name: %w", i, err)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("ephemeral[%d].name: %q used twice", i, r.Name)
		}
		seen[r.Name] = true
		if r.Lo > r.Hi {
			return nil, fmt.Errorf("ephemeral[%d] (%s): lo %d is above hi %d", i, r.Name, r.Lo, r.Hi)
		}
		bit, err := rangeBit(r.Name)
		if err != nil {
			return nil, fmt.Errorf("ephemeral[%d]: %w", i, err)
		}
		c.ephemeral = append(c.ephemeral, r)
		c.ephBits = append(c.ephBits, bit)
	}
	for i, u := range opts.Services {
		s, err := u.Resolve(i)
		if err != nil {
			return nil, err
		}
		c.user = append(c.user, s)
	}
	return c, nil
}

// checkRangeName accepts names that are safe inside a flag and a CSV or NDJSON list.
func checkRangeName(name string) error {
	if name == "" {
		return fmt.Errorf("empty")
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-')
	}); i >= 0 {
		return fmt.Errorf("%q: character %q at %d; use letters, digits, '.', '_' or '-'", name, name[i:i+1], i)
	}
	return nil
}

// LookupService returns the service of port for protocol proto: the first matching
// user-defined service, else IANA's (see ports.Lookup).
func (c *Classifier) LookupService(proto uint8, port uint16) (ports.Service, bool) {
	if s, ok := c.userService(proto, port); ok {
		return s, true
	}
	return ports.Lookup(proto, port)
}

// userService returns the first user-defined service on proto/port. The list is short
// and in configuration order, which decides overlaps, so it is scanned.
func (c *Classifier) userService(proto uint8, port uint16) (ports.Service, bool) {
	for _, s := range c.user {
		if s.Proto == proto && s.Lo <= port && port <= s.Hi {
			return s, true
		}
	}
	return ports.Service{}, false
}

// ServicesByName returns the user-defined services named name (ignoring case), in
// configuration order, followed by IANA's (see ports.ByName).
// IANA entries on ports a user service overrides are still listed.
func (c *Classifier) ServicesByName(name string) []ports.Service {
	var out []ports.Service
	for _, s := range c.user {
		if strings.EqualFold(s.Name, name) {
			out = append(out, s)
		}
	}
	return append(out, ports.ByName(name)...)
}

// ServerPort reports whether port is a service port for protocol proto: IsServicePort,
// or a port of a user-defined service. It is what the flow table's direction heuristic
// (capture's Options.ServerPort) should be given.
func (c *Classifier) ServerPort(proto uint8, port uint16) bool {
	if ports.IsServicePort(proto, port) {
		return true
	}
	_, ok := c.userService(proto, port)
	return ok
}

// inEphemeral reports whether port lies in any configured ephemeral range.
func (c *Classifier) inEphemeral(port uint16) bool {
	for _, r := range c.ephemeral {
		if r.Contains(port) {
			return true
		}
	}
	return false
}

// Classify returns the verdict of f; it does not modify f.
//
// Options.Explain runs first and fills Verdict.Veeam. Outcome is capture.OutcomeOf(f).
// For protocols without ports (capture.HasPorts false) the verdict has ClassNone, no
// service, and only the "veeam" flag if Explain matched. Otherwise PortClass is the
// class of the server port, Service the name of its service (user-defined first, then
// the Veeam service of the rules Explain returned, see veeam.ServiceName, then IANA's;
// "" if none), IANAService IANA's name whatever Service is, and Flags holds:
//
//   - "dynamic-server-port": the server port is 49152 or above;
//   - "server-ephemeral:<name>": for each configured range holding the server port;
//   - "both-ephemeral": both ports lie in some configured range (not necessarily the
//     same one) and neither is a service port per ServerPort, so who is the server is
//     a guess;
//   - "direction-guessed": f.Direction came from a heuristic, not a handshake;
//   - "veeam": Explain returned at least one rule;
//   - "unexplained-ephemeral": the server port is dynamic or in a configured range, and
//     neither a Veeam rule nor a user-defined service nor a curated service port
//     explains it.
//
// It allocates only what Explain does.
func (c *Classifier) Classify(f *capture.Flow) Verdict {
	v := Verdict{Outcome: capture.OutcomeOf(f)}
	if c.explain != nil {
		v.Veeam = c.explain(f)
		if len(v.Veeam) > 1 && !slices.IsSorted(v.Veeam) {
			slices.Sort(v.Veeam)
		}
	}
	if len(v.Veeam) > 0 {
		v.Flags = v.Flags.With(FlagVeeam)
	}
	if !capture.HasPorts(f.Proto) {
		return v
	}
	sp, cp := f.Server.Port(), f.Client.Port()
	v.PortClass = ports.ClassOf(sp)
	if s, ok := ports.Lookup(f.Proto, sp); ok {
		v.IANAService = s.Name
	}
	switch s, ok := c.userService(f.Proto, sp); {
	case ok:
		v.Service = s.Name
	case len(v.Veeam) > 0:
		v.Service = veeam.ServiceName(v.Veeam, sp)
	default:
		v.Service = v.IANAService
	}
	serverEph := false
	for i, r := range c.ephemeral {
		if r.Contains(sp) {
			serverEph = true
			v.Flags.ranges |= 1 << c.ephBits[i]
		}
	}
	if sp >= 49152 {
		v.Flags = v.Flags.With(FlagDynamicServer)
	}
	// Both ports ephemeral and no handshake to say who listened: the server is unknown.
	if serverEph && c.inEphemeral(cp) && !f.Direction.Confident() && !c.ServerPort(f.Proto, sp) && !c.ServerPort(f.Proto, cp) {
		v.Flags = v.Flags.With(FlagBothEphemeral)
	}
	if !f.Direction.Confident() {
		v.Flags = v.Flags.With(FlagGuessedDirection)
	}
	// IANA names most ports of 32768-49151, so an IANA name explains nothing here: only a
	// Veeam rule, a user-defined service or a curated service port (ServerPort) does.
	if (serverEph || sp >= 49152) && len(v.Veeam) == 0 && !c.ServerPort(f.Proto, sp) {
		v.Flags = v.Flags.With(FlagUnexplained)
	}
	return v
}

// Flow returns f with its verdict.
func (c *Classifier) Flow(f *capture.Flow) Flow { return Flow{Flow: *f, Verdict: c.Classify(f)} }
