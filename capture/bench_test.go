package capture

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portclass/portclass/capture/synth"
)

// benchCapture returns the bytes of a generated mix capture (1M packets, 20k flows
// by default), cached in the temporary directory between runs.
func benchCapture(b *testing.B) []byte {
	b.Helper()
	return mixCapture(b, synth.DefaultMixPackets, synth.DefaultMixFlows)
}

var mixOnce sync.Map

func mixCapture(b testing.TB, packets, flows int) []byte {
	key := fmt.Sprintf("portclass-bench-mix-%d-%d-v1.pcap", packets, flows)
	if v, ok := mixOnce.Load(key); ok {
		return v.([]byte)
	}
	path := filepath.Join(os.TempDir(), key)
	data, err := os.ReadFile(path)
	if err != nil {
		var buf bytes.Buffer
		s := synth.Scenario{Kind: synth.KindMix, Seed: 1, Packets: packets, Flows: flows}
		if err := synth.Write(&buf, s, synth.FileOptions{Format: synth.FormatPcap, LinkType: LinkEthernet}); err != nil {
			b.Fatal(err)
		}
		data = buf.Bytes()
		tmp := path + ".tmp"
		if os.WriteFile(tmp, data, 0o644) == nil {
			os.Rename(tmp, path)
		}
	}
	mixOnce.Store(key, data)
	return data
}

func reportPackets(b *testing.B, packets int) {
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
}

// BenchmarkRead is the cost of reading records from an in-memory pcap.
func BenchmarkRead(b *testing.B) {
	data := benchCapture(b)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		src, err := open("-", nil, bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := src.rd.next(); err != nil {
				break
			}
			n++
		}
	}
	reportPackets(b, n)
}

// BenchmarkDecode is reading plus decoding every packet.
func BenchmarkDecode(b *testing.B) {
	data := benchCapture(b)
	n := 0
	var d decoder
	var p pkt
	b.ResetTimer()
	for b.Loop() {
		src, _ := open("-", nil, bytes.NewReader(data))
		for {
			rec, err := src.rd.next()
			if err != nil {
				break
			}
			d.decode(rec.LinkType, rec.Data, &p)
			n++
		}
	}
	reportPackets(b, n)
}

// BenchmarkPipeline is the whole capture stage (read, decode, flow table, emit) with
// one worker and with one per CPU.
func BenchmarkPipeline(b *testing.B) {
	data := benchCapture(b)
	for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			n, flows := 0, 0
			b.ReportAllocs()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			for b.Loop() {
				res, err := Run(context.Background(), []string{"-"}, Options{Workers: w, Stdin: bytes.NewReader(data)}, func(*Flow) { flows++ })
				if err != nil {
					b.Fatal(err)
				}
				n += int(res.Inputs[0].Packets)
			}
			runtime.ReadMemStats(&m1)
			reportPackets(b, n)
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/packet")
			b.ReportMetric(float64(flows)/float64(b.N), "flows")
		})
	}
}

// BenchmarkFlowMemory reports the heap held per concurrent flow: all packets go into
// one table whose timeouts never fire, then the heap is measured before the flush.
func BenchmarkFlowMemory(b *testing.B) {
	data := benchCapture(b)
	for b.Loop() {
		o := Options{Workers: 1, TCPTimeout: 1 << 62, UDPTimeout: 1 << 62, ICMPTimeout: 1 << 62, OtherTimeout: 1 << 62}
		o.defaults()
		t := newTable(&o, 0, func(*Flow) {})
		src, _ := open("-", nil, bytes.NewReader(data))
		var d decoder
		var p pkt
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for {
			rec, err := src.rd.next()
			if err != nil {
				break
			}
			p.ts, p.wire = rec.TS, uint32(rec.WireLen)
			if d.decode(rec.LinkType, rec.Data, &p) == decOK && p.kind == kindFlow {
				t.add(&p)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(len(t.m)), "bytes/flow")
		b.ReportMetric(float64(len(t.m)), "flows")
		runtime.KeepAlive(src)
	}
}

// BenchmarkReferenceGopacket is the reference the issue measures against: a minimal
// gopacket loop (pcapgo zero-copy read, DecodingLayerParser, a flow map).
func BenchmarkReferenceGopacket(b *testing.B) {
	data := benchCapture(b)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		r, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		var (
			eth     layers.Ethernet
			dot1q   layers.Dot1Q
			ip4     layers.IPv4
			ip6     layers.IPv6
			tcp     layers.TCP
			udp     layers.UDP
			decoded []gopacket.LayerType
		)
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp)
		parser.IgnoreUnsupported = true
		type k struct {
			a, b   [16]byte
			sp, dp uint16
		}
		flows := map[k]int{}
		for {
			frame, _, err := r.ZeroCopyReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
			_ = parser.DecodeLayers(frame, &decoded)
			var key k
			for _, lt := range decoded {
				switch lt {
				case layers.LayerTypeIPv4:
					copy(key.a[:], ip4.SrcIP)
					copy(key.b[:], ip4.DstIP)
				case layers.LayerTypeIPv6:
					copy(key.a[:], ip6.SrcIP)
					copy(key.b[:], ip6.DstIP)
				case layers.LayerTypeTCP:
					key.sp, key.dp = uint16(tcp.SrcPort), uint16(tcp.DstPort)
				case layers.LayerTypeUDP:
					key.sp, key.dp = uint16(udp.SrcPort), uint16(udp.DstPort)
				}
			}
			flows[key]++
		}
	}
	reportPackets(b, n)
}
