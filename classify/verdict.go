package classify

import (
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

// Flag names a Verdict can carry, in the flow record's `flags` list.
const (
	// FlagDynamicServer: the server port is in IANA's dynamic range 49152-65535.
	FlagDynamicServer = "dynamic-server-port"
	// FlagServerEphemeral + ":" + range name (e.g. "server-ephemeral:linux"): the server
	// port lies in that configured OS ephemeral range.
	FlagServerEphemeral = "server-ephemeral"
	// FlagBothEphemeral: both ports lie in some configured ephemeral range, neither is a
	// known service port and no handshake said who listened, so the server is unknown.
	FlagBothEphemeral = "both-ephemeral"
	// FlagGuessedDirection: client and server were decided by a heuristic, not a handshake.
	FlagGuessedDirection = "direction-guessed"
	// FlagVeeam: one or more Veeam rules explain the flow.
	FlagVeeam = "veeam"
	// FlagUnexplained: server port in an ephemeral/dynamic range and nothing explains it:
	// no Veeam rule, no user-defined service, no curated service port (an IANA name alone
	// does not count: IANA names most ports of 32768-49151).
	FlagUnexplained = "unexplained-ephemeral"
)

// Verdict is what classify adds to a flow record. Slices belong to the Verdict.
type Verdict struct {
	PortClass ports.Class   // class of the server port; ports.ClassNone without ports
	Service   string        // IANA (or user-defined) service name of the server port, "" if none
	Flags     []string      // sorted, see the Flag constants
	Veeam     []veeam.Match // sorted by Rule
}
