package filter

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portclass/portclass/internal/corpus"
)

// equivExprs cover every construct the package supports. {A4}/{B4} are IPv4 addresses
// seen in the capture ({N4}/{NB4} their /16 networks), {A6} an IPv6 address ({N6} its
// /32 and {M6} its /64), {P}/{P2} the ports of the first TCP or UDP packet and {V} the
// first VLAN ID, so that host, net, port and vlan filters match something in each file.
// Where a file has none, documentation addresses and ports 80/443 are used.
var equivExprs = []string{
	"tcp", "udp", "sctp", "icmp or icmp6", "ip", "ip6", "arp or rarp", "igmp or ah or esp",
	"host {A4}", "src host {A4}", "dst host {A4} or {B4}", "ip host {A4} and not port {P}",
	"arp host {A4}", "rarp or arp src host {B4}", "net {N4}/16", "net {N4} mask 255.255.0.0",
	"src net {N4}/16 and dst net {NB4}/16", "host {A4} and ({B4} or {A6})",
	"ip6 host {A6}", "ip6 net {N6}/32", "host {A6} or {A4}", "src or dst host {A6}",
	"src and dst net {M6}/64", "dst net {N6}/32 and not ip6 src host {A6}",
	"port {P}", "tcp port {P}", "udp dst port {P} or {P2}", "src or dst port {P}",
	"src and dst port {P}", "tcp src port {P2} and dst port {P}", "sctp port {P}",
	"portrange 1-1023", "tcp portrange 1024-49151", "udp src portrange 49152-65535",
	"portrange {P}-{P2} and not port {P}", "port {P} or (443 or not 80)",
	"proto 17", "ip proto 6", "ip6 proto 58", `ip proto \udp`, "proto 47 or proto 50 or proto 41",
	"tcp and (port 80 or 443) and not src net {N4}/16", "!tcp && (udp || icmp)",
	"not (ip or ip6)", "not ip and not ip6 and not arp",
	"vlan", "vlan and udp", "vlan {V} and ip", "vlan and vlan", "vlan or ip", "ip or vlan and port {P}",
	"not vlan and tcp", "vlan {V} and host {A4}",
	"less 100", "greater 1000", "less 60 or greater 1400",
	"tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0",
	"ip[0] & 0xf > 5", "udp[2:2] = {P}", "icmp[icmptype] = icmp-echo or icmp[icmptype] = icmp-echoreply",
	"ip6[6] = 17", "len - 14 > 100 * 2", "icmp6[0] = 128 or icmp6[icmp6type] = icmp6-neighborsolicit",
	"ether[12:2] = 0x800", "ip[2:2] - ((ip[0] & 0xf) << 2) > 40", "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420",
	"ip[6:2] & 0x1fff != 0", "udp[0:2] ^ 1 & 0xff00 = 0 or udp[4:2] % 7 = 3", "arp[7] = 2",
}

var equivLinkTypes = map[string]bool{
	"EN10MB(1)": true, "LINUX_SLL(113)": true, "LINUX_SLL2(276)": true, "RAW(101)": true,
	"NULL(0)": true, "IPV4(228)": true, "IPV6(229)": true, "PPP(9)": true, "LOOP(108)": true,
}

type corpusFile struct {
	name      string
	malformed bool   // the manifest's notes start with "malformed"
	linkType  string // the manifest's link type name
}

// corpusFiles lists the MANIFEST.tsv entries with one supported link type.
// equivSample keeps every malformed capture and the first perLink of each link type, in
// manifest order: every link type and every kind of damage, at a third of the cost of
// running each of the 60-odd expressions through tcpdump on every capture (which takes
// ten minutes under the race detector on two cores).
func equivSample(files []corpusFile, perLink int) []corpusFile {
	seen := map[string]int{}
	var out []corpusFile
	for _, f := range files {
		if f.malformed || seen[f.linkType] < perLink {
			out = append(out, f)
			seen[f.linkType]++
		}
	}
	return out
}

func corpusFiles(entries []corpus.Entry) []corpusFile {
	var files []corpusFile
	for _, e := range entries {
		lt, rest, _ := strings.Cut(e.LinkTypes, " ")
		if !equivLinkTypes[lt] || rest != "" { // rest: reserved link-type bits libpcap refuses
			continue
		}
		files = append(files, corpusFile{e.Path, strings.HasPrefix(e.Notes, "malformed"), lt})
	}
	return files
}

type frame struct {
	data []byte
	wire int
}

type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// readCapture reads a pcap or pcapng file (gzip-compressed or not, told by the magic
// numbers) with gopacket's pcapgo. It returns the uncompressed file too, for tcpdump.
func readCapture(path string) (frames []frame, lt uint16, raw []byte, err error) {
	raw, err = os.ReadFile(path)
	if err != nil {
		return nil, 0, nil, err
	}
	if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, 0, nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, 0, nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
	}
	// libpcap hands up at most the snap length of the file (pcap) or interface
	// (pcapng) even when a record holds more; snaplen does the same here.
	var r packetReader
	var snaplen func(ci gopacket.CaptureInfo) int
	if bytes.HasPrefix(raw, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		var nr *pcapgo.NgReader
		nr, err = pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err == nil {
			r = nr
			snaplen = func(ci gopacket.CaptureInfo) int {
				intf, err := nr.Interface(ci.InterfaceIndex)
				if err != nil {
					return 0
				}
				return int(intf.SnapLength)
			}
		}
	} else {
		var pr *pcapgo.Reader
		pr, err = pcapgo.NewReader(bytes.NewReader(raw))
		if err == nil {
			n := int(pr.Snaplen())
			pr.SetSnaplen(1 << 30)
			r = pr
			snaplen = func(gopacket.CaptureInfo) int { return n }
		}
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, nil, fmt.Errorf("%s: packet %d: %w", path, len(frames)+1, err)
		}
		if n := snaplen(ci); n > 0 && len(data) > n {
			data = data[:n]
		}
		frames = append(frames, frame{data: data, wire: ci.Length})
	}
	return frames, uint16(r.LinkType()), raw, nil
}

// templateValues picks addresses, ports and a VLAN ID from the capture.
func templateValues(frames []frame, lt uint16) map[string]string {
	v := map[string]string{"{A4}": "192.0.2.1", "{B4}": "198.51.100.1", "{A6}": "2001:db8::1", "{P}": "80", "{P2}": "443", "{V}": "100"}
	var got4, got6, gotP, gotV bool
	for _, fr := range frames {
		p := gopacket.NewPacket(fr.data, layers.LinkType(lt), gopacket.NoCopy)
		if l, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok && !gotV {
			v["{V}"], gotV = strconv.Itoa(int(l.VLANIdentifier)), true
		}
		if l, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && !got4 && len(l.SrcIP) == 4 && len(l.DstIP) == 4 {
			v["{A4}"], v["{B4}"], got4 = l.SrcIP.String(), l.DstIP.String(), true
		}
		if l, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok && !got6 && len(l.SrcIP) == 16 {
			v["{A6}"], got6 = l.SrcIP.String(), true
		}
		if !gotP {
			if l, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
				v["{P}"], v["{P2}"], gotP = strconv.Itoa(int(l.DstPort)), strconv.Itoa(int(l.SrcPort)), true
			} else if l, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
				v["{P}"], v["{P2}"], gotP = strconv.Itoa(int(l.DstPort)), strconv.Itoa(int(l.SrcPort)), true
			}
		}
	}
	a4 := netip.MustParseAddr(v["{A4}"])
	b4 := netip.MustParseAddr(v["{B4}"])
	a6 := netip.MustParseAddr(v["{A6}"])
	v["{N4}"] = netip.PrefixFrom(a4, 16).Masked().Addr().String()
	v["{NB4}"] = netip.PrefixFrom(b4, 16).Masked().Addr().String()
	v["{N6}"] = netip.PrefixFrom(a6, 32).Masked().Addr().String()
	v["{M6}"] = netip.PrefixFrom(a6, 64).Masked().Addr().String()
	return v
}

func expand(tmpl string, vals map[string]string) string {
	for k, v := range vals {
		tmpl = strings.ReplaceAll(tmpl, k, v)
	}
	return tmpl
}

// errTcpdumpRejected is tcpdump refusing to compile the expression for the file's link
// type (for example vlan on Linux SLL).
var errTcpdumpRejected = errors.New("tcpdump rejected the expression")

// runTcpdump returns the frames tcpdump's filter keeps, in order.
func runTcpdump(tcpdump, path, expr string, flags ...string) ([]frame, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(tcpdump, append(append(flags, "-r", path, "-w", "-"), expr)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "expression rejects all packets") {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s", errTcpdumpRejected, msg)
	}
	r, err := pcapgo.NewReader(&stdout)
	if err != nil {
		return nil, fmt.Errorf("tcpdump output: %w", err)
	}
	r.SetSnaplen(1 << 30)
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("tcpdump output: packet %d: %w", len(out)+1, err)
		}
		out = append(out, frame{data: data, wire: ci.Length})
	}
}

// TestTcpdumpEquivalence runs every expression of equivExprs through tcpdump and
// through Matcher on every corpus capture of a supported link type and requires the
// same packets, in the same order, to match. Captures the manifest marks as malformed
// have packets cut short inside their headers; there each verdict must equal tcpdump's
// or tcpdump -O's (see TestTcpdumpTruncated).
func TestTcpdumpEquivalence(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not on PATH")
	}
	dir, entries := corpus.Manifest(t)
	files := corpusFiles(entries)
	if len(files) == 0 {
		t.Fatal("no corpus files selected")
	}
	switch {
	case testing.Short() && len(files) > 12:
		files = files[:12]
	case os.Getenv("PORTCLASS_EQUIV_ALL") == "":
		all := len(files)
		files = equivSample(files, 3)
		t.Logf("%d of %d corpus captures (every malformed one, the first 3 of each link type); PORTCLASS_EQUIV_ALL=1 runs them all", len(files), all)
	}
	for _, cf := range files {
		t.Run(cf.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, cf.name)
			frames, lt, raw, err := readCapture(path)
			if err != nil {
				t.Skipf("pcapgo cannot read it: %v", err)
			}
			if strings.HasSuffix(cf.name, ".gz") {
				path = filepath.Join(t.TempDir(), "capture")
				if err := os.WriteFile(path, raw, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			vals := templateValues(frames, lt)
			var compared, matched, onlyUnopt int
			for _, tmpl := range equivExprs {
				expr := expand(tmpl, vals)
				f, err := Parse(expr)
				if err != nil {
					t.Errorf("Parse(%q): %v", expr, err)
					continue
				}
				want, terr := runTcpdump(tcpdump, path, expr)
				m, merr := f.Matcher(lt)
				if terr != nil || merr != nil {
					if !errors.Is(terr, errTcpdumpRejected) || !errors.Is(merr, ErrLinkType) {
						t.Errorf("%q on link type %d: tcpdump error %v, Matcher error %v", expr, lt, terr, merr)
					}
					continue
				}
				var got []int
				for i, fr := range frames {
					if m.Match(fr.data, fr.wire) {
						got = append(got, i)
					}
				}
				compared++
				matched += len(got)
				d := diffMatches(frames, got, want)
				if d == "" {
					continue
				}
				if !cf.malformed {
					t.Errorf("%q on link type %d: %s", expr, lt, d)
					continue
				}
				unopt, err := runTcpdump(tcpdump, path, expr, "-O")
				if err != nil {
					t.Fatalf("tcpdump -O %q: %v", expr, err)
				}
				kept, keptO := keptSet(t, frames, want), keptSet(t, frames, unopt)
				for i, fr := range frames {
					if g := m.Match(fr.data, fr.wire); g != kept[i] && g != keptO[i] {
						t.Errorf("%q on link type %d: packet %d: Match %v, tcpdump %v, tcpdump -O %v", expr, lt, i+1, g, kept[i], keptO[i])
					} else if g != kept[i] {
						onlyUnopt++
					}
				}
			}
			t.Logf("%d packets, link type %d: %d expressions compared, %d matches in total, %d verdicts equal to tcpdump -O's only",
				len(frames), lt, compared, matched, onlyUnopt)
		})
	}
}

// diffMatches compares the frames Matcher kept (indices got) with tcpdump's.
func diffMatches(frames []frame, got []int, want []frame) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(want):
			return fmt.Sprintf("Matcher kept %d packets, tcpdump %d; first extra is packet %d", len(got), len(want), got[i]+1)
		case i >= len(got):
			return fmt.Sprintf("Matcher kept %d packets, tcpdump %d; tcpdump's match #%d (%d bytes) is missing", len(got), len(want), i+1, want[i].wire)
		}
		g := frames[got[i]]
		if g.wire != want[i].wire || !bytes.Equal(g.data, want[i].data) {
			return fmt.Sprintf("match #%d differs: Matcher kept packet %d (%d bytes), tcpdump a %d-byte packet (Matcher %d matches, tcpdump %d)",
				i+1, got[i]+1, g.wire, want[i].wire, len(got), len(want))
		}
	}
	return ""
}

// truncations are the capture lengths TestTcpdumpTruncated cuts packets to: around the
// link, IPv4, IPv6 and transport header fields the filters load, so that loads beyond
// the captured bytes (which reject the packet) happen at every point of the programs.
var truncations = []int{0, 1, 3, 4, 10, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 26, 28, 30, 32, 34, 36,
	38, 40, 41, 42, 44, 46, 48, 50, 52, 54, 55, 56, 57, 58, 60, 62, 64, 66, 68, 70, 74, 78, 80}

// TestTcpdumpTruncated builds, per link type, one capture of the first packets of every
// corpus file cut to each of truncations (wire length kept), and compares Matcher with
// tcpdump on it. A load beyond the captured bytes rejects the packet, so the order of
// loads matters here: Match evaluates primitives left to right as libpcap's
// unoptimized program does (tcpdump -O), while libpcap's optimizer may drop or reorder
// loads. Each packet's verdict must therefore equal tcpdump's or tcpdump -O's.
func TestTcpdumpTruncated(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not on PATH")
	}
	dir, entries := corpus.Manifest(t)
	byLink := map[uint16][]frame{}
	for _, cf := range corpusFiles(entries) {
		frames, lt, _, err := readCapture(filepath.Join(dir, cf.name))
		if err != nil {
			continue
		}
		for _, fr := range frames[:min(len(frames), 30)] {
			for _, n := range truncations {
				if n < len(fr.data) {
					byLink[lt] = append(byLink[lt], frame{data: fr.data[:n], wire: fr.wire})
				}
			}
		}
	}
	for lt, frames := range byLink {
		t.Run(strconv.Itoa(int(lt)), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "truncated.pcap")
			writePcap(t, path, lt, frames)
			vals := templateValues(frames, lt)
			var differOpt, differBoth int
			for _, tmpl := range equivExprs {
				expr := expand(tmpl, vals)
				f, err := Parse(expr)
				if err != nil {
					t.Fatalf("Parse(%q): %v", expr, err)
				}
				opt, terr := runTcpdump(tcpdump, path, expr)
				unopt, uerr := runTcpdump(tcpdump, path, expr, "-O")
				m, merr := f.Matcher(lt)
				if terr != nil || uerr != nil || merr != nil {
					if !errors.Is(terr, errTcpdumpRejected) || !errors.Is(merr, ErrLinkType) {
						t.Errorf("%q: tcpdump error %v, tcpdump -O error %v, Matcher error %v", expr, terr, uerr, merr)
					}
					continue
				}
				kept := keptSet(t, frames, opt)
				keptO := keptSet(t, frames, unopt)
				for i, fr := range frames {
					got := m.Match(fr.data, fr.wire)
					if got != kept[i] {
						differOpt++
					}
					if got != kept[i] && got != keptO[i] {
						differBoth++
						t.Errorf("%q: packet %d (%d of %d bytes): Match %v, tcpdump %v, tcpdump -O %v",
							expr, i+1, len(fr.data), fr.wire, got, kept[i], keptO[i])
						break
					}
				}
			}
			t.Logf("%d truncated packets × %d expressions: %d verdicts differ from optimized tcpdump only", len(frames), len(equivExprs), differOpt)
		})
	}
}

// keptSet maps tcpdump's output back to frame indices. Output is in input order, and
// identical frames get identical verdicts, so matching greedily in order is exact.
func keptSet(t testing.TB, frames []frame, out []frame) []bool {
	t.Helper()
	kept := make([]bool, len(frames))
	j := 0
	for i, fr := range frames {
		if j < len(out) && fr.wire == out[j].wire && bytes.Equal(fr.data, out[j].data) {
			kept[i] = true
			j++
		}
	}
	if j != len(out) {
		t.Fatalf("tcpdump output has %d packets not found in the input", len(out)-j)
	}
	return kept
}

func writePcap(t *testing.T, path string, lt uint16, frames []frame) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkType(lt)); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		ci := gopacket.CaptureInfo{CaptureLength: len(fr.data), Length: fr.wire}
		if err := w.WritePacket(ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTcpdumpCrafted compares Matcher with tcpdump on the hand-built frames of
// TestMatch for every link type they are built for, including LOOP and PPP, which the
// corpus has few or none of.
func TestTcpdumpCrafted(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not on PATH")
	}
	for _, lt := range craftedLinkTypes {
		var frames []frame
		for _, fr := range craftedFrames(lt) {
			frames = append(frames, frame{data: fr.data, wire: len(fr.data)})
		}
		path := filepath.Join(t.TempDir(), strconv.Itoa(int(lt))+".pcap")
		writePcap(t, path, lt, frames)
		for _, tc := range matchCases {
			f, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			want, terr := runTcpdump(tcpdump, path, tc.expr)
			m, merr := f.Matcher(lt)
			if terr != nil || merr != nil {
				if !errors.Is(terr, errTcpdumpRejected) || !errors.Is(merr, ErrLinkType) {
					t.Errorf("%q on link type %d: tcpdump error %v, Matcher error %v", tc.expr, lt, terr, merr)
				}
				continue
			}
			var got []int
			for i, fr := range frames {
				if m.Match(fr.data, fr.wire) {
					got = append(got, i)
				}
			}
			if d := diffMatches(frames, got, want); d != "" {
				t.Errorf("%q on link type %d: %s", tc.expr, lt, d)
			}
		}
	}
}
