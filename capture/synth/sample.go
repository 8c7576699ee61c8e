package synth

import "net/netip"

// The sample scenario's hosts: an office segment 192.0.2.0/24 (and 2001:db8:10::/48)
// with a printer VLAN, seen from a mirror port for two minutes.
var (
	sampleDC      = netip.MustParseAddr("192.0.2.2")   // Windows DC: DNS, NTP, LDAP, RPC
	sampleFiles   = netip.MustParseAddr("192.0.2.5")   // Windows file server: SMB
	sampleJump    = netip.MustParseAddr("192.0.2.15")  // Windows RDP jump host
	sampleLinux   = netip.MustParseAddr("192.0.2.30")  // Linux server: SSH
	samplePrinter = netip.MustParseAddr("192.0.2.200") // printer on VLAN 20: 9100
	sampleWeb1    = netip.MustParseAddr("203.0.113.10")
	sampleWeb2    = netip.MustParseAddr("203.0.113.20")
	sampleScanner = netip.MustParseAddr("198.51.100.66")
	sampleOdd     = netip.MustParseAddr("198.51.100.23") // TCP server on dynamic port 55555
	samplePeer    = netip.MustParseAddr("198.51.100.44") // UDP peer, both ports dynamic
	sampleGateway = netip.MustParseAddr("192.0.2.1")     // router/firewall of the segment
	sampleSyslog  = netip.MustParseAddr("198.51.100.9")  // outside syslog collector, blocked
	sampleWS6     = netip.MustParseAddr("2001:db8:10::101")
	sampleDNS6    = netip.MustParseAddr("2001:db8:10::2")
	sampleWeb6    = netip.MustParseAddr("2001:db8:443::10")
)

// sampleWS returns workstation i (0-9): 192.0.2.101-110; .101 is a Linux laptop.
func sampleWS(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(101 + i)}) }

// sampleScanPorts are the ports the scanner probes on the file server.
var sampleScanPorts = [...]uint16{21, 23, 25, 80, 110, 143, 443, 1433, 3306, 5900, 8080, 8443}

// sampleScript is the `make demo` capture: everyday office traffic plus the cases
// portclass reports on (refused, unanswered, ICMP-blocked, unexplained dynamic ports).
func sampleScript(sc *scripter) {
	rng := sc.e.rng
	for _, a := range []netip.Addr{sampleDC, sampleFiles, sampleJump, sampleWS6} {
		sc.host(a, true, 0)
	}
	for i := 1; i < 10; i++ {
		sc.host(sampleWS(i), true, 0)
	}
	sc.host(samplePrinter, false, 20)

	for i := range 10 {
		ws := sampleWS(i)
		// Name lookups and time sync through the day.
		for q := range 5 {
			sc.udp(sec(float64(q*24+rng.IntN(20))), ws, sampleDC, 53, shapeDNS, uint8(rng.IntN(len(dnsNames))), 1+rng.IntN(2))
		}
		sc.udp(sec(float64(rng.IntN(110))), ws, sampleDC, 123, shapeNTP, 0, 1)
		// Logon-ish LDAP and a few web sessions.
		sc.tcp(sec(float64(rng.IntN(20))), ws, sampleDC, 389, 3, 1, 2)
		for k := range 2 {
			web := sampleWeb1
			if (i+k)%2 == 1 {
				web = sampleWeb2
			}
			sc.tcp(sec(float64(5+k*55+rng.IntN(50))), ws, web, 443, 2+rng.IntN(3), 1, 4)
		}
	}
	// File shares: five workstations read files over SMB.
	for i := 1; i <= 5; i++ {
		sc.tcp(sec(float64(10+i*15)), sampleWS(i), sampleFiles, 445, 4, 1, 12)
	}
	// Administration: SSH from the Linux laptop, RDP to the jump host.
	sc.tcp(sec(3), sampleWS(0), sampleLinux, 22, 25, 1, 1)
	sc.tcp(sec(8), sampleWS(2), sampleJump, 3389, 30, 1, 2)
	// RPC: endpoint mapper on 135, then the dynamic port it handed out.
	sc.tcp(sec(30), sampleWS(3), sampleDC, 135, 1, 1, 1)
	sc.tcp(sec(30.5), sampleWS(3), sampleDC, 49667, 3, 1, 2)
	// A connection refused with RST (nothing listens on 8080).
	sc.refused(sec(42), sampleWS(4), sampleFiles, 8080)
	// A scan-ish burst of SYNs that a firewall drops.
	for i, port := range sampleScanPorts {
		sc.unanswered(sec(60+0.05*float64(i)), sampleScanner, sampleFiles, port, 1+i%2)
	}
	// SNMP to the DC finds the port closed: ICMP port unreachable, three tries.
	sc.unreachable(sec(50), sampleWS(5), sampleDC, 161, 3)
	// Syslog to an outside collector is blocked by the gateway: ICMP
	// "communication administratively prohibited" (code 13) from 192.0.2.1.
	sp := sc.conn(sec(55), sampleWS(9), sampleSyslog, 514, false)
	sp.kind, sp.tries, sp.reqLen = kindUDPUnreachable, 2, 90
	sp.icmpFrom, sp.icmpCode = sampleGateway, 13
	sc.specs = append(sc.specs, sp)
	// A little IPv6: DNS, HTTPS and a ping.
	for q := range 3 {
		sc.udp(sec(float64(15+q*30)), sampleWS6, sampleDNS6, 53, shapeDNS, uint8(q), 2)
	}
	sc.tcp(sec(20), sampleWS6, sampleWeb6, 443, 3, 1, 3)
	sc.echo(sec(70), sampleWS6, sampleDNS6, 3)
	// The printer VLAN: a print job and a ping.
	sc.tcp(sec(45), sampleWS(6), samplePrinter, 9100, 1, 20, 1)
	sc.echo(sec(44), sampleWS(6), samplePrinter, 2)
	sc.echo(sec(1), sampleWS(0), sampleDC, 4)
	// Dynamic-port traffic nothing explains.
	sc.tcp(sec(75), sampleWS(7), sampleOdd, 55555, 4, 1, 2)
	sp = sc.conn(sec(80), sampleWS(8), samplePeer, 61000, false)
	sp.kind, sp.rounds, sp.reqLen, sp.respLen = kindUDP, 5, 120, 160
	sc.specs = append(sc.specs, sp)
}
