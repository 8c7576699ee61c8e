//go:build linux

package filter

import (
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// attachToSocket loads prog into the kernel on a UDP socket (SO_ATTACH_FILTER): the
// kernel checks it as it checks a live capture's filter.
func attachToSocket(prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	f := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		f[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]})
}

// TestKernelAcceptsGeneve: the kernel refuses a program that may read a scratch word
// never written on its path, as one for "geneve or tcp" would without initScratch;
// every tunnel expression, and those that test the payload of a Geneve header that
// was not found, load, for every link type.
func TestKernelAcceptsGeneve(t *testing.T) {
	exprs := append([]string{"geneve or tcp", "not geneve and udp port 53", "(geneve 5 or udp) and host 192.0.2.1"}, tunnelExprs...)
	for _, expr := range exprs {
		f, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, lt := range []uint16{linkEthernet, linkSLL, linkSLL2, linkRaw, linkNull, linkPPP} {
			prog, err := f.Compile(lt, 262144)
			if err != nil {
				continue // vlan off Ethernet
			}
			if err := attachToSocket(prog); err != nil {
				t.Errorf("%q, link type %d: the kernel refuses the program: %v", expr, lt, err)
			}
		}
	}
}
