package classify

import (
	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

// Verdict is what classify adds to a flow. It holds values, not text: the report
// encoders name them. The Veeam slice is read-only: it may be the Veeam matrix's own.
type Verdict struct {
	PortClass ports.Class     // class of the server port; ports.ClassNone without ports
	Outcome   capture.Outcome // what the network did with the flow (capture.OutcomeOf)
	Flags     Flags
	// Service names the server port's service: the user-defined service if one holds
	// the port, else the Veeam service when Veeam rules explain the flow
	// (veeam.ServiceName of Veeam), else IANA's name; "" if none.
	Service string
	// IANAService is IANA's name of the server port ("" if none), whatever Service says.
	IANAService string
	Veeam       []veeam.Match // the Veeam rules that explain the flow, sorted by rule id
}

// Flow is a classified flow: the record capture emitted and its verdict. It is the
// value every stage after classification passes on (aggregation, verification, diff,
// the encoders) and the flow record the reports write; only encoders turn it into
// text. Index 0 of the per-direction arrays is client→server.
type Flow struct {
	capture.Flow
	Verdict
}

// Packets is the number of packets in both directions.
func (f *Flow) Packets() uint64 {
	return f.Flow.Packets[capture.ToServer] + f.Flow.Packets[capture.ToClient]
}

// Bytes is the number of bytes in both directions.
func (f *Flow) Bytes() uint64 { return f.Flow.Bytes[capture.ToServer] + f.Flow.Bytes[capture.ToClient] }
