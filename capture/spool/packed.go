package spool

import (
	"net/netip"
	"time"

	"github.com/portclass/portclass/capture"
)

// packed is a flow as the spool holds it in memory: 112 bytes without pointers,
// against 210 with them for a capture.Flow, so the blocks are half the memory and the
// garbage collector never scans them. Times are nanoseconds since the epoch (as the
// run file has them); the input is an index into Spool.inputs, the ICMP errors an
// index into Spool.errs and the tunnel path one into Spool.paths (0: none).
type packed struct {
	first, last    int64
	packets, bytes [2]uint64
	client, server [16]byte // As16
	cport, sport   uint16
	vlan           uint16
	kinds          uint8 // the address families: 4 or 6 for the client (low nibble) and server
	proto          uint8
	input          uint32
	errs           uint32
	tunnel         uint32
	direction      capture.Direction
	state          capture.State
	end            capture.EndReason
	icmpType       uint8
	icmpCode       uint8
	tcpFlags       [2]uint8
}

func addrKind(a netip.Addr) uint8 {
	switch {
	case a.Is4():
		return 4
	case a.Is6():
		return 6
	}
	return 0
}

func addrOf(b *[16]byte, kind uint8) netip.Addr {
	switch kind {
	case 4:
		return netip.AddrFrom4([4]byte(b[12:]))
	case 6:
		return netip.AddrFrom16(*b)
	}
	return netip.Addr{}
}

// pack stores f in p, with its input, ICMP errors and tunnel path in the spool's side
// tables.
func (s *Spool) pack(p *packed, f *capture.Flow) {
	ca, sa := f.Client.Addr(), f.Server.Addr()
	*p = packed{
		first: f.First.UnixNano(), last: f.Last.UnixNano(),
		packets: f.Packets, bytes: f.Bytes,
		client: ca.As16(), server: sa.As16(),
		cport: f.Client.Port(), sport: f.Server.Port(), vlan: f.VLAN,
		kinds: addrKind(ca) | addrKind(sa)<<4, proto: f.Proto,
		input:     s.inputIndex(f.Input),
		direction: f.Direction, state: f.State, end: f.End,
		icmpType: f.ICMPType, icmpCode: f.ICMPCode, tcpFlags: f.TCPFlags,
	}
	if len(f.ICMPErrors) > 0 {
		s.errs = append(s.errs, f.ICMPErrors)
		p.errs = uint32(len(s.errs))
	}
	if f.Tunnel.Len() > 0 {
		i, ok := s.pathIdx[f.Tunnel]
		if !ok {
			s.paths = append(s.paths, f.Tunnel)
			i = uint32(len(s.paths))
			s.pathIdx[f.Tunnel] = i
		}
		p.tunnel = i
	}
}

// unpack is the inverse of pack.
func (s *Spool) unpack(f *capture.Flow, p *packed) {
	*f = capture.Flow{
		Proto:     p.proto,
		Client:    netip.AddrPortFrom(addrOf(&p.client, p.kinds&0xf), p.cport),
		Server:    netip.AddrPortFrom(addrOf(&p.server, p.kinds>>4), p.sport),
		VLAN:      p.vlan,
		Direction: p.direction, State: p.state, End: p.end,
		First: time.Unix(0, p.first).UTC(), Last: time.Unix(0, p.last).UTC(),
		Packets: p.packets, Bytes: p.bytes,
		TCPFlags: p.tcpFlags, ICMPType: p.icmpType, ICMPCode: p.icmpCode,
		Input: s.inputs[p.input],
	}
	if p.errs > 0 {
		f.ICMPErrors = s.errs[p.errs-1]
	}
	if p.tunnel > 0 {
		f.Tunnel = s.paths[p.tunnel-1]
	}
}

// inputIndex is the index of input in s.inputs, added on first use.
func (s *Spool) inputIndex(input string) uint32 {
	if n := len(s.inputs); n > 0 && s.inputs[n-1] == input {
		return uint32(n - 1) // the flows of one input come together
	}
	idx, ok := s.inIdx[input]
	if !ok {
		idx = uint32(len(s.inputs))
		s.inputs = append(s.inputs, input)
		s.inIdx[input] = idx
	}
	return idx
}
