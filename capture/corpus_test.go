package capture

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/internal/corpus"
)

// TestCorpusReadable reads every capture of the shared corpus with one and with two
// workers: readable files give the same flows both ways and, where the manifest
// gives a packet count, exactly that many packets; unreadable ones a clear error.
func TestCorpusReadable(t *testing.T) {
	dir, entries := corpus.Manifest(t)
	for _, e := range entries {
		t.Run(e.Path, func(t *testing.T) {
			path := filepath.Join(dir, e.Path)
			var sums [2]string
			for i, w := range []int{1, 2} {
				var flows []string
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				res, err := Run(ctx, []string{path}, Options{Workers: w}, func(f *Flow) {
					flows = append(flows, fmt.Sprintf("%d %v %v %d %v %v", f.Proto, f.Client, f.Server, f.VLAN, f.Packets, f.Bytes))
				})
				cancel()
				if e.Unreadable() {
					var fe *FormatError
					if !errors.As(err, &fe) || !strings.Contains(err.Error(), path) {
						t.Fatalf("unreadable file: want a *FormatError naming the file, got %v", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("workers=%d: %v", w, err)
				}
				in := res.Inputs[0]
				malformed := e.Malformed()
				if want, err := strconv.ParseUint(e.Packets, 10, 64); err == nil && in.Packets != want && !(malformed && in.Truncated && in.Packets < want) {
					t.Errorf("workers=%d: read %d packets, manifest says %d (truncated=%v %v)", w, in.Packets, want, in.Truncated, in.Warnings)
				}
				if !malformed && in.Truncated {
					t.Errorf("workers=%d: well-formed file marked truncated: %v", w, in.Warnings)
				}
				if got := in.Decoded + in.NonIP + in.DecodeErrors + in.Filtered + sum(in.Unsupported); got != in.Packets {
					t.Errorf("workers=%d: packet accounting: %d classified of %d read", w, got, in.Packets)
				}
				sortStrings(flows)
				sums[i] = strings.Join(flows, "\n")
			}
			if sums[0] != sums[1] {
				t.Errorf("one and two workers give different flows:\n%s\n---\n%s", sums[0], sums[1])
			}
		})
	}
}

func sum(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// noTshark lists words of manifest notes that mark captures whose conversations
// tshark counts differently by design: damaged files, IPsec (tshark decrypts or
// decodes NAT-T and ESP differently), captures cut inside their headers.
var noTshark = []string{"malformed", "IPsec", "ESP", "truncated"}

// tsharkOptions are the tshark options a capture needs for tshark to decode what
// portclass decodes, with the reason: by default tshark decodes VXLAN on UDP 4789
// only, where portclass also decapsulates the Linux kernel's legacy port 8472
// (capture.DefaultTunnelPorts).
var tsharkOptions = map[string][]string{
	"tcpdump/vxlan_port_8472.pcap": {"-d", "udp.port==8472,vxlan"},
}

type conv struct{ pkts, bytes uint64 }

// TestTsharkConversations compares per-conversation packet and byte totals with
// tshark's for every corpus capture but those noTshark names. A conversation is that
// of each frame's innermost IP packet (tunnels decapsulated, as portclass does; see
// tsharkConvs) and is keyed by protocol (tcp, udp, sctp, icmp, icmpv6, or ip for any
// other) and both ends. Flows are summed per conversation, since tshark's
// conversations ignore VLANs, timeouts and port reuse.
func TestTsharkConversations(t *testing.T) {
	dir, entries := corpus.Manifest(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	checked, tunneled := 0, 0
	for _, e := range entries {
		skip := e.Unreadable()
		for _, w := range noTshark {
			if strings.Contains(strings.ToLower(e.Notes), strings.ToLower(w)) {
				skip = true
			}
		}
		if skip {
			continue
		}
		path := filepath.Join(dir, e.Path)
		want, err := tsharkConvs(path, tsharkOptions[e.Path]...)
		if err != nil {
			t.Errorf("%s: tshark: %v", e.Path, err)
			continue
		}
		got := map[string]conv{}
		res, err := Run(context.Background(), []string{path}, Options{Workers: 2}, func(f *Flow) {
			k := convKey(convProto(f.Proto), f.Client, f.Server)
			c := got[k]
			c.pkts += f.Packets[0] + f.Packets[1]
			c.bytes += f.Bytes[0] + f.Bytes[1]
			got[k] = c
		})
		if err != nil {
			t.Errorf("%s: %v", e.Path, err)
			continue
		}
		checked++
		if res.Inputs[0].Decapsulated > 0 {
			tunneled++
		}
		for k, w := range want {
			if g := got[k]; g != w {
				t.Errorf("%s: %s: portclass %d packets %d bytes, tshark %d packets %d bytes", e.Path, k, g.pkts, g.bytes, w.pkts, w.bytes)
			}
		}
		for k, g := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: %s: portclass has %d packets %d bytes, tshark has no such conversation", e.Path, k, g.pkts, g.bytes)
			}
		}
	}
	if checked < 80 {
		t.Errorf("only %d captures compared with tshark; expected most of the corpus", checked)
	}
	if tunneled < 9 {
		t.Errorf("only %d captures with tunnels compared with tshark, want the corpus's 9 (VXLAN on 4789 and 8472, Geneve, GRE, PPTP's GRE in VLAN, MPLS over UDP, Teredo, 6in4, GTP-U)", tunneled)
	}
	t.Logf("%d captures compared, %d of them with tunnels", checked, tunneled)
}

// convProto is the conversation protocol of IP protocol p: tshark's name for those
// with a conversation of their own, "ip" for the others.
func convProto(p uint8) string {
	switch p {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMP, ProtoICMPv6:
		return ProtoName(p)
	}
	return "ip"
}

func convKey(proto string, a, b netip.AddrPort) string {
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return proto + " " + a.String() + " " + b.String()
}

// tsharkFields are the per-frame fields tsharkConvs reads, every occurrence of each.
var tsharkFields = []string{"frame.len", "frame.protocols",
	"ip.src", "ip.dst", "ip.id", "ip.frag_offset", "ip.flags.mf",
	"ipv6.src", "ipv6.dst", "ipv6.fraghdr.ident", "ipv6.fraghdr.offset", "ipv6.fraghdr.more",
	"tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "sctp.srcport", "sctp.dstport"}

// tsharkConvs sums tshark's frame lengths by the conversation of each frame's
// innermost IP packet, computed from tshark's own dissection with reassembly off:
//
//   - the innermost IP layer is the last "ip" or "ipv6" of frame.protocols before any
//     "icmp" or "icmpv6" (what follows those is the packet an ICMP error quotes);
//   - its conversation protocol is the layer after it (tcp, udp, sctp, icmp, icmpv6;
//     IPv6 extension headers skipped), else "ip", with that layer's ports;
//   - a frame whose innermost IP layer is a non-first fragment belongs to the
//     conversation of the frame that held its datagram's first fragment, at any layer
//     (outer fragments of a tunnel belong to the innermost packet of their first
//     fragment), as portclass counts them; fragments whose first never came are left out
//     (portclass reports them as orphans).
func tsharkConvs(path string, opts ...string) (map[string]conv, error) {
	args := append([]string{"-n", "-r", path, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"}, opts...)
	args = append(args, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,")
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		return nil, err
	}
	type dgram struct{ src, dst, id string }
	firsts := map[dgram]string{} // datagram → conversation of its first fragment's frame
	type pending struct {
		d     dgram
		bytes uint64
	}
	var later []pending
	m := map[string]conv{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		c := strings.Split(line, "\t")
		for len(c) < len(tsharkFields) {
			c = append(c, "")
		}
		f := map[string][]string{}
		for i, name := range tsharkFields {
			if c[i] != "" {
				f[name] = strings.Split(c[i], ",")
			}
		}
		n, _ := strconv.ParseUint(c[0], 10, 64)
		toks := strings.Split(c[1], ":")
		// count the layers of each name up to every position
		var seen = map[string]int{}
		type ipLayer struct {
			v6     bool
			idx    int // occurrence of ip or ipv6
			tok    int // position in toks
			fraghd int // occurrence of ipv6.fraghdr right after it, -1 if none
		}
		var ips []ipLayer
		inner := -1
		for i, tk := range toks {
			switch tk {
			case "ip", "ipv6":
				ips = append(ips, ipLayer{v6: tk == "ipv6", idx: seen[tk], tok: i, fraghd: -1})
				inner = len(ips) - 1
			case "ipv6.fraghdr":
				if len(ips) > 0 && ips[len(ips)-1].fraghd < 0 {
					ips[len(ips)-1].fraghd = seen[tk]
				}
			}
			seen[tk]++
			if (tk == "icmp" || tk == "icmpv6") && inner >= 0 {
				break
			}
		}
		if inner < 0 {
			continue // not IP
		}
		at := func(name string, i int) string {
			if i < 0 || i >= len(f[name]) {
				return ""
			}
			return f[name][i]
		}
		// fragments
		dg := func(l ipLayer) (d dgram, first, nonFirst bool) {
			if !l.v6 {
				d = dgram{at("ip.src", l.idx), at("ip.dst", l.idx), at("ip.id", l.idx)}
				off, mf := at("ip.frag_offset", l.idx), at("ip.flags.mf", l.idx)
				return d, off == "0" && (mf == "1" || mf == "True"), off != "0" && off != ""
			}
			if l.fraghd < 0 {
				return d, false, false
			}
			d = dgram{at("ipv6.src", l.idx), at("ipv6.dst", l.idx), at("ipv6.fraghdr.ident", l.fraghd)}
			off, mf := at("ipv6.fraghdr.offset", l.fraghd), at("ipv6.fraghdr.more", l.fraghd)
			return d, off == "0" && (mf == "1" || mf == "True"), off != "0" && off != ""
		}
		in := ips[inner]
		if d, _, nonFirst := dg(in); nonFirst {
			later = append(later, pending{d, n})
			continue
		}
		proto, sp, dp := "ip", "", ""
		for i := in.tok + 1; i < len(toks); i++ {
			tk := toks[i]
			if strings.HasPrefix(tk, "ipv6.") {
				continue
			}
			switch tk {
			case "tcp", "udp", "sctp":
				k := countBefore(toks, i, tk) // occurrence of this layer
				proto, sp, dp = tk, at(tk+".srcport", k), at(tk+".dstport", k)
			case "icmp", "icmpv6":
				proto = tk
			}
			break
		}
		src, dst := at("ip.src", in.idx), at("ip.dst", in.idx)
		if in.v6 {
			src, dst = at("ipv6.src", in.idx), at("ipv6.dst", in.idx)
		}
		sa, err1 := netip.ParseAddr(src)
		da, err2 := netip.ParseAddr(dst)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad tshark line %q", line)
		}
		spn, _ := strconv.ParseUint(sp, 10, 16)
		dpn, _ := strconv.ParseUint(dp, 10, 16)
		k := convKey(proto, netip.AddrPortFrom(sa, uint16(spn)), netip.AddrPortFrom(da, uint16(dpn)))
		v := m[k]
		v.pkts++
		v.bytes += n
		m[k] = v
		for _, l := range ips[:inner+1] {
			if d, first, _ := dg(l); first {
				firsts[d] = k
			}
		}
	}
	for _, p := range later {
		k, ok := firsts[p.d]
		if !ok {
			continue
		}
		v := m[k]
		v.pkts++
		v.bytes += p.bytes
		m[k] = v
	}
	return m, nil
}

// countBefore counts the occurrences of tok in toks before position i.
func countBefore(toks []string, i int, tok string) int {
	n := 0
	for _, t := range toks[:i] {
		if t == tok {
			n++
		}
	}
	return n
}
