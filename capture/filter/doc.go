// Package filter compiles tcpdump (pcap-filter) expressions to classic BPF without cgo
// or libpcap, so that one --filter means the same thing for capture files, matched in
// process by a Matcher, and for live AF_PACKET sockets, which run the program from
// Compile in the kernel. It belongs to the capture stage and knows nothing of flows,
// services or reports.
//
// Parse resolves everything that can be resolved without a link type; Compile and
// Matcher then lower the expression for one link type, emitting code in the order
// libpcap's code generator does (left to right, IPv6 before IPv4 for ports), and
// optimise it only in ways that cannot change a verdict: loads already made are not
// repeated and tests already decided are skipped.
//
// # Filter expressions
//
// The supported subset of pcap-filter(7), with tcpdump's meaning:
//
//	expr      = term { ("and" | "&&" | "or" | "||") (term | id) }
//	term      = ("not" | "!") term | "(" expr ")" | primitive
//	primitive = [proto] dir [kind] id | [proto] kind id
//	          | ["ip" | "ip6"] "proto" id
//	          | proto
//	          | "vlan" [number] | "geneve" [number] | "less" number | "greater" number
//	          | arith relop arith
//	proto     = "ip" | "ip6" | "arp" | "rarp" | "tcp" | "udp" | "sctp"
//	          | "icmp" | "icmp6" | "igmp" | "ah" | "esp"
//	dir       = "src" | "dst" | "src or dst" | "src and dst"
//	kind      = "host" | "net" | "port" | "portrange"
//	id        = IPv4 address | IPv4 address "/" length | IPv4 address "mask" IPv4 address
//	          | IPv6 address | IPv6 address "/" length
//	          | number | number "-" number (port range) | "\" protocol name
//	          | "not" id | "(" id { ("and" | "or") id } ")"
//	arith     = number | "len" | loadproto "[" arith [":" ("1" | "2" | "4")] "]"
//	          | arith op arith | "-" arith | "(" arith ")"
//	loadproto = "ether" | "link" | "ip" | "ip6" | "arp" | "rarp" | "tcp" | "udp"
//	          | "sctp" | "icmp" | "icmp6" | "igmp"
//	op        = "+" | "-" | "*" | "/" | "%" | "&" | "|" | "^" | "<<" | ">>"
//	relop     = "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//
// Examples: "tcp port 443", "host 192.0.2.1 and not port 22", "ip6 net 2001:db8::/32",
// "udp dst portrange 49152-65535", "vlan 100 and (icmp or icmp6)",
// "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "greater 1400".
//
// What the primitives mean, as in tcpdump:
//
//   - "and" and "or" have the same precedence and associate to the left: "a or b and c"
//     is "(a or b) and c". "not" binds tighter than both.
//   - A bare address, number or range after "and"/"or" repeats the qualifiers of the
//     primitive before it: "host 192.0.2.1 or 192.0.2.2", "tcp port 80 or 443",
//     "port (80 or 443)". After "(...)" the qualifiers from before the parenthesis apply.
//   - The direction defaults to "src or dst". host and net without a protocol match
//     IPv4, and the sender or target address of ARP and RARP; "ip host", "arp host"
//     and "rarp host" narrow that. IPv6 addresses match IPv6 only. A short IPv4
//     address is a network ("net 192.0.2" is 192.0.2.0/24; so is "host 192.0.2"), a
//     bare number is an address ("host 3221225985"), or for net a short network
//     number ("net 10" is 10.0.0.0/8). Bits outside the mask are an error.
//   - port and portrange without a protocol mean TCP, UDP or SCTP. On IPv4 they never
//     match a fragment other than the first (fragment offset not 0); on IPv6 only the
//     fixed header's next-header field is looked at: no extension headers are walked,
//     so a fragmented or routed IPv6 datagram never matches a port. A range A-B with
//     A > B is taken as B-A.
//   - tcp, udp, sctp, ah, esp and "proto N" match IPv4 and IPv6; icmp and igmp IPv4;
//     icmp6 IPv6. For IPv6, the protocol may also follow a fragment header. "ip proto"
//     looks only at the IPv4 protocol field. Protocol names must be escaped as in
//     tcpdump ("ip proto \udp"); the names known are icmp, igmp, tcp, udp, gre, esp,
//     ah, ipv6-icmp and sctp.
//   - "vlan" matches an 802.1Q (0x8100), 802.1ad (0x88a8) or 0x9100 tag, "vlan N" one
//     with VLAN ID N; and, as in tcpdump, every primitive written after it, even
//     across "or" or outside parentheses, looks 4 bytes further into the frame. So
//     "vlan and tcp" matches TCP inside one tag, "vlan and vlan and tcp" inside two,
//     and "vlan or tcp" and "not vlan and tcp" test for TCP 4 bytes too far: write
//     "tcp and not vlan". vlan is for Ethernet only.
//   - "geneve" matches, as in libpcap 1.10, a UDP datagram to port 6081 (over IPv4 not
//     a non-first fragment; over IPv6 with UDP right after the fixed header) whose
//     Geneve header has version 0, and "geneve N" one with VNI N. Like vlan, it moves
//     what follows it in source order (even across "or" and outside parentheses) into
//     the Geneve payload: link-type tests read the inner EtherType (the Geneve protocol
//     type, or the inner Ethernet header's type when the payload is Ethernet), address,
//     protocol and port tests the inner IP header, whose offsets are computed from the
//     outer IP header and Geneve's option length at run time. So "geneve and tcp port
//     443" is TCP to 443 inside Geneve, and "udp port 6081" or "geneve" alone select the
//     Geneve packets themselves. After a geneve, "vlan", a second "geneve" and
//     byte-offset expressions are refused (libpcap moves those too). Geneve's O (control)
//     bit is not tested, as in libpcap. A primitive after geneve that is evaluated on a
//     packet geneve did not match (the tcp of "geneve or tcp") reads at offset 0, where
//     libpcap reads scratch memory it never wrote: write the alternatives first, as in
//     "tcp or (geneve and udp)".
//   - Every other primitive applies to the outermost headers, as in tcpdump: "udp port
//     4789" matches VXLAN packets, "proto 47" GRE, "ip proto 41" 6in4.
//   - "less N" is "len <= N" and "greater N" is "len >= N", where len is the length on
//     the wire, not the captured length.
//   - In proto[offset:size] the offset counts from the start of the frame (ether,
//     link), the network header (ip, ip6, arp, rarp), the IPv4 payload (tcp, udp,
//     sctp, icmp, igmp: IPv4 only, first fragments only) or the end of the fixed IPv6
//     header (icmp6, when the next header is 58). Values are unsigned 32-bit, loaded
//     big-endian; comparisons are unsigned. Numbers may be decimal, 0x hexadecimal or
//     0-prefixed octal, or one of tcpdump's names: tcpflags, tcp-fin, tcp-syn, tcp-rst,
//     tcp-push, tcp-ack, tcp-urg, tcp-ece, tcp-cwr, icmptype, icmpcode, icmp-echo,
//     icmp-echoreply, icmp-unreach and the other icmp-* names, icmp6type, icmp6code
//     and the icmp6-* names.
//
// Not supported (Parse says so): host, network, port and most protocol names (nothing
// is resolved: hostnames give "hostnames are not resolved; use an address"), MAC
// addresses and "ether host/src/dst/proto", gateway, broadcast, multicast, protochain,
// mpls, pppoes, vxlan (libpcap 1.11's; libpcap 1.10 and tcpdump 4.99 have none: the
// error suggests "udp dst port 4789"), inbound/outbound, ifindex and the 802.11 and other link-specific
// primitives. Also rejected where tcpdump accepts: protocol numbers above 255 (which
// tcpdump compiles into a test that never matches) and ports written as dotted numbers.
// The empty expression matches every packet.
//
// # Link types
//
// Ethernet (1); Linux cooked capture SLL (113, protocol at offset 14) and SLL2 (276,
// protocol at offset 0); RAW (101, and 12 and 14, the version nibble tells IPv4 from
// IPv6); IPv4 (228) and IPv6 (229); NULL (0) and LOOP (108), whose 4-byte header holds
// AF_INET (2) or AF_INET6 (24, 28 or 30) in host byte order for NULL, where both byte
// orders are accepted, and network byte order for LOOP; PPP (9). ARP and RARP never
// match on links that cannot carry them. Other link types give ErrLinkType.
//
// # Where the verdict can differ from tcpdump's
//
// On a packet cut short by the snap length inside the headers a filter reads, a load
// beyond the captured bytes rejects the packet, in BPF and here. The order of loads is
// libpcap's unoptimised order ("tcpdump -O"); libpcap's optimiser sometimes drops or
// reorders loads, so on such packets tcpdump may decide differently (it also reduces
// tautologies such as "port 80 or not port 80" to "true"). On complete packets the
// verdicts are the same. On live Linux interfaces the kernel usually strips the
// outermost VLAN tag before a socket filter runs; libpcap then uses BPF extensions for
// "vlan", which this package does not, so "vlan" filters are reliable on files only.
package filter
