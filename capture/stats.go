package capture

// InputStats describes one input (file, stdin or interface) after it was read.
// It is a plain value; the maps and slices belong to it.
type InputStats struct {
	Path            string            // as given by the user; "-" for stdin; interface name for live capture
	Format          string            // "pcap", "pcapng" or "live"
	Compression     string            // "", "gzip" or "zstd"
	Size            int64             // bytes of the file as stored (compressed size), -1 if unknown
	LinkTypes       map[string]uint64 // packets per link type name, e.g. "EN10MB": 120
	Packets         uint64            // packet records read
	Bytes           uint64            // sum of original wire lengths
	Decoded         uint64            // packets that reached the flow table (IP with a known transport or any IP protocol)
	NonIP           uint64            // packets without IPv4/IPv6 (ARP, LLDP, ...)
	Unsupported     map[string]uint64 // packets of link types portclass cannot decode, by link type name
	DecodeErrors    uint64            // malformed packets (truncated headers, bad lengths)
	Filtered        uint64            // packets dropped by --filter
	Fragments       uint64            // non-first IPv4/IPv6 fragments (counted on their first fragment's flow)
	Decapsulated    uint64            // decoded packets whose flow is inside at least one tunnel (VXLAN, GRE, ...)
	TunnelsTooDeep  uint64            // decoded packets with more than MaxTunnelDepth tunnel layers (the deeper ones not entered)
	TunnelPathsFull uint64            // decoded packets whose flow was keyed without its tunnel path (TunnelPath.Overflow): too many distinct paths held by open flows
	Truncated       bool              // the file ended in the middle of a record or a block was corrupt
	TruncatedAt     int64             // byte offset (in the uncompressed stream) where reading stopped, when Truncated
	Warnings        []string          // human-readable problems, each naming the offset and field
	FirstTS         int64             // first and last packet time, Unix nanoseconds; 0 when no packets
	LastTS          int64
	KernelReceived  uint64 // live capture only: packets the kernel passed to the ring
	KernelDropped   uint64 // live capture only: packets the ring dropped
}

// addCounts adds the packet counters of o (a worker's share) to s.
func (s *InputStats) addCounts(o *InputStats) {
	s.Decoded += o.Decoded
	s.NonIP += o.NonIP
	s.DecodeErrors += o.DecodeErrors
	s.Filtered += o.Filtered
	s.Fragments += o.Fragments
	s.Decapsulated += o.Decapsulated
	s.TunnelsTooDeep += o.TunnelsTooDeep
	s.TunnelPathsFull += o.TunnelPathsFull
	for k, v := range o.Unsupported {
		if s.Unsupported == nil {
			s.Unsupported = map[string]uint64{}
		}
		s.Unsupported[k] += v
	}
	s.Warnings = append(s.Warnings, o.Warnings...)
}
