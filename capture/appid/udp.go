package appid

// UDP protocols: NTP, DHCP, DHCPv6, QUIC. Each is a whole datagram, so lengths are
// checked against the datagram's.

// ntpRule recognises an NTP packet (RFC 5905 §7.3): version 1-4 and mode 1-5
// (symmetric active/passive, client, server, broadcast) with a stratum of at most
// 16, in a datagram of 48 bytes, 48 plus a MAC (20 or 24 bytes) or 48 plus
// extension fields (each at least 16 bytes and a multiple of 4, optionally followed
// by a MAC: NTS, RFC 8915); or an NTP control message (mode 6, RFC 9327 §2) whose
// count, padded to 4 bytes (plus an optional MAC), is the rest of the datagram. The
// other fields (poll, precision, timestamps) are not checked: clients fill them
// with anything (chrony sends precision 32). Only 1 in 3 random bytes of a first byte
// and 1 in 15 of a second pass, so a 48-byte datagram of random content is ntp about
// once in 600; nothing else is checked because nothing else is fixed.
func ntpRule(c *ctx, b []byte) match {
	if len(b) < 12 {
		return match{}
	}
	vn, mode := (b[0]>>3)&7, b[0]&7
	if vn < 1 || vn > 4 {
		return match{}
	}
	switch mode {
	case 6:
		n := 12 + (int(be16(b[10:]))+3)&^3
		if op := b[1] & 0x1f; op == 0 || (c.full != n && c.full != n+20 && c.full != n+24) {
			return match{}
		}
		if b[1]&0x80 != 0 {
			return match{proto: NTP, final: true, role: roleServer}
		}
		return match{proto: NTP, final: true, role: roleClient}
	case 1, 2, 3, 4, 5:
		if c.full < 48 || b[1] > 16 || !ntpTail(b[min(48, len(b)):], c.full-48) {
			return match{}
		}
		switch mode {
		case 3:
			return match{proto: NTP, final: true, role: roleClient}
		case 4, 5:
			return match{proto: NTP, final: true, role: roleServer}
		}
		return match{proto: NTP, final: true}
	}
	return match{}
}

// ntpTail checks what follows the 48-byte header: nothing, a MAC, or extension
// fields then perhaps a MAC. n is its length; t its bytes inspected.
func ntpTail(t []byte, n int) bool {
	for n > 0 {
		if n == 20 || n == 24 {
			return true
		}
		if n < 16 || len(t) < 4 {
			return len(t) < 4 && n >= 16 // cut by the byte budget: accept what was seen
		}
		l := int(be16(t[2:]))
		if l < 16 || l&3 != 0 || l > n {
			return false
		}
		n -= l
		t = t[min(l, len(t)):]
	}
	return true
}

// dhcpRule recognises a BOOTP message carrying DHCP (RFC 2131 §2, RFC 951): op 1
// (request) or 2 (reply), a hardware address length of at most 16, at most 16 hops,
// the magic cookie 99.130.83.99 at offset 236, and options that parse (pad, end, or
// code, length and data inside the datagram) up to the end option or the datagram.
func dhcpRule(c *ctx, b []byte) match {
	if len(b) < 240 || (b[0] != 1 && b[0] != 2) || b[2] > 16 || b[3] > 16 ||
		b[236] != 99 || b[237] != 130 || b[238] != 83 || b[239] != 99 {
		return match{}
	}
	for o := 240; o < len(b); {
		switch b[o] {
		case 0:
			o++
			continue
		case 255:
			o = len(b)
			continue
		}
		if o+1 >= len(b) || o+2+int(b[o+1]) > len(b) {
			if len(b) < c.full { // cut by the byte budget
				break
			}
			return match{}
		}
		o += 2 + int(b[o+1])
	}
	if b[0] == 1 {
		return match{proto: DHCP, final: true, role: roleClient}
	}
	return match{proto: DHCP, final: true, role: roleServer}
}

// dhcpv6Rule recognises a DHCPv6 message (RFC 8415 §8-9): a client/server message
// type 1-11 with a transaction ID, or a relay message (12, 13) with a hop count of at
// most 32 and two addresses, then options that fill the datagram exactly (code,
// length, data). A client/server message must hold a Client or Server Identifier
// whose DUID type is 1-4 (§11), a relay message a Relay Message option. Messages sent
// by clients and relay-forwards are client messages.
func dhcpv6Rule(c *ctx, b []byte) match {
	if len(b) < 8 {
		return match{}
	}
	t := b[0]
	opts := b[4:]
	switch {
	case t >= 1 && t <= 11:
	case t == 12 || t == 13:
		if len(b) < 34+4 || b[1] > 32 {
			return match{}
		}
		opts = b[34:]
	default:
		return match{}
	}
	found := false
	for len(opts) > 0 {
		if len(opts) < 4 {
			return match{}
		}
		code, l := be16(opts), int(be16(opts[2:]))
		if code == 0 {
			return match{}
		}
		if 4+l > len(opts) {
			if len(b) < c.full && found { // cut by the byte budget
				break
			}
			return match{}
		}
		switch {
		case t <= 11 && (code == 1 || code == 2):
			if l < 4 || be16(opts[4:]) < 1 || be16(opts[4:]) > 4 {
				return match{}
			}
			found = true
		case t >= 12 && code == 9:
			found = true
		}
		opts = opts[4+l:]
	}
	if !found {
		return match{}
	}
	switch t {
	case 2, 7, 10, 13: // advertise, reply, reconfigure, relay-reply
		return match{proto: DHCPv6, final: true, role: roleServer}
	}
	return match{proto: DHCPv6, final: true, role: roleClient}
}

// QUIC versions whose Initial packets are recognised.
const (
	quicV1      = 0x00000001 // RFC 9000
	quicV2      = 0x6b3343cf // RFC 9369
	quicDraft29 = 0xff00001d
	quicDraft34 = 0xff000022
)

// quicRule recognises a QUIC long-header Initial packet (RFC 9000 §17.2.2): the
// header form and fixed bits set, version 1, 2 (whose Initial is long packet type 1,
// RFC 9369 §3.2) or drafts 29-34, connection IDs of at most 20 bytes, a token length,
// and a packet length of at least 20 (packet number and AEAD tag) that fits in the
// datagram. The ClientHello inside is encrypted with keys derived from the
// destination connection ID; appid does not decrypt it, so QUIC flows have no SNI.
func quicRule(c *ctx, b []byte) match {
	if len(b) < 7 || b[0]&0xc0 != 0xc0 {
		return match{}
	}
	initial := byte(0)
	switch v := be32(b[1:]); {
	case v == quicV1, v >= quicDraft29 && v <= quicDraft34:
	case v == quicV2:
		initial = 1
	default:
		return match{}
	}
	if (b[0]>>4)&3 != initial || b[5] > 20 {
		return match{}
	}
	o := 6 + int(b[5])
	if o >= len(b) || b[o] > 20 {
		return match{}
	}
	o += 1 + int(b[o])
	if o >= len(b) {
		return match{}
	}
	tok, n := varint(b[o:])
	if n == 0 || tok > uint64(c.full) {
		return match{}
	}
	o += n + int(tok)
	if o >= len(b) {
		return match{}
	}
	l, n := varint(b[o:])
	if n == 0 || l < 20 || uint64(o+n)+l > uint64(c.full) {
		return match{}
	}
	return match{proto: QUIC, final: true}
}

// varint decodes a QUIC variable-length integer (RFC 9000 §16); n is 0 when b is too
// short.
func varint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0
	}
	v = uint64(b[0] & 0x3f)
	for _, x := range b[1:n] {
		v = v<<8 | uint64(x)
	}
	return v, n
}
