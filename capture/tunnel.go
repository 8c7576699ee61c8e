package capture

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"unique"
)

// MaxTunnelDepth is the number of tunnel layers the decoder enters. A packet nested
// deeper is counted (InputStats.TunnelsTooDeep) and its flow is the packet found
// inside the fourth layer, taken as it is (a UDP datagram to port 4789, say): the
// decoder never loops, whatever a packet claims (IP-in-IP in IP-in-IP ...).
const MaxTunnelDepth = 4

// TunnelType names an encapsulation the decoder enters. The zero value is
// TunnelUnknown, which a decoded path never has except as the one layer of
// OverflowPath. The names (String) are the flow record's vocabulary.
type TunnelType uint8

const (
	TunnelUnknown  TunnelType = iota
	TunnelVXLAN               // "vxlan": VXLAN (RFC 7348, also with the group-based policy extension) on UDP; ID is the VNI
	TunnelVXLANGPE            // "vxlan-gpe": VXLAN Generic Protocol Extension on UDP; ID is the VNI
	TunnelGeneve              // "geneve": Geneve (RFC 8926) on UDP, options skipped; ID is the VNI
	TunnelGRE                 // "gre": GRE (RFC 2784, with the key and sequence of RFC 2890) or PPTP's enhanced GRE (version 1); ID is the GRE key when present (never for PPTP, whose key field holds the peer's call ID)
	TunnelERSPAN              // "erspan": ERSPAN type I, II or III inside GRE; ID is the session ID (types II and III)
	TunnelIPIP                // "ipip": IPv4 or IPv6 directly inside IPv4 or IPv6 (IP protocols 4 and 41: 4in4, 6in4, 4in6, 6in6)
	TunnelTeredo              // "teredo": IPv6 in UDP (RFC 4380), with origin and authentication indications
	TunnelGTPU                // "gtp-u": GTP-U G-PDUs on UDP (3GPP TS 29.281), with extension headers; no ID (see Tunnel.ID)
	TunnelMPLSUDP             // "mpls-udp": an MPLS label stack on UDP (RFC 7510)
)

var tunnelNames = [...]string{"unknown", "vxlan", "vxlan-gpe", "geneve", "gre", "erspan", "ipip", "teredo", "gtp-u", "mpls-udp"}

func (t TunnelType) String() string {
	if int(t) < len(tunnelNames) {
		return tunnelNames[t]
	}
	return "unknown"
}

// ParseTunnelType is the inverse of TunnelType.String; unknown names give TunnelUnknown.
func ParseTunnelType(s string) TunnelType {
	for i, n := range tunnelNames {
		if i > 0 && n == s {
			return TunnelType(i)
		}
	}
	return TunnelUnknown
}

// MayHaveID reports whether a layer of type t can have an ID (Tunnel.ID): VXLAN,
// VXLAN-GPE and Geneve (the VNI), GRE (the key, when present) and ERSPAN (the session,
// types II and III).
func (t TunnelType) MayHaveID() bool {
	switch t {
	case TunnelVXLAN, TunnelVXLANGPE, TunnelGeneve, TunnelGRE, TunnelERSPAN:
		return true
	}
	return false
}

// OnUDP reports whether t travels in UDP datagrams to a port of its own, that is
// whether Options.TunnelPorts may name it.
func (t TunnelType) OnUDP() bool {
	switch t {
	case TunnelVXLAN, TunnelVXLANGPE, TunnelGeneve, TunnelTeredo, TunnelGTPU, TunnelMPLSUDP:
		return true
	}
	return false
}

// DefaultTunnelPorts returns the UDP ports decapsulated when Options.TunnelPorts is
// nil, in a new map the caller may change: VXLAN on 4789 (IANA) and 8472 (the Linux
// kernel's default before the IANA port, still used by flannel and others), VXLAN-GPE
// on 4790, Geneve on 6081, Teredo on 3544, GTP-U on 2152 and MPLS over UDP on 6635.
func DefaultTunnelPorts() map[uint16]TunnelType {
	return map[uint16]TunnelType{
		4789: TunnelVXLAN, 8472: TunnelVXLAN, 4790: TunnelVXLANGPE, 6081: TunnelGeneve,
		3544: TunnelTeredo, 2152: TunnelGTPU, 6635: TunnelMPLSUDP,
	}
}

// Tunnel is one layer of encapsulation around a flow's packets.
//
// Client and Server are the layer's outer addresses oriented like the flow: Client is
// the outer source of the packets the flow's client sent (for a flow whose client
// sent nothing, the outer destination of the server's packets). For a tunnel between
// two endpoints (a VXLAN between two VTEPs) that is the client's tunnel endpoint; for
// a mirror session (ERSPAN, VXLAN traffic mirroring), where both directions travel
// from the mirroring device to the collector, Client is the mirroring device.
type Tunnel struct {
	Type  TunnelType
	HasID bool // ID is meaningful
	// ID is the VNI (VXLAN, VXLAN-GPE, Geneve), the GRE key, or the ERSPAN session
	// ID. GTP-U TEIDs and PPTP call IDs name the receiving end, so the two directions
	// of one flow carry different ones: they are neither in the flow key nor here.
	ID     uint32
	Client netip.Addr
	Server netip.Addr
}

// String is "type[:id] client>server", e.g. "vxlan:42 192.0.2.1>192.0.2.2".
func (t Tunnel) String() string {
	var b strings.Builder
	t.write(&b)
	return b.String()
}

func (t Tunnel) write(b *strings.Builder) {
	b.WriteString(t.Type.String())
	if t.HasID {
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(uint64(t.ID), 10))
	}
	if t.Client.IsValid() || t.Server.IsValid() {
		b.WriteByte(' ')
		b.WriteString(t.Client.String())
		b.WriteByte('>')
		b.WriteString(t.Server.String())
	}
}

// Compare orders layers by type, ID (absent first), client, then server.
func (t Tunnel) Compare(u Tunnel) int {
	if c := cmp.Compare(t.Type, u.Type); c != 0 {
		return c
	}
	if t.HasID != u.HasID {
		if !t.HasID {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(t.ID, u.ID), t.Client.Compare(u.Client), t.Server.Compare(u.Server))
}

// tunnelStack is the value a TunnelPath interns.
type tunnelStack struct {
	n      uint8
	layers [MaxTunnelDepth]Tunnel
}

// TunnelPath is the encapsulation of a flow's packets, outermost layer first. The zero
// value is no tunnel. A TunnelPath is a small immutable value (a handle to a value
// interned with package unique, as netip.Addr does with zones): copy it freely; == and
// map keys work, and two paths are == exactly when their layers are equal.
type TunnelPath struct{ h unique.Handle[tunnelStack] }

// ErrTunnelPath is wrapped by MakeTunnelPath's errors.
var ErrTunnelPath = errors.New("invalid tunnel path")

// MakeTunnelPath returns the path of the given layers, outermost first (for readers of
// saved flow records and for tests; the capture builds its own). It fails for more
// than MaxTunnelDepth layers or a layer of an unknown type; no layers is no tunnel.
func MakeTunnelPath(layers ...Tunnel) (TunnelPath, error) {
	if len(layers) > MaxTunnelDepth {
		return TunnelPath{}, fmt.Errorf("%w: %d layers, at most %d", ErrTunnelPath, len(layers), MaxTunnelDepth)
	}
	if len(layers) == 0 {
		return TunnelPath{}, nil
	}
	var s tunnelStack
	for i, l := range layers {
		if l.Type == TunnelUnknown || int(l.Type) >= len(tunnelNames) {
			return TunnelPath{}, fmt.Errorf("%w: layer %d: unknown type %d", ErrTunnelPath, i, l.Type)
		}
		s.layers[i] = l
	}
	s.n = uint8(len(layers))
	return TunnelPath{unique.Make(s)}, nil
}

// overflowPath is the path of flows whose tunnels the capture could not record
// (see Overflow); made on first use, not by the package's initialiser.
var overflowPath = sync.OnceValue(func() TunnelPath { return TunnelPath{unique.Make(tunnelStack{n: 1})} })

// OverflowPath is the path of flows whose tunnels the capture could not record (see
// Overflow), for readers of saved flow records.
func OverflowPath() TunnelPath { return overflowPath() }

// Overflow reports whether p is the path of a flow whose tunnels the capture could
// not record because its table of distinct tunnel paths held by open flows was full
// (see InputStats.TunnelPathsFull): one layer of type TunnelUnknown without ID or
// addresses. Such flows are keyed without their path.
func (p TunnelPath) Overflow() bool { return p.Len() == 1 && p == overflowPath() }

// Len is the number of layers (0: no tunnel).
func (p TunnelPath) Len() int {
	if p.h == (unique.Handle[tunnelStack]{}) {
		return 0
	}
	return int(p.h.Value().n)
}

// At returns layer i, 0 being the outermost. It panics if i is out of range.
func (p TunnelPath) At(i int) Tunnel {
	if i < 0 || i >= p.Len() {
		panic(fmt.Sprintf("capture: TunnelPath.At(%d) of a path of %d layers", i, p.Len()))
	}
	return p.h.Value().layers[i]
}

// Layers returns a copy of the layers, outermost first (nil for no tunnel).
func (p TunnelPath) Layers() []Tunnel {
	n := p.Len()
	if n == 0 {
		return nil
	}
	v := p.h.Value()
	return append([]Tunnel(nil), v.layers[:n]...)
}

// String joins the layers' String with " / ", outermost first; "" for no tunnel.
func (p TunnelPath) String() string {
	var b strings.Builder
	for i := range p.Len() {
		if i > 0 {
			b.WriteString(" / ")
		}
		p.At(i).write(&b)
	}
	return b.String()
}

// Compare orders paths layer by layer from the outermost (Tunnel.Compare); a path
// that is a prefix of another sorts first, so no tunnel sorts before any.
func (p TunnelPath) Compare(q TunnelPath) int {
	if p == q {
		return 0
	}
	n, m := p.Len(), q.Len()
	for i := range min(n, m) {
		if c := p.At(i).Compare(q.At(i)); c != 0 {
			return c
		}
	}
	return cmp.Compare(n, m)
}

// rawLayer is a tunnel layer as the decoder met it: the outer source and destination
// of the packet at hand.
type rawLayer struct {
	src, dst [16]byte
	id       uint32
	typ      TunnelType
	hasID    bool
}

// pathLayer is a tunnel layer in key form: its outer addresses in sorted order, so
// that the packets of both directions of a flow give the same key.
type pathLayer struct {
	a, b  [16]byte
	id    uint32
	typ   TunnelType
	hasID bool
}

// pathKey is a tunnel path in key form; layers past n are zero.
type pathKey struct {
	n      uint8
	layers [MaxTunnelDepth]pathLayer
}

// makePathKey fills k from the decoder's layers and returns, bit i for layer i,
// whether the packet's outer source was the layer's second address (b): the packet's
// orientation in the path.
func makePathKey(k *pathKey, raw []rawLayer) (swap uint8) {
	*k = pathKey{n: uint8(len(raw))}
	for i := range raw {
		r := &raw[i]
		l := &k.layers[i]
		l.id, l.typ, l.hasID = r.id, r.typ, r.hasID
		if less(r.dst, 0, r.src, 0) {
			l.a, l.b = r.dst, r.src
			swap |= 1 << i
		} else {
			l.a, l.b = r.src, r.dst
		}
	}
	return swap
}

var pathSeed = maphash.MakeSeed()

// hash is a hash of the path's content, for keys of the fragment table (which
// outlive the handles of the path table).
func (k *pathKey) hash() uint64 { return maphash.Comparable(pathSeed, *k) }

// Path handles: 0 is no tunnel, pathOverflow the shared handle of OverflowPath.
const (
	pathNone     uint16 = 0
	pathOverflow uint16 = 0xffff
	// maxPaths is the default capacity of a path table (handles 1..maxPaths).
	maxPaths = 0xfffe
)

// pathTable interns the distinct tunnel paths of one flow table: a flow key holds a
// 2-byte handle instead of a path (up to 164 bytes), since a capture holds few
// distinct paths and many flows. Each path counts the open flows (and fragment-table
// entries) that hold its handle; a path no one holds stays until the table is full,
// then such paths are reclaimed together, so memory follows the paths of open flows,
// not all the paths a long live capture ever saw. With more than max paths held,
// further paths get pathOverflow (counted in overflow). Not safe for concurrent use.
type pathTable struct {
	m        map[pathKey]uint16
	paths    []pathEntry // by handle; paths[0] unused
	free     []uint16
	used     int // handles allocated (held or idle)
	idle     int // allocated paths no one holds
	max      int // capacity; 0 means maxPaths
	last     uint16
	overflow uint64
}

type pathEntry struct {
	key   pathKey
	refs  int32
	inUse bool
	views []pathView // the oriented TunnelPaths handed out, by client orientation
}

type pathView struct {
	swap uint8
	path TunnelPath
}

func (t *pathTable) capacity() int {
	if t.max > 0 {
		return t.max
	}
	return maxPaths
}

// prepare makes room before a packet's paths are interned: when the table is full
// and at least an eighth of it is held by no one, those paths are reclaimed (so a
// reclaim frees at least cap/8 paths, and its cost per path stays constant). It runs
// once per packet, before intern, so that no handle the packet got is reclaimed.
func (t *pathTable) prepare() {
	c := t.capacity()
	if t.used < c || t.idle < max(1, c/8) {
		return
	}
	for h := 1; h < len(t.paths); h++ {
		e := &t.paths[h]
		if e.inUse && e.refs == 0 {
			delete(t.m, e.key)
			*e = pathEntry{}
			t.free = append(t.free, uint16(h))
			t.used--
		}
	}
	t.idle, t.last = 0, pathNone
}

// intern returns the handle of k, adding it when new; pathOverflow when full.
func (t *pathTable) intern(k *pathKey) uint16 {
	if t.last != pathNone && t.paths[t.last].key == *k {
		return t.last
	}
	if h, ok := t.m[*k]; ok {
		t.last = h
		return h
	}
	if t.used >= t.capacity() {
		t.overflow++
		return pathOverflow
	}
	if t.m == nil {
		t.m = map[pathKey]uint16{}
		t.paths = make([]pathEntry, 1, 16)
	}
	var h uint16
	if n := len(t.free); n > 0 {
		h, t.free = t.free[n-1], t.free[:n-1]
	} else {
		h = uint16(len(t.paths))
		t.paths = append(t.paths, pathEntry{})
	}
	t.paths[h] = pathEntry{key: *k, inUse: true}
	t.m[*k] = h
	t.used++
	t.idle++
	t.last = h
	return h
}

func (t *pathTable) ref(h uint16) {
	if h == pathNone || h == pathOverflow {
		return
	}
	e := &t.paths[h]
	if e.refs == 0 {
		t.idle--
	}
	e.refs++
}

func (t *pathTable) unref(h uint16) {
	if h == pathNone || h == pathOverflow {
		return
	}
	e := &t.paths[h]
	e.refs--
	if e.refs == 0 {
		t.idle++
	}
}

// view returns path h oriented for a flow whose client sent its packets with outer
// source swap (bit i: the layer's second address), building and caching it on first use.
func (t *pathTable) view(h uint16, swap uint8) TunnelPath {
	switch h {
	case pathNone:
		return TunnelPath{}
	case pathOverflow:
		return overflowPath()
	}
	e := &t.paths[h]
	swap &= 1<<e.key.n - 1
	for _, v := range e.views {
		if v.swap == swap {
			return v.path
		}
	}
	s := tunnelStack{n: e.key.n}
	for i := range int(e.key.n) {
		l := &e.key.layers[i]
		a, b := addrFrom16(l.a), addrFrom16(l.b)
		if swap&(1<<i) != 0 {
			a, b = b, a
		}
		s.layers[i] = Tunnel{Type: l.typ, HasID: l.hasID, ID: l.id, Client: a, Server: b}
	}
	p := TunnelPath{unique.Make(s)}
	e.views = append(e.views, pathView{swap, p})
	return p
}

// tunnelPorts is the decoder's table of UDP tunnel ports: a 256-bit filter on the low
// byte of a port, which rejects almost every datagram of other traffic with one load,
// in front of a map (nil: DefaultTunnelPorts, looked up by defaultPortType).
type tunnelPorts struct {
	hint [4]uint64
	typ  map[uint16]TunnelType
}

func newTunnelPorts(m map[uint16]TunnelType) *tunnelPorts {
	tp := &tunnelPorts{typ: make(map[uint16]TunnelType, len(m))}
	for port, typ := range m {
		tp.typ[port] = typ
		tp.hint[port>>6&3] |= 1 << (port & 63)
	}
	return tp
}

// defaultPorts is DefaultTunnelPorts as static data (the filter of each port p is bit
// p&63 of word p>>6&3; TestDefaultPorts checks it), so that no initialiser builds it.
var defaultPorts = &tunnelPorts{hint: [4]uint64{
	8472 >> 6 & 3: 1 << (8472 & 63),
	2152 >> 6 & 3: 1 << (2152 & 63),
	4789 >> 6 & 3: 1<<(4789&63) | 1<<(4790&63),
	6081 >> 6 & 3: 1<<(6081&63) | 1<<(3544&63) | 1<<(6635&63),
}}

func defaultPortType(port uint16) TunnelType {
	switch port {
	case 4789, 8472:
		return TunnelVXLAN
	case 4790:
		return TunnelVXLANGPE
	case 6081:
		return TunnelGeneve
	case 3544:
		return TunnelTeredo
	case 2152:
		return TunnelGTPU
	case 6635:
		return TunnelMPLSUDP
	}
	return TunnelUnknown
}

// lookup returns the tunnel type of port, TunnelUnknown if none.
func (tp *tunnelPorts) lookup(port uint16) TunnelType {
	if tp.hint[port>>6&3]&(1<<(port&63)) == 0 {
		return TunnelUnknown
	}
	if tp.typ == nil {
		return defaultPortType(port)
	}
	return tp.typ[port]
}

// checkTunnelPorts says what is wrong with a TunnelPorts option, if anything.
func checkTunnelPorts(m map[uint16]TunnelType) error {
	for port, typ := range m {
		if !typ.OnUDP() {
			return fmt.Errorf("capture: tunnel port %d: %q is not a UDP encapsulation (vxlan, vxlan-gpe, geneve, teredo, gtp-u, mpls-udp)", port, typ)
		}
		if port == 0 {
			return errors.New("capture: tunnel port 0")
		}
	}
	return nil
}
