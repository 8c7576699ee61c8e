// Package synth makes the captures portclass tests itself with: deterministic,
// synthetic traffic written as pcap or pcapng. It is a test and development aid that
// sits beside the pipeline, not in it: nothing in capture, classify or reports imports
// it outside tests, and it imports none of them (capture's own tests import synth, so
// synth must not import capture or the import would be a cycle).
//
// Three layers, each usable alone:
//
//   - Writers: [PcapWriter] (both byte orders, micro- and nanosecond magic, FCS bits in
//     the link-type field) and [NgWriter] (several sections of either byte order,
//     several interfaces with any if_tsresol, Enhanced and Simple Packet Blocks; it is
//     package pcapng's Writer, which live capture's --write uses too). They are
//     hand-written because gopacket's pcapgo writers cannot produce big-endian files,
//     several sections or arbitrary timestamp resolutions.
//   - [Packet] and [Packet.Frame]: one packet described by its fields, serialized with
//     valid checksums for the link types portclass reads.
//   - Scenarios ([Generate], [Write], [Formats]): traffic built from a seed. The same
//     seed and options always give the same bytes: timestamps derive from [BaseTime],
//     never the wall clock, and the only randomness is a math/rand/v2 PCG seeded by
//     the caller.
//
// Two scenarios are benchmark captures, cached in the temporary directory by
// [MixFile], [MixFileMSS], [FlowsFile] and [FlowsFileSpan]: mix, packet-heavy (1M
// packets over 20k mostly long TCP connections), and flows, flow-heavy (2.1M packets
// over 500k short flows among tens of thousands of hosts, about 20k open at once;
// flows.go), also with its flows started within a given time (Scenario.Span) so that
// nearly all are open at once.
//
// Addresses are documentation ranges only (RFC 5737 and RFC 3849), and, for the
// flows scenario, whose hosts outnumber the documentation /24s, the benchmarking
// range 198.18.0.0/15 (RFC 2544).
package synth
