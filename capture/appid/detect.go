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
	var m match
	if c.tr == UDP {
		for i := 0; ; i++ {
			switch i {
			case 0:
				m = quicRule(c, b)
			case 1:
				m = dhcpRule(c, b)
			case 2:
				m = kerberosRule(c, b)
			case 3:
				m = snmpRule(c, b)
			case 4:
				m = rpcRule(c, b)
			case 5:
				m = dnsRule(c, b)
			case 6:
				m = ldapRule(c, b)
			case 7:
				m = dhcpv6Rule(c, b)
			case 8:
				m = ntpRule(c, b)
			case 9:
				m = syslogRule(c, b)
			default:
				return match{}
			}
			if c.accepts(m) {
				return m
			}
		}
	}
	for i := 0; ; i++ {
		switch i {
		case 0:
			m = tlsRule(c, b)
		case 1:
			m = sshRule(c, b)
		case 2:
			m = httpRule(c, b)
		case 3:
			m = smbRule(c, b)
		case 4:
			m = nbssRule(c, b)
		case 5:
			m = rdpRule(c, b)
		case 6:
			m = dcerpcRule(c, b)
		case 7:
			m = mssqlRule(c, b)
		case 8:
			m = postgresRule(c, b)
		case 9:
			m = mysqlRule(c, b)
		case 10:
			m = kerberosRule(c, b)
		case 11:
			m = iscsiRule(c, b)
		case 12:
			m = rpcRule(c, b)
		case 13:
			m = dnsRule(c, b)
		case 14:
			m = ldapRule(c, b)
		case 15:
			m = lineRule(c, b)
		default:
			return match{}
		}
		if c.accepts(m) {
			return m
		}
	}
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
