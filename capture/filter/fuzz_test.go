package filter

import (
	"errors"
	"testing"

	"golang.org/x/net/bpf"
)

// FuzzParse checks that Parse never panics and that whatever it accepts compiles for
// Ethernet into a program bpf.Assemble accepts, whose jumps stay inside the program and
// which ends in a return; that the canonical String parses back to the same program;
// and that the Matcher runs. Compile may refuse only with ErrTooLong, and then the
// program really is longer than MaxInstructions. Seeds: every expression of the tests
// (the tunnel ones with geneve too).
func FuzzParse(f *testing.F) {
	for _, e := range equivExprs {
		f.Add(e)
	}
	for _, e := range tunnelExprs {
		f.Add(e)
	}
	for _, tc := range parseErrorCases {
		f.Add(tc.expr)
	}
	for _, tc := range parseStringCases {
		f.Add(tc.expr)
	}
	for _, tc := range matchCases {
		f.Add(tc.expr)
	}
	frames := craftedFrames(linkEthernet)
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Parse(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T, want *SyntaxError", expr, err)
			}
			if se.Pos < 0 || se.Pos > len(expr) {
				t.Fatalf("Parse(%q): position %d outside the expression", expr, se.Pos)
			}
			_ = se.Error()
			return
		}
		prog, err := flt.Compile(linkEthernet, 262144)
		if errors.Is(err, ErrTooLong) {
			full, perr := flt.program(linkEthernet, 262144, true)
			if perr != nil || len(full) <= MaxInstructions {
				t.Fatalf("Compile(%q): %v, but the program has %d instructions (%v)", expr, err, len(full), perr)
			}
			prog = full
		} else if err != nil {
			t.Fatalf("Parse(%q) succeeded but Compile for Ethernet failed: %v", expr, err)
		}
		checkProgram(t, expr, prog)
		canon := flt.String()
		g, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, expr, err)
		}
		if g.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, g.String())
		}
		m, err := flt.Matcher(linkEthernet)
		if err != nil {
			t.Fatalf("Matcher(%q): %v", expr, err)
		}
		m2, err := g.Matcher(linkEthernet)
		if err != nil {
			t.Fatalf("Matcher(%q): %v", canon, err)
		}
		// The optimizer must not change any verdict, also on truncated frames.
		plain, err := flt.program(linkEthernet, 262144, false)
		if err != nil {
			t.Fatalf("unoptimized program for %q: %v", expr, err)
		}
		checkProgram(t, expr, plain)
		raw, err := bpf.Assemble(plain)
		if err != nil {
			t.Fatal(err)
		}
		ref := &Matcher{prog: raw}
		for _, fr := range frames {
			if a, b := m.Match(fr.data, len(fr.data)), m2.Match(fr.data, len(fr.data)); a != b {
				t.Fatalf("%q and its canonical form %q disagree on %s", expr, canon, fr.name)
			}
			for n := 0; n <= len(fr.data); n += 3 {
				if a, b := m.Match(fr.data[:n], len(fr.data)), ref.Match(fr.data[:n], len(fr.data)); a != b {
					t.Fatalf("%q: optimized %v, unoptimized %v on %s cut to %d bytes", expr, a, b, fr.name, n)
				}
			}
		}
	})
}

func checkProgram(t *testing.T, expr string, prog []bpf.Instruction) {
	t.Helper()
	raw, err := bpf.Assemble(prog)
	if err != nil {
		t.Fatalf("%q: bpf.Assemble: %v", expr, err)
	}
	if len(raw) == 0 {
		t.Fatalf("%q: empty program", expr)
	}
	if _, ok := prog[len(prog)-1].(bpf.RetConstant); !ok {
		t.Fatalf("%q: last instruction %v is not a return", expr, prog[len(prog)-1])
	}
	for pc, ins := range raw {
		var targets []int
		switch {
		case ins.Op == opJa:
			targets = []int{pc + 1 + int(ins.K)}
		case ins.Op&0x07 == 0x05:
			targets = []int{pc + 1 + int(ins.Jt), pc + 1 + int(ins.Jf)}
		}
		for _, to := range targets {
			if to >= len(raw) {
				t.Fatalf("%q: instruction %d jumps to %d, past the end (%d instructions)", expr, pc, to, len(raw))
			}
		}
		if ins.Op == 0x02 || ins.Op == 0x03 || ins.Op == opLdMem || ins.Op == opLdxMem {
			if ins.K >= maxScratch {
				t.Fatalf("%q: instruction %d uses scratch word %d", expr, pc, ins.K)
			}
		}
	}
}

// FuzzMatch checks the interpreter against golang.org/x/net/bpf's VM on arbitrary
// frames, for a filter chosen from the test expressions.
func FuzzMatch(f *testing.F) {
	for i, fr := range craftedFrames(linkEthernet) {
		f.Add(uint8(i), fr.data)
	}
	var vms []*bpf.VM
	var ms []*Matcher
	for _, tc := range matchCases {
		flt, err := Parse(tc.expr)
		if err != nil {
			f.Fatal(err)
		}
		prog, err := flt.Compile(linkEthernet, 262144)
		if err != nil {
			f.Fatal(err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			f.Fatal(err)
		}
		m, err := flt.Matcher(linkEthernet)
		if err != nil {
			f.Fatal(err)
		}
		vms, ms = append(vms, vm), append(ms, m)
	}
	f.Fuzz(func(t *testing.T, which uint8, frame []byte) {
		i := int(which) % len(ms)
		n, err := vms[i].Run(frame)
		if err != nil {
			t.Fatalf("vm: %v", err)
		}
		if got := ms[i].Match(frame, len(frame)); got != (n != 0) {
			t.Fatalf("%q on % x: Match %v, VM %d", matchCases[i].expr, frame, got, n)
		}
	})
}
