package synth

import (
	"io"

	"github.com/portclass/portclass/capture/pcapng"
)

// NgWriter writes a pcapng file; it is package pcapng's Writer, shared with live
// capture's --write.
type NgWriter = pcapng.Writer

// NgOptions configures a pcapng section.
type NgOptions = pcapng.Options

// NewNgWriter writes a Section Header Block to w. Add interfaces before packets.
func NewNgWriter(w io.Writer, o NgOptions) (*NgWriter, error) { return pcapng.NewWriter(w, o) }
