package reports

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

func TestReachability(t *testing.T) {
	unreach := []ICMPError{{Type: 3, Code: 13, From: "192.0.2.1", Count: 1}}
	unreach6 := []ICMPError{{V6: true, Type: 1, Code: 1, From: "2001:db8::1", Count: 1}}
	timeExceeded := []ICMPError{{Type: 11, Code: 0, From: "192.0.2.1", Count: 1}}
	cases := []struct {
		name string
		r    rawRecord
		want string
	}{
		{"tcp SF", rawRecord{Proto: "tcp", State: "SF", PacketsToServer: 5, PacketsToClient: 4, TCPFlagsToClient: "SAF"}, ReachEstablished},
		{"tcp S1", rawRecord{Proto: "tcp", State: "S1", PacketsToServer: 2, PacketsToClient: 1, TCPFlagsToClient: "SA"}, ReachEstablished},
		{"tcp REJ", rawRecord{Proto: "tcp", State: "REJ", PacketsToServer: 1, PacketsToClient: 1, TCPFlagsToClient: "AR"}, ReachRefused},
		{"tcp RSTR without SYN-ACK", rawRecord{Proto: "tcp", State: "RSTR", PacketsToServer: 1, PacketsToClient: 1, TCPFlagsToClient: "R"}, ReachRefused},
		{"tcp RSTR after SYN-ACK", rawRecord{Proto: "tcp", State: "RSTR", PacketsToServer: 3, PacketsToClient: 2, TCPFlagsToClient: "SAR"}, ReachEstablished},
		{"tcp S0", rawRecord{Proto: "tcp", State: "S0", PacketsToServer: 3}, ReachUnanswered},
		{"tcp SH", rawRecord{Proto: "tcp", State: "SH", PacketsToServer: 2}, ReachUnanswered},
		{"tcp RSTOS0", rawRecord{Proto: "tcp", State: "RSTOS0", PacketsToServer: 2}, ReachUnanswered},
		{"tcp S0 + ICMP admin prohibited", rawRecord{Proto: "tcp", State: "S0", PacketsToServer: 2, ICMPErrors: unreach}, ReachICMP},
		{"tcp S0 + ICMPv6 prohibited", rawRecord{Proto: "tcp", State: "S0", PacketsToServer: 2, ICMPErrors: unreach6}, ReachICMP},
		{"tcp S0 + time exceeded", rawRecord{Proto: "tcp", State: "S0", PacketsToServer: 2, ICMPErrors: timeExceeded}, ReachUnanswered},
		{"tcp OTH midstream", rawRecord{Proto: "tcp", State: "OTH", PacketsToServer: 2, PacketsToClient: 2}, ""},
		{"udp answered", rawRecord{Proto: "udp", State: "SF", PacketsToServer: 1, PacketsToClient: 1}, ReachEstablished},
		{"udp one-way", rawRecord{Proto: "udp", State: "S0", PacketsToServer: 4}, ""},
		{"udp port unreachable", rawRecord{Proto: "udp", State: "S0", PacketsToServer: 1, ICMPErrors: unreach}, ReachICMP},
		{"udp answered despite an unreachable", rawRecord{Proto: "udp", State: "SF", PacketsToServer: 2, PacketsToClient: 1, ICMPErrors: unreach}, ReachEstablished},
		{"icmp echo", rawRecord{Proto: "icmp", State: "SF", PacketsToServer: 1, PacketsToClient: 1}, ""},
	}
	for _, c := range cases {
		if got := Reachability(rec(c.r).Outcome); got != c.want {
			t.Errorf("%s: Reachability = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestAttemptsTop: the failed attempts of a --top summary are the first of the full
// list, client lists included, with many ties in the counts.
func TestAttemptsTop(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	at := newAttempts()
	sweeps := map[string]*int32{} // the clients' talkerAcc.sweep
	for i := range 3000 {
		server := fmt.Sprintf("10.1.%d.%d:%d", r.IntN(4), r.IntN(50), 22+r.IntN(3))
		client := fmt.Sprintf("10.2.0.%d", r.IntN(30))
		raw := rawRecord{Proto: "tcp", Client: client + ":40000", Server: server, State: "S0", PacketsToServer: 1}
		if i%3 == 0 {
			raw.State, raw.PacketsToClient, raw.TCPFlagsToClient = "REJ", 1, "AR"
		}
		f := rec(raw)
		if sweeps[client] == nil {
			sweeps[client] = new(int32)
		}
		at.add(&f, f.Server.Port(), sweeps[client])
	}
	all, _ := at.summary(0, 20, 100)
	if len(all) < 100 {
		t.Fatalf("%d attempt targets: too few", len(all))
	}
	for _, top := range []int{1, 5, 10, len(all), len(all) + 3} {
		got, _ := at.summary(top, 20, 100)
		want := all[:min(top, len(all))]
		if !reflect.DeepEqual(got, want) {
			t.Errorf("top=%d: %d attempts differ from the first of the full list", top, len(got))
		}
	}
}

// TestAddrKey: the aggregator's pointer-free address keys give back the address they
// were made of, and keep IPv4 apart from the same address mapped into IPv6.
func TestAddrKey(t *testing.T) {
	for _, s := range []string{"192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1", "::", "0.0.0.0", "255.255.255.255", "ff02::1"} {
		a := netip.MustParseAddr(s)
		if got := keyOf(a).addr(); got != a {
			t.Errorf("%s: back as %s", s, got)
		}
	}
	if keyOf(netip.MustParseAddr("192.0.2.1")) == keyOf(netip.MustParseAddr("::ffff:192.0.2.1")) {
		t.Error("an IPv4 address and its IPv4-mapped IPv6 form share a key")
	}
	if got := keyOf(netip.Addr{}).addr(); got.IsValid() {
		t.Errorf("the zero Addr back as %s", got)
	}
}
