package reports

import (
	"net/netip"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

// The fixture is a small, deterministic Veeam-like site: backup server 192.0.2.10,
// proxies 192.0.2.21/.22, Linux repository 192.0.2.30, DNS 192.0.2.53, admin PC
// 192.0.2.100, outside hosts in 198.51.100.0/24 and 203.0.113.0/24, and IPv6 hosts in
// 2001:db8::/32. All values are built by hand, not read from captures.

var fixtureT0 = time.Date(2024, 5, 6, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return fixtureT0.Add(time.Duration(ms) * time.Millisecond) }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func addr(s string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(s), 0) }

const (
	inputA = "captures/site-a.pcapng.gz"
	inputB = "eth0"
)

type fixtureFlow struct {
	flow    capture.Flow
	verdict classify.Verdict
}

var (
	veeamInstaller = mustMatch("backup-server-to-component-installer")
	veeamDataMover = mustMatch("backup-server-to-component-datamover")
	veeamRPC       = mustMatch("backup-server-to-windows-dynrpc")
	veeamData      = mustMatch("proxy-to-repository")
)

func mustMatch(id string) veeam.Match {
	m, ok := veeam.MatchOf(id)
	if !ok {
		panic("no Veeam rule " + id)
	}
	return m
}

// flags is the set of the flags named, Flag values or flag names.
func flags(xs ...any) classify.Flags {
	var names []string
	for _, x := range xs {
		switch x := x.(type) {
		case classify.Flag:
			names = append(names, x.String())
		case string:
			names = append(names, x)
		}
	}
	f, err := classify.ParseFlags(names...)
	if err != nil {
		panic(err)
	}
	return f
}

// reasons is the set of the reasons given.
func reasons(rs ...classify.Reason) classify.Reasons {
	var out classify.Reasons
	for _, r := range rs {
		out = out.With(r)
	}
	return out
}

func fixtureFlows() []fixtureFlow {
	const sa, sfin = capture.FlagSYN | capture.FlagACK | capture.FlagPSH | capture.FlagFIN, capture.FlagSYN | capture.FlagACK | capture.FlagFIN
	return []fixtureFlow{
		{ // backup server → proxy, Veeam installer, clean close
			capture.Flow{Proto: capture.ProtoTCP, Client: ap("192.0.2.10:50123"), Server: ap("192.0.2.21:6160"),
				Direction: capture.DirSYN, State: capture.SF, First: at(0), Last: at(1500),
				Packets: [2]uint64{12, 10}, Bytes: [2]uint64{2400, 5300}, TCPFlags: [2]uint8{sa, sa},
				Input: inputA, End: capture.EndTimeout},
			classify.Verdict{PortClass: ports.ClassRegistered, Flags: flags(classify.FlagVeeam),
				Veeam: []veeam.Match{veeamInstaller}},
		},
		{ // backup server → proxy, data mover, biggest flow
			capture.Flow{Proto: capture.ProtoTCP, Client: ap("192.0.2.10:50124"), Server: ap("192.0.2.21:6162"),
				Direction: capture.DirSYN, State: capture.SF, First: at(1600), Last: at(61600),
				Packets: [2]uint64{900, 4200}, Bytes: [2]uint64{72000, 5800000}, TCPFlags: [2]uint8{sa, sa},
				Input: inputA, End: capture.EndTimeout, App: appid.TLS},
			classify.Verdict{PortClass: ports.ClassRegistered, Flags: flags(classify.FlagVeeam),
				Veeam: []veeam.Match{veeamDataMover}},
		},
		{ // backup server → proxy on a dynamic RPC port, explained by Veeam
			capture.Flow{Proto: capture.ProtoTCP, Client: ap("192.0.2.10:50200"), Server: ap("192.0.2.22:49700"),
				Direction: capture.DirSYN, State: capture.SF, First: at(2000), Last: at(2600),
				Packets: [2]uint64{8, 7}, Bytes: [2]uint64{1600, 2100}, TCPFlags: [2]uint8{sa, sa},
				Input: inputA, End: capture.EndTimeout},
			classify.Verdict{PortClass: ports.ClassDynamic,
				Flags: flags(classify.FlagDynamicServer, classify.ServerEphemeralPrefix+"windows", classify.FlagVeeam),
				Veeam: []veeam.Match{veeamRPC}},
		},
		{ // proxy → repository data channel, reset by the server
			capture.Flow{Proto: capture.ProtoTCP, Client: ap("192.0.2.21:41000"), Server: ap("192.0.2.30:2500"),
				Direction: capture.DirSYN, State: capture.RSTR, First: at(3000), Last: at(33000),
				Packets: [2]uint64{2000, 1000}, Bytes: [2]uint64{2900000, 66000},
				TCPFlags: [2]uint8{capture.FlagSYN | capture.FlagACK | capture.FlagPSH, capture.FlagSYN | capture.FlagACK | capture.FlagRST},
				Input:    inputA, End: capture.EndTimeout},
			classify.Verdict{PortClass: ports.ClassRegistered, Service: "cisco-gdoi", Flags: flags(classify.FlagVeeam),
				Veeam: []veeam.Match{veeamData}},
		},
		{ // proxy → outside web proxy, unanswered SYN
			capture.Flow{Proto: capture.ProtoTCP, Client: ap("192.0.2.21:40000"), Server: ap("203.0.113.80:8080"),
				Direction: capture.DirSYN, State: capture.S0, First: at(4000), Last: at(7000),
				Packets: [2]uint64{3, 0}, Bytes: [2]uint64{222, 0}, TCPFlags: [2]uint8{capture.FlagSYN, 0},
				Input: inputA, End: capture.EndTimeout},
			classify.Verdict{PortClass: ports.ClassRegistered, Service: "http-alt", Flags: flags()},
		},
		{ // repository → outside host on an unexplained dynamic port, refused
			capture.Flow{Proto: capture.ProtoTCP, Client: ap("192.0.2.30:41001"), Server: ap("198.51.100.7:51515"),
				Direction: capture.DirSYN, State: capture.REJ, First: at(5000), Last: at(5001),
				Packets: [2]uint64{1, 1}, Bytes: [2]uint64{74, 60},
				TCPFlags: [2]uint8{capture.FlagSYN, capture.FlagRST | capture.FlagACK},
				Input:    inputA, End: capture.EndTimeout},
			classify.Verdict{PortClass: ports.ClassDynamic,
				Flags: flags(classify.FlagDynamicServer, classify.ServerEphemeralPrefix+"linux",
					classify.ServerEphemeralPrefix+"windows", classify.FlagUnexplained)},
		},
		{ // the same unexplained port over UDP, answered by ICMP port unreachable
			capture.Flow{Proto: capture.ProtoUDP, Client: ap("192.0.2.30:41002"), Server: ap("198.51.100.7:51515"),
				Direction: capture.DirFirstPacket, State: capture.S0, First: at(5100), Last: at(6100),
				Packets: [2]uint64{2, 0}, Bytes: [2]uint64{180, 0},
				ICMPErrors: []capture.ICMPError{{Type: 3, Code: 3, From: netip.MustParseAddr("198.51.100.7"), Count: 2}},
				Input:      inputA, End: capture.EndInput},
			classify.Verdict{PortClass: ports.ClassDynamic,
				Flags: flags(classify.FlagDynamicServer, classify.FlagGuessedDirection, classify.ServerEphemeralPrefix+"linux",
					classify.ServerEphemeralPrefix+"windows", classify.FlagUnexplained)},
		},
		{ // DNS on VLAN 20
			capture.Flow{Proto: capture.ProtoUDP, Client: ap("192.0.2.100:53000"), Server: ap("192.0.2.53:53"),
				VLAN: 20, Direction: capture.DirServicePort, State: capture.SF, First: at(5500), Last: at(5520),
				Packets: [2]uint64{1, 1}, Bytes: [2]uint64{80, 140}, Input: inputB, End: capture.EndTimeout, App: appid.DNS},
			classify.Verdict{PortClass: ports.ClassWellKnown, Service: "domain", Flags: flags(classify.FlagGuessedDirection)},
		},
		{ // ping from the admin PC
			capture.Flow{Proto: capture.ProtoICMP, Client: addr("192.0.2.100"), Server: addr("192.0.2.10"),
				Direction: capture.DirICMP, State: capture.SF, First: at(6000), Last: at(9000),
				Packets: [2]uint64{4, 4}, Bytes: [2]uint64{392, 392}, ICMPType: 8, ICMPCode: 0,
				Input: inputB, End: capture.EndInput},
			classify.Verdict{},
		},
		{ // an echo reply whose request was not seen: type 0 must still be written
			capture.Flow{Proto: capture.ProtoICMP, Client: addr("203.0.113.9"), Server: addr("192.0.2.100"),
				Direction: capture.DirFirstPacket, State: capture.S0, First: at(6500), Last: at(6500),
				Packets: [2]uint64{1, 0}, Bytes: [2]uint64{98, 0}, ICMPType: 0, ICMPCode: 0,
				Input: inputB, End: capture.EndInput},
			classify.Verdict{Flags: flags(classify.FlagGuessedDirection)},
		},
		{ // IPv6 HTTPS, reset by the server
			capture.Flow{Proto: capture.ProtoTCP, Client: ap("[2001:db8::10]:49800"), Server: ap("[2001:db8::20]:443"),
				Direction: capture.DirSYNACK, State: capture.RSTR, First: at(7000), Last: at(7400),
				Packets: [2]uint64{10, 12}, Bytes: [2]uint64{1900, 14200}, TCPFlags: [2]uint8{sa, sfin | capture.FlagRST},
				Input: inputA, End: capture.EndTimeout,
				App: appid.TLS, AppMeta: &capture.AppMeta{SNI: "vcenter.example.com", ALPN: "h2,http/1.1"}},
			classify.Verdict{PortClass: ports.ClassWellKnown, Service: "https", Flags: flags()},
		},
		{ // IPv6 NTP answered by ICMPv6 administratively prohibited
			capture.Flow{Proto: capture.ProtoUDP, Client: ap("[2001:db8::10]:50000"), Server: ap("[2001:db8::30]:123"),
				Direction: capture.DirServicePort, State: capture.S0, First: at(7500), Last: at(7500),
				Packets: [2]uint64{1, 0}, Bytes: [2]uint64{110, 0},
				ICMPErrors: []capture.ICMPError{{V6: true, Type: 1, Code: 1, From: netip.MustParseAddr("2001:db8::1"), Count: 1}},
				Input:      inputA, End: capture.EndInput},
			classify.Verdict{PortClass: ports.ClassWellKnown, Service: "ntp", Flags: flags(classify.FlagGuessedDirection)},
		},
		{ // GRE: a protocol without ports
			capture.Flow{Proto: 47, Client: addr("198.51.100.1"), Server: addr("198.51.100.2"),
				Direction: capture.DirFirstPacket, State: capture.SF, First: at(8000), Last: at(18000),
				Packets: [2]uint64{50, 48}, Bytes: [2]uint64{7000, 6800}, Input: inputA, End: capture.EndInput},
			classify.Verdict{Flags: flags(classify.FlagGuessedDirection)},
		},
		{ // HTTP on the RDP port, seen midstream (a request on a kept-alive connection)
			capture.Flow{Proto: capture.ProtoTCP, Client: ap("203.0.113.5:51000"), Server: ap("192.0.2.10:3389"),
				Direction: capture.DirServicePort, State: capture.OTH, First: at(9000), Last: at(19000),
				Packets: [2]uint64{30, 40}, Bytes: [2]uint64{3000, 48000},
				TCPFlags: [2]uint8{capture.FlagACK | capture.FlagPSH, capture.FlagACK | capture.FlagPSH},
				Input:    inputA, End: capture.EndInput, App: appid.HTTP, AppMeta: &capture.AppMeta{HTTPHost: "192.0.2.10:3389"}},
			classify.Verdict{PortClass: ports.ClassRegistered, Service: "ms-wbt-server",
				Flags:      flags(classify.FlagGuessedDirection, classify.FlagProtocolMismatch),
				Unexpected: reasons(classify.ReasonUnexplainedPort, classify.ReasonProtocolMismatch)},
		},
		{ // both ports ephemeral, still open when the capture was evicted
			capture.Flow{Proto: capture.ProtoTCP, Client: ap("192.0.2.22:55000"), Server: ap("192.0.2.30:60000"),
				Direction: capture.DirPortClass, State: capture.S1, First: at(10000), Last: at(12000),
				Packets: [2]uint64{20, 20}, Bytes: [2]uint64{16000, 1500},
				TCPFlags: [2]uint8{capture.FlagSYN | capture.FlagACK | capture.FlagPSH, capture.FlagSYN | capture.FlagACK},
				Input:    inputA, End: capture.EndEvicted},
			classify.Verdict{PortClass: ports.ClassDynamic,
				Flags: flags(classify.FlagBothEphemeral, classify.FlagGuessedDirection, classify.FlagDynamicServer,
					classify.ServerEphemeralPrefix+"linux", classify.ServerEphemeralPrefix+"windows", classify.FlagUnexplained),
				Unexpected: reasons(classify.ReasonUnexplainedPort, classify.ReasonEphemeralServer)},
		},
		{ // SCTP on VLAN 30
			capture.Flow{Proto: capture.ProtoSCTP, Client: ap("198.51.100.20:2905"), Server: ap("198.51.100.21:2905"),
				VLAN: 30, Direction: capture.DirFirstPacket, State: capture.SF, First: at(11000), Last: at(11100),
				Packets: [2]uint64{3, 3}, Bytes: [2]uint64{300, 300}, Input: inputB, End: capture.EndInput},
			classify.Verdict{PortClass: ports.ClassRegistered, Service: "m3ua", Flags: flags(classify.FlagGuessedDirection),
				Unexpected: reasons(classify.ReasonUnexplainedPort)},
		},
	}
}

func fixtureRecords() []classify.Flow {
	ff := fixtureFlows()
	recs := make([]classify.Flow, len(ff))
	for i := range ff {
		recs[i] = classify.Flow{Flow: ff[i].flow, Verdict: ff[i].verdict}
		recs[i].Outcome = capture.OutcomeOf(&ff[i].flow)
	}
	return recs
}

func fixtureInputs() []capture.InputStats {
	return []capture.InputStats{
		{Path: inputA, Format: "pcapng", Compression: "gzip", Size: 812345,
			LinkTypes: map[string]uint64{"EN10MB": 8140, "LINUX_SLL": 12}, Packets: 8157, Bytes: 9012345,
			Decoded: 8140, NonIP: 10, DecodeErrors: 2, Filtered: 0, Fragments: 4,
			Unsupported: map[string]uint64{"IEEE802_11": 5},
			Truncated:   true, TruncatedAt: 10485760,
			Warnings: []string{"packet 5731 at offset 7340032: ipv4 header length 16 < 20",
				"block at offset 10485760: truncated enhanced packet block"},
			FirstTS: at(-500).UnixNano(), LastTS: at(61600).UnixNano()},
		{Path: inputB, Format: "live", Size: -1, LinkTypes: map[string]uint64{"EN10MB": 20},
			Packets: 20, Bytes: 2200, Decoded: 17, NonIP: 3,
			FirstTS: at(5500).UnixNano(), LastTS: at(11100).UnixNano(),
			KernelReceived: 25, KernelDropped: 5},
	}
}

func fixtureHosts() []Host {
	return []Host{
		{Addr: "192.0.2.21", Roles: []HostRole{
			{Role: "backup-proxy-vmware", Confidence: 0.8, Evidence: []string{"accepts tcp/6162 from backup server 192.0.2.10"}},
			{Role: "backup-proxy", Confidence: 0.9, Evidence: []string{"opens tcp/2500 to repository 192.0.2.30"}},
		}},
		{Addr: "192.0.2.10", Roles: []HostRole{
			{Role: "backup-server", Confidence: 0.95, Evidence: []string{"opens tcp/6160 and tcp/6162 to 2 hosts"}},
		}},
		{Addr: "192.0.2.30", Roles: []HostRole{
			{Role: "backup-repository-linux", Confidence: 1, Declared: true, Evidence: []string{"inventory"}},
		}},
	}
}

// fixtureSummary aggregates the whole fixture.
func fixtureSummary(top int) *Summary {
	agg := NewAggregator(Options{Top: top})
	for _, in := range fixtureInputs() {
		agg.AddInput(in)
	}
	for _, r := range fixtureRecords() {
		agg.Add(&r)
	}
	agg.SetHosts(fixtureHosts())
	agg.AddEvicted(1)
	return agg.Summary()
}
