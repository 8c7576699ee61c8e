package synth_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"

	"github.com/portclass/portclass/capture/synth"
)

// readAll reads every packet of a (possibly gzip or zstd compressed) pcap or pcapng
// file with gopacket, detecting the format from the content. It returns the
// packets' data and link types and the error that ended reading (nil at a clean end).
func readAll(t *testing.T, data []byte) (frames [][]byte, links []layers.LinkType, err error) {
	t.Helper()
	if bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		dec, derr := zstd.NewReader(nil)
		if derr != nil {
			t.Fatal(derr)
		}
		defer dec.Close()
		if data, err = dec.DecodeAll(data, nil); err != nil {
			return nil, nil, err
		}
	}
	type reader interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var (
		r  reader
		lt func(gopacket.CaptureInfo) layers.LinkType
	)
	if bytes.HasPrefix(data, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		nr, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, nil, err
		}
		r, lt = nr, func(ci gopacket.CaptureInfo) layers.LinkType { return ci.AncillaryData[0].(layers.LinkType) }
	} else {
		pr, err := pcapgo.NewReader(bytes.NewReader(data)) // pcapgo undoes gzip itself
		if err != nil {
			return nil, nil, err
		}
		r, lt = pr, func(gopacket.CaptureInfo) layers.LinkType { return pr.LinkType() }
	}
	for {
		d, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return frames, links, nil
		}
		if err != nil {
			return frames, links, err
		}
		frames = append(frames, d)
		links = append(links, lt(ci))
	}
}

// flowOf returns a direction-independent flow key for a decoded packet: protocol,
// addresses and ports (ICMP echo: identifier). ICMP errors and non-first fragments
// belong to other packets' flows and give false; first fragments are keyed by the
// transport ports read from the fragment itself.
func flowOf(pkt gopacket.Packet) (string, bool) {
	nf := pkt.NetworkLayer().NetworkFlow()
	var (
		proto  layers.IPProtocol
		sp, dp uint16
		l4     []byte
	)
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		proto, l4 = ip.Protocol, ip.Payload
		if ip.FragOffset != 0 {
			return "", false
		}
	case *layers.IPv6:
		proto, l4 = ip.NextHeader, ip.Payload
		for _, l := range pkt.Layers() {
			switch x := l.(type) {
			case *layers.IPv6HopByHop:
				proto, l4 = x.NextHeader, x.Payload
			case *layers.IPv6Destination:
				proto, l4 = x.NextHeader, x.Payload
			case *layers.IPv6Fragment:
				if x.FragmentOffset != 0 {
					return "", false
				}
				proto, l4 = x.NextHeader, x.Payload
				if proto == layers.IPProtocolIPv6Destination { // inside the fragmentable part
					proto, l4 = layers.IPProtocol(l4[0]), l4[8*(int(l4[1])+1):]
				}
			}
		}
	}
	switch proto {
	case layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolSCTP:
		sp, dp = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	case layers.IPProtocolICMPv4, layers.IPProtocolICMPv6:
		typ := l4[0]
		if typ != 0 && typ != 8 && typ != 128 && typ != 129 {
			return "", false // an error: it quotes another flow
		}
		sp, dp = binary.BigEndian.Uint16(l4[4:]), binary.BigEndian.Uint16(l4[4:])
	}
	a := nf.Src().String() + "/" + strconv.Itoa(int(sp))
	b := nf.Dst().String() + "/" + strconv.Itoa(int(dp))
	if b < a {
		a, b = b, a
	}
	return proto.String() + " " + a + " " + b, true
}

func TestFormats(t *testing.T) {
	files, err := synth.Formats()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		names[f.Name] = true
		t.Run(f.Name, func(t *testing.T) {
			frames, links, err := readAll(t, f.Data)
			switch {
			case f.Name == "not-a-capture.pcap":
				if err == nil {
					t.Error("read as a capture")
				}
				return
			case strings.HasPrefix(f.Name, "truncated"):
				if err == nil {
					t.Error("no error at the cut")
				}
			case err != nil:
				t.Fatalf("after %d packets: %v", len(frames), err)
			}
			if len(frames) != f.Packets {
				t.Errorf("%d packets, README says %d", len(frames), f.Packets)
			}
			fcs := strings.HasPrefix(f.Name, "pcap-fcs")
			flows := map[string]bool{}
			for i, fr := range frames {
				if fcs {
					if crc32.ChecksumIEEE(fr) != 0x2144df1c {
						t.Errorf("packet %d: FCS does not match", i+1)
					}
					fr = fr[:len(fr)-4]
				}
				if f.Name == "pcapng-spb.pcapng" {
					continue // frames cut to 100 bytes
				}
				pkt := gopacket.NewPacket(fr, decoderFor(uint16(links[i])), gopacket.Default)
				if pkt.NetworkLayer() == nil {
					t.Errorf("packet %d: no network layer:\n%s", i+1, pkt.Dump())
					continue
				}
				if k, ok := flowOf(pkt); ok {
					flows[k] = true
				}
			}
			if f.Name != "pcapng-spb.pcapng" && len(flows) != f.Flows {
				t.Errorf("%d flows %q, README says %d", len(flows), slices.Sorted(maps.Keys(flows)), f.Flows)
			}
		})
	}
	for _, want := range []string{
		"pcap-le-usec.pcap", "pcap-be-usec.pcap", "pcap-le-nsec.pcap", "pcap-be-nsec.pcap", "pcap-fcs-libpcap.pcap",
		"pcapng-2sections.pcapng", "pcapng-ifaces.pcapng", "link-sll.pcap", "link-sll2.pcap", "link-null.pcap",
		"link-loop.pcap", "link-ppp.pcap", "link-raw.pcap", "vlan-qinq.pcap", "ipv6-ext.pcap", "ipv4-frag.pcap",
		"gzip.pcap", "zstd.pcap", "truncated.pcap", "not-a-capture.pcap",
	} {
		if !names[want] {
			t.Errorf("formats set lacks %s", want)
		}
	}
	readme := string(synth.FormatsREADME(files))
	for _, f := range files {
		if !strings.Contains(readme, "`"+f.Name+"`") {
			t.Errorf("README does not list %s", f.Name)
		}
	}
}

// TestFormatsHeaders checks header fields gopacket does not expose.
func TestFormatsHeaders(t *testing.T) {
	files, err := synth.Formats()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.Name] = f.Data
	}
	le, be := binary.LittleEndian, binary.BigEndian
	for _, c := range []struct {
		name  string
		order binary.ByteOrder
		off   int
		want  uint32
	}{
		{"pcap-le-usec.pcap", le, 0, 0xa1b2c3d4},
		{"pcap-be-usec.pcap", be, 0, 0xa1b2c3d4},
		{"pcap-le-nsec.pcap", le, 0, 0xa1b23c4d},
		{"pcap-be-nsec.pcap", be, 0, 0xa1b23c4d},
		{"pcap-fcs-libpcap.pcap", le, 20, 0x24000001},
		{"pcap-fcs-draft.pcap", le, 20, 0x50000001},
		{"link-sll2.pcap", le, 20, 276},
		{"link-ppp.pcap", le, 20, 9},
	} {
		if got := c.order.Uint32(byName[c.name][c.off:]); got != c.want {
			t.Errorf("%s: field at %d = %#x, want %#x", c.name, c.off, got, c.want)
		}
	}
	// The second section of pcapng-2sections is big-endian: find its SHB.
	ng := byName["pcapng-2sections.pcapng"]
	first := int(le.Uint32(ng[4:]))
	if i := bytes.Index(ng[first:], []byte{0x0a, 0x0d, 0x0d, 0x0a, 0, 0}); i < 0 || !bytes.Equal(ng[first+i+8:first+i+12], []byte{0x1a, 0x2b, 0x3c, 0x4d}) {
		t.Error("no big-endian second section header in pcapng-2sections.pcapng")
	}
	// gzip and zstd hold pcap-le-usec.pcap.
	if !bytes.HasPrefix(byName["gzip.pcap"], []byte{0x1f, 0x8b}) || !bytes.HasPrefix(byName["zstd.pcap"], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		t.Error("compressed copies lack their magic")
	}
}

// TestExternalReaders has tshark and tcpdump read the formats set and the scenarios
// when they are installed, and has tshark verify every checksum.
func TestExternalReaders(t *testing.T) {
	tshark, _ := exec.LookPath("tshark")
	tcpdump, _ := exec.LookPath("tcpdump")
	if tshark == "" && tcpdump == "" {
		t.Skip("neither tshark nor tcpdump installed")
	}
	if testing.Short() {
		t.Skip("starts tshark and tcpdump about 30 times each")
	}
	files, err := synth.Formats()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	full := synth.FileOptions{Format: synth.FormatPcapng, LinkType: synth.LinkEthernet}
	files = append(files,
		synth.FormatFile{Name: "sample.pcapng", Data: write(t, synth.Scenario{Kind: synth.KindSample, Seed: 1}, full), Packets: -1},
		synth.FormatFile{Name: "veeam.pcapng", Data: write(t, synth.Scenario{Kind: synth.KindVeeam, Seed: 1}, full), Packets: -1},
		synth.FormatFile{Name: "mix.pcapng", Data: write(t, synth.Scenario{Kind: synth.KindMix, Seed: 1, Packets: 5000, Flows: 100}, full), Packets: 5000})
	for _, f := range files {
		if f.Name == "not-a-capture.pcap" || f.Name == "empty.pcap" || strings.HasPrefix(f.Name, "truncated") {
			continue
		}
		path := filepath.Join(dir, f.Name)
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		if tshark != "" {
			// One line per packet: its number, then the checksum statuses
			// (0 bad, 1 good, 2 unverified) of every layer that has one.
			out := run(t, tshark, "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
				"-o", "udp.check_checksum:TRUE", "-o", "sctp.checksum:crc-32c", "-o", "eth.check_fcs:TRUE",
				"-T", "fields", "-e", "frame.number", "-e", "ip.checksum.status", "-e", "tcp.checksum.status",
				"-e", "udp.checksum.status", "-e", "icmp.checksum.status", "-e", "icmpv6.checksum.status",
				"-e", "sctp.checksum.status", "-e", "eth.fcs.status")
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if out == "" {
				lines = nil
			}
			if f.Packets >= 0 && len(lines) != f.Packets {
				t.Errorf("tshark reads %d packets from %s, want %d", len(lines), f.Name, f.Packets)
			}
			for _, l := range lines {
				fields := strings.Split(l, "\t")
				for _, v := range fields[1:] {
					if slices.Contains(strings.Split(v, ","), "0") {
						t.Errorf("tshark finds a bad checksum in %s packet %s: %q", f.Name, fields[0], l)
					}
				}
			}
		}
		// libpcap reads neither compressed files nor pcapng with several link types
		// or a second section of another byte order.
		if tcpdump != "" && !strings.Contains(f.Name, "zip") && f.Name != "zstd.pcap" && f.Name != "pcapng-ifaces.pcapng" && f.Name != "pcapng-2sections.pcapng" {
			// With -tt every packet's first line starts with its Unix time;
			// continuation lines (quoted packets, fragments) are indented.
			out := run(t, tcpdump, "-nn", "-tt", "-r", path)
			n := len(regexp.MustCompile(`(?m)^\d+\.\d{6} `).FindAllString(out, -1))
			if f.Packets >= 0 && n != f.Packets {
				t.Errorf("tcpdump reads %d packets from %s, want %d", n, f.Name, f.Packets)
			}
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("%s %s: exit %s: %s", name, strings.Join(args, " "), strconv.Itoa(ee.ExitCode()), stderr.String())
			return ""
		}
		t.Fatal(err)
	}
	return stdout.String()
}
