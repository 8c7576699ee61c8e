package ports

import (
	"cmp"
	"slices"
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

// Application protocols that several ports share.
var (
	appsHTTP   = AppsOf(appid.HTTP, appid.HTTP2)
	appsTLS    = AppsOf(appid.TLS)
	appsONCRPC = AppsOf(appid.Portmap, appid.NFS, appid.Mountd, appid.OncRPC)
)

// appPorts is the table, sorted by protocol and port. A port is here when its
// service's protocol is known well enough that content saying otherwise is news:
// the vocabulary's own ports, the TLS-wrapped services (where TLS is no mismatch)
// and a few services outside the vocabulary (where anything recognised is).
var appPorts = []AppPort{
	{capture.ProtoTCP, 21, "ftp", AppsOf(appid.FTP), "AUTH TLS keeps the flow ftp"},
	{capture.ProtoTCP, 22, "ssh", AppsOf(appid.SSH), ""},
	{capture.ProtoTCP, 23, "telnet", 0, "no protocol of the vocabulary"},
	{capture.ProtoTCP, 25, "smtp", AppsOf(appid.SMTP), "STARTTLS keeps the flow smtp"},
	{capture.ProtoTCP, 53, "domain", AppsOf(appid.DNS), ""},
	{capture.ProtoTCP, 80, "http", appsHTTP, ""},
	{capture.ProtoTCP, 88, "kerberos", AppsOf(appid.Kerberos), ""},
	{capture.ProtoTCP, 110, "pop3", AppsOf(appid.POP3), ""},
	{capture.ProtoTCP, 111, "sunrpc", appsONCRPC, "portmapper; any ONC RPC program (CALLIT forwards)"},
	{capture.ProtoTCP, 135, "epmap", AppsOf(appid.DCERPC), "MS-RPC endpoint mapper"},
	{capture.ProtoTCP, 139, "netbios-ssn", AppsOf(appid.NetBIOSSSN, appid.SMB), ""},
	{capture.ProtoTCP, 143, "imap", AppsOf(appid.IMAP), ""},
	{capture.ProtoTCP, 389, "ldap", AppsOf(appid.LDAP), "StartTLS keeps the flow ldap"},
	{capture.ProtoTCP, 443, "https", appsTLS, "HTTP/2 over TLS is tls"},
	{capture.ProtoTCP, 445, "microsoft-ds", AppsOf(appid.SMB, appid.NetBIOSSSN), "SMB over TCP"},
	{capture.ProtoTCP, 464, "kpasswd", AppsOf(appid.Kerberos), ""},
	{capture.ProtoTCP, 465, "submissions", appsTLS, "SMTP over TLS (IANA: urd, submissions)"},
	{capture.ProtoTCP, 514, "shell", AppsOf(appid.Syslog), "rsyslog and syslog-ng take syslog over TCP here"},
	{capture.ProtoTCP, 587, "submission", AppsOf(appid.SMTP, appid.TLS), "STARTTLS keeps the flow smtp; some clients start TLS at once"},
	{capture.ProtoTCP, 601, "syslog-conn", AppsOf(appid.Syslog), ""},
	{capture.ProtoTCP, 636, "ldaps", appsTLS, ""},
	{capture.ProtoTCP, 853, "domain-s", appsTLS, "DNS over TLS"},
	{capture.ProtoTCP, 860, "iscsi", AppsOf(appid.ISCSI), ""},
	{capture.ProtoTCP, 989, "ftps-data", appsTLS, ""},
	{capture.ProtoTCP, 990, "ftps", appsTLS, ""},
	{capture.ProtoTCP, 992, "telnets", appsTLS, ""},
	{capture.ProtoTCP, 993, "imaps", appsTLS, ""},
	{capture.ProtoTCP, 995, "pop3s", appsTLS, ""},
	{capture.ProtoTCP, 1433, "ms-sql-s", AppsOf(appid.MSSQL, appid.TLS), "TDS 8.0 (SQL Server 2022, strict encryption) starts with TLS"},
	{capture.ProtoTCP, 2049, "nfs", appsONCRPC, "IANA's first name is shilp"},
	{capture.ProtoTCP, 2179, "vmrdp", AppsOf(appid.RDP, appid.TLS), "Hyper-V VM connection: RDP"},
	{capture.ProtoTCP, 3260, "iscsi-target", AppsOf(appid.ISCSI), ""},
	{capture.ProtoTCP, 3268, "msft-gc", AppsOf(appid.LDAP), "Active Directory global catalog"},
	{capture.ProtoTCP, 3269, "msft-gc-ssl", appsTLS, ""},
	{capture.ProtoTCP, 3306, "mysql", AppsOf(appid.MySQL), ""},
	{capture.ProtoTCP, 3389, "ms-wbt-server", AppsOf(appid.RDP, appid.TLS), "RDP; tls when the capture starts at the ClientHello"},
	{capture.ProtoTCP, 4460, "ntske", appsTLS, "NTS key establishment"},
	{capture.ProtoTCP, 5061, "sips", appsTLS, ""},
	{capture.ProtoTCP, 5355, "llmnr", AppsOf(appid.DNS), ""},
	{capture.ProtoTCP, 5432, "postgresql", AppsOf(appid.PostgreSQL, appid.TLS), "PostgreSQL 17 sslnegotiation=direct starts with TLS"},
	{capture.ProtoTCP, 5671, "amqps", appsTLS, ""},
	{capture.ProtoTCP, 5696, "kmip", appsTLS, ""},
	{capture.ProtoTCP, 5985, "wsman", appsHTTP, "WinRM over HTTP"},
	{capture.ProtoTCP, 5986, "wsmans", appsTLS, "WinRM over HTTPS"},
	{capture.ProtoTCP, 6379, "redis", AppsOf(appid.Redis), ""},
	{capture.ProtoTCP, 6514, "syslog-tls", appsTLS, ""},
	{capture.ProtoTCP, 6697, "ircs-u", appsTLS, ""},
	{capture.ProtoTCP, 8008, "http-alt", appsHTTP, ""},
	{capture.ProtoTCP, 8080, "http-alt", appsHTTP, ""},
	{capture.ProtoTCP, 8443, "pcsync-https", appsTLS, "HTTPS"},
	{capture.ProtoTCP, 8883, "secure-mqtt", appsTLS, ""},
	{capture.ProtoTCP, 9443, "tungsten-https", appsTLS, "HTTPS"},
	{capture.ProtoTCP, 20048, "mountd", appsONCRPC, ""},
	{capture.ProtoUDP, 53, "domain", AppsOf(appid.DNS), ""},
	{capture.ProtoUDP, 67, "bootps", AppsOf(appid.DHCP), ""},
	{capture.ProtoUDP, 68, "bootpc", AppsOf(appid.DHCP), ""},
	{capture.ProtoUDP, 88, "kerberos", AppsOf(appid.Kerberos), ""},
	{capture.ProtoUDP, 111, "sunrpc", appsONCRPC, ""},
	{capture.ProtoUDP, 123, "ntp", AppsOf(appid.NTP), ""},
	{capture.ProtoUDP, 137, "netbios-ns", AppsOf(appid.NetBIOSNS), ""},
	{capture.ProtoUDP, 138, "netbios-dgm", 0, "no protocol of the vocabulary"},
	{capture.ProtoUDP, 161, "snmp", AppsOf(appid.SNMP), ""},
	{capture.ProtoUDP, 162, "snmptrap", AppsOf(appid.SNMP), ""},
	{capture.ProtoUDP, 389, "ldap", AppsOf(appid.LDAP), "CLDAP"},
	{capture.ProtoUDP, 443, "https", AppsOf(appid.QUIC), "HTTP/3"},
	{capture.ProtoUDP, 464, "kpasswd", AppsOf(appid.Kerberos), ""},
	{capture.ProtoUDP, 514, "syslog", AppsOf(appid.Syslog), ""},
	{capture.ProtoUDP, 546, "dhcpv6-client", AppsOf(appid.DHCPv6), ""},
	{capture.ProtoUDP, 547, "dhcpv6-server", AppsOf(appid.DHCPv6), ""},
	{capture.ProtoUDP, 853, "domain-s", AppsOf(appid.QUIC), "DNS over QUIC"},
	{capture.ProtoUDP, 2049, "nfs", appsONCRPC, "IANA's first name is shilp"},
	{capture.ProtoUDP, 5353, "mdns", AppsOf(appid.DNS), ""},
	{capture.ProtoUDP, 5355, "llmnr", AppsOf(appid.DNS), ""},
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
	i, ok := slices.BinarySearchFunc(appPorts, [2]int{int(proto), int(port)}, func(a AppPort, k [2]int) int {
		return cmp.Or(cmp.Compare(int(a.Proto), k[0]), cmp.Compare(int(a.Port), k[1]))
	})
	if !ok {
		return 0, false
	}
	return appPorts[i].Apps, true
}
