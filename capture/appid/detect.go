package appid

// detect runs the rules of the payload's transport, in order; the first that says
// something wins. Each rule starts with checks of a few fixed bytes, so a payload
// that is none of them costs a few comparisons per rule. The order puts the rules
// anchored on four or more fixed bytes (TLS, SSH, HTTP, SMB, ...) before the
// structural ones (DNS, LDAP, NTP) and the text lines last.
//
// The rules are called directly, not through a table of functions, so that escape
// analysis sees that c and b stay on the caller's stack: Feed does not allocate.
func detect(c *ctx, b []byte) match {
	if c.tr == UDP {
		if m := quicRule(c, b); c.accepts(m) {
			return m
		}
		if m := dhcpRule(c, b); c.accepts(m) {
			return m
		}
		if m := kerberosRule(c, b); c.accepts(m) {
			return m
		}
		if m := snmpRule(c, b); c.accepts(m) {
			return m
		}
		if m := rpcRule(c, b); c.accepts(m) {
			return m
		}
		if m := dnsRule(c, b); c.accepts(m) {
			return m
		}
		if m := ldapRule(c, b); c.accepts(m) {
			return m
		}
		if m := dhcpv6Rule(c, b); c.accepts(m) {
			return m
		}
		if m := ntpRule(c, b); c.accepts(m) {
			return m
		}
		if m := syslogRule(c, b); c.accepts(m) {
			return m
		}
		return match{}
	}
	if m := tlsRule(c, b); c.accepts(m) {
		return m
	}
	if m := sshRule(c, b); c.accepts(m) {
		return m
	}
	if m := httpRule(c, b); c.accepts(m) {
		return m
	}
	if m := smbRule(c, b); c.accepts(m) {
		return m
	}
	if m := nbssRule(c, b); c.accepts(m) {
		return m
	}
	if m := rdpRule(c, b); c.accepts(m) {
		return m
	}
	if m := dcerpcRule(c, b); c.accepts(m) {
		return m
	}
	if m := mssqlRule(c, b); c.accepts(m) {
		return m
	}
	if m := postgresRule(c, b); c.accepts(m) {
		return m
	}
	if m := mysqlRule(c, b); c.accepts(m) {
		return m
	}
	if m := kerberosRule(c, b); c.accepts(m) {
		return m
	}
	if m := iscsiRule(c, b); c.accepts(m) {
		return m
	}
	if m := rpcRule(c, b); c.accepts(m) {
		return m
	}
	if m := dnsRule(c, b); c.accepts(m) {
		return m
	}
	if m := ldapRule(c, b); c.accepts(m) {
		return m
	}
	if m := lineRule(c, b); c.accepts(m) {
		return m
	}
	return match{}
}

// accepts reports whether m says something the flow can take: anything when nothing
// was recognised yet, only what a candidate leads to otherwise.
func (c *ctx) accepts(m match) bool {
	if m.proto == Unknown && m.hint == hintNone {
		return false
	}
	return c.proto == Unknown || (m.proto != Unknown && upgrade(c.proto, m.proto))
}

// upgrade reports whether a candidate verdict from may be replaced by to: a NetBIOS
// session that carries SMB is smb.
func upgrade(from, to Protocol) bool {
	return from == to || (from == NetBIOSSSN && to == SMB)
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
func be24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
