package appid

import "bytes"

// Windows protocols: SMB, the NetBIOS session service, RDP, DCE/RPC and TDS.

// smbRule recognises an SMB message behind the 4-byte header that both direct TCP
// (MS-SMB2 §2.1: a zero byte and a 24-bit length) and a NetBIOS session message
// (RFC 1002 §4.3.6: type 0, flags, length) put in front of it: the protocol ID
// 0xFF "SMB" (SMB1), 0xFE "SMB" (SMB2/3, with its StructureSize of 64), 0xFD "SMB"
// (SMB3 transform header, encrypted) or 0xFC "SMB" (SMB3 compression transform),
// with a length that holds at least that header. The direction comes from the reply
// flag of the SMB1 or SMB2 header.
func smbRule(c *ctx, b []byte) match {
	if len(b) < 8 || b[0] != 0 || b[5] != 'S' || b[6] != 'M' || b[7] != 'B' {
		return match{}
	}
	l := int(be24(b[1:]))
	role := uint8(roleNone)
	switch b[4] {
	case 0xff:
		if l < 32 {
			return match{}
		}
		if len(b) > 4+9 {
			role = roleClient
			if b[4+9]&0x80 != 0 { // SMB_FLAGS_REPLY
				role = roleServer
			}
		}
	case 0xfe:
		if l < 64 || (len(b) >= 10 && le16(b[8:]) != 64) {
			return match{}
		}
		if len(b) >= 4+20 {
			role = roleClient
			if le32(b[4+16:])&1 != 0 { // SMB2_FLAGS_SERVER_TO_REDIR
				role = roleServer
			}
		}
	case 0xfd:
		if l < 52 {
			return match{}
		}
	case 0xfc:
		if l < 16 {
			return match{}
		}
	default:
		return match{}
	}
	return match{proto: SMB, final: true, role: role}
}

// nbssRule recognises the NetBIOS session service (RFC 1002 §4.3): a session
// request (type 0x81) carrying the called name, first-level encoded (32 bytes of
// 'A'-'P' behind a length byte of 32, §4.1), and, once a request was seen, the
// positive (0x82) or negative (0x83) response. netbios-ssn is a candidate: SMB that
// follows in a session message makes the flow smb.
func nbssRule(c *ctx, b []byte) match {
	if len(b) < 4 || b[1]&0xfe != 0 {
		return match{}
	}
	l := int(b[1]&1)<<16 | int(be16(b[2:]))
	switch b[0] {
	case 0x81:
		if l < 2*34 || len(b) < 4+34 || !nbName(b[4:]) || (b[4+33] != 0 && b[4+33] > 63) {
			return match{}
		}
		return match{proto: NetBIOSSSN, role: roleClient}
	case 0x82:
		if c.proto == NetBIOSSSN && l == 0 && len(b) == 4 {
			return match{proto: NetBIOSSSN, role: roleServer}
		}
	case 0x83:
		if c.proto == NetBIOSSSN && l == 1 && len(b) == 5 && b[4] >= 0x80 && b[4] <= 0x8f {
			return match{proto: NetBIOSSSN, role: roleServer}
		}
	}
	return match{}
}

// nbName reports whether b starts with a first-level encoded NetBIOS name: a label
// of 32 bytes, each 'A' to 'P' (a nibble of the 16-byte name), RFC 1001 §14.1.
func nbName(b []byte) bool {
	if len(b) < 33 || b[0] != 32 {
		return false
	}
	for _, ch := range b[1:33] {
		if ch < 'A' || ch > 'P' {
			return false
		}
	}
	return true
}

// RDP over TPKT (RFC 1006 §6: version 3, a reserved zero, the length) and X.224
// class 0 (ISO 8073): the client's connection request and the server's connection
// confirm (MS-RDPBCGR §2.2.1.1-2.2.1.2). The length indicator must cover the rest of
// the TPDU. What makes it RDP rather than another ISO transport user (S7comm, MMS,
// whose requests carry TSAP parameters 0xC1/0xC2) is the variable part: a request
// carries a "Cookie: mstshash=" or routing token line and/or an RDP_NEG_REQ, a
// confirm an RDP_NEG_RSP or RDP_NEG_FAILURE.
const (
	x224CR = 0xe0
	x224CC = 0xd0
)

// tpkt returns the X.224 TPDU code and variable part of a TPKT at b, which must hold
// the whole packet.
func tpkt(b []byte) (code byte, v []byte, ok bool) {
	if len(b) < 11 || b[0] != 3 || b[1] != 0 {
		return 0, nil, false
	}
	tl := int(be16(b[2:]))
	if tl < 11 || tl > len(b) || int(b[4]) != tl-5 || b[5]&0x0f != 0 || b[10] != 0 {
		return 0, nil, false
	}
	return b[5], b[11:tl], true
}

// rdpNeg returns the type and the protocol field of an RDP_NEG_REQ, RDP_NEG_RSP or
// RDP_NEG_FAILURE structure (type, flags, length 8, a 32-bit value) at v.
func rdpNeg(v []byte) (typ byte, val uint32, ok bool) {
	if len(v) < 8 || le16(v[2:]) != 8 {
		return 0, 0, false
	}
	return v[0], le32(v[4:]), true
}

func rdpRule(c *ctx, b []byte) match {
	code, v, ok := tpkt(b)
	if !ok {
		return match{}
	}
	switch code {
	case x224CR:
		if be16(b[6:]) != 0 { // a request has no destination reference yet
			return match{}
		}
		cookie := false
		if bytes.HasPrefix(v, []byte("Cookie: ")) {
			i := bytes.Index(v, []byte("\r\n"))
			if i < 0 {
				return match{}
			}
			cookie, v = true, v[i+2:]
		}
		var requested uint32
		if len(v) > 0 {
			typ, val, ok := rdpNeg(v)
			if !ok || typ != 1 || val > 0x1f {
				return match{}
			}
			requested = val
		} else if !cookie {
			return match{}
		}
		m := match{proto: RDP, final: true, role: roleClient}
		if requested&0xf != 0 { // SSL, HYBRID, RDSTLS, HYBRID_EX: TLS comes next if the server agrees
			m.hint, m.peer = hintRDPTLS, true
		}
		return m
	case x224CC:
		if typ, _, ok := rdpNeg(v); ok && (typ == 2 || typ == 3) {
			return match{proto: RDP, final: true, role: roleServer}
		}
	}
	return match{}
}

// rdpConfirmTLS reports whether b is a connection confirm selecting a protocol that
// runs TLS (anything but standard RDP security, 0).
func rdpConfirmTLS(b []byte) bool {
	code, v, ok := tpkt(b)
	if !ok || code != x224CC {
		return false
	}
	typ, sel, ok := rdpNeg(v)
	return ok && typ == 2 && sel != 0
}

// dcerpcRule recognises a connection-oriented DCE/RPC PDU (C706 §12.6, MS-RPCE
// §2.2.2): version 5.0 or 5.1, the first-fragment flag, a data representation of
// ASCII characters, either byte order and one of the four float formats, and a
// fragment length covering the PDU's header and its authentication trailer. The
// types are those of the bind family, bind (11), bind_ack (12), bind_nak (13),
// alter_context (14) and alter_context_resp (15), where bind and alter_context must
// offer maximum fragment sizes of at least 1432 (the minimum C706 allows) and a
// presentation context; and the calls, request (0), response (2) and fault (3), with
// a presentation context ID below 256, because a long-lived RPC connection is often
// captured after its bind. Connectionless DCE/RPC (version 4, over UDP) is not
// recognised.
func dcerpcRule(c *ctx, b []byte) match {
	if len(b) < 16 || b[0] != 5 || b[1] > 1 || b[3]&0x01 == 0 || (b[4] != 0x10 && b[4] != 0x00) || b[5] > 3 || b[6] != 0 || b[7] != 0 {
		return match{}
	}
	little := b[4] == 0x10
	u16 := func(b []byte) uint16 { // the data representation's byte order
		if little {
			return le16(b)
		}
		return be16(b)
	}
	frag, auth := int(u16(b[8:])), int(u16(b[10:]))
	if auth > 0 && frag < 16+8+auth {
		return match{}
	}
	role := uint8(roleServer)
	switch b[2] {
	case 11, 14:
		role = roleClient
		if frag < 16+12 || (len(b) >= 25 && b[24] == 0) {
			return match{}
		}
		fallthrough
	case 12, 15:
		if frag < 16+8 || (len(b) >= 20 && (u16(b[16:]) < 1432 || u16(b[18:]) < 1432)) {
			return match{}
		}
	case 13:
		if frag < 16+2 {
			return match{}
		}
	case 0, 2, 3:
		if b[2] == 0 {
			role = roleClient
		}
		if frag < 16+8 || (b[2] == 3 && frag < 16+16) || (len(b) >= 22 && u16(b[20:]) > 0xff) {
			return match{}
		}
	default:
		return match{}
	}
	return match{proto: DCERPC, final: true, role: role}
}

// mssqlRule recognises a TDS PRELOGIN packet from the client (MS-TDS §2.2.6.5):
// type 0x12, a status of 0 or 1 (end of message), a length of 14 to 4096, SPID 0,
// window 0, and an option list that starts with VERSION (token 0, 6 bytes), holds
// tokens 0-8 whose data lie inside the packet, and ends with 0xFF. The server's
// answer and the TLS handshake TDS wraps in later PRELOGIN packets are not looked at.
func mssqlRule(c *ctx, b []byte) match {
	if len(b) < 8+6 || b[0] != 0x12 || b[1] > 1 || be16(b[4:]) != 0 || b[7] != 0 {
		return match{}
	}
	l := int(be16(b[2:]))
	if l < 8+6 || l > 4096 || l > len(b) {
		return match{}
	}
	p := b[8:l]
	for o := 0; o < len(p); o += 5 {
		tok := p[o]
		if tok == 0xff {
			return match{proto: MSSQL, final: true, role: roleClient}
		}
		if o+5 > len(p) || tok > 8 || (o == 0 && (tok != 0 || be16(p[o+3:]) != 6)) {
			return match{}
		}
		if int(be16(p[o+1:]))+int(be16(p[o+3:])) > len(p) {
			return match{}
		}
	}
	return match{}
}
