package filter

import "golang.org/x/net/bpf"

// maxScratch is the number of BPF scratch memory words (M[0]..M[15]).
const maxScratch = 16

// scratchNeed is how many scratch words the code for the relations in n needs; Parse
// rejects expressions that need more than maxScratch, so Compile cannot fail on it.
func scratchNeed(n node) int {
	switch n := n.(type) {
	case *andNode:
		return max(scratchNeed(n.l), scratchNeed(n.r))
	case *orNode:
		return max(scratchNeed(n.l), scratchNeed(n.r))
	case *notNode:
		return scratchNeed(n.x)
	case *relNode:
		return binNeed(n.l, n.r)
	}
	return 0
}

func binNeed(l, r arith) int {
	if _, ok := r.(*numArith); ok {
		return arithNeed(l)
	}
	return max(arithNeed(l), 1+arithNeed(r))
}

func arithNeed(a arith) int {
	switch a := a.(type) {
	case *negArith:
		return arithNeed(a.x)
	case *binArith:
		return binNeed(a.l, a.r)
	case *loadArith:
		if _, ok := a.idx.(*numArith); ok {
			return 0
		}
		if isTransport(a.proto) {
			return max(arithNeed(a.idx), 1)
		}
		return arithNeed(a.idx)
	}
	return 0
}

// isTransport reports whether proto[...] offsets count from the transport header, found
// through the IPv4 header length (libpcap does this for IPv4 only).
func isTransport(p qproto) bool {
	switch p {
	case pTCP, pUDP, pSCTP, pICMP, pIGMP:
		return true
	}
	return false
}

// aluOps is indexed by tokKind; the tables of this package are arrays or built on
// first use, not maps built at start-up, which every portclass invocation paid.
var aluOps = [...]bpf.ALUOp{
	tPlus: bpf.ALUOpAdd, tMinus: bpf.ALUOpSub, tStar: bpf.ALUOpMul, tSlash: bpf.ALUOpDiv,
	tPercent: bpf.ALUOpMod, tAmp: bpf.ALUOpAnd, tPipe: bpf.ALUOpOr, tCaret: bpf.ALUOpXor,
	tLsh: bpf.ALUOpShiftLeft, tRsh: bpf.ALUOpShiftRight,
}

// notFrag is true for an IPv4 packet that is not a non-first fragment (offset 0).
func (lw *lowerer) notFrag() bexpr {
	return not(&bAtom{stmts: []bpf.Instruction{bpf.LoadAbsolute{Off: lw.pl() + 6, Size: 2}}, test: bpf.JumpBitsSet, k: 0x1fff})
}

// relation lowers "l op r" the way libpcap's gen_relation orders it: first every
// protocol condition the loads in l and r carry (in source order), then the
// arithmetic, then the comparison. Comparisons are unsigned 32-bit.
func (lw *lowerer) relation(n *relNode) bexpr {
	var conds []bexpr
	lw.conds(n.l, &conds)
	lw.conds(n.r, &conds)
	st := lw.arith(nil, n.l, 0)
	a := &bAtom{}
	if k, ok := n.r.(*numArith); ok {
		a.k = k.v
	} else {
		st = append(st, bpf.StoreScratch{Src: bpf.RegA, N: 0})
		st = lw.arith(st, n.r, 1)
		st = append(st, bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: 0})
		a.useX = true
	}
	a.stmts = st
	var res bexpr = a
	switch n.op {
	case relGT:
		a.test = bpf.JumpGreaterThan
	case relGE:
		a.test = bpf.JumpGreaterOrEqual
	case relEQ:
		a.test = bpf.JumpEqual
	case relLT:
		a.test, res = bpf.JumpGreaterOrEqual, not(a)
	case relLE:
		a.test, res = bpf.JumpGreaterThan, not(a)
	case relNE:
		a.test, res = bpf.JumpEqual, not(a)
	}
	conds = append(conds, res)
	return ands(conds...)
}

// conds collects the protocol tests that must hold before the loads in a are made
// (libpcap's inst->b chains).
func (lw *lowerer) conds(a arith, out *[]bexpr) {
	switch a := a.(type) {
	case *negArith:
		lw.conds(a.x, out)
	case *binArith:
		lw.conds(a.l, out)
		lw.conds(a.r, out)
	case *loadArith:
		switch {
		case a.proto == pLink:
			lw.conds(a.idx, out)
		case a.proto == pICMP6:
			lw.conds(a.idx, out)
			*out = append(*out, lw.linkProto(etherIPv6), eq(lw.pl()+6, 1, ipprotoICMPv6))
		case isTransport(a.proto):
			*out = append(*out, lw.linkProto(etherIP))
			lw.conds(a.idx, out)
			*out = append(*out, lw.abbrev(a.proto), lw.notFrag())
		default: // ip, ip6, arp, rarp
			lw.conds(a.idx, out)
			*out = append(*out, lw.abbrev(a.proto))
		}
	}
}

// arith appends code leaving the value of a in A. Scratch words from base up are free.
func (lw *lowerer) arith(st []bpf.Instruction, a arith, base int) []bpf.Instruction {
	switch a := a.(type) {
	case *numArith:
		return append(st, bpf.LoadConstant{Dst: bpf.RegA, Val: a.v})
	case *lenArith:
		return append(st, bpf.LoadExtension{Num: bpf.ExtLen})
	case *negArith:
		return append(lw.arith(st, a.x, base), bpf.NegateA{})
	case *binArith:
		st = lw.arith(st, a.l, base)
		if k, ok := a.r.(*numArith); ok {
			return append(st, bpf.ALUOpConstant{Op: aluOps[a.op], Val: k.v})
		}
		st = append(st, bpf.StoreScratch{Src: bpf.RegA, N: base})
		st = lw.arith(st, a.r, base+1)
		return append(st, bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: base}, bpf.ALUOpX{Op: aluOps[a.op]})
	case *loadArith:
		return lw.load(st, a, base)
	}
	panic("filter: unknown arithmetic node")
}

// load appends proto[idx:size]. Offsets count from the link header (ether, link), the
// network header (ip, ip6, arp, rarp), the IPv4 payload (tcp, udp, sctp, icmp, igmp:
// X is loaded with the IPv4 header length) or the byte after the fixed IPv6 header
// (icmp6). A constant index is folded into the instruction's offset when the sum stays
// below 2^31: the kernel gives absolute offsets from 2^31 up special meanings.
func (lw *lowerer) load(st []bpf.Instruction, a *loadArith, base int) []bpf.Instruction {
	var off uint32
	switch a.proto {
	case pLink:
		off = 0
	case pICMP6:
		off = lw.pl() + 40
	default:
		off = lw.pl()
	}
	k, lit := a.idx.(*numArith)
	const limit = 1 << 31
	if isTransport(a.proto) {
		if lit && uint64(off)+uint64(k.v) < limit {
			return append(st, bpf.LoadMemShift{Off: off}, bpf.LoadIndirect{Off: off + k.v, Size: a.size})
		}
		if lit {
			return append(st, bpf.LoadMemShift{Off: off}, bpf.LoadConstant{Dst: bpf.RegA, Val: k.v},
				bpf.ALUOpX{Op: bpf.ALUOpAdd}, bpf.TAX{}, bpf.LoadIndirect{Off: off, Size: a.size})
		}
		st = lw.arith(st, a.idx, base)
		return append(st, bpf.StoreScratch{Src: bpf.RegA, N: base}, bpf.LoadMemShift{Off: off},
			bpf.LoadScratch{Dst: bpf.RegA, N: base}, bpf.ALUOpX{Op: bpf.ALUOpAdd}, bpf.TAX{},
			bpf.LoadIndirect{Off: off, Size: a.size})
	}
	if lit && uint64(off)+uint64(k.v) < limit {
		return append(st, bpf.LoadAbsolute{Off: off + k.v, Size: a.size})
	}
	if lit {
		return append(st, bpf.LoadConstant{Dst: bpf.RegX, Val: k.v}, bpf.LoadIndirect{Off: off, Size: a.size})
	}
	st = lw.arith(st, a.idx, base)
	return append(st, bpf.TAX{}, bpf.LoadIndirect{Off: off, Size: a.size})
}
