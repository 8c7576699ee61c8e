package filter

import "golang.org/x/net/bpf"

// Matcher runs a compiled filter on frames in process. It holds only the program, so
// Match does not modify it and one Matcher may be shared by goroutines; Match does not
// allocate.
type Matcher struct {
	prog []bpf.RawInstruction
}

// Classic BPF opcodes (linux/filter.h, pcap/bpf.h).
const (
	opLdW    = 0x00 | 0x00 | 0x20 // ld [k]
	opLdH    = 0x00 | 0x08 | 0x20 // ldh [k]
	opLdB    = 0x00 | 0x10 | 0x20 // ldb [k]
	opLdIndW = 0x00 | 0x00 | 0x40 // ld [x + k]
	opLdIndH = 0x00 | 0x08 | 0x40
	opLdIndB = 0x00 | 0x10 | 0x40
	opLdLen  = 0x00 | 0x00 | 0x80 // ld #pktlen
	opLdImm  = 0x00 | 0x00 | 0x00 // ld #k
	opLdMem  = 0x00 | 0x00 | 0x60 // ld M[k]
	opLdxImm = 0x01 | 0x00 | 0x00
	opLdxMem = 0x01 | 0x00 | 0x60
	opLdxLen = 0x01 | 0x00 | 0x80
	opLdxMsh = 0x01 | 0x10 | 0xa0 // ldxb 4*([k]&0xf)
	opSt     = 0x02
	opStx    = 0x03
	opJa     = 0x05 | 0x00
	opJeqK   = 0x05 | 0x10
	opJgtK   = 0x05 | 0x20
	opJgeK   = 0x05 | 0x30
	opJsetK  = 0x05 | 0x40
	opJeqX   = 0x05 | 0x10 | 0x08
	opJgtX   = 0x05 | 0x20 | 0x08
	opJgeX   = 0x05 | 0x30 | 0x08
	opJsetX  = 0x05 | 0x40 | 0x08
	opRetK   = 0x06 | 0x00
	opRetA   = 0x06 | 0x10
	opTax    = 0x07 | 0x00
	opTxa    = 0x07 | 0x80

	clsALU = 0x04
	aluX   = 0x08
)

// Match reports whether the program accepts frame, the captured bytes, whose length on
// the wire was wireLen ("len", "less" and "greater" use wireLen). As in libpcap's
// bpf_filter, a load beyond the captured bytes, or a division by zero, rejects the
// packet. Shifts by 32 or more give 0.
func (m *Matcher) Match(frame []byte, wireLen int) bool {
	var a, x uint32
	var mem [16]uint32
	prog := m.prog
	n := uint32(len(frame))
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		k := ins.K
		switch ins.Op {
		case opLdH:
			if k > n || n-k < 2 {
				return false
			}
			a = uint32(frame[k])<<8 | uint32(frame[k+1])
		case opLdB:
			if k >= n {
				return false
			}
			a = uint32(frame[k])
		case opLdW:
			if k > n || n-k < 4 {
				return false
			}
			a = uint32(frame[k])<<24 | uint32(frame[k+1])<<16 | uint32(frame[k+2])<<8 | uint32(frame[k+3])
		case opLdIndH:
			if k > n || x > n-k || n-k-x < 2 {
				return false
			}
			i := k + x
			a = uint32(frame[i])<<8 | uint32(frame[i+1])
		case opLdIndB:
			if k > n || x > n-k || n-k-x < 1 {
				return false
			}
			a = uint32(frame[k+x])
		case opLdIndW:
			if k > n || x > n-k || n-k-x < 4 {
				return false
			}
			i := k + x
			a = uint32(frame[i])<<24 | uint32(frame[i+1])<<16 | uint32(frame[i+2])<<8 | uint32(frame[i+3])
		case opLdxMsh:
			if k >= n {
				return false
			}
			x = uint32(frame[k]&0xf) << 2
		case opLdLen:
			a = uint32(wireLen)
		case opLdxLen:
			x = uint32(wireLen)
		case opLdImm:
			a = k
		case opLdxImm:
			x = k
		case opLdMem:
			a = mem[k&15]
		case opLdxMem:
			x = mem[k&15]
		case opSt:
			mem[k&15] = a
		case opStx:
			mem[k&15] = x
		case opJa:
			pc += int(k)
		case opJeqK:
			pc += skip(a == k, ins)
		case opJgtK:
			pc += skip(a > k, ins)
		case opJgeK:
			pc += skip(a >= k, ins)
		case opJsetK:
			pc += skip(a&k != 0, ins)
		case opJeqX:
			pc += skip(a == x, ins)
		case opJgtX:
			pc += skip(a > x, ins)
		case opJgeX:
			pc += skip(a >= x, ins)
		case opJsetX:
			pc += skip(a&x != 0, ins)
		case opRetK:
			return k != 0
		case opRetA:
			return a != 0
		case opTax:
			x = a
		case opTxa:
			a = x
		default:
			if ins.Op&0x07 != clsALU {
				return false // not produced by this package
			}
			v := k
			if ins.Op&aluX != 0 {
				v = x
			}
			var ok bool
			if a, ok = alu(ins.Op&0xf0, a, v); !ok {
				return false
			}
		}
	}
	return false
}

func skip(cond bool, ins bpf.RawInstruction) int {
	if cond {
		return int(ins.Jt)
	}
	return int(ins.Jf)
}

func alu(op uint16, a, v uint32) (uint32, bool) {
	switch op {
	case 0x00:
		return a + v, true
	case 0x10:
		return a - v, true
	case 0x20:
		return a * v, true
	case 0x30:
		if v == 0 {
			return 0, false
		}
		return a / v, true
	case 0x40:
		return a | v, true
	case 0x50:
		return a & v, true
	case 0x60:
		return a << v, true
	case 0x70:
		return a >> v, true
	case 0x80:
		return -a, true
	case 0x90:
		if v == 0 {
			return 0, false
		}
		return a % v, true
	case 0xa0:
		return a ^ v, true
	}
	return 0, false
}
