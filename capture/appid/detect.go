package appid

// rule says what a payload is, from its content and the flow's state. Rules are
// tried in order and the first that says something wins; each starts with checks of
// a few fixed bytes, so a payload that is none of them costs a few comparisons per
// rule.
type rule func(c *ctx, s *State, b []byte) match

// The rules of each transport, most specific first: those anchored on four or more
// fixed bytes (TLS, SSH, HTTP, SMB, ...) before the structural ones (DNS, LDAP,
// NTP), and the text lines last.
var (
	tcpRules = [...]rule{tlsRule, sshRule, httpRule, smbRule, nbssRule, rdpRule, dcerpcRule,
		mssqlRule, postgresRule, mysqlRule, kerberosRule, iscsiRule, rpcRule, dnsRule, ldapRule, lineRule}
	udpRules = [...]rule{quicRule, dhcpRule, kerberosRule, snmpRule, rpcRule, dnsRule, ldapRule,
		dhcpv6Rule, ntpRule, syslogRule}
)

// detect runs the rules of the payload's transport.
func detect(c *ctx, s *State, b []byte) match {
	rules := tcpRules[:]
	if c.tr == UDP {
		rules = udpRules[:]
	}
	for _, r := range rules {
		m := r(c, s, b)
		if m.proto == Unknown && m.hint == hintNone {
			continue
		}
		if s.proto != Unknown && (m.proto == Unknown || !upgrade(s.proto, m.proto)) {
			continue // a candidate is only replaced by what it leads to
		}
		return m
	}
	return match{}
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
