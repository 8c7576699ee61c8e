package capture

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portclass/portclass/capture/synth"
)

// benchFile returns the path of a generated mix capture (1M packets, 20k flows by
// default), kept in the temporary directory between runs (see synth.MixFile).
func benchFile(b testing.TB) string {
	b.Helper()
	path, err := synth.MixFile(os.TempDir(), synth.DefaultMixPackets, synth.DefaultMixFlows)
	if err != nil {
		b.Fatal(err)
	}
	return path
}

var benchData sync.Map

// benchCapture returns the bytes of benchFile, read once per process.
func benchCapture(b testing.TB) []byte {
	path := benchFile(b)
	if v, ok := benchData.Load(path); ok {
		return v.([]byte)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	benchData.Store(path, data)
	return data
}

func reportPackets(b *testing.B, packets int) {
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
}

// cpuTime is the CPU time (user and system) the process has used so far. Benchmarks
// report it per packet beside wall time: on a machine shared with other work it is
// the steadier of the two.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time used since cpu0 per packet.
func reportCPU(b *testing.B, cpu0 time.Duration, packets int) {
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(packets), "cpu-ns/packet")
}

// BenchmarkRead is the cost of reading records from the capture file (mapped, as
// analyze reads files) and, for comparison, from a stream (stdin, compressed input).
func BenchmarkRead(b *testing.B) {
	path := benchFile(b)
	for _, src := range []string{"file", "stream"} {
		b.Run(src, func(b *testing.B) {
			var data []byte
			if src == "stream" {
				data = benchCapture(b)
			}
			n := 0
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				s := benchOpen(b, path, data)
				for {
					if _, err := s.rd.next(); err != nil {
						break
					}
					n++
				}
				s.close()
			}
			reportPackets(b, n)
			reportCPU(b, cpu0, n)
		})
	}
}

// benchOpen opens path, or data as a stream when data is not nil.
func benchOpen(b *testing.B, path string, data []byte) *source {
	var (
		s   *source
		err error
	)
	if data != nil {
		s, err = open("-", nil, bytes.NewReader(data))
	} else {
		s, err = open(path, nil, nil)
	}
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkDecode is reading plus decoding every packet (file mapped).
func BenchmarkDecode(b *testing.B) {
	path := benchFile(b)
	n := 0
	var d decoder
	var p pkt
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		s := benchOpen(b, path, nil)
		for {
			rec, err := s.rd.next()
			if err != nil {
				break
			}
			d.decode(rec.LinkType, rec.Data, &p)
			n++
		}
		s.close()
	}
	reportPackets(b, n)
	reportCPU(b, cpu0, n)
}

// BenchmarkFlowUpdate is the flow table alone: the packets of the capture decoded
// beforehand (BenchmarkFlowMemory holds them all at once, so this uses the first
// 200k), then added to a table, as one worker does.
func BenchmarkFlowUpdate(b *testing.B) {
	path := benchFile(b)
	s := benchOpen(b, path, nil)
	var d decoder
	pkts := make([]pkt, 0, 200_000)
	for len(pkts) < cap(pkts) {
		rec, err := s.rd.next()
		if err != nil {
			break
		}
		var p pkt
		p.ts, p.wire = rec.TS, uint32(rec.WireLen)
		if d.decode(rec.LinkType, rec.Data, &p) == decOK && p.kind == kindFlow {
			pkts = append(pkts, p)
		}
	}
	s.close()
	o := Options{}
	o.defaults()
	n := 0
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		t := newTable(&o, 0, func(*Flow) {})
		for i := range pkts {
			t.seq = uint64(i) << 8
			t.advance(pkts[i].ts, uint64(i))
			t.addPkt(&pkts[i])
		}
		t.end(pkts[len(pkts)-1].ts, uint64(len(pkts)), nil)
		n += len(pkts)
	}
	reportPackets(b, n)
	reportCPU(b, cpu0, n)
}

// BenchmarkPipeline is the whole capture stage (read, decode, flow table, emit) with
// one worker and with one per CPU, on the mapped file and on a stream.
func BenchmarkPipeline(b *testing.B) {
	path := benchFile(b)
	for _, src := range []string{"file", "stream"} {
		for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/workers=%d", src, w), func(b *testing.B) {
				var data []byte
				if src == "stream" {
					data = benchCapture(b)
				}
				n, flows := 0, 0
				b.ReportAllocs()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				cpu0 := cpuTime()
				for b.Loop() {
					o := Options{Workers: w}
					in := path
					if data != nil {
						o.Stdin, in = bytes.NewReader(data), "-"
					}
					res, err := Run(context.Background(), []string{in}, o, func(*Flow) { flows++ })
					if err != nil {
						b.Fatal(err)
					}
					n += int(res.Inputs[0].Packets)
				}
				runtime.ReadMemStats(&m1)
				reportPackets(b, n)
				reportCPU(b, cpu0, n)
				b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/packet")
				b.ReportMetric(float64(flows)/float64(b.N), "flows")
			})
		}
	}
}

// BenchmarkFlowMemory reports the heap held per concurrent flow: all packets go into
// one table whose timeouts never fire, then the heap is measured before the flush.
func BenchmarkFlowMemory(b *testing.B) {
	path := benchFile(b)
	for b.Loop() {
		o := Options{Workers: 1, TCPTimeout: 1 << 62, UDPTimeout: 1 << 62, ICMPTimeout: 1 << 62, OtherTimeout: 1 << 62}
		o.defaults()
		src := benchOpen(b, path, nil)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		t := newTable(&o, 0, func(*Flow) {})
		var d decoder
		var p pkt
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
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(t.index.len()), "bytes/flow")
		b.ReportMetric(float64(t.index.len()), "flows")
		src.close()
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
