// Command refloop is bench-compare's reference loop: the least a flow tool written in
// Go with gopacket pays for a capture. It reads a pcap file with pcapgo's zero-copy
// reads (through a 512 KiB buffer, the size of portclass's), decodes every frame with
// one gopacket.DecodingLayerParser (Ethernet, 802.1Q, IPv4, IPv6, TCP, UDP, ICMPv4,
// ICMPv6; nothing allocated per packet) and counts packets and bytes (original wire
// lengths) per bidirectional 5-tuple in a Go map, then prints the number of flows.
//
//	refloop FILE.pcap
//
// It keeps no timeouts, TCP state, fragments or ICMP quotes, and never removes a
// flow: every flow of the capture stays in the map, which is what a tool that does
// more must beat per flow. ICMP flows are keyed by their two addresses, as portclass
// keys them. It is built by internal/benchcompare (go build) and is no part of the
// portclass binary.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// key is a flow in both directions: the (address, port) that sorts first is a.
type key struct {
	a, b   [16]byte
	ap, bp uint16
	vlan   uint16
	proto  uint8
}

// counters are one flow's packets and bytes per direction (0: from a).
type counters struct {
	packets, bytes [2]uint64
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: refloop FILE.pcap")
		os.Exit(2)
	}
	flows, packets, err := run(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "refloop:", err)
		os.Exit(1)
	}
	fmt.Printf("%d flows, %d packets\n", flows, packets)
}

func run(path string) (flows, packets int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 512<<10))
	if err != nil {
		return 0, 0, err
	}
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		udp     layers.UDP
		icmp4   layers.ICMPv4
		icmp6   layers.ICMPv6
		decoded = make([]gopacket.LayerType, 0, 8)
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp, &icmp4, &icmp6)
	parser.IgnoreUnsupported = true
	index := map[key]int32{}
	var table []counters
	for {
		frame, ci, err := r.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
		packets++
		_ = parser.DecodeLayers(frame, &decoded) // a truncated or odd frame keeps the layers decoded before it
		var k key
		ip := false
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeDot1Q:
				if k.vlan == 0 {
					k.vlan = dot1q.VLANIdentifier
				}
			case layers.LayerTypeIPv4:
				copy(k.a[12:], ip4.SrcIP)
				copy(k.b[12:], ip4.DstIP)
				k.a[10], k.a[11], k.b[10], k.b[11] = 0xff, 0xff, 0xff, 0xff
				k.proto, ip = uint8(ip4.Protocol), true
			case layers.LayerTypeIPv6:
				copy(k.a[:], ip6.SrcIP)
				copy(k.b[:], ip6.DstIP)
				k.proto, ip = uint8(ip6.NextHeader), true
			case layers.LayerTypeTCP:
				k.ap, k.bp = uint16(tcp.SrcPort), uint16(tcp.DstPort)
			case layers.LayerTypeUDP:
				k.ap, k.bp = uint16(udp.SrcPort), uint16(udp.DstPort)
			}
		}
		if !ip {
			continue
		}
		side := 0
		if c := bytes.Compare(k.a[:], k.b[:]); c > 0 || c == 0 && k.bp < k.ap {
			k.a, k.b, k.ap, k.bp = k.b, k.a, k.bp, k.ap
			side = 1
		}
		i, ok := index[k]
		if !ok {
			i = int32(len(table))
			table = append(table, counters{})
			index[k] = i
		}
		c := &table[i]
		c.packets[side]++
		c.bytes[side] += uint64(ci.Length)
	}
	return len(index), packets, nil
}
