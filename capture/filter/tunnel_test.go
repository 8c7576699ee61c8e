package filter

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portclass/portclass/internal/corpus"
)

// tunnelExprs are filters on encapsulated traffic: outer headers as tcpdump sees them
// (tunnel ports, IP protocols 4, 41, 47) and libpcap's geneve, which looks inside.
// They avoid what comes after a geneve on paths where it failed ("geneve or tcp"):
// libpcap's filter then reads scratch memory it never wrote.
var tunnelExprs = []string{
	"udp port 4789", "udp dst port 4789 or udp port 8472", "udp port 6081", "udp port 2152 or udp port 3544",
	"udp port 6635", "proto 47", "ip proto 47 and not ip proto 41", "ip proto 41 or ip proto 4", "ip proto 41",
	"vlan and proto 47", "tcp", "ip6",
	"geneve", "geneve 0", "geneve 7", "geneve 11259375", "not geneve", "udp and geneve", "vlan and geneve",
	"geneve and icmp", "geneve and tcp", "geneve and udp", "geneve and ip", "geneve and ip6", "geneve and arp",
	"geneve and ip host 30.0.0.1", "geneve and host 198.51.100.2", "geneve and src net 198.51.100.0/24",
	"geneve and ip6 host 2001:db8::b", "geneve and port 443", "geneve and tcp dst port 443",
	"geneve and udp portrange 50-60", "geneve and proto 6", "geneve and ip6 proto 6", "geneve and not tcp",
	"geneve and (tcp or icmp) and not host 198.51.100.9", "geneve 5 and (port 443 or port 53)",
	"geneve and less 120", "host 192.0.2.1 and geneve and tcp",
}

// geneveFrames are Geneve packets of every kind the geneve filter distinguishes, and
// near misses.
func geneveFrames() [][]byte {
	be := binary.BigEndian
	eth := func(et uint16, p []byte) []byte {
		b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, byte(et >> 8), byte(et)}
		return append(b, p...)
	}
	ip := func(src, dst string, proto byte, frag uint16, p []byte) []byte {
		s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
		if s.Is6() {
			h := make([]byte, 40)
			h[0], h[6], h[7] = 0x60, proto, 64
			be.PutUint16(h[4:], uint16(len(p)))
			copy(h[8:], s.AsSlice())
			copy(h[24:], d.AsSlice())
			return append(h, p...)
		}
		h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0}
		be.PutUint16(h[2:], uint16(20+len(p)))
		be.PutUint16(h[6:], frag)
		h = append(append(h, s.AsSlice()...), d.AsSlice()...)
		return append(h, p...)
	}
	l4 := func(sport, dport uint16, tcp bool) []byte {
		h := make([]byte, 8)
		if tcp {
			h = make([]byte, 20)
			h[12], h[13] = 0x50, 2
		}
		be.PutUint16(h, sport)
		be.PutUint16(h[2:], dport)
		if !tcp {
			be.PutUint16(h[4:], 8)
		}
		return h
	}
	udp := func(dport uint16, p []byte) []byte {
		h := []byte{0xc3, 0x50, byte(dport >> 8), byte(dport), 0, 0, 0, 0}
		be.PutUint16(h[4:], uint16(8+len(p)))
		return append(h, p...)
	}
	gnv := func(first byte, flags byte, proto uint16, vni uint32, opts int, p []byte) []byte {
		h := []byte{first | byte(opts), flags, byte(proto >> 8), byte(proto), byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
		return append(append(h, make([]byte, 4*opts)...), p...)
	}
	tcp4 := ip("198.51.100.1", "198.51.100.2", 6, 0, l4(40000, 443, true))
	udp4 := ip("198.51.100.1", "198.51.100.9", 17, 0, l4(5353, 53, false))
	tcp6 := ip("2001:db8::a", "2001:db8::b", 6, 0, l4(40000, 443, true))
	arp := eth(0x0806, append([]byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 198, 51, 100, 1, 0, 0, 0, 0, 0, 0}, 198, 51, 100, 2))
	over4 := func(g []byte) []byte { return eth(0x0800, ip("192.0.2.1", "192.0.2.2", 17, 0, udp(6081, g))) }
	over6 := func(g []byte) []byte { return eth(0x86dd, ip("2001:db8:1::1", "2001:db8:1::2", 17, 0, udp(6081, g))) }
	return [][]byte{
		over4(gnv(0, 0, 0x6558, 5, 0, eth(0x0800, tcp4))),
		over4(gnv(0, 0, 0x6558, 5, 2, eth(0x0800, udp4))),
		over4(gnv(0, 0, 0x6558, 7, 5, eth(0x86dd, tcp6))),
		over4(gnv(0, 0, 0x6558, 0, 0, arp)),
		over4(gnv(0, 0, 0x0800, 0xabcdef, 1, tcp4)),
		over4(gnv(0, 0, 0x86dd, 5, 0, tcp6)),
		over4(gnv(0, 0x80, 0x6558, 5, 0, eth(0x0800, tcp4))), // control message: libpcap does not look
		over4(gnv(0x40, 0, 0x6558, 5, 0, eth(0x0800, tcp4))), // version 1
		over6(gnv(0, 0, 0x6558, 7, 0, eth(0x0800, tcp4))),
		over6(gnv(0, 0, 0x0800, 5, 3, udp4)),
		eth(0x8100, append([]byte{0, 10, 0x08, 0x00}, ip("192.0.2.1", "192.0.2.2", 17, 0, udp(6081, gnv(0, 0, 0x0800, 5, 0, tcp4)))...)),
		eth(0x0800, ip("192.0.2.1", "192.0.2.2", 17, 0x2000, udp(6081, gnv(0, 0, 0x0800, 5, 0, tcp4)))), // first fragment
		eth(0x0800, ip("192.0.2.1", "192.0.2.2", 17, 0x0010, udp(6081, gnv(0, 0, 0x0800, 5, 0, tcp4)))), // a later fragment
		eth(0x0800, ip("192.0.2.1", "192.0.2.2", 17, 0, udp(4789, gnv(0, 0, 0x0800, 5, 0, tcp4)))),      // another port
		over4(gnv(0, 0, 0x6558, 5, 0, eth(0x0800, tcp4)))[:70],                                          // cut inside the inner IP header
		over4(gnv(0, 0, 0x6558, 5, 40, nil))[:60],                                                       // options past the end
		eth(0x0800, tcp4),
	}
}

// TestTcpdumpTunnels runs tunnelExprs through tcpdump and Matcher on geneveFrames and
// on every corpus capture of encapsulated traffic, and requires the same packets.
func TestTcpdumpTunnels(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not on PATH")
	}
	synthetic := filepath.Join(t.TempDir(), "geneve.pcap")
	f, err := os.Create(synthetic)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range geneveFrames() {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1768471200+int64(i), 0), CaptureLength: len(fr), Length: len(fr) + 30*btoi(i == 14)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	paths := []string{synthetic}
	dir, entries := corpus.Manifest(t)
	for _, e := range entries {
		for _, word := range []string{"VXLAN", "Geneve", "GRE", "GTP-U", "Teredo", "6in4", "MPLS-over-UDP"} {
			if strings.Contains(e.Notes, word) && !e.Unreadable() {
				paths = append(paths, filepath.Join(dir, e.Path))
				break
			}
		}
	}
	if len(paths) < 9 {
		t.Errorf("%d captures of tunnels, want the synthetic one and the corpus's", len(paths))
	}
	matched := map[string]int{}
	for _, path := range paths {
		frames, lt, _, err := readCapture(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, expr := range tunnelExprs {
			fl, err := Parse(expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", expr, err)
			}
			m, err := fl.Matcher(lt)
			if err != nil {
				t.Fatalf("Matcher(%q): %v", expr, err)
			}
			want, err := runTcpdump(tcpdump, path, expr)
			if err != nil {
				t.Fatalf("tcpdump %q: %v", expr, err)
			}
			var got []int
			for i, fr := range frames {
				if m.Match(fr.data, fr.wire) {
					got = append(got, i)
				}
			}
			matched[expr] += len(got)
			if d := diffMatches(frames, got, want); d != "" {
				t.Errorf("%s: %q: %s", filepath.Base(path), expr, d)
			}
		}
	}
	// every expression matched something somewhere
	for _, expr := range tunnelExprs {
		if matched[expr] == 0 {
			t.Errorf("%q matched no packet of any capture: the comparison proves little", expr)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestGeneveErrors: what follows a geneve that this package cannot look for inside
// is refused with its column, and vxlan (libpcap 1.11's) says what to use.
func TestGeneveErrors(t *testing.T) {
	for _, c := range []struct{ expr, msg string }{
		{"geneve and vlan", `column 12: "vlan" after "geneve"`},
		{"geneve and geneve 3", `column 12: a second "geneve"`},
		{"geneve and tcp[13] = 2", `column 12: byte-offset expressions after "geneve"`},
		{"not vlan or geneve and ip[0] = 0x45", `column 24: byte-offset`},
		{"geneve 16777216", "VNI 16777216 greater than maximum 16777215"},
		{"vxlan", `"udp dst port 4789" selects VXLAN packets`},
		{"vxlan 42 and tcp", `"vxlan" is not supported`},
	} {
		_, err := Parse(c.expr)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Parse(%q): %v, want a syntax error with %q", c.expr, err, c.msg)
		}
	}
	// before a geneve, vlan and byte offsets are fine
	for _, expr := range []string{"vlan and geneve", "ip[9] = 17 and geneve 5", "geneve 0 and host 192.0.2.1"} {
		f, err := Parse(expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", expr, err)
			continue
		}
		if g, err := Parse(f.String()); err != nil || g.String() != f.String() {
			t.Errorf("%q: String %q does not parse back: %v", expr, f.String(), err)
		}
	}
}
