package ports

//go:generate go run ./internal/ianagen -in internal/ianagen/service-names-port-numbers.csv -out services_gen.go

import (
	"fmt"
	"strings"
	"sync"

	"github.com/portclass/portclass/capture"
)

// protoDCCP is DCCP's IP protocol number. The IANA registry names DCCP ports, but
// package capture does not key DCCP flows by port, so it has no constant for it.
const protoDCCP uint8 = 33

// Service is one port or port range a service is registered on, in IANA's registry or
// in the user's configuration.
type Service struct {
	Name        string // service name as registered, e.g. "ssh"; names compare case-insensitively
	Description string // one line, e.g. "The Secure Shell (SSH) Protocol"; may be ""
	Proto       uint8  // IP protocol number: capture.ProtoTCP, ProtoUDP, ProtoSCTP, or 33 (DCCP)
	Lo, Hi      uint16 // registered ports, inclusive; Lo == Hi for a single port
}

// svcEntry is one row of a generated table (services_gen.go): ports lo-hi carry the
// strings svcText[svcOff[name]:svcOff[name+1]] and likewise desc. Eight bytes and no
// pointers, so the ~13,000 entries are read-only data that costs nothing at start-up.
type svcEntry struct {
	lo, hi     uint16
	name, desc uint16
}

func svcString(i uint16) string { return svcText[svcOff[i]:svcOff[i+1]] }

func (e svcEntry) service(proto uint8) Service {
	return Service{Name: svcString(e.name), Description: svcString(e.desc), Proto: proto, Lo: e.lo, Hi: e.hi}
}

// svcTable returns the generated entries of proto, sorted by port and non-overlapping.
func svcTable(proto uint8) []svcEntry {
	switch proto {
	case capture.ProtoTCP:
		return svcTCP[:]
	case capture.ProtoUDP:
		return svcUDP[:]
	case capture.ProtoSCTP:
		return svcSCTP[:]
	case protoDCCP:
		return svcDCCP[:]
	}
	return nil
}

// svcProtos lists the protocols of the IANA table in the order ByName returns
// them: by protocol number.
var svcProtos = [...]uint8{capture.ProtoTCP, capture.ProtoUDP, protoDCCP, capture.ProtoSCTP}

// Lookup returns the IANA service registered on port for IP protocol proto
// (tcp, udp, sctp or dccp), from the table generated from IANA's registry. Where IANA
// registered several names on one port the first in the registry wins, as in
// Wireshark; unassigned and reserved ports have no service. It does not allocate.
//
// User-defined services are not consulted here; see classify.Classifier.LookupService.
func Lookup(proto uint8, port uint16) (Service, bool) {
	tab := svcTable(proto)
	var i int
	switch proto {
	case capture.ProtoTCP:
		i = int(svcIndex()[0][port]) - 1
	case capture.ProtoUDP:
		i = int(svcIndex()[1][port]) - 1
	default:
		i = search(tab, port)
	}
	if i < 0 {
		return Service{}, false
	}
	return tab[i].service(proto), true
}

// search returns the index of the entry of tab that holds port, or -1.
func search(tab []svcEntry, port uint16) int {
	// Find the first entry that ends at or after port; entries do not overlap.
	i, j := 0, len(tab)
	for i < j {
		h := int(uint(i+j) >> 1)
		if tab[h].hi < port {
			i = h + 1
		} else {
			j = h
		}
	}
	if i < len(tab) && tab[i].lo <= port {
		return i
	}
	return -1
}

// svcIndex maps every TCP and UDP port to its entry in svcTCP and svcUDP, plus one
// (0: none), so that the lookup every flow makes is one load rather than a binary
// search over thousands of entries. Built on first use: 256 KiB.
var svcIndex = sync.OnceValue(func() *[2][1 << 16]uint16 {
	var x [2][1 << 16]uint16
	for k, tab := range [][]svcEntry{svcTCP[:], svcUDP[:]} {
		if len(tab) >= 1<<16-1 {
			panic("ports: IANA table too long for its index")
		}
		for i, e := range tab {
			for p := int(e.lo); p <= int(e.hi); p++ {
				x[k][p] = uint16(i + 1)
			}
		}
	}
	return &x
})

// ByName returns every IANA table entry whose name equals name, ignoring case,
// sorted by protocol number and then port: "ssh" gives tcp/22, udp/22 and sctp/22. It
// returns nil if there is none. Only the name that won a port is known: aliases that
// IANA registered later on the same port (e.g. "www" for tcp/80) are not in the table.
// It scans the whole table, which takes microseconds; it is meant for lookups a user
// asks for, not for the per-flow path.
func ByName(name string) []Service {
	var out []Service
	for _, p := range svcProtos {
		for _, e := range svcTable(p) {
			if strings.EqualFold(svcString(e.name), name) {
				out = append(out, e.service(p))
			}
		}
	}
	return out
}

// IsServicePort reports whether port is a port servers listen on for protocol proto,
// for the flow table's client/server heuristic when no handshake was seen.
//
// It is deliberately much narrower than "IANA registered it": IANA has names for most of
// 1024-49151, and clients pick source ports there (Linux from 32768, older Windows from
// 1025), so treating every registered port as a server port names random client ports
// (elastiflow issue #462: a client's port 1366 reported as netware-csp). The rule:
//
//   - a well-known port (0-1023) is a service port if IANA names it for proto;
//   - a port from 1024 up is a service port only if it is on a short curated list of
//     servers commonly seen in the networks portclass watches (databases, remote access,
//     VPN, web alternates, message brokers, container and monitoring APIs, and the Veeam
//     Backup & Replication signature ports 6160, 6162, 9392, 9393, 9401, 10005, 10006);
//   - nothing in 2500-3300 is a service port: that is Veeam's data-mover range, where
//     the listening port is chosen per job, so it says nothing on its own;
//   - nothing in the dynamic range 49152-65535 is a service port.
//
// User-defined services add to this through classify.Classifier.ServerPort.
func IsServicePort(proto uint8, port uint16) bool {
	if port <= 1023 {
		_, ok := Lookup(proto, port)
		return ok
	}
	return curatedServicePort(proto, port)
}

// curatedServicePort reports whether port (from 1024 up) is on IsServicePort's list.
func curatedServicePort(proto uint8, port uint16) bool {
	var bit uint8
	switch proto {
	case capture.ProtoTCP:
		bit = onTCP
	case capture.ProtoUDP:
		bit = onUDP
	case capture.ProtoSCTP:
		bit = onSCTP
	default:
		return false
	}
	return curatedIndex()[port]&bit != 0
}

// curatedIndex holds the protocol bits of curatedPorts for every port: 64 KiB, built
// on first use, so that the flow table's question costs one load.
var curatedIndex = sync.OnceValue(func() *[1 << 16]uint8 {
	var x [1 << 16]uint8
	for _, c := range curatedPorts {
		x[c.port] |= c.protos
	}
	return &x
})

// Protocol bits of curatedPorts.
const (
	onTCP uint8 = 1 << iota
	onUDP
	onSCTP
)

// curatedPorts is IsServicePort's list of server ports from 1024 up, sorted by port.
// Keep it short; keep every entry a port that clients do not use as a source port in
// practice; keep it out of 2500-3300 and 49152-65535 (a test checks order and ranges).
// It is never written to.
var curatedPorts = [...]struct {
	port   uint16
	protos uint8
	what   string
}{
	{1080, onTCP, "socks"},
	{1194, onTCP | onUDP, "openvpn"},
	{1433, onTCP, "ms-sql-s"},
	{1434, onTCP | onUDP, "ms-sql-m (SQL Server Browser; tcp for the admin connection)"},
	{1521, onTCP, "Oracle listener"},
	{1701, onUDP, "l2tp"},
	{1723, onTCP, "pptp"},
	{1812, onUDP, "radius"},
	{1813, onUDP, "radius-acct"},
	{1883, onTCP, "mqtt"},
	{2049, onTCP | onUDP, "nfs"},
	{2375, onTCP, "Docker API"},
	{2376, onTCP, "Docker API over TLS"},
	{2379, onTCP, "etcd client"},
	{2380, onTCP, "etcd peer"},
	{3306, onTCP, "mysql"},
	{3389, onTCP | onUDP, "ms-wbt-server (RDP; udp transport since RDP 8)"},
	{3478, onTCP | onUDP, "stun"},
	{3868, onSCTP, "diameter"},
	{4500, onUDP, "ipsec-nat-t"},
	{4789, onUDP, "vxlan"},
	{5060, onTCP | onUDP, "sip"},
	{5061, onTCP | onUDP, "sips"},
	{5222, onTCP, "xmpp-client"},
	{5353, onUDP, "mdns"},
	{5355, onUDP, "llmnr"},
	{5432, onTCP, "postgresql"},
	{5601, onTCP, "Kibana"},
	{5671, onTCP, "amqps"},
	{5672, onTCP, "amqp"},
	{5900, onTCP, "vnc"},
	{5985, onTCP, "WinRM over http"},
	{5986, onTCP, "WinRM over https"},
	{6160, onTCP, "Veeam Installer Service / Deployer Service"},
	{6162, onTCP, "Veeam Data Mover"},
	{6379, onTCP, "redis"},
	{6443, onTCP, "Kubernetes API"},
	{8080, onTCP, "http-alt"},
	{8443, onTCP, "https-alt"},
	{9090, onTCP, "Prometheus"},
	{9092, onTCP, "Kafka"},
	{9200, onTCP, "Elasticsearch http"},
	{9300, onTCP, "Elasticsearch transport"},
	{9392, onTCP, "Veeam Backup Service (console, Enterprise Manager)"},
	{9393, onTCP, "Veeam Guest Catalog Service"},
	{9401, onTCP, "Veeam backup server's secure port for mount servers"},
	{9418, onTCP, "git"},
	{10005, onTCP, "Veeam Agent for Windows management"},
	{10006, onTCP, "Veeam agents for Linux/Unix/macOS, plug-ins"},
	{10250, onTCP, "kubelet"},
	{11211, onTCP | onUDP, "memcached"},
	{27017, onTCP, "mongodb"},
	{36412, onSCTP, "s1ap (LTE)"},
	{38412, onSCTP, "ngap (5G)"},
}

// UserService is a service the user defines in the configuration; it overrides IANA's
// name for its ports and makes them service ports for the direction heuristic. Proto is
// "tcp", "udp", "sctp" or "dccp" (any case); Ports is "8443" or "9000-9010".
type UserService struct {
	Name        string
	Proto       string
	Ports       string
	Description string
}

// Resolve validates u, the i-th (0-based) of Options.Services, and returns its entry.
func (u UserService) Resolve(i int) (Service, error) {
	name := strings.TrimSpace(u.Name)
	if name == "" {
		return Service{}, fmt.Errorf("services[%d].name: empty", i)
	}
	var proto uint8
	switch strings.ToLower(strings.TrimSpace(u.Proto)) {
	case "tcp":
		proto = capture.ProtoTCP
	case "udp":
		proto = capture.ProtoUDP
	case "sctp":
		proto = capture.ProtoSCTP
	case "dccp":
		proto = protoDCCP
	default:
		return Service{}, fmt.Errorf("services[%d] (%s).proto: %q is not tcp, udp, sctp or dccp", i, name, u.Proto)
	}
	lo, hi, err := ParseRange(u.Ports)
	if err != nil {
		return Service{}, fmt.Errorf("services[%d] (%s).ports: %w", i, name, err)
	}
	return Service{Name: name, Description: svcOneLine(u.Description), Proto: proto, Lo: lo, Hi: hi}, nil
}

// svcOneLine turns runs of white space into single spaces and trims the ends, so that a
// description from a YAML block scalar stays on one line of a report.
func svcOneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
