package appid

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// hx decodes hex written with spaces and newlines.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// edit returns a copy of b with b[i] set to v: the near misses are real messages with
// one field made wrong.
func edit(b []byte, i int, v ...byte) []byte {
	out := bytes.Clone(b)
	copy(out[i:], v)
	return out
}

// blob returns n pseudo-random bytes, the same for the same seed.
func blob(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// pkt is one payload of a test flow: side 0 is the client of the captured exchange,
// side 1 the server.
type pkt struct {
	side uint8
	data []byte
}

func cli(b []byte) pkt { return pkt{0, b} }
func srv(b []byte) pkt { return pkt{1, b} }

// tsapRequest is rdpRequest with its variable part replaced by the TSAP parameters
// an ISO transport user such as S7comm sends (calling and called TSAP, TPDU size):
// the same TPKT and X.224 connection request, not RDP.
func tsapRequest() []byte {
	params := []byte{0xc1, 0x02, 0x01, 0x00, 0xc2, 0x02, 0x01, 0x02, 0xc0, 0x01, 0x0a}
	b := append(bytes.Clone(rdpRequest[:11]), params...)
	b[3], b[4] = byte(len(b)), byte(len(b)-5)
	return b
}

type feedCase struct {
	name   string
	tr     Transport
	pkts   []pkt
	want   Protocol
	client int8 // the side Client reports, -1 for none
	meta   Meta // the strings Take gives
}

// run feeds the case's payloads to a new State, taking metadata whenever there is
// some, as a flow table would.
func (tc *feedCase) run() (State, Meta) {
	var st State
	var m Meta
	for _, p := range tc.pkts {
		st.Feed(tc.tr, p.side, p.data)
		if st.HasMeta() {
			st.Take(&m, p.data)
		}
	}
	return st, m
}

var (
	httpRTSP         = bytes.Replace(httpGet5432, []byte("HTTP/1.1"), []byte("RTSP/1.0"), 1)
	httpLongTarget   = bytes.Replace(httpGet5432, []byte("/index.html"), append([]byte("/"), bytes.Repeat([]byte("a"), MaxBytes)...), 1)
	sshNoSoftware    = []byte("SSH-2.0-\r\n")
	syslogBinary     = append(bytes.Clone(syslog3164[:4]), blob(60, 42)...)
	syslogPRI192     = append([]byte("<192>"), syslog5424[4:]...)
	rpcNlockmgr      = edit(rpcGetaddrUDP, 12, 0x00, 0x01, 0x86, 0xb5) // program 100021
	rdpTSAPRequest   = tsapRequest()
	pgStartupV2      = edit(pgStartup, 4, 0x00, 0x02)
	ldapBindV4       = edit(ldapBind, 9, 4)
	tdsNoTerminator  = edit(tdsPrelogin, 8+25, 0x05)
	dnsQueryTrailing = append(bytes.Clone(dnsQuery), 0)
	krbASReqPvno4    = edit(krbASReqUDP, 10, 4)
	quicVersion3     = edit(quicClientInitial, 1, 0, 0, 0, 3)
	quicShortHeader  = edit(quicClientInitial, 0, 0x40)
)

var feedCases = []feedCase{
	// TLS
	{"tls ClientHello and ServerHello", TCP, []pkt{cli(tlsClientHello), srv(tlsServerHello)}, TLS, 0,
		Meta{SNI: "www.example.com", ALPN: "h2,http/1.1"}},
	{"tls ServerHello alone", TCP, []pkt{srv(tlsServerHello)}, TLS, 0, Meta{}},
	{"tls ClientHello in three segments", TCP, []pkt{cli(tlsSplit1), cli(tlsSplit2), cli(tlsSplit3), srv(tlsSplitServer)}, TLS, 0,
		Meta{SNI: "www.example.com", ALPN: "h2,http/1.1"}},
	{"tls ClientHello first segment again (retransmitted)", TCP, []pkt{cli(tlsSplit1), cli(tlsSplit1), cli(tlsSplit2), cli(tlsSplit3)}, TLS, 0,
		Meta{SNI: "www.example.com", ALPN: "h2,http/1.1"}},
	{"tls ClientHello cut where the server answers", TCP, []pkt{cli(tlsSplit1), srv(tlsSplitServer), cli(tlsSplit2)}, TLS, 0, Meta{}},
	{"tls record version 3.5", TCP, []pkt{cli(edit(tlsClientHello, 2, 5))}, Unknown, -1, Meta{}},
	{"tls record version 2.1", TCP, []pkt{cli(edit(tlsClientHello, 1, 2))}, Unknown, -1, Meta{}},
	{"tls handshake type certificate", TCP, []pkt{cli(edit(tlsClientHello, 5, 11))}, Unknown, -1, Meta{}},
	{"tls session ID of 33 bytes", TCP, []pkt{cli(edit(tlsClientHello, 43, 33))}, Unknown, -1, Meta{}},
	{"tls ClientHello over UDP", UDP, []pkt{cli(tlsClientHello)}, Unknown, -1, Meta{}},

	// HTTP
	{"http GET to 5432", TCP, []pkt{cli(httpGet5432), srv(httpResponse)}, HTTP, 0, Meta{HTTPHost: "localhost:5432"}},
	{"http response alone", TCP, []pkt{srv(httpResponse)}, HTTP, 0, Meta{}},
	{"http GET to sshd", TCP, []pkt{cli(httpGetToSSHD), srv(sshServerToGet)}, HTTP, 0, Meta{HTTPHost: "127.0.0.1:22"}},
	{"http2 preface", TCP, []pkt{cli(h2cPreface)}, HTTP2, 0, Meta{}},
	{"http request line with version RTSP/1.0", TCP, []pkt{cli(httpRTSP)}, Unknown, -1, Meta{}},
	{"http request line longer than the byte budget", TCP, []pkt{cli(httpLongTarget)}, Unknown, -1, Meta{}},

	// SSH
	{"ssh identification strings", TCP, []pkt{cli(sshClient), srv(sshServer)}, SSH, -1,
		Meta{SSHBanner: [2]string{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"}}},
	{"ssh server first", TCP, []pkt{srv(sshServer), cli(sshClient)}, SSH, -1,
		Meta{SSHBanner: [2]string{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"}}},
	{"ssh without software version", TCP, []pkt{cli(sshNoSoftware)}, Unknown, -1, Meta{}},
	{"ssh identification string over UDP", UDP, []pkt{cli(sshClient)}, Unknown, -1, Meta{}},

	// DNS and NetBIOS name service
	{"dns over UDP", UDP, []pkt{cli(dnsQuery), srv(dnsResponse)}, DNS, 0, Meta{}},
	{"dns response alone", UDP, []pkt{srv(dnsResponse)}, DNS, 0, Meta{}},
	{"dns over TCP", TCP, []pkt{cli(dnsTCPQuery), srv(dnsTCPResponse)}, DNS, 0, Meta{}},
	{"dns query with a trailing byte", UDP, []pkt{cli(dnsQueryTrailing)}, Unknown, -1, Meta{}},
	{"dns query over TCP without its length", TCP, []pkt{cli(dnsQuery)}, Unknown, -1, Meta{}},
	{"netbios-ns query", UDP, []pkt{cli(nbnsQuery)}, NetBIOSNS, 0, Meta{}},

	// SMB and the NetBIOS session service
	{"smb negotiate on 445", TCP, []pkt{cli(smb1Negotiate), srv(smb2NegotiateResponse), cli(smb2Negotiate)}, SMB, 0, Meta{}},
	{"smb2 negotiate response alone", TCP, []pkt{srv(smb2NegotiateResponse)}, SMB, 0, Meta{}},
	{"netbios session then smb", TCP, []pkt{cli(nbssRequest), srv(nbssPositive), cli(nbssSMB1Negotiate)}, SMB, 0, Meta{}},
	{"netbios session without smb", TCP, []pkt{cli(nbssRequest), srv(nbssPositive)}, NetBIOSSSN, 0, Meta{}},
	{"netbios positive response alone", TCP, []pkt{srv(nbssPositive)}, Unknown, -1, Meta{}},
	{"smb2 structure size 65", TCP, []pkt{cli(edit(smb2Negotiate, 8, 65))}, Unknown, -1, Meta{}},

	// DCE/RPC
	{"dcerpc bind over TCP", TCP, []pkt{cli(dcerpcBindTCP)}, DCERPC, 0, Meta{}},
	{"dcerpc bind and bind_ack", TCP, []pkt{cli(dcerpcBindPipe), srv(dcerpcBindAckPipe)}, DCERPC, 0, Meta{}},
	{"dcerpc bind_ack alone", TCP, []pkt{srv(dcerpcBindAckPipe)}, DCERPC, 0, Meta{}},
	{"dcerpc request and response (after the bind)", TCP, []pkt{cli(dcerpcRequestPipe), srv(dcerpcResponsePipe)}, DCERPC, 0, Meta{}},
	{"dcerpc response alone", TCP, []pkt{srv(dcerpcResponsePipe)}, DCERPC, 0, Meta{}},
	{"dcerpc connectionless version 4", TCP, []pkt{cli(edit(dcerpcBindTCP, 0, 4))}, Unknown, -1, Meta{}},
	{"dcerpc request with context ID 256", TCP, []pkt{cli(edit(dcerpcRequestPipe, 20, 0, 1))}, Unknown, -1, Meta{}},
	{"dcerpc max_xmit_frag 184", TCP, []pkt{cli(edit(dcerpcBindTCP, 16, 0xb8, 0x00))}, Unknown, -1, Meta{}},

	// PostgreSQL
	{"postgresql SSLRequest, S, ClientHello", TCP, []pkt{cli(pgSSLRequest), srv(pgSSLYes), cli(pgClientHello)}, PostgreSQL, 0, Meta{SNI: "localhost"}},
	{"postgresql StartupMessage", TCP, []pkt{cli(pgStartup)}, PostgreSQL, 0, Meta{}},
	{"postgresql SSLRequest, N, StartupMessage", TCP, []pkt{cli(pgSSLRequest), srv(pgSSLNo), cli(pgStartup)}, PostgreSQL, 0, Meta{}},
	{"postgresql GSSENCRequest", TCP, []pkt{cli(pgGSSENCRequest)}, PostgreSQL, 0, Meta{}},
	{"postgresql StartupMessage of protocol 2.0", TCP, []pkt{cli(pgStartupV2)}, Unknown, -1, Meta{}},
	{"postgresql StartupMessage one byte short", TCP, []pkt{cli(pgStartup[:len(pgStartup)-1])}, Unknown, -1, Meta{}},

	// MySQL, TDS, Redis
	{"mysql greeting", TCP, []pkt{srv(mysqlGreeting)}, MySQL, 0, Meta{}},
	{"mysql greeting with a wrong length", TCP, []pkt{srv(edit(mysqlGreeting, 0, 0x65))}, Unknown, -1, Meta{}},
	{"mssql PRELOGIN from tsql", TCP, []pkt{cli(tdsPrelogin)}, MSSQL, 0, Meta{}},
	{"mssql PRELOGIN of MS-TDS 4.1", TCP, []pkt{cli(tdsPreloginSpec)}, MSSQL, 0, Meta{}},
	{"mssql PRELOGIN without its terminator", TCP, []pkt{cli(tdsNoTerminator)}, Unknown, -1, Meta{}},
	{"redis PING", TCP, []pkt{cli(redisPing), srv(redisPong)}, Redis, 0, Meta{}},
	{"redis SET", TCP, []pkt{cli(redisSet), srv(redisOK)}, Redis, 0, Meta{}},
	{"redis inline PING answered", TCP, []pkt{cli(redisInlinePing), srv(redisPongInline)}, Redis, 0, Meta{}},
	{"redis inline PING unanswered", TCP, []pkt{cli(redisInlinePing)}, Unknown, -1, Meta{}},
	{"redis +OK after an unknown message", TCP, []pkt{cli(blob(40, 1)), srv(redisOK)}, Unknown, -1, Meta{}},

	// Syslog
	{"syslog RFC 5424 over UDP", UDP, []pkt{cli(syslog5424)}, Syslog, 0, Meta{}},
	{"syslog RFC 3164 over UDP", UDP, []pkt{cli(syslog3164)}, Syslog, 0, Meta{}},
	{"syslog over TCP, octet counting", TCP, []pkt{cli(syslogTCPOctets)}, Syslog, 0, Meta{}},
	{"syslog over TCP, RFC 3164 line", TCP, []pkt{cli(syslogTCP3164)}, Syslog, 0, Meta{}},
	{"syslog priority followed by binary", UDP, []pkt{cli(syslogBinary)}, Unknown, -1, Meta{}},
	{"syslog priority 192", UDP, []pkt{cli(syslogPRI192)}, Unknown, -1, Meta{}},

	// NTP, SNMP
	{"ntp client and server", UDP, []pkt{cli(ntpClient), srv(ntpServer)}, NTP, 0, Meta{}},
	{"ntp of 47 bytes", UDP, []pkt{cli(ntpClient[:47])}, Unknown, -1, Meta{}},
	{"ntp version 5", UDP, []pkt{cli(edit(ntpClient, 0, 0x2b))}, Unknown, -1, Meta{}},
	{"snmp v1 get and response", UDP, []pkt{cli(snmpV1Get), srv(snmpV1Response)}, SNMP, 0, Meta{}},
	{"snmp v2c get", UDP, []pkt{cli(snmpV2cGet)}, SNMP, 0, Meta{}},
	{"snmp v3 discovery and report", UDP, []pkt{cli(snmpV3Discovery), srv(snmpV3Report)}, SNMP, 0, Meta{}},
	{"snmp v3 encrypted get", UDP, []pkt{cli(snmpV3Encrypted)}, SNMP, 0, Meta{}},
	{"snmp v1 response alone", UDP, []pkt{srv(snmpV1Response)}, SNMP, 0, Meta{}},
	{"snmp version 2 (unassigned)", UDP, []pkt{cli(edit(snmpV1Get, 4, 2))}, Unknown, -1, Meta{}},

	// Kerberos, LDAP
	{"kerberos AS exchange over UDP", UDP, []pkt{cli(krbASReqUDP), srv(krbASRepUDP)}, Kerberos, 0, Meta{}},
	{"kerberos AS-REQ and KRB-ERROR over TCP", TCP, []pkt{cli(krbASReqTCP), srv(krbErrorTCP)}, Kerberos, 0, Meta{}},
	{"kerberos KRB-ERROR alone", TCP, []pkt{srv(krbErrorTCP)}, Kerberos, 0, Meta{}},
	{"kerberos AS-REQ cut by a byte", UDP, []pkt{cli(krbASReqUDP[:len(krbASReqUDP)-1])}, Unknown, -1, Meta{}},
	{"kerberos AS-REQ with pvno 4", UDP, []pkt{cli(krbASReqPvno4)}, Unknown, -1, Meta{}},
	{"ldap bind and search", TCP, []pkt{cli(ldapBind), srv(ldapBindResponse), cli(ldapSearch), srv(ldapSearchEntry)}, LDAP, 0, Meta{}},
	{"ldap bindResponse alone", TCP, []pkt{srv(ldapBindResponse)}, LDAP, 0, Meta{}},
	{"ldap unbind alone", TCP, []pkt{cli(ldapUnbind)}, LDAP, 0, Meta{}},
	{"cldap search over UDP", UDP, []pkt{cli(cldapSearch)}, LDAP, 0, Meta{}},
	{"ldap bindRequest version 4", TCP, []pkt{cli(ldapBindV4)}, Unknown, -1, Meta{}},

	// Mail and FTP
	{"smtp banner and EHLO", TCP, []pkt{srv(smtpBanner), cli(smtpEHLO)}, SMTP, 0, Meta{}},
	{"smtp EHLO alone", TCP, []pkt{cli(smtpEHLO)}, SMTP, 0, Meta{}},
	{"imap banner and CAPABILITY", TCP, []pkt{srv(imapBanner), cli(imapCapability)}, IMAP, 0, Meta{}},
	{"imap CAPABILITY alone", TCP, []pkt{cli(imapCapability)}, IMAP, 0, Meta{}},
	{"pop3 banner and CAPA", TCP, []pkt{srv(pop3Banner), cli(pop3CAPA)}, POP3, 0, Meta{}},
	{"pop3 CAPA alone", TCP, []pkt{cli(pop3CAPA)}, POP3, 0, Meta{}},
	{"ftp banner and USER", TCP, []pkt{srv(ftpBanner), cli(ftpUSER)}, FTP, 0, Meta{}},
	{"ftp plain 220 banner, then USER", TCP, []pkt{srv(ftpPlainBanner), cli(ftpUSER)}, FTP, 0, Meta{}},
	{"ftp plain 220 banner alone", TCP, []pkt{srv(ftpPlainBanner)}, Unknown, -1, Meta{}},
	{"ftp USER alone (or pop3)", TCP, []pkt{cli(ftpUSER)}, Unknown, -1, Meta{}},
	{"ftp banner after the client spoke", TCP, []pkt{cli(blob(40, 2)), srv(ftpBanner)}, Unknown, -1, Meta{}},

	// ONC RPC, iSCSI
	{"portmap GETADDR over TCP", TCP, []pkt{cli(rpcGetaddrTCP)}, Portmap, 0, Meta{}},
	{"portmap GETADDR over UDP", UDP, []pkt{cli(rpcGetaddrUDP)}, Portmap, 0, Meta{}},
	{"nfs NULL over TCP", TCP, []pkt{cli(nfsNullTCP)}, NFS, 0, Meta{}},
	{"mountd NULL over UDP", UDP, []pkt{cli(mountdNullUDP)}, Mountd, 0, Meta{}},
	{"onc-rpc call to nlockmgr", UDP, []pkt{cli(rpcNlockmgr)}, OncRPC, 0, Meta{}},
	{"onc-rpc version 3", UDP, []pkt{cli(edit(rpcGetaddrUDP, 11, 3))}, Unknown, -1, Meta{}},
	{"nfs call over TCP without record mark", TCP, []pkt{cli(nfsNullTCP[4:])}, Unknown, -1, Meta{}},
	{"iscsi login", TCP, []pkt{cli(iscsiLogin), srv(iscsiLoginResponse)}, ISCSI, 0, Meta{}},
	{"iscsi login response alone", TCP, []pkt{srv(iscsiLoginResponse)}, ISCSI, 0, Meta{}},
	{"iscsi login with version-max 1", TCP, []pkt{cli(edit(iscsiLogin, 2, 1))}, Unknown, -1, Meta{}},

	// RDP
	{"rdp request, confirm, ClientHello", TCP, []pkt{cli(rdpRequest), srv(rdpConfirm), cli(rdpClientHello)}, RDP, 0, Meta{SNI: "127.0.0.1"}},
	{"rdp confirm alone", TCP, []pkt{srv(rdpConfirm)}, RDP, 0, Meta{}},
	{"x.224 connection request with TSAP parameters", TCP, []pkt{cli(rdpTSAPRequest)}, Unknown, -1, Meta{}},

	// DHCP, DHCPv6, QUIC
	{"dhcp discover and offer", UDP, []pkt{cli(dhcpDiscover), srv(dhcpOffer)}, DHCP, 0, Meta{}},
	{"dhcp without magic cookie", UDP, []pkt{cli(edit(dhcpDiscover, 236, 0))}, Unknown, -1, Meta{}},
	{"dhcpv6 solicit and advertise", UDP, []pkt{cli(dhcpv6Solicit), srv(dhcpv6Advertise)}, DHCPv6, 0, Meta{}},
	{"dhcpv6 solicit one byte short", UDP, []pkt{cli(dhcpv6Solicit[:len(dhcpv6Solicit)-1])}, Unknown, -1, Meta{}},
	{"quic client Initial", UDP, []pkt{cli(quicClientInitial), srv(quicServerInitial)}, QUIC, -1, Meta{}},
	{"quic server Initial alone", UDP, []pkt{srv(quicServerInitial)}, QUIC, -1, Meta{}},
	{"quic version 3", UDP, []pkt{cli(quicVersion3)}, Unknown, -1, Meta{}},
	{"quic short header", UDP, []pkt{cli(quicShortHeader)}, Unknown, -1, Meta{}},

	// Nothing
	{"random bytes over TCP", TCP, []pkt{cli(blob(600, 3)), srv(blob(1400, 4))}, Unknown, -1, Meta{}},
	{"random bytes over UDP", UDP, []pkt{cli(blob(48, 5)), srv(blob(300, 6))}, Unknown, -1, Meta{}},
	{"a ClientHello over SCTP", Transport(132), []pkt{cli(tlsClientHello)}, Unknown, -1, Meta{}},
}

func TestFeed(t *testing.T) {
	for _, tc := range feedCases {
		t.Run(tc.name, func(t *testing.T) {
			st, m := tc.run()
			if got := st.Protocol(); got != tc.want {
				t.Errorf("Protocol() = %q, want %q", got, tc.want)
			}
			side, ok := st.Client()
			if want := tc.client; (want < 0) == ok || (ok && int8(side) != want) {
				t.Errorf("Client() = %d, %v, want %d", side, ok, want)
			}
			if m.SNI != tc.meta.SNI || m.ALPN != tc.meta.ALPN || m.HTTPHost != tc.meta.HTTPHost || m.SSHBanner != tc.meta.SSHBanner {
				t.Errorf("Meta = %q %q %q %q\nwant   %q %q %q %q", m.SNI, m.ALPN, m.HTTPHost, m.SSHBanner,
					tc.meta.SNI, tc.meta.ALPN, tc.meta.HTTPHost, tc.meta.SSHBanner)
			}
		})
	}
}
