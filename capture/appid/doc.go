// Package appid identifies the application protocol of a flow from the payload of
// its first packets, never from its ports. It is a helper of the capture stage: the
// flow table keeps one State per flow, feeds it the payload of each packet until it
// is done, and puts the verdict and the metadata taken out (TLS server name and
// ALPN, HTTP Host, SSH identification strings) in the flow record.
//
// It knows nothing of flows, ports, addresses, services or reports: it sees a
// transport (TCP or UDP), which side sent a payload and the payload's bytes. Rules
// that a port would make easier (syslog is any text after "<13>"; mDNS is DNS on
// 5353) are written without it, and what content cannot tell stays Unknown. It
// imports nothing of portclass.
//
// Bounds: MaxPackets payloads and MaxBytes bytes per direction are inspected (4 and
// 4096), nothing is reassembled except a TLS ClientHello split across segments (at
// most MaxBytes, kept in the flow's Meta until complete), and each metadata string
// is at most MaxMeta (255) bytes. Feed never allocates; Take allocates the strings
// it sets. The first message that says something decides; docs/protocols.md gives
// the reasons, the exceptions and the known limits.
//
// The vocabulary (docs/protocols.md has the details and the limits):
//
//	name         recognised from
//	tls          ClientHello or ServerHello record (SNI, ALPN)
//	ssh          identification string "SSH-2.0-..." (both sides' strings)
//	http         HTTP/1.x request line or status line (Host)
//	http2        the h2c connection preface
//	dns          DNS message over UDP or TCP (also mDNS, LLMNR)
//	smb          SMB1/2/3 header, direct or in a NetBIOS session
//	netbios-ssn  NetBIOS session request not (yet) followed by SMB
//	netbios-ns   NetBIOS name service message
//	rdp          X.224 connection request/confirm with RDP content
//	kerberos     KDC-REQ, KDC-REP, AP-REQ/REP, KRB-ERROR over UDP or TCP
//	ldap         LDAPMessage over TCP, CLDAP over UDP
//	dcerpc       DCE/RPC bind family, request, response, fault (TCP)
//	ntp          NTP modes 1-5, control messages (mode 6)
//	snmp         SNMP v1, v2c, v3 message
//	syslog       "<PRI>" followed by text only (UDP, TCP)
//	dhcp         BOOTP with the DHCP magic cookie
//	dhcpv6       DHCPv6 client/server or relay message
//	quic         QUIC v1/v2 long-header Initial
//	postgresql   StartupMessage, SSLRequest, GSSENCRequest, CancelRequest (SNI after 'S')
//	mssql        TDS PRELOGIN from the client
//	mysql        server greeting (HandshakeV10)
//	smtp         "220" banner naming SMTP, EHLO/HELO
//	ftp          "220" banner naming FTP, or a banner then an FTP command
//	imap         "* OK" banner, tagged command
//	pop3         "+OK" banner, CAPA/STLS/APOP
//	redis        RESP command, inline PING answered by +PONG
//	onc-rpc      ONC RPC call (UDP, TCP record marking) of another program
//	nfs          ONC RPC call to program 100003
//	mountd       ONC RPC call to program 100005
//	portmap      ONC RPC call to program 100000
//	iscsi        login request or response
package appid
