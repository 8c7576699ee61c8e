package reports

import "testing"

func TestReachability(t *testing.T) {
	unreach := []ICMPError{{Type: 3, Code: 13, From: "192.0.2.1", Count: 1}}
	unreach6 := []ICMPError{{V6: true, Type: 1, Code: 1, From: "2001:db8::1", Count: 1}}
	timeExceeded := []ICMPError{{Type: 11, Code: 0, From: "192.0.2.1", Count: 1}}
	cases := []struct {
		name string
		r    Record
		want string
	}{
		{"tcp SF", Record{Proto: "tcp", State: "SF", PacketsToServer: 5, PacketsToClient: 4, TCPFlagsToClient: "SAF"}, ReachEstablished},
		{"tcp S1", Record{Proto: "tcp", State: "S1", PacketsToServer: 2, PacketsToClient: 1, TCPFlagsToClient: "SA"}, ReachEstablished},
		{"tcp REJ", Record{Proto: "tcp", State: "REJ", PacketsToServer: 1, PacketsToClient: 1, TCPFlagsToClient: "AR"}, ReachRefused},
		{"tcp RSTR without SYN-ACK", Record{Proto: "tcp", State: "RSTR", PacketsToServer: 1, PacketsToClient: 1, TCPFlagsToClient: "R"}, ReachRefused},
		{"tcp RSTR after SYN-ACK", Record{Proto: "tcp", State: "RSTR", PacketsToServer: 3, PacketsToClient: 2, TCPFlagsToClient: "SAR"}, ReachEstablished},
		{"tcp S0", Record{Proto: "tcp", State: "S0", PacketsToServer: 3}, ReachUnanswered},
		{"tcp SH", Record{Proto: "tcp", State: "SH", PacketsToServer: 2}, ReachUnanswered},
		{"tcp RSTOS0", Record{Proto: "tcp", State: "RSTOS0", PacketsToServer: 2}, ReachUnanswered},
		{"tcp S0 + ICMP admin prohibited", Record{Proto: "tcp", State: "S0", PacketsToServer: 2, ICMPErrors: unreach}, ReachICMP},
		{"tcp S0 + ICMPv6 prohibited", Record{Proto: "tcp", State: "S0", PacketsToServer: 2, ICMPErrors: unreach6}, ReachICMP},
		{"tcp S0 + time exceeded", Record{Proto: "tcp", State: "S0", PacketsToServer: 2, ICMPErrors: timeExceeded}, ReachUnanswered},
		{"tcp OTH midstream", Record{Proto: "tcp", State: "OTH", PacketsToServer: 2, PacketsToClient: 2}, ""},
		{"udp answered", Record{Proto: "udp", State: "SF", PacketsToServer: 1, PacketsToClient: 1}, ReachEstablished},
		{"udp one-way", Record{Proto: "udp", State: "S0", PacketsToServer: 4}, ""},
		{"udp port unreachable", Record{Proto: "udp", State: "S0", PacketsToServer: 1, ICMPErrors: unreach}, ReachICMP},
		{"udp answered despite an unreachable", Record{Proto: "udp", State: "SF", PacketsToServer: 2, PacketsToClient: 1, ICMPErrors: unreach}, ReachEstablished},
		{"icmp echo", Record{Proto: "icmp", State: "SF", PacketsToServer: 1, PacketsToClient: 1}, ""},
	}
	for _, c := range cases {
		if got := Reachability(&c.r); got != c.want {
			t.Errorf("%s: Reachability = %q, want %q", c.name, got, c.want)
		}
	}
}
