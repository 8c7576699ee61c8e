package capture

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// runFrames runs Ethernet frames (one second apart) through the pipeline with w
// workers and returns the flows.
func runFrames(t *testing.T, w int, frames ...[]byte) ([]Flow, InputStats) {
	t.Helper()
	var flows []Flow
	res, err := Run(context.Background(), []string{"-"}, Options{Workers: w, Stdin: bytes.NewReader(pcapOf(1, frames...))},
		func(f *Flow) { flows = append(flows, *f) })
	if err != nil {
		t.Fatal(err)
	}
	return flows, res.Inputs[0]
}

func mustPath(t *testing.T, layers ...Tunnel) TunnelPath {
	t.Helper()
	p, err := MakeTunnelPath(layers...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tcpIn(src, dst netip.Addr, sport, dport uint16, flags byte) []byte {
	return bEth(0x0800, bIP(src, dst, 6, bTCP(sport, dport, flags)))
}

// TestTunnelKey: the same inner 5-tuple in different tunnels (another VNI, other
// tunnel endpoints, no tunnel) is a different flow, each with its path.
func TestTunnelKey(t *testing.T) {
	syn := tcpIn(innerA, innerB, 40000, 443, FlagSYN)
	frames := [][]byte{
		overVXLAN(outerA, outerB, 1, syn),
		overVXLAN(outerA, outerB, 2, syn),
		overVXLAN(outerA, outerC, 1, syn),
		syn,
		overVXLAN(outerA, outerB, 1, syn), // the first flow again
	}
	for _, w := range []int{1, 2} {
		flows, in := runFrames(t, w, frames...)
		if len(flows) != 4 || in.Decapsulated != 4 {
			t.Fatalf("workers=%d: %d flows, %d packets decapsulated; want 4 and 4", w, len(flows), in.Decapsulated)
		}
		want := map[string]uint64{
			"vxlan:1 192.0.2.1>192.0.2.2": 2, "vxlan:2 192.0.2.1>192.0.2.2": 1, "vxlan:1 192.0.2.1>192.0.2.3": 1, "": 1,
		}
		for _, f := range flows {
			if f.Client != netip.AddrPortFrom(innerA, 40000) || f.Server != netip.AddrPortFrom(innerB, 443) {
				t.Errorf("flow %v > %v", f.Client, f.Server)
			}
			if n, ok := want[f.Tunnel.String()]; !ok || f.Packets[0] != n {
				t.Errorf("workers=%d: flow in %q with %d packets", w, f.Tunnel, f.Packets[0])
			}
			delete(want, f.Tunnel.String())
		}
	}
}

// TestTunnelOrientation: a layer's Client is the outer source of the client's
// packets, in a tunnel between two endpoints, in a mirror session (both directions
// from the mirroring device) and for a flow only the server sent in; each layer of a
// nested path on its own.
func TestTunnelOrientation(t *testing.T) {
	syn := tcpIn(innerA, innerB, 40000, 443, FlagSYN)
	synAck := tcpIn(innerB, innerA, 443, 40000, FlagSYN|FlagACK)
	// ERSPAN type II from mirror C to collector B, around VXLAN between A and B.
	erspan := func(inner []byte) []byte {
		return bEth(0x0800, bIP(outerC, outerB, 47, bGRE(0x10, 0, 0x88be, append([]byte{0x10, 0, 0, 5, 0, 0, 0, 0}, inner...))))
	}
	cases := []struct {
		name   string
		frames [][]byte
		want   string
		dir    Direction
	}{
		{"between endpoints", [][]byte{overVXLAN(outerA, outerB, 9, syn), overVXLAN(outerB, outerA, 9, synAck)},
			"vxlan:9 192.0.2.1>192.0.2.2", DirSYN},
		{"reply first", [][]byte{overVXLAN(outerB, outerA, 9, synAck), overVXLAN(outerA, outerB, 9, syn)},
			"vxlan:9 192.0.2.1>192.0.2.2", DirSYN},
		{"mirror session", [][]byte{overVXLAN(outerC, outerB, 9, syn), overVXLAN(outerC, outerB, 9, synAck)},
			"vxlan:9 192.0.2.3>192.0.2.2", DirSYN},
		{"only the server sent", [][]byte{overVXLAN(outerB, outerA, 9, synAck)},
			"vxlan:9 192.0.2.1>192.0.2.2", DirSYNACK},
		{"nested: mirror around a tunnel", [][]byte{erspan(overVXLAN(outerA, outerB, 9, syn)), erspan(overVXLAN(outerB, outerA, 9, synAck))},
			"erspan:5 192.0.2.3>192.0.2.2 / vxlan:9 192.0.2.1>192.0.2.2", DirSYN},
	}
	for _, c := range cases {
		flows, _ := runFrames(t, 1, c.frames...)
		if len(flows) != 1 {
			t.Errorf("%s: %d flows, want 1", c.name, len(flows))
			continue
		}
		f := flows[0]
		if got := f.Tunnel.String(); got != c.want || f.Direction != c.dir || f.Client.Addr() != innerA {
			t.Errorf("%s: tunnel %q direction %s client %v; want %q %s %v", c.name, got, f.Direction, f.Client, c.want, c.dir, innerA)
		}
	}
}

// TestTunnelICMPErrors: an ICMP error inside the tunnel and one from a router of the
// underlay that quotes the encapsulated packet both find the inner flow.
func TestTunnelICMPErrors(t *testing.T) {
	dns := bIP(innerA, innerB, 17, bUDP(5000, 53, []byte{1, 2, 3, 4}))
	unreach := bIP(innerB, innerA, 1, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, dns...))
	router := netip.MustParseAddr("192.0.2.254")
	quotedVXLAN := bIP(outerA, outerB, 17, bUDP(50000, 4789, bVXLAN(7, bEth(0x0800, dns))))
	fragNeeded := bEth(0x0800, bIP(router, outerA, 1, append([]byte{3, 4, 0, 0, 0, 0, 5, 0xdc}, quotedVXLAN...)))
	frames := [][]byte{
		overVXLAN(outerA, outerB, 7, bEth(0x0800, dns)),
		overVXLAN(outerB, outerA, 7, bEth(0x0800, unreach)),
		fragNeeded,
		overVXLAN(outerA, outerB, 8, bEth(0x0800, dns)), // another VNI: not the flow the errors quote
	}
	for _, w := range []int{1, 3} {
		flows, _ := runFrames(t, w, frames...)
		var found bool
		for _, f := range flows {
			if f.Proto != ProtoUDP {
				continue
			}
			switch f.Tunnel.At(0).ID {
			case 7:
				found = true
				slices.SortFunc(f.ICMPErrors, func(a, b ICMPError) int { return int(a.Code) - int(b.Code) })
				if len(f.ICMPErrors) != 2 || f.ICMPErrors[0].Code != 3 || f.ICMPErrors[0].From != innerB || f.ICMPErrors[1].Code != 4 || f.ICMPErrors[1].From != router {
					t.Errorf("workers=%d: errors on the quoted flow %+v", w, f.ICMPErrors)
				}
			case 8:
				if len(f.ICMPErrors) != 0 {
					t.Errorf("workers=%d: the flow in VNI 8 got errors %+v", w, f.ICMPErrors)
				}
			}
		}
		if !found {
			t.Errorf("workers=%d: no flow in VNI 7: %+v", w, flows)
		}
	}
}

// TestTunnelICMPErrorInnerVLAN: the inner frame is tagged and the underlay is not, so
// the flow's VLAN is the inner tag; an underlay router's error quoting it finds it.
func TestTunnelICMPErrorInnerVLAN(t *testing.T) {
	dns := bIP(innerA, innerB, 17, bUDP(5000, 53, []byte{1, 2, 3, 4}))
	tagged := bEth(0x8100, bVLAN(30, 0x0800, dns))
	router := netip.MustParseAddr("192.0.2.254")
	quoted := bIP(outerA, outerB, 17, bUDP(50000, 4789, bVXLAN(7, tagged)))
	frames := [][]byte{overVXLAN(outerA, outerB, 7, tagged), bEth(0x0800, bIP(router, outerA, 1, append([]byte{3, 4, 0, 0, 0, 0, 5, 0xdc}, quoted...)))}
	flows, _ := runFrames(t, 1, frames...)
	for _, f := range flows {
		if f.Proto == ProtoUDP && (f.VLAN != 30 || len(f.ICMPErrors) != 1 || f.ICMPErrors[0].From != router) {
			t.Errorf("inner flow: VLAN %d, errors %+v; want 30 and the router's", f.VLAN, f.ICMPErrors)
		}
	}
}

// TestTunnelFragments: fragments of the outer packet (a GRE packet split by the
// underlay, second fragment first) and of the inner packet (each fragment
// encapsulated whole) all count on the inner flow, whatever the number of workers.
func TestTunnelFragments(t *testing.T) {
	payload := make([]byte, 600)
	// outer: a GRE packet carrying inner UDP, split at 200 bytes of IP payload
	gre := bGRE(0x20, 77, 0x0800, bIP(innerA, innerB, 17, bUDP(7000, 7001, payload)))
	first := bEth(0x0800, bIP4frag(outerA, outerB, 47, 0x2000, 99, gre[:200]))
	second := bEth(0x0800, bIP4frag(outerA, outerB, 47, 200/8, 99, gre[200:]))
	// inner: inner UDP split, each fragment in VXLAN
	udp := bUDP(8000, 8001, payload)
	f1 := bEth(0x0800, bIP4frag(innerA, innerB, 17, 0x2000, 55, udp[:304]))
	f2 := bEth(0x0800, bIP4frag(innerA, innerB, 17, 304/8, 55, udp[304:]))
	frames := [][]byte{second, first, overVXLAN(outerA, outerB, 3, f1), overVXLAN(outerA, outerB, 3, f2)}
	var want []Flow
	for _, w := range []int{1, 2, 3} {
		flows, in := runFrames(t, w, frames...)
		if in.Fragments != 2 || len(in.Warnings) != 0 {
			t.Errorf("workers=%d: %d fragments, warnings %v", w, in.Fragments, in.Warnings)
		}
		if len(flows) != 2 {
			t.Fatalf("workers=%d: %d flows, want the two inner flows: %+v", w, len(flows), flows)
		}
		for _, f := range flows {
			var tun string
			var wire uint64
			switch f.Client.Port() {
			case 7000:
				tun, wire = "gre:77 192.0.2.1>192.0.2.2", uint64(len(first)+len(second))
			case 8000:
				tun, wire = "vxlan:3 192.0.2.1>192.0.2.2", uint64(len(frames[2])+len(frames[3]))
			}
			if f.Tunnel.String() != tun || f.Packets[0] != 2 || f.Bytes[0] != wire {
				t.Errorf("workers=%d: flow %v in %q: %d packets %d bytes; want %q, 2 packets, %d bytes", w, f.Client, f.Tunnel, f.Packets[0], f.Bytes[0], tun, wire)
			}
		}
		if w == 1 {
			want = flows
		} else if !slices.EqualFunc(flows, want, func(a, b Flow) bool { return CompareFlows(&a, &b) == 0 }) {
			t.Errorf("workers=%d: flows differ from one worker's", w)
		}
	}
}

// TestTunnelBytesAreFrames: flows count whole frames, so over a capture of tunnels
// their bytes add up to the capture's.
func TestTunnelBytesAreFrames(t *testing.T) {
	var frames [][]byte
	for _, c := range decapCases() {
		if c.res == decOK {
			frames = append(frames, c.frame)
		}
	}
	flows, in := runFrames(t, 2, frames...)
	var sum uint64
	for _, f := range flows {
		sum += f.Bytes[0] + f.Bytes[1]
	}
	if sum != in.Bytes || in.Decoded != in.Packets {
		t.Errorf("flows hold %d bytes, the capture %d; %d of %d packets decoded", sum, in.Bytes, in.Decoded, in.Packets)
	}
	if in.TunnelsTooDeep != 1 {
		t.Errorf("%d packets too deep, want 1", in.TunnelsTooDeep)
	}
}

// TestPathTable: paths are interned once; paths nobody holds are reclaimed when the
// table is full; beyond its capacity in held paths, intern gives pathOverflow.
func TestPathTable(t *testing.T) {
	pt := pathTable{max: 16}
	key := func(i int) *pathKey {
		var k pathKey
		a, b := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), outerB
		makePathKey(&k, []rawLayer{{src: a.As16(), dst: b.As16(), id: uint32(i), typ: TunnelVXLAN, hasID: true}})
		return &k
	}
	var held []uint16
	for i := range 16 {
		pt.prepare()
		h := pt.intern(key(i))
		if h2 := pt.intern(key(i)); h2 != h || h == pathNone || h == pathOverflow {
			t.Fatalf("path %d: handles %d and %d", i, h, h2)
		}
		pt.ref(h)
		held = append(held, h)
	}
	pt.prepare()
	if h := pt.intern(key(100)); h != pathOverflow || pt.overflow != 1 {
		t.Fatalf("full table: handle %d, overflow %d", h, pt.overflow)
	}
	// Free three: fewer than an eighth idle keeps them (2 is the threshold of 16).
	for _, h := range held[:3] {
		pt.unref(h)
	}
	pt.prepare()
	if pt.used != 13 {
		t.Fatalf("after reclaim: %d used, want 13", pt.used)
	}
	h := pt.intern(key(100))
	if h == pathOverflow || pt.paths[h].key != *key(100) {
		t.Fatalf("after reclaim: handle %d", h)
	}
	for i, h := range held[3:] {
		if pt.paths[h].key != *key(i + 3) || pt.paths[h].refs != 1 {
			t.Errorf("held path %d was disturbed: %+v", i+3, pt.paths[h])
		}
	}
	var k5 pathKey
	swap := makePathKey(&k5, []rawLayer{{src: netip.AddrFrom4([4]byte{192, 0, 2, 5}).As16(), dst: outerB.As16()}})
	if v := pt.view(held[5], swap); v.Len() != 1 || v.At(0).Client != netip.AddrFrom4([4]byte{192, 0, 2, 5}) || v.At(0).Server != outerB || v.At(0).ID != 5 {
		t.Errorf("view %v", v)
	}
	if v := pt.view(held[5], ^swap); v.At(0).Server != netip.AddrFrom4([4]byte{192, 0, 2, 5}) {
		t.Errorf("view the other way %v", v)
	}
	if v := pt.view(pathOverflow, 0); !v.Overflow() || v.Len() != 1 || v.At(0) != (Tunnel{}) {
		t.Errorf("overflow view %v", v)
	}
}

// TestPathTableFlows: the table holds a path while a flow of it is open, and reclaims
// it after; with more distinct paths held than it can hold, flows get the overflow path.
func TestPathTableFlows(t *testing.T) {
	o := Options{}
	o.defaults()
	var flows []Flow
	tb := newTable(&o, 0, func(f *Flow) { flows = append(flows, *f) })
	tb.paths.max = 8
	add := func(i int, ts int64) {
		p := seg(ProtoUDP, "198.51.100.1:1000", "198.51.100.2:53", 0, ts)
		var k pathKey
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		p.tunSwap = makePathKey(&k, []rawLayer{{src: a.As16(), dst: outerB.As16(), typ: TunnelGRE}})
		tb.advance(p.ts, 0) // as the stage does before it decodes
		tb.paths.prepare()
		p.tun = tb.paths.intern(&k)
		tb.add(&p)
	}
	for i := range 10 {
		add(i, 0)
	}
	if tb.paths.used != 8 || tb.paths.overflow != 2 {
		t.Fatalf("%d paths, %d overflowed; want 8 and 2", tb.paths.used, tb.paths.overflow)
	}
	// An hour later every flow has timed out: their paths are reclaimed for new ones.
	for i := range 8 {
		add(20+i, 3600_000)
	}
	if tb.paths.overflow != 2 || tb.paths.used != 8 {
		t.Fatalf("after the flows ended: %d paths, %d overflowed", tb.paths.used, tb.paths.overflow)
	}
	tb.flush(EndInput)
	var over int
	for _, f := range flows {
		if f.Tunnel.Overflow() {
			over++
		} else if f.Tunnel.Len() != 1 || f.Tunnel.At(0).Type != TunnelGRE {
			t.Errorf("flow in %v", f.Tunnel)
		}
	}
	if over != 1 || len(flows) != 17 {
		t.Errorf("%d flows, %d in the overflow path; want 17 (the two overflowed in one) and 1", len(flows), over)
	}
	if tb.paths.idle != tb.paths.used {
		t.Errorf("after the flush %d of %d paths idle", tb.paths.idle, tb.paths.used)
	}
}

// TestEntrySize: the tunnel handle fits in the entry's padding; an entry stays 128
// bytes (BenchmarkFlowMemory: bytes per concurrent flow).
func TestEntrySize(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s != 128 {
		t.Errorf("entry is %d bytes, want 128", s)
	}
	if s := unsafe.Sizeof(key{}); s != 42 {
		t.Errorf("key is %d bytes, want 42", s)
	}
}

func TestTunnelPath(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::2")
	vx := Tunnel{Type: TunnelVXLAN, HasID: true, ID: 42, Client: a, Server: outerB}
	gre := Tunnel{Type: TunnelGRE, Client: b, Server: in6A}
	p := mustPath(t, gre, vx)
	if p.Len() != 2 || p.At(0) != gre || p.At(1) != vx || !slices.Equal(p.Layers(), []Tunnel{gre, vx}) {
		t.Errorf("layers %v", p.Layers())
	}
	if s := p.String(); s != "gre 2001:db8::2>2001:db8::a / vxlan:42 192.0.2.1>192.0.2.2" {
		t.Errorf("String %q", s)
	}
	if q := mustPath(t, gre, vx); q != p || p.Compare(q) != 0 {
		t.Error("equal paths are not ==")
	}
	var none TunnelPath
	if none.Len() != 0 || none.String() != "" || none.Layers() != nil || mustPath(t) != none {
		t.Error("zero path")
	}
	vx2 := vx
	vx2.ID = 43
	ordered := []TunnelPath{none, mustPath(t, vx), mustPath(t, vx2), mustPath(t, gre), mustPath(t, gre, vx)}
	for i := range ordered {
		for j := range ordered {
			if c := ordered[i].Compare(ordered[j]); (c < 0) != (i < j) || (c == 0) != (i == j) {
				t.Errorf("Compare(%v, %v) = %d", ordered[i], ordered[j], c)
			}
		}
	}
	if _, err := MakeTunnelPath(vx, vx, vx, vx, vx); !errors.Is(err, ErrTunnelPath) {
		t.Errorf("five layers: %v", err)
	}
	if _, err := MakeTunnelPath(Tunnel{}); !errors.Is(err, ErrTunnelPath) {
		t.Errorf("unknown type: %v", err)
	}
	for typ := TunnelVXLAN; typ <= TunnelMPLSUDP; typ++ {
		if ParseTunnelType(typ.String()) != typ || strings.Contains(typ.String(), " ") {
			t.Errorf("type %d: %q", typ, typ)
		}
	}
	if ParseTunnelType("unknown") != TunnelUnknown || TunnelGRE.OnUDP() || !TunnelGTPU.OnUDP() {
		t.Error("ParseTunnelType or OnUDP")
	}
	// CompareFlows tells apart flows that differ only by their tunnel.
	f1 := Flow{Proto: ProtoTCP, Tunnel: mustPath(t, vx)}
	f2 := Flow{Proto: ProtoTCP, Tunnel: mustPath(t, vx2)}
	if CompareFlows(&f1, &f2) >= 0 || CompareFlows(&f2, &f1) <= 0 {
		t.Error("CompareFlows ignores the tunnel")
	}
}

// TestDefaultPorts: the static default port table is DefaultTunnelPorts.
func TestDefaultPorts(t *testing.T) {
	built := newTunnelPorts(DefaultTunnelPorts())
	if built.hint != defaultPorts.hint {
		t.Errorf("static filter %x, built from DefaultTunnelPorts %x", defaultPorts.hint, built.hint)
	}
	for port := range 1 << 16 {
		if a, b := defaultPorts.lookup(uint16(port)), built.lookup(uint16(port)); a != b {
			t.Errorf("port %d: %v, DefaultTunnelPorts says %v", port, a, b)
		}
	}
	if (TunnelPath{}).Overflow() || mustPath(t) != (TunnelPath{}) {
		t.Error("the zero path: Overflow, or MakeTunnelPath() differs")
	}
}
