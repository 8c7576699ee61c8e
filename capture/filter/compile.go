package filter

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// Compile returns the classic BPF program for frames of the given link type (values are
// gopacket's layers.LinkType numbers: 0 NULL, 1 Ethernet, 9 PPP, 101 RAW (also 12 and 14),
// 108 LOOP, 113 Linux SLL, 228 IPv4, 229 IPv6, 276 Linux SLL2). The program returns
// snaplen (use 262144) for a matching packet and 0 otherwise, so it can be attached to
// an AF_PACKET socket as it is. It means what tcpdump's program for the same expression
// means, though the instructions differ.
//
// An unsupported link type, or "vlan" on a link type other than Ethernet, returns an
// error wrapping ErrLinkType; a program longer than MaxInstructions returns an error
// wrapping ErrTooLong. For Ethernet, any expression Parse accepts compiles.
func (f *Filter) Compile(linkType uint16, snaplen uint32) ([]bpf.Instruction, error) {
	prog, err := f.program(linkType, snaplen, true)
	if err != nil {
		return nil, err
	}
	if len(prog) > MaxInstructions {
		return nil, fmt.Errorf("filter %q: %d instructions for link type %d: %w (the kernel accepts %d)", f.expr, len(prog), linkType, ErrTooLong, MaxInstructions)
	}
	return prog, nil
}

// program compiles without the length limit; optimize is off only in tests.
func (f *Filter) program(linkType uint16, snaplen uint32, optimize bool) ([]bpf.Instruction, error) {
	if snaplen == 0 {
		return nil, errors.New("filter: snaplen 0 would reject every packet")
	}
	li, err := linkFor(linkType)
	if err != nil {
		return nil, err
	}
	var e bexpr = bConst(true)
	if f.root != nil {
		lw := &lowerer{li: li}
		e = lw.lower(f.root)
		if lw.err != nil {
			return nil, fmt.Errorf("filter %q: %w", f.expr, lw.err)
		}
		if lw.sawGeneve {
			e = and(initScratch(), e)
		}
	}
	return assemble(e, snaplen, optimize), nil
}

// Matcher compiles the filter for a link type into a Matcher. Unlike Compile it has no
// length limit. The errors are those of Compile.
func (f *Filter) Matcher(linkType uint16) (*Matcher, error) {
	prog, err := f.program(linkType, 262144, true)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("filter: assemble for link type %d: %w", linkType, err)
	}
	return &Matcher{prog: raw}, nil
}
