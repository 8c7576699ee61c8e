package capture

import "strconv"

// Link types (LINKTYPE_* values as stored in pcap and pcapng files) that portclass decodes.
const (
	LinkNull      uint16 = 0   // BSD loopback, 4-byte address family in host byte order
	LinkEthernet  uint16 = 1   // Ethernet II / 802.3, with 802.1Q and QinQ tags
	LinkPPP       uint16 = 9   // PPP, optionally with HDLC address/control bytes
	LinkRawOld    uint16 = 12  // DLT_RAW on some BSDs
	LinkRawOld2   uint16 = 14  // DLT_RAW on other BSDs
	LinkPPPHDLC   uint16 = 50  // PPP in HDLC-like framing
	LinkPPPEther  uint16 = 51  // PPPoE session frames without the Ethernet header
	LinkRaw       uint16 = 101 // raw IPv4 or IPv6
	LinkLoop      uint16 = 108 // OpenBSD loopback, address family in network byte order
	LinkLinuxSLL  uint16 = 113 // Linux "cooked" capture v1
	LinkNFLog     uint16 = 239 // Linux netfilter NFLOG
	LinkIPv4      uint16 = 228
	LinkIPv6      uint16 = 229
	LinkLinuxSLL2 uint16 = 276 // Linux "cooked" capture v2 (tcpdump -i any)
	LinkPKTAP     uint16 = 258 // Apple PKTAP
	LinkIEEE80211 uint16 = 105 // IEEE 802.11 without a radio header
	LinkRadiotap  uint16 = 127 // IEEE 802.11 with a radiotap header
	LinkPPI       uint16 = 192 // Per-Packet Information header, then another link type
)

var linkNames = map[uint16]string{
	0: "NULL", 1: "EN10MB", 6: "IEEE802", 8: "SLIP", 9: "PPP", 10: "FDDI", 12: "RAW", 14: "RAW",
	50: "PPP_HDLC", 51: "PPP_ETHER", 101: "RAW", 104: "C_HDLC", 105: "IEEE802_11", 107: "FRELAY",
	108: "LOOP", 113: "LINUX_SLL", 117: "PFLOG", 119: "PRISM_HEADER", 127: "IEEE802_11_RADIO",
	143: "DOCSIS", 147: "USER0", 163: "IEEE802_11_RADIO_AVS", 192: "PPI", 195: "IEEE802_15_4",
	201: "BLUETOOTH_HCI_H4_WITH_PHDR", 220: "USB_LINUX_MMAPPED", 228: "IPV4", 229: "IPV6",
	239: "NFLOG", 249: "NETLINK", 258: "PKTAP", 276: "LINUX_SLL2", 274: "ETW",
}

// LinkTypeName returns libpcap's name for a link type, or "LINKTYPE_N".
func LinkTypeName(lt uint16) string {
	if n, ok := linkNames[lt]; ok {
		return n
	}
	return "LINKTYPE_" + strconv.Itoa(int(lt))
}

// Supported reports whether portclass decodes packets of link type lt.
func Supported(lt uint16) bool {
	switch lt {
	case LinkNull, LinkEthernet, LinkPPP, LinkRawOld, LinkRawOld2, LinkPPPHDLC, LinkPPPEther, LinkRaw,
		LinkLoop, LinkLinuxSLL, LinkNFLog, LinkIPv4, LinkIPv6, LinkLinuxSLL2, LinkPKTAP,
		LinkIEEE80211, LinkRadiotap, LinkPPI:
		return true
	}
	return false
}
