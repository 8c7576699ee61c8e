package appid

// The bounds of inspection. A flow's State looks at no more than MaxPackets payloads
// and MaxBytes payload bytes in each direction, whatever it is fed: the rest of a
// payload past the byte budget, and every payload past the packet budget, are not
// read (FuzzFeed checks that changing them changes nothing).
//
// Four payloads a side cover every exchange the rules need (a banner and the
// command that answers it, an SSLRequest, its answer and the ClientHello that
// follows, a ClientHello split over three segments). 4 KiB a side covers a
// ClientHello with a post-quantum key share (about 1.8 KB in 2025 browsers) with
// room to spare; a rule never needs more than the first message.
const (
	MaxPackets = 4    // payload-carrying packets inspected per direction
	MaxBytes   = 4096 // payload bytes inspected per direction
)

// Transport is the transport protocol of a flow, numbered as the IP protocol field,
// so that a caller converts with Transport(proto). Payloads of any other transport
// are not inspected.
type Transport uint8

// The transports appid inspects.
const (
	TCP Transport = 6
	UDP Transport = 17
)

// State is the identification state of one flow: what its first payloads said so
// far. It is 14 bytes, holds no pointers (so a flow table keeps it inside its
// entries at no cost to the garbage collector) and its zero value is ready: nothing
// seen, Unknown.
//
// Feed it the payload of each packet, in capture order, with the side that sent it,
// until Done; Protocol then says what was recognised. Metadata (TLS SNI and ALPN,
// HTTP Host, SSH identification strings) is copied out with Take right after the
// Feed that reports HasMeta, while the payload is still valid.
//
// A State is not safe for concurrent use.
type State struct {
	proto Protocol  // the answer so far (final once fFinal is set)
	flags uint8     // f* bits
	hint  uint8     // what an earlier message leads to expect (hint*)
	meta  uint8     // the metadata the payload last fed holds (meta*)
	pkts  [2]uint8  // payloads inspected per side
	used  [2]uint16 // bytes inspected per side
	last  uint16    // bytes inspected of the payload last fed (what Take reads)
	more  uint16    // bytes of a split ClientHello still expected (hintHelloMore)
}

// State.flags bits.
const (
	fFinal   = 1 << iota // proto will not change
	fClient              // the client side is known
	fClient1             // ... and it is side 1
	fHint1               // the side the hint waits for is side 1
	fLast1               // the payload last fed came from side 1
	fStop                // not inspected (transport) or stopped
)

// State.hint values: a message that leads to expect another one. The side waited
// for is recorded in fHint1.
const (
	hintNone      = iota
	hint220       // a "220" banner that names neither SMTP nor FTP: the peer's first command decides
	hintPing      // an inline PING: "+PONG" from the peer makes it redis
	hintPGSSL     // postgresql SSLRequest: an 'S' answer means a TLS ClientHello follows
	hintRDPTLS    // rdp connection request offering TLS: a confirm selecting TLS means a ClientHello follows
	hintHello     // a TLS ClientHello is expected from the side waited for (metadata only)
	hintHelloMore // the rest of a ClientHello split over segments (more bytes)
	hintSSH       // the peer's SSH identification string (metadata only)
)

// State.meta values: what Take copies out of the payload last fed.
const (
	metaNone      = iota
	metaHello     // the start of a TLS ClientHello
	metaHelloMore // the continuation of a ClientHello
	metaHTTP      // an HTTP request (Host)
	metaSSH       // an SSH identification string
)

// Roles a message gives its sender.
const (
	roleNone = iota
	roleClient
	roleServer
)

// Feed inspects the payload of one packet sent by side (0 or 1, any consistent
// numbering of the flow's two ends; other values are taken modulo 2) and reports
// whether the flow is done: the verdict is final and no metadata is awaited, or
// both sides have used their budget. Feeding a done State, an empty payload or a
// payload of a side past its budget changes nothing.
//
// payload is only read during the call (and by Take right after it); Feed keeps no
// reference and never allocates.
func (s *State) Feed(tr Transport, side uint8, payload []byte) bool {
	s.meta = metaNone
	if s.Done() {
		return true
	}
	if tr != TCP && tr != UDP {
		s.flags |= fStop
		return true
	}
	side &= 1
	if len(payload) == 0 || s.spent(side) {
		return s.Done()
	}
	n := min(len(payload), MaxBytes-int(s.used[side]))
	b := payload[:n]
	s.pkts[side]++
	s.used[side] += uint16(n)
	s.last = uint16(n)
	s.flags &^= fLast1
	if side == 1 {
		s.flags |= fLast1
	}
	c := ctx{tr: tr, side: side, full: len(payload), first: s.pkts[side] == 1, peer: s.pkts[1-side], proto: s.proto, hint: s.hint}
	if s.hint != hintNone {
		c.awaited = s.hintSide() == side
	}
	if s.flags&fFinal != 0 {
		s.follow(&c, b)
	} else {
		s.apply(&c, detect(&c, b))
	}
	return s.Done()
}

// Done reports whether feeding more payload can change nothing.
func (s *State) Done() bool {
	if s.flags&fStop != 0 {
		return true
	}
	if s.flags&fFinal != 0 && (s.hint == hintNone || s.spent(s.hintSide())) {
		return true
	}
	return s.spent(0) && s.spent(1)
}

// Protocol returns the protocol recognised so far: final once Done, Unknown when
// nothing was recognised. Before Done it may still change (netbios-ssn becomes smb
// when SMB follows the session request).
func (s *State) Protocol() Protocol { return s.proto }

// Client returns the side that plays the client in the recognised protocol, when the
// message that decided said it: a request, a ClientHello, a DNS query, a banner
// (sent by the server), a syslog message (sent by the client). ok is false when it
// did not (SSH identification strings, NTP in symmetric mode, QUIC Initials). The
// flow table has its own idea of the client (the SYN, the ports); this is evidence
// from the content, for the flows where that idea is a guess.
func (s *State) Client() (side uint8, ok bool) {
	if s.flags&fClient == 0 {
		return 0, false
	}
	if s.flags&fClient1 != 0 {
		return 1, true
	}
	return 0, true
}

// HasMeta reports whether the payload last fed carries metadata that Take copies
// out. It is reset by the next Feed.
func (s *State) HasMeta() bool { return s.meta != metaNone }

// Spent reports whether side (0 or 1, taken modulo 2) has used its budget of
// payloads or bytes: Feed ignores that side's payloads from then on, so a caller may
// stop handing them over (the flow table does, so that the long tail of a flow whose
// other side stays silent costs nothing).
func (s *State) Spent(side uint8) bool { return s.spent(side & 1) }

// spent reports whether side has used its packet or byte budget.
func (s *State) spent(side uint8) bool {
	return s.pkts[side] >= MaxPackets || s.used[side] >= MaxBytes
}

func (s *State) hintSide() uint8 {
	if s.flags&fHint1 != 0 {
		return 1
	}
	return 0
}

func (s *State) lastSide() uint8 {
	if s.flags&fLast1 != 0 {
		return 1
	}
	return 0
}

// await sets the hint h, waiting for side.
func (s *State) await(h uint8, side uint8) {
	s.hint = h
	s.flags &^= fHint1
	if side == 1 {
		s.flags |= fHint1
	}
}

// ctx describes the payload being fed, for the rules.
type ctx struct {
	tr      Transport
	side    uint8
	full    int      // the payload's length before the byte budget cut it (a UDP datagram's length)
	first   bool     // the sender's first payload
	peer    uint8    // payloads the other side sent before this one
	awaited bool     // a hint waits for this side
	proto   Protocol // the State's candidate, if any
	hint    uint8    // the State's hint
}

// match is what a rule says of a payload.
type match struct {
	proto Protocol
	final bool  // the verdict will not change (else a candidate a later message may replace)
	role  uint8 // role* of the sender
	meta  uint8 // meta*: the payload holds metadata
	hint  uint8 // hint* this message sets
	peer  bool  // the hint waits for the peer (else for the sender)
	more  int   // hintHelloMore: bytes still to come
}

// apply records what a rule found.
func (s *State) apply(c *ctx, m match) {
	if m.proto == Unknown && m.hint == hintNone {
		return
	}
	if m.proto != Unknown {
		s.proto = m.proto
		if m.final {
			s.flags |= fFinal
		}
		s.meta = m.meta
		if m.role != roleNone && s.flags&fClient == 0 {
			client := c.side
			if m.role == roleServer {
				client = 1 - c.side
			}
			s.flags |= fClient
			if client == 1 {
				s.flags |= fClient1
			}
		}
	}
	s.hint = hintNone
	if m.hint != hintNone {
		side := c.side
		if m.peer {
			side = 1 - side
		}
		s.await(m.hint, side)
		s.more = uint16(min(m.more, MaxBytes))
	}
}

// follow handles a payload that comes after the verdict: only messages a hint waits
// for matter, for metadata.
func (s *State) follow(c *ctx, b []byte) {
	switch s.hint {
	case hintPGSSL:
		if !c.awaited {
			return
		}
		s.hint = hintNone
		if len(b) == 1 && b[0] == 'S' {
			s.await(hintHello, 1-c.side)
		}
	case hintRDPTLS:
		if !c.awaited {
			return
		}
		s.hint = hintNone
		if rdpConfirmTLS(b) {
			s.await(hintHello, 1-c.side)
		}
	case hintHello:
		if !c.awaited {
			return
		}
		s.hint = hintNone
		if typ, more, ok := tlsHandshake(b); ok && typ == 1 {
			s.meta = metaHello
			if more > 0 {
				s.await(hintHelloMore, c.side)
				s.more = uint16(min(more, MaxBytes))
			}
		}
	case hintHelloMore:
		if !c.awaited {
			// The peer answered, so the ClientHello was complete: what follows is not
			// part of it.
			s.hint = hintNone
			return
		}
		if typ, more, ok := tlsHandshake(b); ok && typ == 1 {
			// The ClientHello's first segment again (a retransmission): start over.
			s.meta = metaHello
			s.more = uint16(min(more, MaxBytes))
			if more == 0 {
				s.hint = hintNone
			}
			return
		}
		s.meta = metaHelloMore
		if len(b) >= int(s.more) {
			s.hint, s.more = hintNone, 0
		} else {
			s.more -= uint16(len(b))
		}
	case hintSSH:
		if !c.awaited {
			return
		}
		s.hint = hintNone
		if _, ok := sshIdent(b); ok {
			s.meta = metaSSH
		}
	}
}
