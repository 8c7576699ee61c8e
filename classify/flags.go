package classify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Flag is one of the fixed flags of a verdict; see [Flags] for the set a flow carries.
// Each has a name, its value in the flow record's "flags" list.
type Flag uint8

const (
	// FlagDynamicServer ("dynamic-server-port"): the server port is in IANA's dynamic
	// range 49152-65535.
	FlagDynamicServer Flag = iota
	// FlagBothEphemeral ("both-ephemeral"): both ports lie in some configured ephemeral
	// range, neither is a known service port and no handshake said who listened, so the
	// server is unknown.
	FlagBothEphemeral
	// FlagGuessedDirection ("direction-guessed"): client and server were decided by a
	// heuristic, not a handshake.
	FlagGuessedDirection
	// FlagVeeam ("veeam"): one or more Veeam rules explain the flow.
	FlagVeeam
	// FlagUnexplained ("unexplained-ephemeral"): server port in an ephemeral or dynamic
	// range and nothing explains it: no Veeam rule, no user-defined service, no curated
	// service port (an IANA name alone does not count: IANA names most ports of
	// 32768-49151).
	FlagUnexplained
	// FlagProtocolMismatch ("protocol-mismatch"): the application protocol
	// recognised from the flow's payload contradicts what its server port implies,
	// the port's registered service (ports.PortApps) or the Veeam rule that would
	// otherwise explain it: HTTP on 5432, SSH on 443, TLS on a plain-text service's
	// port. TLS on a TLS-wrapped service's port is none; an unknown protocol never is.
	FlagProtocolMismatch
	numFlags
)

var flagNames = [numFlags]string{"dynamic-server-port", "both-ephemeral", "direction-guessed", "veeam", "unexplained-ephemeral", "protocol-mismatch"}

// String is the flag's name in flow records.
func (f Flag) String() string {
	if f < numFlags {
		return flagNames[f]
	}
	return fmt.Sprintf("flag(%d)", uint8(f))
}

// ServerEphemeralPrefix starts the name of the flag that says the server port lies in a
// configured OS ephemeral range: "server-ephemeral:" + the range's name, e.g.
// "server-ephemeral:linux".
const ServerEphemeralPrefix = "server-ephemeral:"

// MaxRangeNames is the most distinct ephemeral range names one process can flag: Flags
// holds the ranges as bits of a word.
const MaxRangeNames = 64

// rangeTable interns ephemeral range names, so that Flags holds a set of ranges as
// bits: range i is names[i], and flags[i] is its flag's name (built once, so that no
// flag name is concatenated per flow). It only grows; readers load a snapshot without
// locking. The names come from the configuration and from loaded flow records.
type rangeTable struct {
	names, flags []string
}

var ranges struct {
	mu  sync.Mutex
	tab rangeTable
	cur atomicTable
}

// rangeBit returns the bit of the ephemeral range called name, interning it first.
func rangeBit(name string) (uint8, error) {
	if i, ok := ranges.cur.load().find(name); ok {
		return i, nil
	}
	ranges.mu.Lock()
	defer ranges.mu.Unlock()
	t := ranges.tab
	if i, ok := t.find(name); ok {
		return i, nil
	}
	if len(t.names) == MaxRangeNames {
		return 0, fmt.Errorf("ephemeral range %q: more than %d distinct range names", name, MaxRangeNames)
	}
	// Copy on write: readers may hold the previous slices.
	t.names = append(t.names[:len(t.names):len(t.names)], name)
	t.flags = append(t.flags[:len(t.flags):len(t.flags)], ServerEphemeralPrefix+name)
	ranges.tab = t
	ranges.cur.store(t)
	return uint8(len(t.names) - 1), nil
}

func (t rangeTable) find(name string) (uint8, bool) {
	for i, n := range t.names {
		if n == name {
			return uint8(i), true
		}
	}
	return 0, false
}

// Flags is the set of flags of a verdict: fixed [Flag] values and the configured
// ephemeral ranges that hold the server port (flag "server-ephemeral:NAME"). It is a
// comparable value of two words; the zero value is the empty set. Its text forms list
// the names sorted: MarshalJSON a JSON array (as flow records have it), MarshalText
// the names joined by ";" (as CSV has it).
type Flags struct {
	bits   uint8
	ranges uint64 // bit i: interned range i
}

// Has reports whether f holds flag x.
func (f Flags) Has(x Flag) bool { return f.bits&(1<<x) != 0 }

// With returns f with flag x added.
func (f Flags) With(x Flag) Flags {
	f.bits |= 1 << x
	return f
}

// Union returns the flags of f and g.
func (f Flags) Union(g Flags) Flags { return Flags{f.bits | g.bits, f.ranges | g.ranges} }

// IsZero reports whether f holds no flag.
func (f Flags) IsZero() bool { return f == Flags{} }

// InEphemeralRange reports whether the server port lies in a configured ephemeral range.
func (f Flags) InEphemeralRange() bool { return f.ranges != 0 }

// Ephemeral reports whether f puts a flow among the ephemeral-range traffic: a dynamic
// server port, a server port in an ephemeral range, both ports ephemeral, or
// unexplained-ephemeral.
func (f Flags) Ephemeral() bool {
	return f.ranges != 0 || f.bits&(1<<FlagDynamicServer|1<<FlagBothEphemeral|1<<FlagUnexplained) != 0
}

// EphemeralOnly returns the flags of f that Ephemeral looks at.
func (f Flags) EphemeralOnly() Flags {
	return Flags{f.bits & (1<<FlagDynamicServer | 1<<FlagBothEphemeral | 1<<FlagUnexplained), f.ranges}
}

// maxNames bounds the names one Flags can have.
const maxNames = int(numFlags) + MaxRangeNames

// AppendNames appends the names of f to dst, sorted, and returns the extended slice.
// The names are shared strings: it allocates only when dst has no room.
func (f Flags) AppendNames(dst []string) []string {
	start := len(dst)
	for x := range numFlags {
		if f.Has(x) {
			dst = append(dst, flagNames[x])
		}
	}
	if f.ranges != 0 {
		t := ranges.cur.load()
		for i := range t.flags {
			if f.ranges&(1<<i) != 0 {
				dst = append(dst, t.flags[i])
			}
		}
	}
	names := dst[start:]
	for i := 1; i < len(names); i++ { // insertion sort: a handful of names
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return dst
}

// Names returns the names of f, sorted.
func (f Flags) Names() []string {
	var buf [8]string
	return append([]string(nil), f.AppendNames(buf[:0])...)
}

// String is the names joined by ", ".
func (f Flags) String() string { return strings.Join(f.Names(), ", ") }

// MarshalText writes the names joined by ";".
func (f Flags) MarshalText() ([]byte, error) { return []byte(strings.Join(f.Names(), ";")), nil }

// UnmarshalText reads names joined by ";" (an empty text is no flag).
func (f *Flags) UnmarshalText(b []byte) error {
	*f = Flags{}
	if len(b) == 0 {
		return nil
	}
	for name := range strings.SplitSeq(string(b), ";") {
		if err := f.add(name); err != nil {
			return err
		}
	}
	return nil
}

// MarshalJSON writes the names as a JSON array, [] for none.
func (f Flags) MarshalJSON() ([]byte, error) {
	var buf [8]string
	return json.Marshal(f.AppendNames(buf[:0]))
}

// UnmarshalJSON reads a JSON array of names (null is no flag).
func (f *Flags) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	*f = Flags{}
	for _, n := range names {
		if err := f.add(n); err != nil {
			return err
		}
	}
	return nil
}

// ErrUnknownFlag is returned (wrapped) for a flag name this build does not know.
var ErrUnknownFlag = errors.New("unknown flag")

// ParseFlags returns the set of the named flags: fixed names and
// "server-ephemeral:NAME" for any range name of letters, digits, '.', '_' or '-'.
func ParseFlags(names ...string) (Flags, error) {
	var f Flags
	for _, n := range names {
		if err := f.add(n); err != nil {
			return Flags{}, err
		}
	}
	return f, nil
}

func (f *Flags) add(name string) error {
	for x := range numFlags {
		if flagNames[x] == name {
			f.bits |= 1 << x
			return nil
		}
	}
	if r, ok := strings.CutPrefix(name, ServerEphemeralPrefix); ok {
		if err := checkRangeName(r); err != nil {
			return fmt.Errorf("flag %q: range name %w", name, err)
		}
		i, err := rangeBit(r)
		if err != nil {
			return err
		}
		f.ranges |= 1 << i
		return nil
	}
	return fmt.Errorf("%w %q", ErrUnknownFlag, name)
}

// atomicTable publishes the interned range table to readers without a lock.
type atomicTable struct{ p atomic.Pointer[rangeTable] }

func (a *atomicTable) load() rangeTable {
	if t := a.p.Load(); t != nil {
		return *t
	}
	return rangeTable{}
}

func (a *atomicTable) store(t rangeTable) { a.p.Store(&t) }
