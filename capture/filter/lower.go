package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Link types, as gopacket's layers.LinkType numbers (the LINKTYPE_ values of pcap files).
const (
	linkNull     = 0
	linkEthernet = 1
	linkPPP      = 9
	linkRawBSD   = 12 // DLT_RAW on most BSDs
	linkRawOBSD  = 14 // DLT_RAW on OpenBSD
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// EtherTypes and IP protocol numbers the generated code tests.
const (
	etherIP     = 0x0800
	etherARP    = 0x0806
	etherRARP   = 0x8035
	etherIPv6   = 0x86dd
	ether8021Q  = 0x8100
	ether8021AD = 0x88a8
	etherQinQ   = 0x9100

	ipprotoICMP   = 1
	ipprotoIGMP   = 2
	ipprotoTCP    = 6
	ipprotoUDP    = 17
	ipprotoFrag   = 44 // IPv6 fragment header
	ipprotoESP    = 50
	ipprotoAH     = 51
	ipprotoICMPv6 = 58
	ipprotoSCTP   = 132
)

// linkInfo says where a link type keeps its protocol field and its payload
// (libpcap's off_linktype and off_linkpl).
type linkInfo struct {
	typ     uint16
	typeOff uint32 // offset of the protocol field (Ethernet, SLL, SLL2, PPP)
	plOff   uint32 // offset of the network-layer header
}

func linkFor(lt uint16) (linkInfo, error) {
	switch lt {
	case linkEthernet:
		return linkInfo{lt, 12, 14}, nil
	case linkSLL:
		return linkInfo{lt, 14, 16}, nil
	case linkSLL2:
		return linkInfo{lt, 0, 20}, nil
	case linkPPP:
		return linkInfo{lt, 2, 4}, nil
	case linkNull, linkLoop:
		return linkInfo{lt, 0, 4}, nil
	case linkRaw, linkRawBSD, linkRawOBSD, linkIPv4, linkIPv6:
		return linkInfo{lt, 0, 0}, nil
	}
	return linkInfo{}, fmt.Errorf("filter: link type %d: %w (supported: 0 NULL, 1 Ethernet, 9 PPP, 12/14/101 RAW, 108 LOOP, 113 Linux SLL, 228 IPv4, 229 IPv6, 276 Linux SLL2)", lt, ErrLinkType)
}

// bexpr is the lowered form of a filter: a boolean expression over atoms, each atom a
// straight-line sequence of loads and arithmetic ending in one conditional jump.
// Evaluation is left to right and short-circuit, as in the generated program; an atom
// whose load falls outside the captured bytes rejects the whole packet, as in BPF.
type bexpr interface{ isBexpr() }

type bConst bool
type bAnd struct{ l, r bexpr }
type bOr struct{ l, r bexpr }
type bNot struct{ x bexpr }
type bAtom struct {
	stmts []bpf.Instruction
	test  bpf.JumpTest // JumpEqual, JumpGreaterThan, JumpGreaterOrEqual or JumpBitsSet
	useX  bool         // compare A with X rather than k
	k     uint32
}

func (bConst) isBexpr() {}
func (*bAnd) isBexpr()  {}
func (*bOr) isBexpr()   {}
func (*bNot) isBexpr()  {}
func (*bAtom) isBexpr() {}

// and, or and not fold constants only where that cannot change which loads run before
// the result is known: a constant on the left decides without evaluating the right;
// "x and true" is x. "x and false" is kept, because x may fault (rejecting the packet)
// and under a "not" that differs from false.
func and(l, r bexpr) bexpr {
	if c, ok := l.(bConst); ok {
		if !c {
			return bConst(false)
		}
		return r
	}
	if c, ok := r.(bConst); ok && bool(c) {
		return l
	}
	return &bAnd{l, r}
}

func or(l, r bexpr) bexpr {
	if c, ok := l.(bConst); ok {
		if c {
			return bConst(true)
		}
		return r
	}
	if c, ok := r.(bConst); ok && !bool(c) {
		return l
	}
	return &bOr{l, r}
}

func not(x bexpr) bexpr {
	switch v := x.(type) {
	case bConst:
		return !v
	case *bNot:
		return v.x
	}
	return &bNot{x}
}

func ands(xs ...bexpr) bexpr {
	r := xs[0]
	for _, x := range xs[1:] {
		r = and(r, x)
	}
	return r
}

// cmp loads size bytes at absolute offset off and compares them with v under mask
// (libpcap's gen_mcmp; a full mask adds no "and").
func cmp(off uint32, size int, v, mask uint32) bexpr {
	st := []bpf.Instruction{bpf.LoadAbsolute{Off: off, Size: size}}
	full := uint32(0xffffffff) >> (32 - 8*uint(size))
	if mask&full != full {
		st = append(st, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
	}
	return &bAtom{stmts: st, test: bpf.JumpEqual, k: v}
}

func eq(off uint32, size int, v uint32) bexpr { return cmp(off, size, v, 0xffffffff) }

// lowerer turns the parse tree into a bexpr for one link type. shift is the 4 bytes
// per "vlan" seen so far in source order (libpcap moves off_linktype and off_linkpl).
// inner is set once a "geneve" was lowered: like libpcap, everything after it in
// source order looks at the Geneve payload, whose offsets the Geneve code leaves in
// scratch words (see geneve).
type lowerer struct {
	li        linkInfo
	shift     uint32
	inner     bool
	sawGeneve bool // a geneve was lowered: the program initialises the scratch words first
	err       error
}

func (lw *lowerer) pl() uint32 { return lw.li.plOff + lw.shift }

// Scratch words holding the offsets "geneve" computes (libpcap's M[0], M[1], M[2]):
// the relations of this package take words from 0 up, and none may follow a geneve
// (Parse rejects that), so these do not meet.
const (
	regInnerType = 13 // the inner EtherType: Geneve's protocol type, or the inner Ethernet's type for 0x6558
	regInnerLink = 14 // the start of the Geneve payload
	regInnerNet  = 15 // the inner network header
)

// nld loads size bytes at offset off of the network header: an absolute load, or
// after "geneve" an indexed load from the inner network header.
func (lw *lowerer) nld(off uint32, size int) []bpf.Instruction {
	if lw.inner {
		return []bpf.Instruction{bpf.LoadScratch{Dst: bpf.RegX, N: regInnerNet}, bpf.LoadIndirect{Off: off, Size: size}}
	}
	return []bpf.Instruction{bpf.LoadAbsolute{Off: lw.pl() + off, Size: size}}
}

// ncmp is cmp at offset off of the network header (see nld).
func (lw *lowerer) ncmp(off uint32, size int, v, mask uint32) bexpr {
	st := lw.nld(off, size)
	full := uint32(0xffffffff) >> (32 - 8*uint(size))
	if mask&full != full {
		st = append(st, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
	}
	return &bAtom{stmts: st, test: bpf.JumpEqual, k: v}
}

func (lw *lowerer) neq(off uint32, size int, v uint32) bexpr {
	return lw.ncmp(off, size, v, 0xffffffff)
}

// linkProto tests the link layer's protocol field for an EtherType (libpcap's gen_linktype).
func (lw *lowerer) linkProto(etype uint32) bexpr {
	if lw.inner { // the inner EtherType field, wherever geneve found it
		st := []bpf.Instruction{bpf.LoadScratch{Dst: bpf.RegX, N: regInnerType}, bpf.LoadIndirect{Off: 0, Size: 2}}
		return &bAtom{stmts: st, test: bpf.JumpEqual, k: etype}
	}
	li := lw.li
	switch li.typ {
	case linkEthernet:
		return eq(li.typeOff+lw.shift, 2, etype)
	case linkSLL, linkSLL2:
		return eq(li.typeOff, 2, etype)
	case linkPPP:
		switch etype {
		case etherIP:
			etype = 0x0021
		case etherIPv6:
			etype = 0x0057
		}
		return eq(li.typeOff, 2, etype)
	case linkRaw, linkRawBSD, linkRawOBSD:
		switch etype {
		case etherIP:
			return cmp(0, 1, 0x40, 0xf0)
		case etherIPv6:
			return cmp(0, 1, 0x60, 0xf0)
		}
		return bConst(false)
	case linkIPv4:
		return bConst(etype == etherIP)
	case linkIPv6:
		return bConst(etype == etherIPv6)
	case linkNull, linkLoop:
		// The 4-byte header holds an AF_ value: in network byte order for LOOP, in the
		// writer's host byte order for NULL. libpcap tests the one order it expects for
		// the file; not knowing the writer, both orders are accepted for NULL.
		var afs []uint32
		switch etype {
		case etherIP:
			afs = []uint32{2}
		case etherIPv6:
			afs = []uint32{24, 28, 30} // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
		default:
			return bConst(false)
		}
		var r bexpr = bConst(false)
		for _, af := range afs {
			if li.typ == linkNull {
				r = or(r, eq(0, 4, af<<24))
			}
			r = or(r, eq(0, 4, af))
		}
		return r
	}
	return bConst(false)
}

func (lw *lowerer) lower(n node) bexpr {
	switch n := n.(type) {
	case *andNode:
		l := lw.lower(n.l)
		return and(l, lw.lower(n.r))
	case *orNode:
		l := lw.lower(n.l)
		return or(l, lw.lower(n.r))
	case *notNode:
		return not(lw.lower(n.x))
	case *abbrevNode:
		return lw.abbrev(n.p)
	case *hostNode:
		if n.v6 {
			return lw.host6(n)
		}
		return lw.host4(n)
	case *portNode:
		return lw.port(n)
	case *protoNode:
		switch n.proto {
		case pIP:
			return lw.protoIP(uint32(n.n))
		case pIP6:
			return lw.protoIP6(uint32(n.n))
		}
		return or(lw.protoIP(uint32(n.n)), lw.protoIP6(uint32(n.n)))
	case *vlanNode:
		return lw.vlan(n)
	case *geneveNode:
		return lw.geneve(n)
	case *lenNode:
		ld := []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}}
		if n.greater {
			return &bAtom{stmts: ld, test: bpf.JumpGreaterOrEqual, k: n.n}
		}
		return not(&bAtom{stmts: ld, test: bpf.JumpGreaterThan, k: n.n})
	case *relNode:
		return lw.relation(n)
	}
	panic(fmt.Sprintf("filter: unknown node %T", n))
}

// protoIP is "ip proto v": the link says IPv4 and the protocol byte is v.
func (lw *lowerer) protoIP(v uint32) bexpr {
	return and(lw.linkProto(etherIP), lw.neq(9, 1, v))
}

// protoIP6 is "ip6 proto v": the next-header byte is v, or it is a fragment header
// whose next header is v. No other extension headers are walked (as libpcap).
func (lw *lowerer) protoIP6(v uint32) bexpr {
	return and(lw.linkProto(etherIPv6), or(lw.neq(6, 1, v), and(lw.neq(6, 1, ipprotoFrag), lw.neq(40, 1, v))))
}

func (lw *lowerer) abbrev(p qproto) bexpr {
	switch p {
	case pIP:
		return lw.linkProto(etherIP)
	case pIP6:
		return lw.linkProto(etherIPv6)
	case pARP:
		return lw.linkProto(etherARP)
	case pRARP:
		return lw.linkProto(etherRARP)
	case pTCP:
		return or(lw.protoIP(ipprotoTCP), lw.protoIP6(ipprotoTCP))
	case pUDP:
		return or(lw.protoIP(ipprotoUDP), lw.protoIP6(ipprotoUDP))
	case pSCTP:
		return or(lw.protoIP(ipprotoSCTP), lw.protoIP6(ipprotoSCTP))
	case pICMP:
		return lw.protoIP(ipprotoICMP)
	case pICMP6:
		return lw.protoIP6(ipprotoICMPv6)
	case pIGMP:
		return lw.protoIP(ipprotoIGMP)
	case pAH:
		return or(lw.protoIP(ipprotoAH), lw.protoIP6(ipprotoAH))
	case pESP:
		return or(lw.protoIP(ipprotoESP), lw.protoIP6(ipprotoESP))
	}
	panic(fmt.Sprintf("filter: no abbreviation for %v", p))
}

// byDir combines the source and destination tests as a direction qualifier says.
func byDir(d qdir, src, dst func() bexpr) bexpr {
	switch d {
	case dSrc:
		return src()
	case dDst:
		return dst()
	case dAnd:
		s := src()
		return and(s, dst())
	}
	s := src()
	return or(s, dst())
}

// host4 is libpcap's gen_host for IPv4: without a protocol qualifier it matches IPv4,
// ARP and RARP packets (sender/target protocol address for ARP).
func (lw *lowerer) host4(n *hostNode) bexpr {
	op := func(etype, srcOff, dstOff uint32) bexpr {
		at := func(off uint32) func() bexpr {
			return func() bexpr {
				if n.mask4 == 0 {
					return lw.linkProto(etype)
				}
				return and(lw.linkProto(etype), lw.ncmp(off, 4, n.v4&n.mask4, n.mask4))
			}
		}
		return byDir(n.dir, at(srcOff), at(dstOff))
	}
	switch n.proto {
	case pIP:
		return op(etherIP, 12, 16)
	case pARP:
		return op(etherARP, 14, 24)
	case pRARP:
		return op(etherRARP, 14, 24)
	}
	r := or(op(etherIP, 12, 16), op(etherARP, 14, 24))
	return or(r, op(etherRARP, 14, 24))
}

// host6 compares the IPv6 source or destination address word by word; words the prefix
// does not cover are not loaded (libpcap's optimizer removes them too).
func (lw *lowerer) host6(n *hostNode) bexpr {
	a := n.addr6.As16()
	at := func(off uint32) func() bexpr {
		return func() bexpr {
			r := lw.linkProto(etherIPv6)
			for w := 0; w < 4; w++ {
				bitsIn := min(max(n.bits6-32*w, 0), 32)
				if bitsIn == 0 {
					break
				}
				mask := uint32(0xffffffff) << (32 - bitsIn)
				v := uint32(a[4*w])<<24 | uint32(a[4*w+1])<<16 | uint32(a[4*w+2])<<8 | uint32(a[4*w+3])
				r = and(r, lw.ncmp(off+uint32(4*w), 4, v&mask, mask))
			}
			return r
		}
	}
	return byDir(n.dir, at(8), at(24))
}

// port is libpcap's gen_port6 or gen_port (IPv6 first, as libpcap orders them). IPv4
// tests skip every fragment but the first (fragment offset 0); IPv6 tests look only at
// the fixed header's next-header field.
func (lw *lowerer) port(n *portNode) bexpr {
	pl := lw.pl()
	test := func(ld func(off uint32) []bpf.Instruction, off uint32) bexpr {
		if !n.isRange {
			return &bAtom{stmts: ld(off), test: bpf.JumpEqual, k: uint32(n.lo)}
		}
		ge := &bAtom{stmts: ld(off), test: bpf.JumpGreaterOrEqual, k: uint32(n.lo)}
		return and(ge, not(&bAtom{stmts: ld(off), test: bpf.JumpGreaterThan, k: uint32(n.hi)}))
	}
	ld6 := func(off uint32) []bpf.Instruction { return lw.nld(40+off, 2) }
	ld4 := func(off uint32) []bpf.Instruction {
		if lw.inner { // X = the inner network header + its IPv4 header length
			return []bpf.Instruction{bpf.LoadScratch{Dst: bpf.RegX, N: regInnerNet}, bpf.LoadIndirect{Off: 0, Size: 1},
				bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf}, bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2},
				bpf.ALUOpX{Op: bpf.ALUOpAdd}, bpf.TAX{}, bpf.LoadIndirect{Off: off, Size: 2}}
		}
		return []bpf.Instruction{bpf.LoadMemShift{Off: pl}, bpf.LoadIndirect{Off: pl + off, Size: 2}}
	}
	ports := func(ld func(uint32) []bpf.Instruction) bexpr {
		return byDir(n.dir, func() bexpr { return test(ld, 0) }, func() bexpr { return test(ld, 2) })
	}
	op6 := func(proto uint32) bexpr { return and(lw.neq(6, 1, proto), ports(ld6)) }
	op4 := func(proto uint32) bexpr {
		notFrag := not(&bAtom{stmts: lw.nld(6, 2), test: bpf.JumpBitsSet, k: 0x1fff})
		return and(and(lw.neq(9, 1, proto), notFrag), ports(ld4))
	}
	each := func(op func(uint32) bexpr) bexpr {
		switch n.proto {
		case pTCP:
			return op(ipprotoTCP)
		case pUDP:
			return op(ipprotoUDP)
		case pSCTP:
			return op(ipprotoSCTP)
		}
		return or(op(ipprotoSCTP), or(op(ipprotoTCP), op(ipprotoUDP)))
	}
	v6 := and(lw.linkProto(etherIPv6), each(op6))
	return or(v6, and(lw.linkProto(etherIP), each(op4)))
}

// vlan is libpcap's gen_vlan_no_bpf_extensions: an 802.1Q, 802.1ad or 0x9100 tag,
// optionally with a VLAN ID; everything after it in the expression looks 4 bytes later.
func (lw *lowerer) vlan(n *vlanNode) bexpr {
	if lw.li.typ != linkEthernet {
		if lw.err == nil {
			lw.err = fmt.Errorf("vlan on link type %d: %w (vlan works on Ethernet only, as in libpcap)", lw.li.typ, ErrLinkType)
		}
		return bConst(false)
	}
	r := or(or(lw.linkProto(ether8021Q), lw.linkProto(ether8021AD)), lw.linkProto(etherQinQ))
	if n.id >= 0 {
		r = and(r, cmp(lw.pl(), 2, uint32(n.id), 0x0fff))
	}
	lw.shift += 4
	return r
}

// geneve is libpcap's gen_geneve (libpcap 1.10): UDP to port 6081 (over IPv4 not a
// non-first fragment; over IPv6 the next header right after the fixed header), Geneve
// version 0 and, with a number, that VNI. It then leaves in scratch words the offsets
// of the inner EtherType (Geneve's protocol type field, or for Ethernet (0x6558) the
// inner Ethernet header's), of the payload and of the inner network header, computed
// from the outer IP header length and Geneve's option length, and everything after it
// in source order looks inside. The atoms that end in "jeq x" are always true: they
// carry the outer header length to the common code in A and X, as libpcap does.
func (lw *lowerer) geneve(n *geneveNode) bexpr {
	pl := lw.pl()
	lw.sawGeneve = true
	hl := bpf.LoadMemShift{Off: pl}
	v4 := ands(lw.linkProto(etherIP), eq(pl+9, 1, ipprotoUDP),
		not(&bAtom{stmts: []bpf.Instruction{bpf.LoadAbsolute{Off: pl + 6, Size: 2}}, test: bpf.JumpBitsSet, k: 0x1fff}),
		&bAtom{stmts: []bpf.Instruction{hl, bpf.LoadIndirect{Off: pl + 2, Size: 2}}, test: bpf.JumpEqual, k: 6081},
		&bAtom{stmts: []bpf.Instruction{hl, bpf.LoadIndirect{Off: pl + 8, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xc0}}, test: bpf.JumpEqual, k: 0})
	v6 := ands(lw.linkProto(etherIPv6), eq(pl+6, 1, ipprotoUDP), eq(pl+42, 2, 6081), cmp(pl+48, 1, 0, 0xc0))
	if n.vni >= 0 {
		v4 = and(v4, &bAtom{stmts: []bpf.Instruction{hl, bpf.LoadIndirect{Off: pl + 12, Size: 4},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffffff00}}, test: bpf.JumpEqual, k: uint32(n.vni) << 8})
		v6 = and(v6, cmp(pl+52, 4, uint32(n.vni)<<8, 0xffffff00))
	}
	v4 = and(v4, &bAtom{stmts: []bpf.Instruction{hl, bpf.TXA{}}, test: bpf.JumpEqual, useX: true})
	v6 = and(v6, &bAtom{stmts: []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 40}, bpf.TAX{}}, test: bpf.JumpEqual, useX: true})
	// A = X = the outer IP header's length; the Geneve header starts pl+8 bytes later.
	set := &bAtom{stmts: []bpf.Instruction{
		bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: pl + 8}, bpf.TAX{},
		bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2}, bpf.StoreScratch{Src: bpf.RegA, N: regInnerType},
		bpf.LoadIndirect{Off: 0, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x3f},
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 4}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 8},
		bpf.ALUOpX{Op: bpf.ALUOpAdd}, bpf.StoreScratch{Src: bpf.RegA, N: regInnerLink},
		bpf.LoadIndirect{Off: 2, Size: 2}, bpf.LoadScratch{Dst: bpf.RegX, N: regInnerLink},
	}, test: bpf.JumpEqual, k: 0x6558}
	eth := &bAtom{stmts: []bpf.Instruction{bpf.TXA{}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 12},
		bpf.StoreScratch{Src: bpf.RegA, N: regInnerType}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2}, bpf.TAX{},
		bpf.StoreScratch{Src: bpf.RegX, N: regInnerNet}}, test: bpf.JumpEqual, useX: true}
	other := &bAtom{stmts: []bpf.Instruction{bpf.StoreScratch{Src: bpf.RegX, N: regInnerNet}, bpf.TXA{}}, test: bpf.JumpEqual, useX: true}
	lw.inner = true
	return and(or(v4, v6), or(and(set, eth), other))
}

// initScratch sets the scratch words geneve uses to 0 at the start of a program that
// has a geneve, so that every path reads only words written before (the kernel
// refuses programs that may read a word never written, as "geneve or tcp" would: the
// tcp test looks inside a Geneve payload that was not found). Always true.
func initScratch() bexpr {
	return &bAtom{stmts: []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 0},
		bpf.StoreScratch{Src: bpf.RegA, N: regInnerType}, bpf.StoreScratch{Src: bpf.RegA, N: regInnerLink},
		bpf.StoreScratch{Src: bpf.RegA, N: regInnerNet}}, test: bpf.JumpEqual, k: 0}
}
