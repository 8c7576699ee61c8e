package appid

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portclass/portclass/internal/corpus"
)

// corpusFlow is a flow of a corpus capture and what appid made of it.
type corpusFlow struct {
	key     string // "tcp 192.0.2.1:1234 198.51.100.2:80", lower endpoint first (side 0)
	tr      Transport
	st      State
	meta    Meta
	payload int       // payloads seen
	first   [2][]byte // the start of each side's first payload (for TestCorpusExplore)
}

// corpusFlows reads a capture of the shared corpus (pcap or pcapng, gzip-compressed
// or not) with gopacket, the slow reference decoder, and feeds the TCP and UDP
// payloads of each flow to a State, as the flow table will: side 0 is the endpoint
// that sorts first, the State is fed until done and metadata taken. Flows come out in
// order of first packet.
func corpusFlows(t *testing.T, path string) []*corpusFlow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if strings.HasSuffix(path, ".gz") {
		if r, err = gzip.NewReader(r); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		t.Fatal(err)
	}
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var src source
	var linkType func(gopacket.CaptureInfo) layers.LinkType
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		src = ng
		linkType = func(ci gopacket.CaptureInfo) layers.LinkType {
			if intf, err := ng.Interface(ci.InterfaceIndex); err == nil {
				return intf.LinkType
			}
			return ng.LinkType()
		}
	} else {
		pr, err := newPcapReader(br)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		src = pr
		linkType = func(gopacket.CaptureInfo) layers.LinkType { return pr.link }
	}
	flows := map[string]*corpusFlow{}
	var order []*corpusFlow
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var first gopacket.Decoder = linkType(ci)
		switch linkType(ci) {
		case 228: // LINKTYPE_IPV4, which gopacket does not know
			first = layers.LayerTypeIPv4
		case 229: // LINKTYPE_IPV6
			first = layers.LayerTypeIPv6
		}
		pk := gopacket.NewPacket(data, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		net, tl := pk.NetworkLayer(), pk.TransportLayer()
		if net == nil || tl == nil {
			continue
		}
		var tr Transport
		var payload []byte
		switch l := tl.(type) {
		case *layers.TCP:
			tr, payload = TCP, l.Payload
		case *layers.UDP:
			tr, payload = UDP, l.Payload
		default:
			continue
		}
		a := net.NetworkFlow().Src().String() + ":" + tl.TransportFlow().Src().String()
		b := net.NetworkFlow().Dst().String() + ":" + tl.TransportFlow().Dst().String()
		side := uint8(0)
		if b < a {
			a, b, side = b, a, 1
		}
		key := fmt.Sprintf("%s %s %s", map[Transport]string{TCP: "tcp", UDP: "udp"}[tr], a, b)
		fl := flows[key]
		if fl == nil {
			fl = &corpusFlow{key: key, tr: tr}
			flows[key] = fl
			order = append(order, fl)
		}
		if len(payload) == 0 || fl.st.Done() {
			continue
		}
		fl.payload++
		if fl.first[side] == nil {
			fl.first[side] = bytes.Clone(payload[:min(len(payload), 24)])
		}
		fl.st.Feed(tr, side, payload)
		if fl.st.HasMeta() {
			fl.st.Take(&fl.meta, payload)
		}
	}
	return order
}

// pcapReader reads classic pcap files of either byte order and timestamp unit, any
// minor version (pcapgo rejects some the corpus has), without checking more than a
// test needs.
type pcapReader struct {
	r     io.Reader
	order binary.ByteOrder
	link  layers.LinkType
	hdr   [16]byte
}

func newPcapReader(r io.Reader) (*pcapReader, error) {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	p := &pcapReader{r: r}
	switch binary.LittleEndian.Uint32(h[:]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		p.order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		p.order = binary.BigEndian
	default:
		return nil, fmt.Errorf("not a pcap file: magic %x", h[:4])
	}
	p.link = layers.LinkType(p.order.Uint32(h[20:]) & 0xffff)
	return p, nil
}

func (p *pcapReader) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if _, err := io.ReadFull(p.r, p.hdr[:]); err != nil {
		return nil, gopacket.CaptureInfo{}, err
	}
	n := p.order.Uint32(p.hdr[8:])
	if n > 1<<18 {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("record of %d bytes", n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(p.r, data); err != nil {
		return nil, gopacket.CaptureInfo{}, io.ErrUnexpectedEOF
	}
	return data, gopacket.CaptureInfo{CaptureLength: int(n), Length: int(n)}, nil
}

// corpusWant is what appid makes of the flows with payload of each corpus capture
// that gopacket reads: the number of flows per verdict ("?" for Unknown) and of flows
// with an SNI (+sni), an HTTP Host (+host), an SSH identification string (+ssh).
// Captures without payload that gopacket decodes are left out. Every count was
// checked against tshark's dissection of the capture when it was written: the
// unknown flows are protocols outside the vocabulary (RADIUS, IKE, SIP, SSDP,
// NetBIOS datagrams, tunnels, BitTorrent, echo), flows captured mid-stream (TLS
// application data, RDP fast-path) or cut by a snaplen of 96 (gopacket/test202).
var corpusWant = []struct{ path, want string }{
	{"zeek/openjdk-25.0.2-zeek.org.pcap", "+sni:1 tls:1"},
	{"zeek/irc-starttls.pcap", "tls:1"},
	{"ndpi/quic-v2.pcapng", "quic:1"},
	{"tcpdump/LINKTYPE_RAW_ipv4.pcap", "dns:1"},
	{"tcpdump/LINKTYPE_RAW_ipv6.pcap", "dns:1"},
	{"scapy/pfcp.pcap", "?:1"},
	{"zeek/tcp-syslog.pcap", "syslog:1"},
	{"gopacket/test_loopback.pcap", "+host:1 http:1"},
	{"tcpdump/quic_handshake.pcap", "quic:1"},
	{"zeek/radius_localhost.pcap", "?:7"},
	{"zeek/ssh-over-udp.pcap", "?:1"},
	{"zeek/radiotap.pcap", "dns:2"},
	{"zeek/quic-interop-retry.pcap", "quic:1"},
	{"ndpi/nfsv3.pcap", "mountd:3 nfs:2 portmap:3"},
	{"tcpdump/pptp.pcap", "?:1"},
	{"zeek/get-to-ssh-server.pcap", "+host:1 http:1"},
	{"zeek/pcapng-multi-interface.pcapng", "dns:3"},
	{"ndpi/sites.pcapng", "+host:1 +sni:55 http:1 quic:4 tls:55"},
	{"zeek/gap-data-missing.pcapng", "ldap:1"},
	{"ndpi/gre.pcapng", "?:1"},
	{"gopacket/le/test202.pcapng", "?:2"},
	{"gopacket/be/test202.pcapng", "?:2"},
	{"zeek/tls-fragmented-handshake.pcap.gz", "+sni:1 tls:1"},
	{"scapy/dcerpc_msnrpc.pcapng.gz", "dcerpc:2"},
	{"zeek/smb_many_open_files_500.pcap.gz", "smb:1"},
	{"zeek/echo-connections.pcap.gz", "?:500"},
	{"zeek/ipv6-fragmented-dns.pcap", "dns:2"},
	{"tcpreplay/test_fragroute.pcap", "+host:1 ?:1 http:1"},
	{"zeek/q-in-q.pcap", "?:2"},
	{"zeek/pppoe-over-qinq.pcap", "+sni:1 tls:1"},
	{"zeek/mixed-vlan-mpls.pcap", "+host:1 ?:2 http:1"},
	{"tcpdump/mpls-over-udp.pcap", "?:2"},
	{"zeek/gre-sample.pcap", "+ssh:1 dns:1 ntp:1 ssh:1"},
	{"zeek/vxlan-encapsulated-http.pcap", "?:1"},
	{"tcpdump/vxlan_port_8472.pcap", "?:4"},
	{"zeek/geneve.pcap", "?:2"},
	{"zeek/gtp1_gn_normal_incl_fragmentation.pcap", "?:1"},
	{"zeek/gtp_create_pdp_ctx.pcap", "?:2"},
	{"zeek/Teredo.pcap", "+host:2 ?:4 dhcp:1 dns:1 http:2 netbios-ns:1"},
	{"ndpi/6in4tunnel.pcap", "+host:1 +sni:2 ?:2 dns:2 http:1 tls:2"},
	{"ndpi/ipsec_isakmp_esp.pcap", "?:24"},
	{"tcpdump/espudp1.pcap", "?:1"},
	{"ndpi/ah.pcapng", "?:1"},
	{"zeek/missing-syn.pcap", "+host:1 http:1"},
	{"zeek/http-on-irc-port-missing-syn.pcapng", "+host:1 http:1"},
	{"gopacket/test_dns.pcap", "dns:10"},
	{"tcpdump/dns_tcp.pcap", "dns:1"},
	{"tcpdump/dns_udp_8053.pcap", "dns:1"},
	{"zeek/ntp.pcap", "ntp:16"},
	{"zeek/snmpv1_get.pcap", "snmp:30"},
	{"ndpi/syslog.pcap", "syslog:22"},
	{"zeek/dhcp.pcap", "dhcp:4"},
	{"tcpdump/dhcpv6-ia-na.pcap", "dhcpv6:2"},
	{"zeek/quicv2-http3-443.pcap", "quic:1"},
	{"zeek/chromium-dpd-custom-port-4433.pcap", "quic:1"},
	{"zeek/smb3.pcap", "smb:1"},
	{"zeek/kerberos135_auth.pcapng", "dcerpc:1"},
	{"zeek/cs_window7-join_stream092.pcap", "dcerpc:1"},
	{"zeek/mapi.pcap", "+host:1 ?:9 dcerpc:10 dns:1 http:2 smb:3 syslog:1"},
	{"zeek/rpc-portmap-sadmind.pcap", "onc-rpc:5 portmap:13"},
	{"zeek/tls13-ech.pcap", "+sni:2 ?:1 tls:2"},
	{"ndpi/tls_port_80.pcapng", "tls:1"},
	{"zeek/psql-aws-ssl-require-15432.pcap", "+sni:1 postgresql:1"},
	{"zeek/single-conn.pcap", "+ssh:1 ssh:1"},
	{"zeek/ssh-on-port-80.pcap", "+ssh:1 ssh:1"},
	{"zeek/http-lower-case-nonstandard-port.pcap", "+host:1 http:1"},
	{"zeek/http-on-port-5432.pcap", "+host:1 http:1"},
	{"ndpi/http_on_sip_port.pcap", "+host:1 http:1"},
	{"zeek/port4242.pcap", "?:1"},
	{"zeek/zeek-image-post-1080-8000-x.pcap", "+host:1 http:1"},
	{"zeek/var-services-std-ports.pcap", "+host:2 +ssh:2 ?:1 dns:30 ftp:1 http:2 ntp:1 ssh:2"},
	{"ndpi/1kxun.pcap", "+host:84 +sni:4 ?:34 dhcp:5 dhcpv6:3 dns:55 http:86 netbios-ns:6 ntp:1 tls:4"},
	{"ndpi/opera-vpn.pcapng", "+sni:61 tls:61"},
	{"ndpi/bittorrent.pcap", "?:24"},
	{"ndpi/ftp.pcap", "?:2 ftp:1"},
	{"zeek/wireshark.pcap", "?:2"},
	{"ndpi/tftp.pcap", "?:9"},
	{"ndpi/wa_video.pcap", "?:13 dhcp:1"},
}

// TestCorpus runs appid over the shared capture corpus (skipped when it is absent):
// the verdicts and metadata of corpusWant, and the metadata of a few flows.
func TestCorpus(t *testing.T) {
	dir := corpus.Pcaps(t)
	for _, tc := range corpusWant {
		t.Run(tc.path, func(t *testing.T) {
			path := filepath.Join(dir, tc.path)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("not in the corpus: %v", err)
			}
			if got := corpusSummary(corpusFlows(t, path)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		path, flow string
		want       Protocol
		meta       Meta
	}{
		{"zeek/openjdk-25.0.2-zeek.org.pcap", "tcp 192.0.78.150:443 192.168.64.6:55058", TLS, Meta{SNI: "zeek.org", ALPN: "h2,http/1.1"}},
		{"zeek/tls13-ech.pcap", "tcp 162.159.138.85:443 192.168.20.65:51066", TLS, Meta{SNI: "cloudflare-ech.com", ALPN: "h2,http/1.1"}},
		{"zeek/psql-aws-ssl-require-15432.pcap", "tcp 192.168.123.132:36934 52.200.36.167:15432", PostgreSQL,
			Meta{SNI: "database-1.cyx4x7yvdoay.us-east-1.rds.amazonaws.com"}},
		{"zeek/single-conn.pcap", "tcp 131.159.14.23:22 192.150.186.169:49244", SSH,
			Meta{SSHBanner: [2]string{"SSH-1.99-OpenSSH_3.9p1", "SSH-2.0-OpenSSH_3.8.1p1"}}},
		{"zeek/ssh-on-port-80.pcap", "tcp 172.16.238.131:80 172.16.238.1:49656", SSH,
			Meta{SSHBanner: [2]string{"SSH-2.0-OpenSSH_5.8p1 Debian-1ubuntu3", "SSH-2.0-OpenSSH_5.2"}}},
		{"zeek/http-on-port-5432.pcap", "tcp 141.142.228.5:59856 192.150.187.43:5432", HTTP, Meta{HTTPHost: "bro.org"}},
		{"zeek/get-to-ssh-server.pcap", "tcp 130.74.164.231:22 136.216.42.40:44338", HTTP, Meta{HTTPHost: "128.3.50.246"}},
	} {
		path := filepath.Join(dir, tc.path)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		var fl *corpusFlow
		for _, f := range corpusFlows(t, path) {
			if f.key == tc.flow {
				fl = f
			}
		}
		if fl == nil {
			t.Errorf("%s: no flow %s", tc.path, tc.flow)
			continue
		}
		m := fl.meta
		if fl.st.Protocol() != tc.want || m.SNI != tc.meta.SNI || m.ALPN != tc.meta.ALPN || m.HTTPHost != tc.meta.HTTPHost || m.SSHBanner != tc.meta.SSHBanner {
			t.Errorf("%s %s: %q %q %q %q %q, want %q %q %q %q %q", tc.path, tc.flow, fl.st.Protocol(), m.SNI, m.ALPN, m.HTTPHost, m.SSHBanner,
				tc.want, tc.meta.SNI, tc.meta.ALPN, tc.meta.HTTPHost, tc.meta.SSHBanner)
		}
	}
}

// corpusSummary counts a capture's flows with payload by verdict and metadata, in
// corpusWant's notation.
func corpusSummary(flows []*corpusFlow) string {
	n := map[string]int{}
	for _, fl := range flows {
		if fl.payload == 0 {
			continue
		}
		name := fl.st.Protocol().String()
		if name == "" {
			name = "?"
		}
		n[name]++
		if fl.meta.SNI != "" {
			n["+sni"]++
		}
		if fl.meta.HTTPHost != "" {
			n["+host"]++
		}
		if fl.meta.SSHBanner != [2]string{} {
			n["+ssh"]++
		}
	}
	var parts []string
	for k, v := range n {
		parts = append(parts, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// TestCorpusExplore prints what appid makes of every readable capture of the corpus,
// the tool for writing corpusWant: APPID_EXPLORE=1 go test -run CorpusExplore -v
// prints each capture's summary and its flows, APPID_EXPLORE=unknown also the first
// bytes of each side of the unknown flows.
func TestCorpusExplore(t *testing.T) {
	if os.Getenv("APPID_EXPLORE") == "" {
		t.Skip("set APPID_EXPLORE=1 (or unknown) to print every corpus flow")
	}
	dir, entries := corpus.Manifest(t)
	for _, e := range entries {
		if e.Unreadable() || e.Malformed() {
			continue
		}
		flows := corpusFlows(t, filepath.Join(dir, e.Path))
		t.Logf("%s: %s", e.Path, corpusSummary(flows))
		for _, fl := range flows {
			if fl.payload == 0 || len(flows) >= 40 {
				continue
			}
			t.Logf("    %-60s %-12q sni=%q alpn=%q host=%q ssh=%q", fl.key, fl.st.Protocol(), fl.meta.SNI, fl.meta.ALPN, fl.meta.HTTPHost, fl.meta.SSHBanner)
			if fl.st.Protocol() == Unknown && os.Getenv("APPID_EXPLORE") == "unknown" {
				t.Logf("    ? %q | %q", fl.first[0], fl.first[1])
			}
		}
	}
}
