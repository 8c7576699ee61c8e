package appid

import (
	"errors"
	"fmt"
)

// Protocol is an application protocol recognised from payload. The zero value,
// Unknown, means that nothing was recognised; it renders as "" (the record value of
// an unidentified flow). docs/protocols.md says what each name stands for.
type Protocol uint8

// The vocabulary. The order is that of docs/protocols.md; new names are appended
// (values are not stored anywhere, but keeping them stable keeps diffs small).
//
// NFS, Mountd and Portmap are ONC RPC programs given names of their own (program
// numbers 100003, 100005 and 100000 with a version the program has): they are what a
// backup or firewall engineer asks about, while OncRPC covers every other program
// (nlockmgr, status, rquotad, ...).
const (
	Unknown    Protocol = iota
	TLS                 // "tls": TLS over TCP (ClientHello or ServerHello)
	SSH                 // "ssh": the identification string
	HTTP                // "http": HTTP/1.x request or response
	HTTP2               // "http2": the cleartext HTTP/2 connection preface (h2c with prior knowledge)
	DNS                 // "dns": DNS over UDP or TCP, mDNS and LLMNR included
	SMB                 // "smb": SMB1, SMB2/3, direct over TCP or in a NetBIOS session
	NetBIOSSSN          // "netbios-ssn": NetBIOS session service without SMB seen
	NetBIOSNS           // "netbios-ns": NetBIOS name service (UDP)
	RDP                 // "rdp": TPKT/X.224 connection request or confirm with RDP content
	Kerberos            // "kerberos": KDC and AP exchanges over UDP or TCP
	LDAP                // "ldap": an LDAPMessage over TCP, or CLDAP over UDP
	DCERPC              // "dcerpc": MS-RPC/DCE connection-oriented bind family
	NTP                 // "ntp": NTP modes 1-6
	SNMP                // "snmp": SNMP v1, v2c, v3
	Syslog              // "syslog": RFC 5424 or RFC 3164 message
	DHCP                // "dhcp": BOOTP with the DHCP magic cookie
	DHCPv6              // "dhcpv6": DHCPv6 client/server or relay message
	QUIC                // "quic": QUIC long-header Initial
	PostgreSQL          // "postgresql": startup, SSL/GSSENC/cancel request
	MSSQL               // "mssql": TDS PRELOGIN
	MySQL               // "mysql": the server greeting (MySQL, MariaDB)
	SMTP                // "smtp"
	FTP                 // "ftp": the control connection
	IMAP                // "imap"
	POP3                // "pop3"
	Redis               // "redis": RESP commands, inline PING answered by +PONG
	OncRPC              // "onc-rpc": Sun RPC call of a program without a name of its own
	NFS                 // "nfs": ONC RPC program 100003
	Mountd              // "mountd": ONC RPC program 100005
	Portmap             // "portmap": ONC RPC program 100000 (portmapper, rpcbind)
	ISCSI               // "iscsi": login request or response
	numProtocols
)

var names = [numProtocols]string{
	Unknown:    "",
	TLS:        "tls",
	SSH:        "ssh",
	HTTP:       "http",
	HTTP2:      "http2",
	DNS:        "dns",
	SMB:        "smb",
	NetBIOSSSN: "netbios-ssn",
	NetBIOSNS:  "netbios-ns",
	RDP:        "rdp",
	Kerberos:   "kerberos",
	LDAP:       "ldap",
	DCERPC:     "dcerpc",
	NTP:        "ntp",
	SNMP:       "snmp",
	Syslog:     "syslog",
	DHCP:       "dhcp",
	DHCPv6:     "dhcpv6",
	QUIC:       "quic",
	PostgreSQL: "postgresql",
	MSSQL:      "mssql",
	MySQL:      "mysql",
	SMTP:       "smtp",
	FTP:        "ftp",
	IMAP:       "imap",
	POP3:       "pop3",
	Redis:      "redis",
	OncRPC:     "onc-rpc",
	NFS:        "nfs",
	Mountd:     "mountd",
	Portmap:    "portmap",
	ISCSI:      "iscsi",
}

// String returns the record name: lower case, "" for Unknown, and "protocol(N)" for
// a value outside the vocabulary (which Feed never returns).
func (p Protocol) String() string {
	if p < numProtocols {
		return names[p]
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// Protocols returns every known protocol, Unknown excluded, in vocabulary order.
// The slice is new on every call.
func Protocols() []Protocol {
	out := make([]Protocol, 0, numProtocols-1)
	for p := Unknown + 1; p < numProtocols; p++ {
		out = append(out, p)
	}
	return out
}

// ErrUnknownName is returned (wrapped) by ParseProtocol for a name outside the
// vocabulary.
var ErrUnknownName = errors.New("not an application protocol name")

// ParseProtocol returns the protocol a record name stands for; "" is Unknown. Names
// are matched exactly (they are lower case).
func ParseProtocol(name string) (Protocol, error) {
	for p, n := range names {
		if n == name {
			return Protocol(p), nil
		}
	}
	return Unknown, fmt.Errorf("parse %q: %w", name, ErrUnknownName)
}
