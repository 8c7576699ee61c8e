package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/portclass/portclass/internal/corpus"
)

// seedFrames are hand-made Ethernet frames: TCP SYN over IPv4, UDP over IPv6 with a
// hop-by-hop header, an ICMP port unreachable quoting UDP, a QinQ frame, a fragment.
func seedFrames() [][]byte {
	eth := func(et uint16, payload []byte) []byte {
		b := make([]byte, 14, 14+len(payload))
		copy(b, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(b[12:], et)
		return append(b, payload...)
	}
	ip4 := func(proto byte, frag uint16, payload []byte) []byte {
		h := []byte{0x45, 0, 0, 0, 0, 7, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2}
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		binary.BigEndian.PutUint16(h[6:], frag)
		return append(h, payload...)
	}
	tcp := []byte{0xc3, 0x50, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}
	udp := []byte{0x9c, 0x40, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4}
	ip6 := func(next byte, payload []byte) []byte {
		h := make([]byte, 40)
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
		h[6], h[7] = next, 64
		copy(h[8:], netip.MustParseAddr("2001:db8::1").AsSlice())
		copy(h[24:], netip.MustParseAddr("2001:db8::2").AsSlice())
		return append(h, payload...)
	}
	hbh := append([]byte{17, 0, 1, 4, 0, 0, 0, 0}, udp...)
	icmp := append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, ip4(17, 0, udp)...)
	qinq := append([]byte{0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00}, ip4(6, 0, tcp)...)
	return [][]byte{
		eth(0x0800, ip4(6, 0, tcp)),
		eth(0x86dd, ip6(0, hbh)),
		eth(0x0800, ip4(1, 0, icmp)),
		eth(0x88a8, qinq),
		eth(0x0800, ip4(17, 0x2000, udp)),
		eth(0x0800, ip4(17, 3, []byte{1, 2, 3, 4, 5, 6, 7, 8})),
		eth(0x0806, make([]byte, 28)),
	}
}

func TestDecodeSeeds(t *testing.T) {
	want := []struct {
		res          int
		proto        uint8
		sport, dport uint16
	}{{decOK, 6, 50000, 443}, {decOK, 17, 40000, 53}, {decOK, 1, 0, 0}, {decOK, 6, 50000, 443}, {decOK, 17, 40000, 53}, {decOK, 17, 0, 0}, {decNonIP, 0, 0, 0}}
	var d decoder
	for i, fr := range seedFrames() {
		var p pkt
		r := d.decode(LinkEthernet, fr, &p)
		if r != want[i].res || p.proto != want[i].proto || p.sport != want[i].sport || p.dport != want[i].dport {
			t.Errorf("frame %d: result %d proto %d ports %d>%d, want %+v", i, r, p.proto, p.sport, p.dport, want[i])
		}
	}
	var p pkt
	d.decode(LinkEthernet, seedFrames()[2], &p)
	if !p.hasQuote || p.qproto != 17 || p.qsport != 40000 || p.qdport != 53 || p.icmpType != 3 || p.icmpCode != 3 {
		t.Errorf("ICMP quote not parsed: %+v", p)
	}
	d.decode(LinkEthernet, seedFrames()[3], &p)
	if p.vlan != 100 {
		t.Errorf("QinQ: outer VLAN %d, want 100", p.vlan)
	}
}

func TestDecodeAllocs(t *testing.T) {
	frames := seedFrames()
	var d decoder
	var p pkt
	if n := testing.AllocsPerRun(100, func() {
		for _, fr := range frames {
			d.decode(LinkEthernet, fr, &p)
		}
	}); n != 0 {
		t.Fatalf("decode allocates %.1f times per run", n)
	}
}

// FuzzDecode checks the decoder never panics and agrees with gopacket (the slow
// oracle) on addresses, protocol and ports whenever both decode a TCP or UDP packet.
func FuzzDecode(f *testing.F) {
	for _, fr := range seedFrames() {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var d decoder
		var p pkt
		if d.decode(LinkEthernet, frame, &p) != decOK || p.kind != kindFlow || p.vlan != 0 {
			return
		}
		pk := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: false, NoCopy: true})
		if pk.ErrorLayer() != nil {
			return
		}
		if d.tun.depth > 0 {
			fuzzInnerOracle(t, pk, &p)
			return
		}
		// no tunnel entered: the outermost IP header (gopacket may decode on into a
		// tunnel portclass's checks refused)
		var src, dst netip.Addr
		switch l := pk.NetworkLayer().(type) {
		case *layers.IPv4:
			if l.Flags&layers.IPv4MoreFragments != 0 || l.IHL < 5 {
				return
			}
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
		default:
			return
		}
		if addrFrom16(p.src) != src.Unmap() || addrFrom16(p.dst) != dst.Unmap() {
			t.Fatalf("addresses %v>%v, gopacket %v>%v", addrFrom16(p.src), addrFrom16(p.dst), src, dst)
		}
		if l, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && p.proto == ProtoTCP {
			if uint16(l.SrcPort) != p.sport || uint16(l.DstPort) != p.dport {
				t.Fatalf("tcp ports %d>%d, gopacket %d>%d", p.sport, p.dport, l.SrcPort, l.DstPort)
			}
		}
		if l, ok := pk.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && p.proto == ProtoUDP {
			if uint16(l.SrcPort) != p.sport || uint16(l.DstPort) != p.dport {
				t.Fatalf("udp ports %d>%d, gopacket %d>%d", p.sport, p.dport, l.SrcPort, l.DstPort)
			}
		}
	})
}

// fuzzInnerOracle checks a decapsulated packet p against gopacket's decoding of the
// frame where gopacket entered the same tunnels: some IP layer of gopacket's must have
// p's addresses, and the TCP or UDP layer right after it p's ports. gopacket decodes
// fewer tunnels (no Teredo, VXLAN-GPE, MPLS over UDP, VXLAN on 8472, ...): where none
// of its IP layers has p's addresses, there is nothing to compare.
func fuzzInnerOracle(t *testing.T, pk gopacket.Packet, p *pkt) {
	ls := pk.Layers()
	for i, l := range ls {
		var src, dst netip.Addr
		switch l := l.(type) {
		case *layers.IPv4:
			if l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0 {
				continue
			}
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
		default:
			continue
		}
		if src.Unmap() != addrFrom16(p.src) || dst.Unmap() != addrFrom16(p.dst) || i+1 >= len(ls) {
			continue
		}
		switch l := ls[i+1].(type) {
		case *layers.TCP:
			if p.proto == ProtoTCP && (uint16(l.SrcPort) != p.sport || uint16(l.DstPort) != p.dport) {
				t.Fatalf("inner tcp ports %d>%d, gopacket %d>%d", p.sport, p.dport, l.SrcPort, l.DstPort)
			}
		case *layers.UDP:
			if p.proto == ProtoUDP && (uint16(l.SrcPort) != p.sport || uint16(l.DstPort) != p.dport) {
				t.Fatalf("inner udp ports %d>%d, gopacket %d>%d", p.sport, p.dport, l.SrcPort, l.DstPort)
			}
		}
	}
}

// FuzzDecap fuzzes decapsulation, seeded with a frame of every tunnel type of
// TestDecap (nested ones, ones the checks refuse, ones cut short) and deep IP-in-IP.
// Invariants: at most MaxTunnelDepth layers, too deep only at that depth; every layer
// of a known type, with an ID only for types that have one; the inner packet's
// addresses come from the frame; decoding is deterministic; NoDecap enters nothing
// and then gives the outermost IP packet, which with decapsulation on is the
// outermost layer's endpoints.
func FuzzDecap(f *testing.F) {
	for _, c := range decapCases() {
		f.Add(c.frame)
		f.Add(c.frame[:len(c.frame)*2/3])
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var d decoder
		var p, again pkt
		r := d.decode(LinkEthernet, frame, &p)
		tun, l0 := d.tun, d.layers[0]
		if d.decode(LinkEthernet, frame, &again) != r || again != p || d.tun != tun {
			t.Fatalf("decoding twice differs: %+v / %+v", p, again)
		}
		if tun.depth > MaxTunnelDepth || tun.qdepth > MaxTunnelDepth || tun.tooDeep && tun.depth != MaxTunnelDepth {
			t.Fatalf("depth %d, quote depth %d, too deep %v", tun.depth, tun.qdepth, tun.tooDeep)
		}
		for i := range max(tun.depth, tun.qdepth) {
			l := d.layers[i]
			if l.typ == TunnelUnknown || l.typ > TunnelMPLSUDP {
				t.Fatalf("layer %d of type %d", i, l.typ)
			}
			switch l.typ {
			case TunnelVXLAN, TunnelVXLANGPE, TunnelGeneve:
				if !l.hasID || l.id >= 1<<24 {
					t.Fatalf("layer %d: %v without a 24-bit VNI: %+v", i, l.typ, l)
				}
			case TunnelERSPAN:
				if l.hasID && l.id >= 1<<10 {
					t.Fatalf("layer %d: ERSPAN session %d", i, l.id)
				}
			case TunnelGRE:
			default:
				if l.hasID {
					t.Fatalf("layer %d: %v with an ID", i, l.typ)
				}
			}
		}
		if r == decOK && tun.depth > 0 {
			n := 16
			if !p.v6 {
				n = 4
			}
			if !bytes.Contains(frame, p.src[16-n:]) || !bytes.Contains(frame, p.dst[16-n:]) {
				t.Fatalf("inner addresses %v, %v not in the frame", addrFrom16(p.src), addrFrom16(p.dst))
			}
		}
		var o pkt
		nd := decoder{noDecap: true, ports: &tunnelPorts{}}
		nr := nd.decode(LinkEthernet, frame, &o)
		if nd.tun != (tunState{}) {
			t.Fatalf("NoDecap entered %d tunnels", nd.tun.depth)
		}
		if tun.depth > 0 && (nr != decOK || o.src != l0.src || o.dst != l0.dst) {
			t.Fatalf("the outermost packet (%d: %v>%v) is not the first layer's (%v>%v)", nr, addrFrom16(o.src), addrFrom16(o.dst), addrFrom16(l0.src), addrFrom16(l0.dst))
		}
	})
}

// pcapOf wraps frames in a little-endian microsecond pcap file.
func pcapOf(lt uint32, frames ...[]byte) []byte {
	var b bytes.Buffer
	h := make([]byte, 24)
	copy(h, pcapMicroLE[:])
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535)
	binary.LittleEndian.PutUint32(h[20:], lt)
	b.Write(h)
	for i, fr := range frames {
		r := make([]byte, 16)
		binary.LittleEndian.PutUint32(r, uint32(1768471200+i))
		binary.LittleEndian.PutUint32(r[8:], uint32(len(fr)))
		binary.LittleEndian.PutUint32(r[12:], uint32(len(fr)))
		b.Write(r)
		b.Write(fr)
	}
	return b.Bytes()
}

// ngOf wraps frames in a one-interface little-endian pcapng file.
func ngOf(frames ...[]byte) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	blk := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		h := make([]byte, 8)
		le.PutUint32(h, typ)
		le.PutUint32(h[4:], n)
		b.Write(h)
		b.Write(body)
		t := make([]byte, 4)
		le.PutUint32(t, n)
		b.Write(t)
	}
	shb := make([]byte, 16)
	le.PutUint32(shb, 0x1a2b3c4d)
	le.PutUint16(shb[4:], 1)
	le.PutUint64(shb[8:], ^uint64(0))
	blk(ngSHB, shb)
	idb := make([]byte, 8)
	le.PutUint16(idb, 1)
	idb = append(idb, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0) // if_tsresol = 9 (ns), end of options
	blk(ngIDB, idb)
	for _, fr := range frames {
		e := make([]byte, 20)
		le.PutUint32(e[8:], 0x1881) // timestamp, low word
		le.PutUint32(e[12:], uint32(len(fr)))
		le.PutUint32(e[16:], uint32(len(fr)))
		blk(ngEPB, append(e, fr...))
	}
	return b.Bytes()
}

// fuzzRead checks the invariants that must hold for any input, in two steps. First
// the reader alone, record by record: records lie inside the input, in order, within
// the caps; the only errors are a *FormatError from open and a *CorruptError (with
// an offset inside the stream) or io.EOF from next. Then the whole pipeline with one
// worker: packet accounting adds up and no flow is empty.
//
// The sharded path (two workers) has its own target, FuzzShards: it costs about six
// times as much per execution (goroutines, batches, a table per worker), and cheap
// executions matter here. Go minimises every new interesting input by running it up
// to O(n²) times for a few-hundred-byte input, and reports 0 execs/s while it does;
// at 0.5-0.9 ms per execution (two runs, two fresh 512 KiB buffers each) that made
// FuzzPcap stall for most of its time. See also FUZZMINIMIZETIME in the Makefile.
func fuzzRead(t *testing.T, data []byte) {
	fuzzRecords(t, data)
	fuzzRun(t, data, 1)
}

// fuzzRecords reads data with the reader alone and checks each record.
func fuzzRecords(t *testing.T, data []byte) {
	src, err := open("-", nil, bytes.NewReader(data))
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Path != "-" {
			t.Fatalf("open: error %T is not a *FormatError naming the input: %v", err, err)
		}
		return
	}
	defer src.close()
	// the decompressed stream may be longer than the input; the plain one is not
	limit := int64(len(data))
	if src.stats.Compression != "" {
		limit = 1 << 62
	}
	last := int64(-1)
	for {
		rec, err := src.rd.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("next: error %T is not a *CorruptError: %v", err, err)
			}
			if ce.Offset < 0 || ce.Offset > limit || ce.Field == "" || ce.Msg == "" {
				t.Fatalf("corrupt error without a usable offset or field (input of %d bytes): %+v", len(data), ce)
			}
			break
		}
		if rec.Offset <= last || rec.Offset+int64(len(rec.Data)) > limit {
			t.Fatalf("record at offset %d of %d bytes after one at %d (input of %d bytes)", rec.Offset, len(rec.Data), last, len(data))
		}
		if len(rec.Data) > MaxCapLen || rec.WireLen < len(rec.Data) {
			t.Fatalf("record at offset %d: %d bytes captured, %d on the wire", rec.Offset, len(rec.Data), rec.WireLen)
		}
		last = rec.Offset
	}
	if ws := src.rd.warnings(); len(ws) > maxWarnings+5 {
		t.Fatalf("%d warnings, more than the %d listed and the totals", len(ws), maxWarnings)
	}
}

// fuzzRun runs the pipeline over data on stdin with w workers and returns the
// packets and bytes counted in flows and the number of flows.
func fuzzRun(t *testing.T, data []byte, w int) (packets, byteCount, flows uint64) {
	// emit runs on a collector goroutine with several workers: record, then fail here
	var bad *Flow
	res, err := Run(context.Background(), []string{"-"}, Options{Workers: w, Stdin: bytes.NewReader(data)}, func(f *Flow) {
		if f.Packets[0]+f.Packets[1] == 0 && bad == nil {
			c := *f
			bad = &c
		}
		packets += f.Packets[0] + f.Packets[1]
		byteCount += f.Bytes[0] + f.Bytes[1]
		flows++
	})
	if bad != nil {
		t.Fatalf("workers=%d: flow without packets: %+v", w, bad)
	}
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("error is not a *FormatError: %v", err)
		}
		return 0, 0, 0
	}
	in := res.Inputs[0]
	if in.Compression == "" && in.Packets > uint64(len(data)/12+1) {
		t.Fatalf("%d packets from %d bytes", in.Packets, len(data))
	}
	if in.Decoded+in.NonIP+in.DecodeErrors+in.Filtered+sum(in.Unsupported) != in.Packets {
		t.Fatalf("packet accounting broken: %+v", in)
	}
	if packets > in.Decoded {
		t.Fatalf("workers=%d: %d packets in flows, %d decoded", w, packets, in.Decoded)
	}
	if in.Truncated && (in.TruncatedAt < 0 || len(in.Warnings) == 0) {
		t.Fatalf("truncated without an offset or a warning: %+v", in)
	}
	return packets, byteCount, flows
}

// seedFiles adds the named captures of testdata/formats (the project's own reader
// test set, generated by capture/synth) to the seed corpus of f.
func seedFiles(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(corpus.Testdata(f, "formats", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzPcap fuzzes the classic pcap reader and, through it, the decoder and the flow
// table. Seeds: hand-made files and the small pcap files of testdata/formats (every
// byte order, resolution and link type).
func FuzzPcap(f *testing.F) {
	frames := seedFrames()
	f.Add(pcapOf(1, frames...))
	f.Add(pcapOf(101, frames[0][14:]))
	f.Add(pcapOf(1, frames[0])[:50])
	seedFiles(f, "pcap-le-usec.pcap", "pcap-be-nsec.pcap", "pcap-fcs-libpcap.pcap", "link-null.pcap", "link-sll2.pcap",
		"link-ppp.pcap", "link-ipv6.pcap", "protos.pcap", "truncated.pcap", "empty.pcap", "vlan-qinq.pcap")
	f.Fuzz(fuzzRead)
}

// FuzzPcapng fuzzes the pcapng reader (sections, interfaces, resolutions, simple
// packet blocks, damaged blocks skipped) and what follows it.
func FuzzPcapng(f *testing.F) {
	frames := seedFrames()
	f.Add(ngOf(frames...))
	f.Add(ngOf(frames[0])[:60])
	seedFiles(f, "pcapng-2sections.pcapng", "pcapng-ifaces.pcapng", "pcapng-spb.pcapng", "truncated.pcapng")
	f.Fuzz(fuzzRead)
}

// FuzzShards checks the sharded pipeline against the single-worker one: over any
// capture, two workers must count the same packets and bytes in flows as one (the
// flows themselves may differ when timestamps go backwards: idle timeouts are swept
// per worker, by the packet time each worker has seen).
func FuzzShards(f *testing.F) {
	frames := seedFrames()
	f.Add(pcapOf(1, frames...))
	f.Add(ngOf(frames...))
	var tunnels [][]byte
	for _, c := range decapCases() {
		tunnels = append(tunnels, c.frame)
	}
	f.Add(pcapOf(1, tunnels...))
	seedFiles(f, "pcap-le-usec.pcap", "ipv4-frag.pcap", "pcapng-ifaces.pcapng")
	f.Fuzz(func(t *testing.T, data []byte) {
		packets, bytes1, flows := fuzzRun(t, data, 1)
		if flows == 0 {
			return
		}
		packets2, bytes2, _ := fuzzRun(t, data, 2)
		if packets != packets2 || bytes1 != bytes2 {
			t.Fatalf("one worker: %d packets %d bytes in flows; two workers: %d, %d", packets, bytes1, packets2, bytes2)
		}
	})
}

// zstdEnc is shared by the fuzz targets: an encoder costs megabytes to set up.
var zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))

func gzipOf(data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// FuzzCompressed fuzzes the gzip and zstd paths two ways. With wrap, data is
// compressed here (gzip for an even codec, zstd for an odd one) and the compressed
// input must read exactly as the plain one: same packets, same truncation offset in
// the decompressed stream, same rejection. Without wrap, data is fed as is, so the
// fuzzer mutates real compressed streams (the seeds are the gzip and zstd files of
// testdata/formats): nothing may panic, and damage ends the input with an offset.
func FuzzCompressed(f *testing.F) {
	plain, err := os.ReadFile(corpus.Testdata(f, "formats", "pcap-le-usec.pcap"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain, uint8(0), true)
	f.Add(plain, uint8(1), true)
	f.Add(plain[:300], uint8(1), true)
	f.Add(ngOf(seedFrames()...), uint8(0), true)
	for _, n := range []string{"gzip.pcap", "zstd.pcap"} {
		b, err := os.ReadFile(corpus.Testdata(f, "formats", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, codec uint8, wrap bool) {
		compressed := len(data) >= 4 && (data[0] == 0x1f && data[1] == 0x8b || bytes.Equal(data[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}))
		if !wrap || compressed { // one level of compression is decoded, not two
			fuzzRead(t, data)
			return
		}
		in := gzipOf(data)
		if codec&1 == 1 {
			in = zstdEnc.EncodeAll(data, nil)
		}
		want, werr := Run(context.Background(), []string{"-"}, Options{Workers: 1, Stdin: bytes.NewReader(data)}, func(*Flow) {})
		got, gerr := Run(context.Background(), []string{"-"}, Options{Workers: 1, Stdin: bytes.NewReader(in)}, func(*Flow) {})
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("plain: %v; compressed: %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		w, g := want.Inputs[0], got.Inputs[0]
		if w.Packets != g.Packets || w.Bytes != g.Bytes || w.Truncated != g.Truncated || w.TruncatedAt != g.TruncatedAt || w.Decoded != g.Decoded {
			t.Fatalf("plain and compressed inputs differ:\n%+v\n%+v", w, g)
		}
	})
}

func TestReadersOnHandmadeFiles(t *testing.T) {
	frames := seedFrames()
	for name, data := range map[string][]byte{"pcap": pcapOf(1, frames...), "pcapng": ngOf(frames...)} {
		res, err := Run(context.Background(), []string{"-"}, Options{Workers: 1, Stdin: bytes.NewReader(data)}, func(*Flow) {})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		in := res.Inputs[0]
		if in.Format != name || in.Packets != uint64(len(frames)) || in.NonIP != 1 || in.Fragments != 1 || in.Truncated {
			t.Errorf("%s: %+v", name, in)
		}
		if name == "pcapng" && in.FirstTS != 0x1881 {
			t.Errorf("pcapng ns timestamp: %d", in.FirstTS)
		}
	}
	// cut in the middle of the last packet record
	data := pcapOf(1, frames...)
	res, err := Run(context.Background(), []string{"-"}, Options{Workers: 1, Stdin: bytes.NewReader(data[:len(data)-5])}, func(*Flow) {})
	if err != nil || !res.Inputs[0].Truncated || res.Inputs[0].Packets != uint64(len(frames)-1) {
		t.Fatalf("truncated file: %v %+v", err, res.Inputs)
	}
	if at := res.Inputs[0].TruncatedAt; at != int64(len(data)-16-len(frames[len(frames)-1])) {
		t.Errorf("truncated at %d", at)
	}
	// not a capture
	_, err = Run(context.Background(), []string{"-"}, Options{Stdin: bytes.NewReader([]byte("GET / HTTP/1.1\r\n"))}, func(*Flow) {})
	if !errors.Is(err, ErrNotCapture) || err.Error() != "-: not a pcap or pcapng file (first bytes 0x474554202f204854)" {
		t.Fatalf("not a capture: %v", err)
	}
}
