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
// tshark counts differently by design (tunnels, fragments, damage).
var noTshark = []string{"malformed", "tunnel", "GRE", "VXLAN", "Geneve", "GTP", "Teredo", "6in4", "IPsec", "ESP", "fragment", "MPLS", "PPPoE", "truncated", "ICMP error", "quot"}

type conv struct{ pkts, bytes uint64 }

// TestTsharkConversations compares per-conversation packet and byte totals with
// tshark's for every corpus capture without tunnels or fragments. Flows are summed
// per 4-tuple (tshark's conversation tables ignore VLANs, timeouts and port reuse).
func TestTsharkConversations(t *testing.T) {
	dir, entries := corpus.Manifest(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	checked := 0
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
		want, err := tsharkConvs(path)
		if err != nil {
			t.Errorf("%s: tshark: %v", e.Path, err)
			continue
		}
		got := map[string]conv{}
		_, err = Run(context.Background(), []string{path}, Options{Workers: 2}, func(f *Flow) {
			if f.Proto != ProtoTCP && f.Proto != ProtoUDP {
				return
			}
			k := convKey(ProtoName(f.Proto), f.Client, f.Server)
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
	if checked < 40 {
		t.Errorf("only %d captures compared with tshark; expected most of the corpus", checked)
	}
}

func convKey(proto string, a, b netip.AddrPort) string {
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return proto + " " + a.String() + " " + b.String()
}

// tsharkConvs sums tshark's per-packet frame lengths by TCP/UDP conversation.
func tsharkConvs(path string) (map[string]conv, error) {
	cmd := exec.Command("tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
		"-Y", "(tcp or udp) and not icmp and not icmpv6",
		"-e", "frame.len", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport")
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	m := map[string]conv{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		c := strings.Split(line, "\t")
		for len(c) < 9 {
			c = append(c, "")
		}
		n, _ := strconv.ParseUint(c[0], 10, 64)
		src, dst := c[1], c[2]
		if src == "" {
			src, dst = c[3], c[4]
		}
		proto, sp, dp := "tcp", c[5], c[6]
		if sp == "" {
			proto, sp, dp = "udp", c[7], c[8]
		}
		sa, err1 := netip.ParseAddr(src)
		da, err2 := netip.ParseAddr(dst)
		spn, _ := strconv.ParseUint(sp, 10, 16)
		dpn, _ := strconv.ParseUint(dp, 10, 16)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad tshark line %q", line)
		}
		k := convKey(proto, netip.AddrPortFrom(sa, uint16(spn)), netip.AddrPortFrom(da, uint16(dpn)))
		v := m[k]
		v.pkts++
		v.bytes += n
		m[k] = v
	}
	return m, nil
}
