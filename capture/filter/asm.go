package filter

import "golang.org/x/net/bpf"

// The code generator emits "jumping code": every bexpr is compiled with a label to go
// to when it is true and one for false, so and/or/not cost no instructions. Labels are
// resolved in a final layout pass. Classic BPF conditional jumps reach at most 255
// instructions ahead; a jump that must go further goes through an unconditional "ja"
// (32-bit offset) placed right after it.

type itemKind uint8

const (
	itemUnknown itemKind = iota
	itemStmt             // a non-jump instruction
	itemCond             // conditional jump to labels t/f
	itemJump             // unconditional jump to label t
	itemRet              // return k
	itemLabel            // defines label lbl; emits nothing
)

type item struct {
	kind itemKind
	ins  bpf.Instruction // itemStmt
	test bpf.JumpTest    // itemCond
	useX bool            // itemCond
	k    uint32          // itemCond, itemRet
	t, f int             // labels (itemCond, itemJump)
	lbl  int             // itemLabel

	// state of A and X at a conditional jump, set by dedupLoads
	a, x known

	// layout
	farT, farF bool
}

type assembler struct {
	items   []item
	nlabels int
}

func (as *assembler) newLabel() int {
	as.nlabels++
	return as.nlabels - 1
}

func (as *assembler) place(l int) { as.items = append(as.items, item{kind: itemLabel, lbl: l}) }

func (as *assembler) gen(e bexpr, t, f int) {
	switch e := e.(type) {
	case bConst:
		target := f
		if e {
			target = t
		}
		as.items = append(as.items, item{kind: itemJump, t: target})
	case *bAnd:
		m := as.newLabel()
		as.gen(e.l, m, f)
		as.place(m)
		as.gen(e.r, t, f)
	case *bOr:
		m := as.newLabel()
		as.gen(e.l, t, m)
		as.place(m)
		as.gen(e.r, t, f)
	case *bNot:
		as.gen(e.x, f, t)
	case *bAtom:
		for _, s := range e.stmts {
			as.items = append(as.items, item{kind: itemStmt, ins: s})
		}
		as.items = append(as.items, item{kind: itemCond, test: e.test, useX: e.useX, k: e.k, t: t, f: f})
	}
}

// assemble turns e into a program that returns snaplen for a match and 0 otherwise.
// Without optimize it only resolves labels (tests compare the two).
func assemble(e bexpr, snaplen uint32, optimize bool) []bpf.Instruction {
	as := &assembler{}
	t, f := as.newLabel(), as.newLabel()
	as.gen(e, t, f)
	as.place(t)
	as.items = append(as.items, item{kind: itemRet, k: snaplen})
	as.place(f)
	as.items = append(as.items, item{kind: itemRet, k: 0})
	for i := 0; optimize && i < 8; i++ {
		as.optimize()
		as.dedupLoads()
		if !as.thread() {
			break
		}
	}
	return as.layout()
}

// target returns the index of the first non-label item at or after label l.
func (as *assembler) labelIndex() []int {
	idx := make([]int, as.nlabels)
	for i := len(as.items) - 1; i >= 0; i-- {
		if as.items[i].kind == itemLabel {
			next := i + 1
			for next < len(as.items) && as.items[next].kind == itemLabel {
				next++
			}
			idx[as.items[i].lbl] = next
		}
	}
	return idx
}

// optimize threads jumps to jumps, turns jumps to a return into the return, drops jumps
// to the next instruction and dead code after them. None of this changes which loads
// run on any path.
func (as *assembler) optimize() {
	for changed := true; changed; {
		changed = false
		idx := as.labelIndex()
		// final follows chains of unconditional jumps.
		final := func(l int) int {
			for n := 0; n < len(as.items); n++ {
				it := as.items[idx[l]]
				if it.kind != itemJump || it.t == l {
					return l
				}
				l = it.t
			}
			return l
		}
		for i := range as.items {
			it := &as.items[i]
			switch it.kind {
			case itemCond:
				if nt, nf := final(it.t), final(it.f); nt != it.t || nf != it.f {
					it.t, it.f, changed = nt, nf, true
				}
			case itemJump:
				if nt := final(it.t); nt != it.t {
					it.t, changed = nt, true
				}
				if r := as.items[idx[it.t]]; r.kind == itemRet {
					*it = item{kind: itemRet, k: r.k}
					changed = true
				}
			}
		}
		// Drop unconditional jumps to the next instruction and unreachable items.
		out := as.items[:0]
		reachable := true
		for i, it := range as.items {
			if it.kind == itemLabel {
				reachable = true
				out = append(out, it)
				continue
			}
			if !reachable {
				changed = true
				continue
			}
			if it.kind == itemJump && idx[it.t] == nextReal(as.items, i+1) {
				changed = true
				continue
			}
			out = append(out, it)
			if it.kind == itemJump || it.kind == itemRet || it.kind == itemCond {
				reachable = false // a conditional jump names both targets: no fall-through
			}
		}
		as.items = out
		// Drop labels nobody jumps to, so that code after them counts as unreachable.
		used := make([]bool, as.nlabels)
		for _, it := range as.items {
			switch it.kind {
			case itemCond:
				used[it.t], used[it.f] = true, true
			case itemJump:
				used[it.t] = true
			}
		}
		out = as.items[:0]
		for _, it := range as.items {
			if it.kind == itemLabel && !used[it.lbl] {
				changed = true
				continue
			}
			out = append(out, it)
		}
		as.items = out
	}
}

func nextReal(items []item, i int) int {
	for i < len(items) && items[i].kind == itemLabel {
		i++
	}
	return i
}

// layout assigns addresses, adds trampolines for conditional jumps that reach too far,
// and emits the instructions.
func (as *assembler) layout() []bpf.Instruction {
	addr := make([]int, len(as.items)+1)
	labelAddr := make([]int, as.nlabels)
	for {
		a := 0
		for i := range as.items {
			it := &as.items[i]
			addr[i] = a
			switch it.kind {
			case itemLabel:
				labelAddr[it.lbl] = a
			case itemCond:
				a++
				if it.farT {
					a++
				}
				if it.farF {
					a++
				}
			default:
				a++
			}
		}
		addr[len(as.items)] = a
		grew := false
		for i := range as.items {
			it := &as.items[i]
			if it.kind != itemCond {
				continue
			}
			next := addr[i] + 1
			if !it.farT && labelAddr[it.t]-next > 255 {
				it.farT, grew = true, true
			}
			if !it.farF && labelAddr[it.f]-next > 255 {
				it.farF, grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	prog := make([]bpf.Instruction, 0, addr[len(as.items)])
	for i := range as.items {
		it := &as.items[i]
		switch it.kind {
		case itemStmt:
			prog = append(prog, it.ins)
		case itemRet:
			prog = append(prog, bpf.RetConstant{Val: it.k})
		case itemJump:
			prog = append(prog, bpf.Jump{Skip: uint32(labelAddr[it.t] - (addr[i] + 1))})
		case itemCond:
			pc := addr[i]
			var st, sf int
			switch {
			case it.farT && it.farF:
				st, sf = 0, 1
			case it.farT:
				st, sf = 0, labelAddr[it.f]-(pc+1)
			case it.farF:
				st, sf = labelAddr[it.t]-(pc+1), 0
			default:
				st, sf = labelAddr[it.t]-(pc+1), labelAddr[it.f]-(pc+1)
			}
			if it.useX {
				prog = append(prog, bpf.JumpIfX{Cond: it.test, SkipTrue: uint8(st), SkipFalse: uint8(sf)})
			} else {
				prog = append(prog, bpf.JumpIf{Cond: it.test, Val: it.k, SkipTrue: uint8(st), SkipFalse: uint8(sf)})
			}
			tramp := pc + 1
			if it.farT {
				prog = append(prog, bpf.Jump{Skip: uint32(labelAddr[it.t] - (tramp + 1))})
				tramp++
			}
			if it.farF {
				prog = append(prog, bpf.Jump{Skip: uint32(labelAddr[it.f] - (tramp + 1))})
			}
		}
	}
	return prog
}

// known describes the value in A or X where it is a pure function of the packet: the
// instruction that loaded it, and for an indexed load the value X had. The zero value
// means unknown.
type known struct {
	ins bpf.Instruction
	x   bpf.Instruction
}

type regState struct{ a, x known }

func meet(s, t regState) regState {
	if s.a != t.a {
		s.a = known{}
	}
	if s.x != t.x {
		s.x = known{}
	}
	return s
}

// dedupLoads removes loads of a value A or X already holds on every path that reaches
// them, such as the repeated "ldh [12]" of "ip or ip6". A load that already succeeded
// cannot fault the second time, so no path changes its result.
func (as *assembler) dedupLoads() {
	at := make([]regState, as.nlabels)
	set := make([]bool, as.nlabels)
	send := func(l int, s regState) {
		if set[l] {
			at[l] = meet(at[l], s)
		} else {
			at[l], set[l] = s, true
		}
	}
	var cur regState
	live := true
	out := as.items[:0]
	for _, it := range as.items {
		switch it.kind {
		case itemLabel:
			switch {
			case live && set[it.lbl]:
				cur = meet(cur, at[it.lbl])
			case set[it.lbl]:
				cur = at[it.lbl]
			}
			live = live || set[it.lbl]
		case itemStmt:
			switch ins := it.ins.(type) {
			case bpf.LoadAbsolute, bpf.LoadExtension:
				if cur.a == (known{ins: ins}) {
					continue
				}
				cur.a = known{ins: ins}
			case bpf.LoadIndirect:
				k := known{}
				if cur.x.ins != nil {
					k = known{ins: ins, x: cur.x.ins}
					if cur.a == k {
						continue
					}
				}
				cur.a = k
			case bpf.LoadMemShift:
				if cur.x == (known{ins: ins}) {
					continue
				}
				cur.x = known{ins: ins}
			case bpf.LoadConstant:
				k := known{ins: ins}
				if ins.Dst == bpf.RegX {
					if cur.x == k {
						continue
					}
					cur.x = k
				} else {
					if cur.a == k {
						continue
					}
					cur.a = k
				}
			case bpf.TAX:
				if cur.a.ins != nil && cur.a.x == nil {
					cur.x = cur.a
				} else {
					cur.x = known{}
				}
			case bpf.StoreScratch:
			case bpf.LoadScratch:
				if ins.Dst == bpf.RegX {
					cur.x = known{}
				} else {
					cur.a = known{}
				}
			default: // arithmetic, txa
				cur.a = known{}
			}
		case itemCond:
			it.a, it.x = cur.a, cur.x
			send(it.t, cur)
			send(it.f, cur)
			live = false
		case itemJump:
			send(it.t, cur)
			live = false
		case itemRet:
			live = false
		}
		out = append(out, it)
	}
	as.items = out
}

// noop reports whether ins, run in state st, leaves A and X as they are: it loads
// what the register already holds.
func noop(ins bpf.Instruction, st regState) bool {
	switch ins := ins.(type) {
	case bpf.LoadAbsolute, bpf.LoadExtension:
		return st.a == known{ins: ins}
	case bpf.LoadIndirect:
		return st.x.ins != nil && st.a == known{ins: ins, x: st.x.ins}
	case bpf.LoadMemShift:
		return st.x == known{ins: ins}
	case bpf.LoadConstant:
		if ins.Dst == bpf.RegX {
			return st.x == known{ins: ins}
		}
		return st.a == known{ins: ins}
	}
	return false
}

// decide says what "A test2 k2" gives when "A test1 k1" gave out1, if that is known.
func decide(test1 bpf.JumpTest, k1 uint32, out1 bool, test2 bpf.JumpTest, k2 uint32) (result, ok bool) {
	if test1 == bpf.JumpEqual && out1 {
		switch test2 {
		case bpf.JumpEqual:
			return k1 == k2, true
		case bpf.JumpGreaterThan:
			return k1 > k2, true
		case bpf.JumpGreaterOrEqual:
			return k1 >= k2, true
		case bpf.JumpBitsSet:
			return k1&k2 != 0, true
		}
	}
	if test1 == test2 && k1 == k2 {
		return out1, true
	}
	return false, false
}

// thread retargets each edge of a conditional jump that leads, through loads that are
// no-ops on that edge, to a test whose outcome the first test already decided: after
// "ldh [12]; jeq #0x800" is true, a following "ldh [12]; jeq #0x800" or "jeq #0x86dd"
// is skipped. No load that could fault is skipped: the skipped ones already succeeded
// on the path. It reports whether it changed anything.
func (as *assembler) thread() bool {
	idx := as.labelIndex()
	changed := false
	insert := map[int]int{} // item index -> new label to place before it
	for i := range as.items {
		c := &as.items[i]
		if c.kind != itemCond || c.useX {
			continue
		}
		for _, out := range []bool{true, false} {
			lbl := c.f
			if out {
				lbl = c.t
			}
			start, skipTo := lbl, -1
			for steps := 0; steps < len(as.items); steps++ {
				j := idx[lbl]
				st := regState{c.a, c.x}
				skipped := false
				for j < len(as.items) && (as.items[j].kind == itemLabel || as.items[j].kind == itemStmt && noop(as.items[j].ins, st)) {
					skipped = skipped || as.items[j].kind == itemStmt
					j++
				}
				if j >= len(as.items) {
					break
				}
				d := as.items[j]
				res, ok := false, false
				if d.kind == itemCond && !d.useX {
					res, ok = decide(c.test, c.k, out, d.test, d.k)
				}
				if !ok {
					if skipped {
						skipTo = j // jump past the no-op loads to the undecided item
					}
					break
				}
				if res {
					lbl = d.t
				} else {
					lbl = d.f
				}
			}
			if skipTo >= 0 {
				l, ok := insert[skipTo]
				if !ok {
					l = as.newLabel()
					insert[skipTo] = l
				}
				lbl = l
			}
			if lbl != start {
				if out {
					c.t = lbl
				} else {
					c.f = lbl
				}
				changed = true
			}
		}
	}
	if len(insert) > 0 {
		items := make([]item, 0, len(as.items)+len(insert))
		for j, it := range as.items {
			if l, ok := insert[j]; ok {
				items = append(items, item{kind: itemLabel, lbl: l})
			}
			items = append(items, it)
		}
		as.items = items
	}
	return changed
}
