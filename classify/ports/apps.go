package ports

import (
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
)

// AppSet is a set of application protocols (capture/appid's vocabulary), one bit
// each. The zero value is the empty set.
type AppSet uint64

// AppsOf returns the set of ps.
func AppsOf(ps ...appid.Protocol) AppSet {
	var s AppSet
	for _, p := range ps {
		s |= 1 << p
	}
	return s
}

// Has reports whether s holds p.
func (s AppSet) Has(p appid.Protocol) bool { return p < 64 && s&(1<<p) != 0 }

// String is the names of s in vocabulary order, joined by ", "; "none" for the empty
// set.
func (s AppSet) String() string {
	var names []string
	for _, p := range appid.Protocols() {
		if s.Has(p) {
			names = append(names, p.String())
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// AppPort is a port whose registered service says which application protocols a flow
// to it carries: the table behind the protocol-mismatch flag (docs/protocols.md).
type AppPort struct {
	Proto   uint8  // capture.ProtoTCP or capture.ProtoUDP
	Port    uint16 // the server port
	Service string // the service, as IANA names it (or what runs there when IANA's name says nothing)
	Apps    AppSet // what a flow to it may be recognised as; empty: no protocol of the vocabulary
	Note    string // why, where it is not obvious
}

// One AppSet constant a protocol, and the sets several ports share: constants, so
// that the table is static data.
const (
	aTLS      = AppSet(1) << appid.TLS
	aSSH      = AppSet(1) << appid.SSH
	aHTTP     = AppSet(1) << appid.HTTP
	aHTTP2    = AppSet(1) << appid.HTTP2
	aDNS      = AppSet(1) << appid.DNS
	aSMB      = AppSet(1) << appid.SMB
	aNBSSN    = AppSet(1) << appid.NetBIOSSSN
	aNBNS     = AppSet(1) << appid.NetBIOSNS
	aRDP      = AppSet(1) << appid.RDP
	aKerberos = AppSet(1) << appid.Kerberos
	aLDAP     = AppSet(1) << appid.LDAP
	aDCERPC   = AppSet(1) << appid.DCERPC
	aNTP      = AppSet(1) << appid.NTP
	aSNMP     = AppSet(1) << appid.SNMP
	aSyslog   = AppSet(1) << appid.Syslog
	aDHCP     = AppSet(1) << appid.DHCP
	aDHCPv6   = AppSet(1) << appid.DHCPv6
	aQUIC     = AppSet(1) << appid.QUIC
	aPG       = AppSet(1) << appid.PostgreSQL
	aMSSQL    = AppSet(1) << appid.MSSQL
	aMySQL    = AppSet(1) << appid.MySQL
	aSMTP     = AppSet(1) << appid.SMTP
	aFTP      = AppSet(1) << appid.FTP
	aIMAP     = AppSet(1) << appid.IMAP
	aPOP3     = AppSet(1) << appid.POP3
	aRedis    = AppSet(1) << appid.Redis
	aISCSI    = AppSet(1) << appid.ISCSI

	appsHTTP   = aHTTP | aHTTP2
	appsTLS    = aTLS
	appsONCRPC = AppSet(1)<<appid.Portmap | AppSet(1)<<appid.NFS | AppSet(1)<<appid.Mountd | AppSet(1)<<appid.OncRPC
)

// appPorts is the table, sorted by protocol and port. A port is here when its
// service's protocol is known well enough that content saying otherwise is news:
// the vocabulary's own ports, the TLS-wrapped services (where TLS is no mismatch)
// and a few services outside the vocabulary (where anything recognised is).
var appPorts = []AppPort{
	{capture.ProtoTCP, 21, "ftp", aFTP, "AUTH TLS keeps the flow ftp"},
	{capture.ProtoTCP, 22, "ssh", aSSH, ""},
	{capture.ProtoTCP, 23, "telnet", 0, "no protocol of the vocabulary"},
	{capture.ProtoTCP, 25, "smtp", aSMTP, "STARTTLS keeps the flow smtp"},
	{capture.ProtoTCP, 53, "domain", aDNS, ""},
	{capture.ProtoTCP, 80, "http", appsHTTP, ""},
	{capture.ProtoTCP, 88, "kerberos", aKerberos, ""},
	{capture.ProtoTCP, 110, "pop3", aPOP3, ""},
	{capture.ProtoTCP, 111, "sunrpc", appsONCRPC, "portmapper; any ONC RPC program (CALLIT forwards)"},
	{capture.ProtoTCP, 135, "epmap", aDCERPC, "MS-RPC endpoint mapper"},
	{capture.ProtoTCP, 139, "netbios-ssn", aNBSSN | aSMB, ""},
	{capture.ProtoTCP, 143, "imap", aIMAP, ""},
	{capture.ProtoTCP, 389, "ldap", aLDAP, "StartTLS keeps the flow ldap"},
	{capture.ProtoTCP, 443, "https", appsTLS, "HTTP/2 over TLS is tls"},
	{capture.ProtoTCP, 445, "microsoft-ds", aSMB | aNBSSN, "SMB over TCP"},
	{capture.ProtoTCP, 464, "kpasswd", aKerberos, ""},
	{capture.ProtoTCP, 465, "submissions", appsTLS, "SMTP over TLS (IANA: urd, submissions)"},
	{capture.ProtoTCP, 514, "shell", aSyslog, "rsyslog and syslog-ng take syslog over TCP here"},
	{capture.ProtoTCP, 587, "submission", aSMTP | aTLS, "STARTTLS keeps the flow smtp; some clients start TLS at once"},
	{capture.ProtoTCP, 601, "syslog-conn", aSyslog, ""},
	{capture.ProtoTCP, 636, "ldaps", appsTLS, ""},
	{capture.ProtoTCP, 853, "domain-s", appsTLS, "DNS over TLS"},
	{capture.ProtoTCP, 860, "iscsi", aISCSI, ""},
	{capture.ProtoTCP, 989, "ftps-data", appsTLS, ""},
	{capture.ProtoTCP, 990, "ftps", appsTLS, ""},
	{capture.ProtoTCP, 992, "telnets", appsTLS, ""},
	{capture.ProtoTCP, 993, "imaps", appsTLS, ""},
	{capture.ProtoTCP, 995, "pop3s", appsTLS, ""},
	{capture.ProtoTCP, 1433, "ms-sql-s", aMSSQL | aTLS, "TDS 8.0 (SQL Server 2022, strict encryption) starts with TLS"},
	{capture.ProtoTCP, 2049, "nfs", appsONCRPC, "IANA's first name is shilp"},
	{capture.ProtoTCP, 2179, "vmrdp", aRDP | aTLS, "Hyper-V VM connection: RDP"},
	{capture.ProtoTCP, 3260, "iscsi-target", aISCSI, ""},
	{capture.ProtoTCP, 3268, "msft-gc", aLDAP, "Active Directory global catalog"},
	{capture.ProtoTCP, 3269, "msft-gc-ssl", appsTLS, ""},
	{capture.ProtoTCP, 3306, "mysql", aMySQL, ""},
	{capture.ProtoTCP, 3389, "ms-wbt-server", aRDP | aTLS, "RDP; tls when the capture starts at the ClientHello"},
	{capture.ProtoTCP, 4460, "ntske", appsTLS, "NTS key establishment"},
	{capture.ProtoTCP, 5061, "sips", appsTLS, ""},
	{capture.ProtoTCP, 5355, "llmnr", aDNS, ""},
	{capture.ProtoTCP, 5432, "postgresql", aPG | aTLS, "PostgreSQL 17 sslnegotiation=direct starts with TLS"},
	{capture.ProtoTCP, 5671, "amqps", appsTLS, ""},
	{capture.ProtoTCP, 5696, "kmip", appsTLS, ""},
	{capture.ProtoTCP, 5985, "wsman", appsHTTP, "WinRM over HTTP"},
	{capture.ProtoTCP, 5986, "wsmans", appsTLS, "WinRM over HTTPS"},
	{capture.ProtoTCP, 6379, "redis", aRedis, ""},
	{capture.ProtoTCP, 6514, "syslog-tls", appsTLS, ""},
	{capture.ProtoTCP, 6697, "ircs-u", appsTLS, ""},
	{capture.ProtoTCP, 8008, "http-alt", appsHTTP, ""},
	{capture.ProtoTCP, 8080, "http-alt", appsHTTP, ""},
	{capture.ProtoTCP, 8443, "pcsync-https", appsTLS, "HTTPS"},
	{capture.ProtoTCP, 8883, "secure-mqtt", appsTLS, ""},
	{capture.ProtoTCP, 9443, "tungsten-https", appsTLS, "HTTPS"},
	{capture.ProtoTCP, 20048, "mountd", appsONCRPC, ""},
	{capture.ProtoUDP, 53, "domain", aDNS, ""},
	{capture.ProtoUDP, 67, "bootps", aDHCP, ""},
	{capture.ProtoUDP, 68, "bootpc", aDHCP, ""},
	{capture.ProtoUDP, 88, "kerberos", aKerberos, ""},
	{capture.ProtoUDP, 111, "sunrpc", appsONCRPC, ""},
	{capture.ProtoUDP, 123, "ntp", aNTP, ""},
	{capture.ProtoUDP, 137, "netbios-ns", aNBNS, ""},
	{capture.ProtoUDP, 138, "netbios-dgm", 0, "no protocol of the vocabulary"},
	{capture.ProtoUDP, 161, "snmp", aSNMP, ""},
	{capture.ProtoUDP, 162, "snmptrap", aSNMP, ""},
	{capture.ProtoUDP, 389, "ldap", aLDAP, "CLDAP"},
	{capture.ProtoUDP, 443, "https", aQUIC, "HTTP/3"},
	{capture.ProtoUDP, 464, "kpasswd", aKerberos, ""},
	{capture.ProtoUDP, 514, "syslog", aSyslog, ""},
	{capture.ProtoUDP, 546, "dhcpv6-client", aDHCPv6, ""},
	{capture.ProtoUDP, 547, "dhcpv6-server", aDHCPv6, ""},
	{capture.ProtoUDP, 853, "domain-s", aQUIC, "DNS over QUIC"},
	{capture.ProtoUDP, 2049, "nfs", appsONCRPC, "IANA's first name is shilp"},
	{capture.ProtoUDP, 5353, "mdns", aDNS, ""},
	{capture.ProtoUDP, 5355, "llmnr", aDNS, ""},
	{capture.ProtoUDP, 20048, "mountd", appsONCRPC, ""},
}

// AppPorts returns the table behind PortApps, sorted by protocol and port. The slice
// is shared: do not modify it.
func AppPorts() []AppPort { return appPorts }

// PortApps returns the application protocols a flow to server port port of IP
// protocol proto may be recognised as, by what its registered service speaks, and
// whether the table knows the port: when it does not, the port says nothing a
// protocol could contradict. It does not allocate.
func PortApps(proto uint8, port uint16) (AppSet, bool) {
	k := uint32(proto)<<16 | uint32(port)
	i, j := 0, len(appPorts)
	for i < j { // bisection by hand: no closure per flow
		h := int(uint(i+j) >> 1)
		if e := &appPorts[h]; uint32(e.Proto)<<16|uint32(e.Port) < k {
			i = h + 1
		} else {
			j = h
		}
	}
	if i < len(appPorts) && appPorts[i].Proto == proto && appPorts[i].Port == port {
		return appPorts[i].Apps, true
	}
	return 0, false
}
