package appid

// Database protocols: PostgreSQL and MySQL/MariaDB (Redis is a line protocol, in
// text.go; TDS in windows.go).

// PostgreSQL request codes (protocol documentation, "Message Formats").
const (
	pgCancel  = 80877102
	pgSSL     = 80877103
	pgGSSENC  = 80877104
	pgMajor3  = 3 << 16
	pgMaxSize = 10000 // libpq's limit on a startup packet
)

// postgresRule recognises what a PostgreSQL client sends first: SSLRequest and
// GSSENCRequest (length 8 and the request code), CancelRequest (length 16), or a
// StartupMessage of protocol 3.x whose length is that of the whole payload and whose
// first parameter name is printable. After an SSLRequest the server's one-byte
// answer is awaited: 'S' means a TLS ClientHello follows, whose server name and
// ALPN are taken (the flow stays postgresql); 'N' means a StartupMessage follows in
// clear. A client using sslnegotiation=direct (PostgreSQL 17) starts with a
// ClientHello and is tls.
func postgresRule(c *ctx, b []byte) match {
	if len(b) < 8 {
		return match{}
	}
	l, code := be32(b), be32(b[4:])
	switch {
	case l == 8 && code == pgSSL:
		return match{proto: PostgreSQL, final: true, role: roleClient, hint: hintPGSSL, peer: true}
	case l == 8 && code == pgGSSENC, l == 16 && code == pgCancel:
		return match{proto: PostgreSQL, final: true, role: roleClient}
	case code&^0xffff == pgMajor3 && code&0xffff < 16 && l > 8 && l <= pgMaxSize && int(l) == c.full:
		key := b[8:]
		i := 0
		for i < len(key) && i < 64 && key[i] > ' ' && key[i] <= '~' {
			i++
		}
		if i > 0 && i < len(key) && key[i] == 0 {
			return match{proto: PostgreSQL, final: true, role: roleClient}
		}
	}
	return match{}
}

// mysqlRule recognises the greeting a MySQL or MariaDB server sends first, the
// HandshakeV10 packet (MySQL client/server protocol, "Protocol::HandshakeV10"): a
// 3-byte little-endian length that is the rest of the payload, sequence number 0,
// protocol version 10, a NUL-terminated server version of 1-64 printable bytes
// starting with a digit, then the connection ID, 8 bytes of scramble and a zero
// filler byte.
func mysqlRule(c *ctx, b []byte) match {
	if len(b) < 5+2+4+8+1 || b[3] != 0 || b[4] != 10 || int(le24(b))+4 != c.full || !isDigit(b[5]) {
		return match{}
	}
	i := 5
	for i < len(b) && i < 5+64 && b[i] >= ' ' && b[i] <= '~' {
		i++
	}
	if i >= len(b) || b[i] != 0 || i+1+4+8+1 > len(b) || b[i+1+4+8] != 0 {
		return match{}
	}
	return match{proto: MySQL, final: true, role: roleServer}
}
