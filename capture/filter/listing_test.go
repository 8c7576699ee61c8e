package filter

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// listing renders a program in the style of tcpdump -d, for golden files and failures.
func listing(prog []bpf.Instruction) string {
	var b strings.Builder
	for i, ins := range prog {
		var s string
		switch v := ins.(type) {
		case bpf.LoadAbsolute:
			s = fmt.Sprintf("%-8s [%d]", ldName("ld", v.Size), v.Off)
		case bpf.LoadIndirect:
			s = fmt.Sprintf("%-8s [x + %d]", ldName("ld", v.Size), v.Off)
		case bpf.LoadMemShift:
			s = fmt.Sprintf("%-8s 4*([%d]&0xf)", "ldxb", v.Off)
		case bpf.LoadConstant:
			op := "ld"
			if v.Dst == bpf.RegX {
				op = "ldx"
			}
			s = fmt.Sprintf("%-8s #%#x", op, v.Val)
		case bpf.LoadScratch:
			op := "ld"
			if v.Dst == bpf.RegX {
				op = "ldx"
			}
			s = fmt.Sprintf("%-8s M[%d]", op, v.N)
		case bpf.StoreScratch:
			op := "st"
			if v.Src == bpf.RegX {
				op = "stx"
			}
			s = fmt.Sprintf("%-8s M[%d]", op, v.N)
		case bpf.LoadExtension:
			s = fmt.Sprintf("%-8s #pktlen", "ld")
		case bpf.ALUOpConstant:
			s = fmt.Sprintf("%-8s #%#x", aluName(v.Op), v.Val)
		case bpf.ALUOpX:
			s = fmt.Sprintf("%-8s x", aluName(v.Op))
		case bpf.NegateA:
			s = "neg"
		case bpf.TAX:
			s = "tax"
		case bpf.TXA:
			s = "txa"
		case bpf.Jump:
			s = fmt.Sprintf("%-8s %d", "ja", i+1+int(v.Skip))
		case bpf.JumpIf:
			s = fmt.Sprintf("%-8s #%-#14x jt %d\tjf %d", jmpName(v.Cond), v.Val, i+1+int(v.SkipTrue), i+1+int(v.SkipFalse))
		case bpf.JumpIfX:
			s = fmt.Sprintf("%-8s %-15s jt %d\tjf %d", jmpName(v.Cond), "x", i+1+int(v.SkipTrue), i+1+int(v.SkipFalse))
		case bpf.RetConstant:
			s = fmt.Sprintf("%-8s #%d", "ret", v.Val)
		default:
			s = fmt.Sprintf("%#v", ins)
		}
		fmt.Fprintf(&b, "(%03d) %s\n", i, s)
	}
	return b.String()
}

func ldName(op string, size int) string {
	switch size {
	case 1:
		return op + "b"
	case 2:
		return op + "h"
	}
	return op
}

func aluName(op bpf.ALUOp) string {
	return map[bpf.ALUOp]string{
		bpf.ALUOpAdd: "add", bpf.ALUOpSub: "sub", bpf.ALUOpMul: "mul", bpf.ALUOpDiv: "div",
		bpf.ALUOpOr: "or", bpf.ALUOpAnd: "and", bpf.ALUOpShiftLeft: "lsh", bpf.ALUOpShiftRight: "rsh",
		bpf.ALUOpMod: "mod", bpf.ALUOpXor: "xor",
	}[op]
}

func jmpName(c bpf.JumpTest) string {
	return map[bpf.JumpTest]string{
		bpf.JumpEqual: "jeq", bpf.JumpGreaterThan: "jgt", bpf.JumpGreaterOrEqual: "jge", bpf.JumpBitsSet: "jset",
	}[c]
}
