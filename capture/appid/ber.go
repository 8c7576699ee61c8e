package appid

// ASN.1 BER protocols: Kerberos, LDAP and SNMP. Each is recognised by the first
// elements of its outer structure, with definite lengths that must agree with each
// other and, over UDP, with the datagram.

// maxBER bounds the content length of a BER element: no message recognised here is
// near 16 MiB.
const maxBER = 1 << 24

// ber reads the header of a BER element at b (low tag numbers, definite lengths):
// its identifier octet, the header's length and the content length. Lengths may use
// up to 4 length bytes, with leading zeros (Active Directory writes every length as
// 0x84 and four bytes), up to maxBER.
func ber(b []byte) (tag byte, hdr, n int, ok bool) {
	if len(b) < 2 || b[0]&0x1f == 0x1f {
		return 0, 0, 0, false
	}
	l := b[1]
	if l < 0x80 {
		return b[0], 2, int(l), true
	}
	k := int(l & 0x7f)
	if k == 0 || k > 4 || len(b) < 2+k {
		return 0, 0, 0, false
	}
	for _, x := range b[2 : 2+k] {
		n = n<<8 | int(x)
	}
	if n > maxBER {
		return 0, 0, 0, false
	}
	return b[0], 2 + k, n, true
}

// kerberosRule recognises a Kerberos V5 message (RFC 4120 §5): over UDP the whole
// datagram, over TCP after its 4-byte length (§7.2.2, high bit reserved). The message
// is an [APPLICATION n] holding a SEQUENCE that starts with pvno 5 and msg-type n:
// AS-REQ (10) and TGS-REQ (12) have them as [1] and [2], AS-REP (11), TGS-REP (13),
// AP-REQ (14), AP-REP (15) and KRB-ERROR (30) as [0] and [1].
func kerberosRule(c *ctx, b []byte) match {
	total := c.full
	if c.tr == TCP {
		if len(b) < 4 || b[0]&0x80 != 0 {
			return match{}
		}
		l := int(be32(b))
		if l < c.full-4 || l > 1<<20 { // one message, which may go on in the next segments
			return match{}
		}
		b, total = b[4:], l
	}
	tag, hdr, n, ok := ber(b)
	if !ok || tag&0xe0 != 0x60 || hdr+n != total {
		return match{}
	}
	app := tag & 0x1f
	first := byte(0xa0)
	role := uint8(roleServer)
	switch app {
	case 10, 12:
		first, role = 0xa1, roleClient
	case 14:
		role = roleClient
	case 11, 13, 15, 30:
	default:
		return match{}
	}
	seq, h2, n2, ok := ber(b[hdr:])
	if !ok || seq != 0x30 || h2+n2 != n {
		return match{}
	}
	p := b[hdr+h2:]
	want := [...]byte{first, 3, 2, 1, 5, first + 1, 3, 2, 1, app}
	if len(p) < len(want) || string(p[:len(want)]) != string(want[:]) {
		return match{}
	}
	return match{proto: Kerberos, final: true, role: role}
}

// ldapRule recognises an LDAPMessage (RFC 4511 §4.1.1): a SEQUENCE of a messageID
// (INTEGER, 1-4 bytes, non-negative) and a protocolOp whose [APPLICATION n] tag is an
// LDAP operation and whose first element has the type that operation starts with
// (bindRequest: version 1-3; results: an ENUMERATED resultCode; searchRequest and
// the other requests on an entry: an LDAPDN; extendedReq: [0] requestName; ...). Over
// UDP (CLDAP, RFC 1798; the Active Directory DC locator) the message is the whole
// datagram. The operation's length must fit in the message.
func ldapRule(c *ctx, b []byte) match {
	tag, hdr, n, ok := ber(b)
	if !ok || tag != 0x30 || (c.tr == UDP && hdr+n != c.full) || n < 5 {
		return match{}
	}
	p := b[hdr:]
	if len(p) < 3 || p[0] != 0x02 || p[1] < 1 || p[1] > 4 || p[2]&0x80 != 0 {
		return match{}
	}
	idLen := 2 + int(p[1])
	if len(p) < idLen {
		return match{}
	}
	op, oh, on, ok := ber(p[idLen:])
	if !ok || idLen+oh+on > n {
		return match{}
	}
	body := p[idLen+oh:]
	var first byte // the tag of the operation's first element; 0: primitive operation
	role := uint8(roleClient)
	switch op {
	case 0x60: // bindRequest
		if len(body) < 3 || body[0] != 0x02 || body[1] != 1 || body[2] < 1 || body[2] > 3 {
			return match{}
		}
	case 0x61, 0x65, 0x67, 0x69, 0x6b, 0x6d, 0x6f, 0x78: // responses with an LDAPResult
		first, role = 0x0a, roleServer
	case 0x64, 0x73: // searchResEntry, searchResRef
		first, role = 0x04, roleServer
	case 0x63, 0x66, 0x68, 0x6c, 0x6e: // search, modify, add, modDN, compare requests
		first = 0x04
	case 0x77: // extendedReq
		first = 0x80
	case 0x79: // intermediateResponse
		role = roleServer
	case 0x42: // unbindRequest: NULL
		if on != 0 {
			return match{}
		}
	case 0x4a, 0x50: // delRequest (LDAPDN), abandonRequest (MessageID)
		if on == 0 {
			return match{}
		}
	default:
		return match{}
	}
	if first != 0 && (len(body) < 1 || body[0] != first) {
		return match{}
	}
	return match{proto: LDAP, final: true, role: role}
}

// snmpRule recognises an SNMP message over UDP: a SEQUENCE filling the datagram,
// the version (0: v1, 1: v2c, 3: v3), then for v1 and v2c an OCTET STRING community
// and a PDU of a type the version has (RFC 1157 §4.1, RFC 3416 §3), for v3 the
// msgGlobalData header (msgID, msgMaxSize, a one-byte msgFlags, msgSecurityModel,
// RFC 3412 §6) followed by msgSecurityParameters. Requests, traps and v3 messages
// with the reportable flag come from the client (traps: the agent that sends them).
func snmpRule(c *ctx, b []byte) match {
	tag, hdr, n, ok := ber(b)
	if !ok || tag != 0x30 || hdr+n != c.full {
		return match{}
	}
	p := b[hdr:]
	if len(p) < 5 || p[0] != 0x02 || p[1] != 1 || (p[2] != 0 && p[2] != 1 && p[2] != 3) {
		return match{}
	}
	v, p := p[2], p[3:]
	if v == 3 {
		g, gh, gn, ok := ber(p)
		if !ok || g != 0x30 || len(p) < gh+gn {
			return match{}
		}
		q := p[gh : gh+gn]
		var flags byte
		for i, want := range [...]byte{0x02, 0x02, 0x04, 0x02} {
			t, th, tn, ok := ber(q)
			if !ok || t != want || tn < 1 || tn > 4 || len(q) < th+tn {
				return match{}
			}
			if i == 2 {
				if tn != 1 {
					return match{}
				}
				flags = q[th]
			}
			q = q[th+tn:]
		}
		if len(q) != 0 {
			return match{}
		}
		if sp := p[gh+gn:]; len(sp) < 1 || sp[0] != 0x04 {
			return match{}
		}
		if flags&0x04 != 0 { // reportable: a request
			return match{proto: SNMP, final: true, role: roleClient}
		}
		return match{proto: SNMP, final: true, role: roleServer}
	}
	t, th, tn, ok := ber(p)
	if !ok || t != 0x04 || len(p) < th+tn+2 {
		return match{}
	}
	pdu := p[th+tn]
	switch {
	case pdu < 0xa0 || pdu > 0xa8, v == 0 && pdu > 0xa4, v == 1 && pdu == 0xa4:
		return match{}
	case pdu == 0xa2 || pdu == 0xa8: // Response, Report
		return match{proto: SNMP, final: true, role: roleServer}
	}
	return match{proto: SNMP, final: true, role: roleClient}
}
