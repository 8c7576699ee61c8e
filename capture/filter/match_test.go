package filter

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/portclass/portclass/internal/corpus"
)

// The names of craftedPackets, for the expectations below.
const (
	syn    = "tcp4-syn-443"
	synack = "tcp4-synack-443"
	frag   = "tcp4-frag-443"
	opts22 = "tcp4-opts-22"
	dns4   = "udp4-dns"
	echo4  = "icmp4-echo"
	sctp4  = "sctp4"
	gre4   = "gre4"
	tcp6   = "tcp6-80"
	dns6   = "udp6-frag-dns"
	echo6  = "icmp6-echo"
	ns6    = "icmp6-ns"
	arp    = "arp-who-has"
)

var tagged = []string{
	"vlan100-" + syn, "qinq200-100-" + syn, "vlan100-" + dns4, "qinq200-100-" + dns4,
	"vlan100-" + tcp6, "qinq200-100-" + tcp6,
}

type matchCase struct {
	expr    string
	want    []string             // names of the matching frames; ignored when wantLen is set
	wantLen func(n int) bool     // for length filters: match decided by the frame length
	ethOnly bool                 // vlan and ether[]: other link types must fail with ErrLinkType
	only    func(lt uint16) bool // restrict to some link types (nil: all)
}

var matchCases = []matchCase{
	{expr: "", wantLen: func(int) bool { return true }},
	{expr: "tcp", want: []string{syn, synack, frag, opts22, tcp6}},
	{expr: "udp", want: []string{dns4, dns6}},
	{expr: "sctp", want: []string{sctp4}},
	{expr: "icmp", want: []string{echo4}},
	{expr: "icmp6", want: []string{echo6, ns6}},
	{expr: "ip", want: []string{syn, synack, frag, opts22, dns4, echo4, sctp4, gre4}},
	{expr: "ip6", want: []string{tcp6, dns6, echo6, ns6}},
	{expr: "arp or rarp", want: []string{arp}},
	{expr: "host 192.0.2.1", want: []string{syn, synack, frag, opts22, dns4, echo4, arp}},
	{expr: "src host 192.0.2.1", want: []string{syn, frag, dns4, echo4, arp}},
	{expr: "src host 3221225985", want: []string{syn, frag, dns4, echo4, arp}},
	{expr: "host 192.0.2", want: []string{syn, synack, frag, opts22, dns4, echo4, sctp4, gre4, arp}},
	{expr: "dst host 192.0.2.254 or 203.0.113.9", want: []string{arp, dns4}},
	{expr: "src and dst host 192.0.2.1", want: nil},
	{expr: "ip host 192.0.2.1 and not port 443", want: []string{frag, opts22, dns4, echo4}},
	{expr: "arp host 192.0.2.254", want: []string{arp}},
	{expr: "net 198.51.100.0/24", want: []string{syn, synack, frag, echo4, sctp4, gre4}},
	{expr: "net 198.51.100.0 mask 255.255.255.0", want: []string{syn, synack, frag, echo4, sctp4, gre4}},
	{expr: "src net 203.0.113", want: []string{opts22}},
	{expr: "host 192.0.2.1 and (198.51.100.2 or 203.0.113.9)", want: []string{syn, synack, frag, echo4, dns4}},
	{expr: "ip6 host 2001:db8::1", want: []string{tcp6, dns6, echo6}},
	{expr: "ip6 net 2001:db8::/32", want: []string{tcp6, dns6, echo6}},
	{expr: "dst net 2001:db8:1::/48 or fe80::/10", want: []string{tcp6}},
	{expr: "src or dst net fe80::/10", want: []string{ns6}},
	{expr: "host 2001:db8::2 or 192.0.2.254", want: []string{echo6, arp}},
	{expr: "port 443", want: []string{syn, synack}},
	{expr: "tcp port 80 or 22", want: []string{tcp6, opts22}},
	{expr: "udp port 53", want: []string{dns4}}, // IPv6 ports: only the fixed next header
	{expr: "portrange 1-1023", want: []string{syn, synack, opts22, dns4, tcp6}},
	{expr: "src portrange 49152-65535", want: []string{syn}},
	{expr: "dst portrange 1024-49151 or 60000", want: []string{opts22, sctp4}},
	{expr: "sctp port 36412", want: []string{sctp4}},
	{expr: "port 443 or (53 or 80)", want: []string{syn, synack, dns4, tcp6}},
	{expr: "ip proto 47", want: []string{gre4}},
	{expr: "proto 17", want: []string{dns4, dns6}},
	{expr: `ip6 proto 58 or ip proto \icmp`, want: []string{echo6, ns6, echo4}},
	{expr: "ip6 and not icmp6", want: []string{tcp6, dns6}},
	{expr: "not ip and not ip6", want: append([]string{arp}, tagged...)},
	{expr: "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0", want: []string{syn}},
	{expr: "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", want: []string{syn, synack, opts22}},
	{expr: "tcp[13] = 2 or ip6[40+13] = 2", want: []string{syn, tcp6}},
	{expr: "ip[0] & 0xf > 5", want: []string{opts22}},
	{expr: "udp[2:2] = 53", want: []string{dns4}},
	{expr: "icmp[icmptype] = icmp-echo", want: []string{echo4}},
	{expr: "icmp6[icmp6type] = icmp6-neighborsolicit", want: []string{ns6}},
	{expr: "ip6[6] = 44", want: []string{dns6}},
	{expr: "ip[2:2] - ((ip[0] & 0xf) << 2) = 20", want: []string{syn, synack, opts22}},
	{expr: "less 60", wantLen: func(n int) bool { return n <= 60 }},
	{expr: "greater 70", wantLen: func(n int) bool { return n >= 70 }},
	{expr: "len - 14 >= 40", wantLen: func(n int) bool { return uint32(n)-14 >= 40 }},
	{expr: "ether[12:2] = 0x86dd", want: []string{tcp6, dns6, echo6, ns6}, only: isEthernet},
	{expr: "vlan", want: tagged, ethOnly: true},
	{expr: "vlan 100 and tcp", want: []string{"vlan100-" + syn, "vlan100-" + tcp6}, ethOnly: true},
	{expr: "vlan 200 and vlan 100 and ip", want: []string{"qinq200-100-" + syn, "qinq200-100-" + dns4}, ethOnly: true},
	{expr: "vlan and port 53", want: []string{"vlan100-" + dns4}, ethOnly: true},
	// "ip" after "vlan" looks 4 bytes further, even across "or" and "not", as in
	// libpcap: there the ARP packet's protocol type (0x0800) passes for an EtherType.
	{expr: "vlan or ip", want: append([]string{arp}, tagged...), ethOnly: true},
	{expr: "not vlan and tcp", want: nil, ethOnly: true},
	{expr: "tcp and not vlan", want: []string{syn, synack, frag, opts22, tcp6}, ethOnly: true},
}

func isEthernet(lt uint16) bool { return lt == linkEthernet }

func TestMatch(t *testing.T) {
	for _, lt := range craftedLinkTypes {
		frames := craftedFrames(lt)
		for _, tc := range matchCases {
			if tc.only != nil && !tc.only(lt) {
				continue
			}
			f, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			m, err := f.Matcher(lt)
			if tc.ethOnly && lt != linkEthernet {
				if !errors.Is(err, ErrLinkType) {
					t.Errorf("%q on link type %d: error %v, want ErrLinkType", tc.expr, lt, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%q on link type %d: %v", tc.expr, lt, err)
			}
			var got, want []string
			for _, fr := range frames {
				if m.Match(fr.data, len(fr.data)) {
					got = append(got, fr.name)
				}
				if tc.wantLen != nil && tc.wantLen(len(fr.data)) || tc.wantLen == nil && slices.Contains(tc.want, fr.name) {
					want = append(want, fr.name)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%q on link type %d:\n got %s\nwant %s", tc.expr, lt, strings.Join(got, " "), strings.Join(want, " "))
			}
		}
	}
}

// TestMatchTruncated checks that a load beyond the captured bytes rejects the packet
// while wireLen, not the captured length, is what "len" sees.
func TestMatchTruncated(t *testing.T) {
	fr := wrap(linkEthernet, 0x0800, craftedPackets()[0].data) // syn, 54 bytes
	for _, tc := range []struct {
		expr    string
		caplen  int
		wireLen int
		want    bool
	}{
		{"port 443", len(fr), len(fr), true},
		{"port 443", 37, len(fr), false}, // dst port not captured
		{"port 443", 38, len(fr), true},
		{"ip", 13, len(fr), false},
		{"ip", 14, len(fr), true},
		{"greater 1000", 54, 1500, true},
		{"less 100", 54, 1500, false},
		{"tcp[13] = 2", 47, 1500, false},
		{"tcp[13] = 2", 48, 1500, true},
		{"not tcp[13] = 2", 47, 1500, false}, // a fault rejects even under "not"
	} {
		f, err := Parse(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		m, err := f.Matcher(linkEthernet)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Match(fr[:tc.caplen], tc.wireLen); got != tc.want {
			t.Errorf("%q on %d of %d bytes: got %v, want %v", tc.expr, tc.caplen, tc.wireLen, got, tc.want)
		}
	}
}

// TestMatchAgainstVM checks the interpreter against golang.org/x/net/bpf's VM on every
// crafted frame and every prefix of it.
func TestMatchAgainstVM(t *testing.T) {
	for _, lt := range craftedLinkTypes {
		frames := craftedFrames(lt)
		for _, tc := range matchCases {
			if tc.ethOnly && lt != linkEthernet {
				continue
			}
			f, err := Parse(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := f.Compile(lt, 262144)
			if err != nil {
				t.Fatal(err)
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("%q: NewVM: %v", tc.expr, err)
			}
			m, err := f.Matcher(lt)
			if err != nil {
				t.Fatal(err)
			}
			for _, fr := range frames {
				for n := 0; n <= len(fr.data); n++ {
					n2, err := vm.Run(fr.data[:n])
					if err != nil {
						t.Fatalf("%q: vm: %v", tc.expr, err)
					}
					if got := m.Match(fr.data[:n], n); got != (n2 != 0) {
						t.Fatalf("%q on link type %d, %s cut to %d bytes: Match %v, VM %d", tc.expr, lt, fr.name, n, got, n2)
					}
				}
			}
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	f, err := Parse("tcp[tcpflags] & (tcp-syn|tcp-ack) != 0 and (host 192.0.2.1 or net 2001:db8::/32) and not port 22")
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Matcher(linkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	frames := craftedFrames(linkEthernet)
	matched := 0
	allocs := testing.AllocsPerRun(100, func() {
		for _, fr := range frames {
			if m.Match(fr.data, len(fr.data)) {
				matched++
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run of %d frames", allocs, len(frames))
	}
	if matched == 0 {
		t.Errorf("no frame matched; the filter was meant to match the SYN and SYN-ACK")
	}
}

// BenchmarkMatch runs typical filters over frames in memory: the corpus captures when
// present, the crafted frames otherwise. The VM sub-benchmark is golang.org/x/net/bpf's
// interpreter on the same program, for reference.
func BenchmarkMatch(b *testing.B) {
	frames := benchFrames(b)
	for _, expr := range []string{"tcp port 443", "host 192.0.2.1 or net 2001:db8::/32", "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "vlan or (udp and portrange 1024-65535)"} {
		f, err := Parse(expr)
		if err != nil {
			b.Fatal(err)
		}
		m, err := f.Matcher(linkEthernet)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for _, fr := range frames {
					m.Match(fr, len(fr))
				}
				n += len(frames)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
		})
		prog, _ := f.Compile(linkEthernet, 262144)
		vm, err := bpf.NewVM(prog)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr+"/x-net-bpf-VM", func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for _, fr := range frames {
					_, _ = vm.Run(fr)
				}
				n += len(frames)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
		})
	}
}

func benchFrames(b *testing.B) [][]byte {
	var out [][]byte
	dir := corpus.Pcaps(b)
	for _, name := range []string{"ndpi/sites.pcapng", "zeek/pppoe-over-qinq.pcap", "ndpi/synscan.pcap"} {
		frames, lt, _, err := readCapture(filepath.Join(dir, name))
		if err != nil || lt != linkEthernet {
			continue
		}
		for _, fr := range frames {
			out = append(out, fr.data)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, fr := range craftedFrames(linkEthernet) {
		out = append(out, fr.data)
	}
	return out
}
