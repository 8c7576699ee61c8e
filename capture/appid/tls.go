package appid

// TLS over TCP: a handshake record (content type 22) whose first handshake message
// is a ClientHello (from the client) or a ServerHello (from the server), RFC 8446
// §5.1 and §4.1.2-4.1.3 (the same layout since SSL 3.0).
//
// The record version must be 0x0300-0x0303 (TLS 1.3 keeps 0x0301 or 0x0303 there)
// and the hello's legacy_version too; the record is at most 2^14 bytes, the
// handshake message at most 64 KiB (crypto/tls's own limit), the session ID at most
// 32 bytes, and the cipher suite list even and inside the message. The checks need
// the first 44 bytes: no real first segment is shorter.
//
// SSLv2-compatible ClientHellos, DTLS and a record that starts mid-handshake (a
// capture that begins after the ClientHello) are not recognised.

const (
	maxRecord    = 1 << 14
	maxHandshake = 1 << 16
)

// tlsHandshake checks that b starts with a handshake record holding the start of a
// ClientHello (typ 1) or ServerHello (typ 2), and returns how many more bytes of the
// TCP stream the message still needs after b (0 when b holds all of it).
func tlsHandshake(b []byte) (typ byte, more int, ok bool) {
	if len(b) < 44 || b[0] != 0x16 || b[1] != 3 || b[2] > 3 {
		return 0, 0, false
	}
	rl := int(be16(b[3:]))
	typ = b[5]
	hl := int(be24(b[6:]))
	minLen := 41 // version, random, session ID length, 2 bytes of suites and their length, null compression and its length
	if typ == 2 {
		minLen = 38
	} else if typ != 1 {
		return 0, 0, false
	}
	if rl < 4+2+32+1 || rl > maxRecord || hl < minLen || hl > maxHandshake {
		return 0, 0, false
	}
	if b[9] != 3 || b[10] > 3 {
		return 0, 0, false
	}
	sid := int(b[43])
	if sid > 32 {
		return 0, 0, false
	}
	o := 44 + sid
	if typ == 1 && len(b) >= o+2 {
		cl := int(be16(b[o:]))
		if cl < 2 || cl&1 != 0 || 2+32+1+sid+2+cl+2 > hl {
			return 0, 0, false
		}
	}
	if typ == 2 && len(b) >= o+3 && b[o+2] > 1 { // compression: null or deflate
		return 0, 0, false
	}
	// The message spans 4+hl bytes of handshake data; when the first record does not
	// hold them all, the rest comes in records of their own (assumed full-sized, which
	// at worst makes the estimate short by a few headers).
	end := 5 + 4 + hl
	if rest := 4 + hl - rl; rest > 0 {
		end = 5 + rl + rest + 5*((rest+maxRecord-1)/maxRecord)
	}
	return typ, max(0, end-len(b)), true
}

// tlsRule recognises a ClientHello or ServerHello.
func tlsRule(c *ctx, b []byte) match {
	typ, more, ok := tlsHandshake(b)
	if !ok {
		return match{}
	}
	if typ == 2 {
		return match{proto: TLS, final: true, role: roleServer}
	}
	m := match{proto: TLS, final: true, role: roleClient, meta: metaHello}
	if more > 0 {
		m.hint, m.more = hintHelloMore, more
	}
	return m
}

// helloFields returns the server name (the first host_name of server_name, RFC 6066
// §3) and the ALPN protocol_name_list (RFC 7301 §3.1) of a ClientHello's handshake
// bytes hs (type, length, body). hs may be cut short: the extensions are read as far
// as they are complete. The results alias hs.
func helloFields(hs []byte) (sni, alpn []byte) {
	if len(hs) < 4 || hs[0] != 1 {
		return nil, nil
	}
	body := hs[4:min(len(hs), 4+int(be24(hs[1:])))]
	o := 2 + 32
	if len(body) < o+1 {
		return nil, nil
	}
	o += 1 + int(body[o]) // session ID
	if len(body) < o+2 {
		return nil, nil
	}
	o += 2 + int(be16(body[o:])) // cipher suites
	if len(body) < o+1 {
		return nil, nil
	}
	o += 1 + int(body[o]) // compression methods
	if len(body) < o+2 {
		return nil, nil
	}
	ext := body[o+2:]
	if n := int(be16(body[o:])); n < len(ext) {
		ext = ext[:n]
	}
	for len(ext) >= 4 {
		typ, n := be16(ext), int(be16(ext[2:]))
		if 4+n > len(ext) {
			break // cut short
		}
		data := ext[4 : 4+n]
		ext = ext[4+n:]
		switch typ {
		case 0: // server_name: list length, then (type, length, name)...
			if len(data) < 2 {
				continue
			}
			l := data[2:]
			if n := int(be16(data)); n < len(l) {
				l = l[:n]
			}
			for len(l) >= 3 {
				nl := int(be16(l[1:]))
				if 3+nl > len(l) {
					break
				}
				if l[0] == 0 && sni == nil && nl > 0 && nl <= MaxMeta {
					sni = l[3 : 3+nl]
				}
				l = l[3+nl:]
			}
		case 16: // application_layer_protocol_negotiation: list length, then (length, name)...
			if len(data) >= 2 && alpn == nil {
				alpn = data[2:min(len(data), 2+int(be16(data)))]
			}
		}
	}
	return sni, alpn
}
