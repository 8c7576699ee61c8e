package capture

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/bpf"
)

// Live capture: the same pipeline as for files (decode, fragments, sharded flow
// tables), fed by AF_PACKET sockets instead of a file reader. Only Linux has it
// (live_linux.go); elsewhere OpenLive returns ErrLiveUnsupported.

// DefaultSnaplen is the number of bytes kept of each live packet. A flow needs headers
// only: link (14, plus 8 for two VLAN tags), IPv6 (40) with a few extension headers,
// TCP (up to 60), or an ICMP error with the IP header and 8 bytes it quotes. 256 keeps
// all of them with room to spare, so the ring holds many more packets than with full
// frames and --write keeps evidence of who talked to whom, not the data.
const DefaultSnaplen = 256

// DefaultBufferSize is the size of the kernel ring of each interface (8 MiB: about
// 25,000 packets at the default snaplen).
const DefaultBufferSize = 8 << 20

// DefaultTick is how often a live capture advances its flow tables' clock when no
// packets arrive, so that idle flows expire by wall-clock time.
const DefaultTick = time.Second

// ErrLiveUnsupported is returned by OpenLive on systems without AF_PACKET.
var ErrLiveUnsupported = errors.New("live capture is only supported on Linux (AF_PACKET); capture with another tool and run portclass analyze on the file")

// LiveOptions configure a live capture. The zero value of each field is a default.
type LiveOptions struct {
	// Interfaces to capture on, by name; "any" means every interface that is up when
	// the capture starts and every one that comes up while it runs (checked every
	// second), one socket and ring each.
	Interfaces []string
	// Snaplen is the bytes kept per packet; 0 means DefaultSnaplen.
	Snaplen int
	// Promisc puts the interfaces in promiscuous mode (needs CAP_NET_ADMIN).
	Promisc bool
	// BufferSize is the ring size per interface in bytes; 0 means DefaultBufferSize.
	BufferSize int
	// KernelFilter compiles the filter for a link type, as filter.Filter.Compile does;
	// the program is attached to each socket before it is bound, so the kernel drops
	// the packets it rejects before they are counted. When it fails for a link type,
	// packets are filtered in portclass by Options.Filter instead. nil: no filter.
	KernelFilter func(linkType uint16, snaplen uint32) ([]bpf.Instruction, error)
	// FilterExpr is the filter's text, recorded in the pcapng interface descriptions.
	FilterExpr string
	// Count stops the capture after this many packets (0: no limit).
	Count uint64
	// Duration stops the capture after this long (0: no limit).
	Duration time.Duration
	// Every ends an interval at every multiple of Every of the wall clock (0: one
	// interval for the whole capture); see Options.Interval.
	Every time.Duration
	// Tick is how often the flow tables' clock advances without packets; 0 means DefaultTick.
	Tick time.Duration
	// Write, when set, keeps the captured packets (as cut by Snaplen) in this pcapng
	// file, opened when Run starts (after privileges were dropped).
	Write string
	// WriteMaxSize rotates the Write file after this many bytes: the files are then
	// numbered NAME-0001.pcapng, NAME-0002.pcapng, ... (0: one file).
	WriteMaxSize int64
	// WriteMaxFiles keeps only the newest files when rotating (0: keep all).
	WriteMaxFiles int
	// Log receives the capture's own messages (interfaces opened, read errors).
	Log zerolog.Logger
}

func (o *LiveOptions) defaults() {
	if o.Snaplen <= 0 {
		o.Snaplen = DefaultSnaplen
	}
	o.Snaplen = min(o.Snaplen, MaxCapLen)
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
}

// LiveInterface describes one interface of a live capture.
type LiveInterface struct {
	Name         string
	Index        int    // the kernel's interface index
	LinkType     uint16 // link type of its frames (EN10MB for Ethernet and loopback)
	Loopback     bool   // the kernel's copies of outgoing packets are dropped, as libpcap does
	KernelFilter bool   // the filter runs in the kernel (else, if there is one, in portclass)
}

// InterfaceStats are the counters of one interface since the capture started.
type InterfaceStats struct {
	Name           string
	Packets        uint64 // packets read from the ring
	Bytes          uint64 // their original wire lengths
	KernelReceived uint64 // packets the kernel passed to the ring (read or dropped)
	KernelDropped  uint64 // packets the ring had no room for
}

// PermissionError says that opening a packet socket (or promiscuous mode) was refused,
// and how to grant the capability.
type PermissionError struct {
	Interface string
	Promisc   bool // setting promiscuous mode failed (the socket itself opened)
	Err       error
}

func (e *PermissionError) Error() string {
	exe, err := os.Executable()
	if err != nil {
		exe = "/path/to/portclass"
	}
	what := "open a packet socket"
	need := "CAP_NET_RAW (and CAP_NET_ADMIN for --promisc)"
	if e.Promisc {
		what, need = "set promiscuous mode", "CAP_NET_ADMIN"
	}
	return fmt.Sprintf("capture on %s: cannot %s: %v: live capture needs %s; run as root, or grant them to the binary once: sudo setcap cap_net_raw,cap_net_admin=eip %s",
		e.Interface, what, e.Err, need, exe)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// UnknownInterfaceError names an interface that does not exist and lists those that do.
type UnknownInterfaceError struct {
	Name string
	Have []string
}

func (e *UnknownInterfaceError) Error() string {
	return fmt.Sprintf("capture: no interface %q; interfaces: %s, or any", e.Name, strings.Join(e.Have, ", "))
}

// liveInputName is the input name of the flows of a live capture: the interfaces as
// given, joined by commas.
func liveInputName(ifaces []string) string { return strings.Join(ifaces, ",") }

// Add adds o, the statistics of a later part of the same input (the next interval of
// a live capture), to s: counters and per-link-type maps are summed, warnings
// appended, the time span widened. Path, format, compression and size stay s's.
func (s *InputStats) Add(o InputStats) {
	if s.LinkTypes == nil {
		s.LinkTypes = map[string]uint64{}
	}
	for k, v := range o.LinkTypes {
		s.LinkTypes[k] += v
	}
	for k, v := range o.Unsupported {
		if s.Unsupported == nil {
			s.Unsupported = map[string]uint64{}
		}
		s.Unsupported[k] += v
	}
	s.Packets += o.Packets
	s.Bytes += o.Bytes
	s.Decoded += o.Decoded
	s.NonIP += o.NonIP
	s.DecodeErrors += o.DecodeErrors
	s.Filtered += o.Filtered
	s.Fragments += o.Fragments
	s.KernelReceived += o.KernelReceived
	s.KernelDropped += o.KernelDropped
	s.Warnings = append(s.Warnings, o.Warnings...)
	if o.Truncated && !s.Truncated {
		s.Truncated, s.TruncatedAt = true, o.TruncatedAt
	}
	if o.FirstTS != 0 && (s.FirstTS == 0 || o.FirstTS < s.FirstTS) {
		s.FirstTS = o.FirstTS
	}
	s.LastTS = max(s.LastTS, o.LastTS)
}
