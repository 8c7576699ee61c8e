package synth

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// BaseTime is when every scenario's capture starts unless Scenario.Start is set:
// 2026-01-15T10:00:00Z. A function rather than a variable so nobody can move it.
func BaseTime() time.Time { return time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC) }

// Kind names a scenario. The zero value is KindUnknown.
type Kind uint8

const (
	KindUnknown Kind = iota
	KindMix          // "mix": benchmark traffic, Packets packets over about Flows flows
	KindSample       // "sample": an office/backup segment for `make demo`, a few thousand packets
	KindVeeam        // "veeam": a Veeam Backup & Replication job; every connection is in VeeamFacts
	// "veeam-firewall": the same deployment after a firewall change, with refused,
	// unanswered and ICMP-blocked connections and undocumented traffic; every connection
	// and its outcome is in VeeamFirewallFacts.
	KindVeeamFirewall
	KindVeeamAfter // "veeam-after": the veeam job a day later, after a firewall change (VeeamChanges)
	// "flows": flow-heavy benchmark traffic, Packets packets over Flows short flows
	// among tens of thousands of hosts, about Flows/25 of them open at once (flows.go)
	KindFlows
	// "tunnels": the veeam job's packets inside VXLAN, Geneve and GRE, one
	// encapsulation per flow, some two deep (tunnels.go)
	KindTunnels
)

var kindNames = [...]string{"", "mix", "sample", "veeam", "veeam-firewall", "veeam-after", "flows", "tunnels"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return ""
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if i > 0 && n == s {
			return Kind(i), nil
		}
	}
	return KindUnknown, fmt.Errorf("unknown scenario %q (want mix, flows, sample, veeam, veeam-firewall, veeam-after or tunnels)", s)
}

// Mix defaults.
const (
	DefaultMixPackets = 1_000_000
	DefaultMixFlows   = 20_000
)

// CommittedSnaplen is the snaplen of the scripted captures committed under testdata/
// (sample.pcapng, veeam.pcap, veeam-after.pcap): every header survives (Ethernet + QinQ + IPv6 + TCP
// with options is 86 bytes), payload mostly does not, and the original lengths keep
// the real byte counts. It keeps those files near 150 KB.
const CommittedSnaplen = 96

// Scenario selects and parameterizes a traffic generator. The same Scenario always
// produces the same packets.
type Scenario struct {
	Kind    Kind
	Seed    uint64
	Packets int // KindMix, KindFlows: exact number of packets; 0 means DefaultMixPackets or DefaultFlowsPackets
	// Flows is, for KindMix, the flows to start (roughly met; fewer when the packets
	// cannot hold them); for KindFlows, the flows a flow table keyed as portclass's
	// sees (within a few percent). 0 means DefaultMixFlows or DefaultFlowsFlows.
	Flows int
	// MSS is, for KindMix and KindFlows, the TCP payload of a full segment over IPv4
	// (20 bytes less over IPv6), 40 to 1460; 0 means 1460 (an Ethernet MTU). A smaller
	// MSS gives smaller frames for the same packets and flows.
	MSS int
	// Span is, for KindFlows, the time over which the flows start; 0 means the default
	// rate, at which about Flows/25 flows are open at once in a flow table with
	// portclass's idle timeouts (73 minutes for 500k flows). A shorter span keeps every
	// flow's own timing and packets and starts the flows closer together: with 70
	// seconds, most of the 500k flows are still open at the end of the capture, as after
	// a scan or a burst of lookups.
	Span  time.Duration
	Start time.Time // first packet's time is at or after Start; zero means BaseTime() (a day later for veeam-after)
}

// Generate calls sink with every packet of s in time order (timestamps never
// decrease). Flows are interleaved as concurrent traffic is. The slices and the
// Quote of a Packet are owned by the generator and valid only during the call: copy
// them (or call Frame) before returning. Memory use is bounded by the number of
// concurrent flows, not the number of packets. The first error from sink stops
// generation and is returned as is.
func Generate(s Scenario, sink func(Packet) error) error {
	start := s.Start
	if start.IsZero() {
		start = BaseTime()
		if s.Kind == KindVeeamAfter {
			start = start.Add(veeamAfterDelay)
		}
	}
	switch s.Kind {
	case KindMix:
		return genMix(s, start, sink)
	case KindFlows:
		return genFlows(s, start, sink)
	case KindSample:
		return runScript(s.Seed, start, sampleScript, sink)
	case KindVeeam:
		return runScript(s.Seed, start, veeamScript, sink)
	case KindVeeamFirewall:
		return runScript(s.Seed, start, veeamFirewallScript, sink)
	case KindVeeamAfter:
		return runScript(s.Seed, start, veeamAfterScript, sink)
	case KindTunnels:
		return runScript(s.Seed, start, veeamScript, (&tunneler{sink: sink}).packet)
	}
	return fmt.Errorf("scenario: unknown kind %d", s.Kind)
}

// Format is a capture file format. The zero value is FormatUnknown.
type Format uint8

const (
	FormatUnknown Format = iota
	FormatPcap
	FormatPcapng
)

var formatNames = [...]string{"", "pcap", "pcapng"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return ""
}

// ParseFormat is the inverse of Format.String.
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if i > 0 && n == s {
			return Format(i), nil
		}
	}
	return FormatUnknown, fmt.Errorf("unknown capture format %q (want pcap or pcapng)", s)
}

// FileOptions says how Write stores packets.
type FileOptions struct {
	Format   Format
	LinkType uint16 // a Link constant; note that 0 is LinkNull, not Ethernet
	// Snaplen cuts every record to this many bytes (the original length stays the
	// wire length), as tcpdump -s does; 0 means DefaultSnaplen.
	Snaplen   uint32
	Nano      bool // pcap: nanosecond magic; pcapng: if_tsresol 9 instead of 6
	BigEndian bool
}

// Write generates s and writes it to w as one capture file (for pcapng: one section,
// one interface named "synth0"). Output is buffered internally.
func Write(w io.Writer, s Scenario, o FileOptions) error {
	if !linkSupported(o.LinkType) {
		return fmt.Errorf("write %s scenario: link type %d not supported", s.Kind, o.LinkType)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	var (
		put func(ts time.Time, frame []byte) error
		buf = make([]byte, 0, 2048)
	)
	switch o.Format {
	case FormatPcap:
		pw, err := NewPcapWriter(bw, PcapOptions{BigEndian: o.BigEndian, Nano: o.Nano, LinkType: o.LinkType, Snaplen: o.Snaplen})
		if err != nil {
			return err
		}
		put = func(ts time.Time, frame []byte) error { return pw.WritePacket(ts, frame, len(frame)) }
	case FormatPcapng:
		nw, err := NewNgWriter(bw, NgOptions{BigEndian: o.BigEndian, Application: "portclass pcapgen"})
		if err != nil {
			return err
		}
		res := uint8(6)
		if o.Nano {
			res = 9
		}
		if _, err := nw.AddInterface(o.LinkType, "synth0", res, o.Snaplen); err != nil {
			return err
		}
		put = func(ts time.Time, frame []byte) error { return nw.WritePacket(0, ts, frame, len(frame)) }
	default:
		return fmt.Errorf("write %s scenario: unknown format %d", s.Kind, o.Format)
	}
	err := Generate(s, func(p Packet) error {
		if o.LinkType == LinkIPv4 && !p.Src.Is4() || o.LinkType == LinkIPv6 && !p.Src.Is6() {
			return fmt.Errorf("write %s scenario: link type %s cannot carry a packet from %v", s.Kind, LinkName(o.LinkType), p.Src)
		}
		buf = p.Frame(o.LinkType, buf)
		return put(p.Time, buf)
	})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s scenario: %w", s.Kind, err)
	}
	return nil
}

func linkSupported(lt uint16) bool {
	for _, l := range linkNames {
		if l.lt == lt {
			return true
		}
	}
	return false
}
