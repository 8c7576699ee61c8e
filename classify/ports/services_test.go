package ports

import (
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
)

const (
	pTCP  = capture.ProtoTCP
	pUDP  = capture.ProtoUDP
	pSCTP = capture.ProtoSCTP
)

func TestLookupService(t *testing.T) {
	tests := []struct {
		proto    uint8
		port     uint16
		ok       bool
		name     string
		lo, hi   uint16
		descPart string // a substring of the description, "" to skip the check
	}{
		{pTCP, 22, true, "ssh", 22, 22, "Secure Shell"},
		{pUDP, 22, true, "ssh", 22, 22, ""},
		{pSCTP, 22, true, "ssh", 22, 22, "SSH"},
		{pUDP, 53, true, "domain", 53, 53, "Domain Name Server"},
		{pTCP, 443, true, "https", 443, 443, "TLS/SSL"},
		{pTCP, 80, true, "http", 80, 80, ""},                  // first of http, www, www-http
		{pTCP, 63, true, "whoispp", 63, 63, "whois++ IANA"},   // first of whoispp, whois++; two-line description joined
		{pTCP, 4413, true, "vision-mon", 4413, 4413, "FORTÉ"}, // UTF-8 kept
		{pTCP, 6000, true, "x11", 6000, 6063, "X Window System"},
		{pTCP, 6010, true, "x11", 6000, 6063, ""},
		{pTCP, 6063, true, "x11", 6000, 6063, ""},
		{pUDP, 6030, true, "x11", 6000, 6063, ""},
		{pTCP, 6064, true, "ndl-ahp-svc", 6064, 6064, ""},
		{pTCP, 6162, true, "patrol-coll", 6162, 6162, ""},
		{pTCP, 10005, true, "emcrmird", 10005, 10005, ""},
		{pUDP, 10005, false, "", 0, 0, ""}, // IANA: Reserved
		{pTCP, 9392, false, "", 0, 0, ""},  // IANA: 9391-9395 Unassigned
		{pTCP, 4, false, "", 0, 0, ""},     // Unassigned
		{pTCP, 0, false, "", 0, 0, ""},     // Reserved
		{pTCP, 3322, false, "", 0, 0, ""},  // active-net 3322-3325 has no transport protocol
		{pTCP, 65535, false, "", 0, 0, ""},
		{protoDCCP, 9, true, "discard", 9, 9, ""},
		{protoDCCP, 22, false, "", 0, 0, ""},
		{capture.ProtoICMP, 0, false, "", 0, 0, ""},
		{capture.ProtoICMP, 22, false, "", 0, 0, ""},
	}
	for _, tt := range tests {
		got, ok := Lookup(tt.proto, tt.port)
		if ok != tt.ok || got.Name != tt.name || got.Lo != tt.lo || got.Hi != tt.hi {
			t.Errorf("Lookup(%d, %d) = %+v, %v; want %q %d-%d, %v", tt.proto, tt.port, got, ok, tt.name, tt.lo, tt.hi, tt.ok)
			continue
		}
		if ok && got.Proto != tt.proto {
			t.Errorf("Lookup(%d, %d).Proto = %d", tt.proto, tt.port, got.Proto)
		}
		if !strings.Contains(got.Description, tt.descPart) {
			t.Errorf("Lookup(%d, %d).Description = %q; want it to contain %q", tt.proto, tt.port, got.Description, tt.descPart)
		}
	}
}

func TestLookupServiceAllocs(t *testing.T) {
	var sink Service
	allocs := testing.AllocsPerRun(1000, func() {
		sink, _ = Lookup(pTCP, 22)
		sink, _ = Lookup(pUDP, 6010)
		sink, _ = Lookup(pTCP, 9392)
	})
	if allocs != 0 {
		t.Errorf("Lookup: %v allocs per run, want 0", allocs)
	}
	_ = sink
}

// TestServiceTables checks the invariants the binary search relies on, over the whole
// generated table.
func TestServiceTables(t *testing.T) {
	total := 0
	for _, p := range svcProtos {
		tab := svcTable(p)
		total += len(tab)
		for i, e := range tab {
			if e.lo > e.hi {
				t.Errorf("proto %d entry %d: lo %d > hi %d", p, i, e.lo, e.hi)
			}
			if i > 0 && tab[i-1].hi >= e.lo {
				t.Errorf("proto %d entries %d and %d overlap or are unsorted: %d-%d, %d-%d", p, i-1, i, tab[i-1].lo, tab[i-1].hi, e.lo, e.hi)
			}
			s := e.service(p)
			if s.Name == "" || strings.ContainsAny(s.Name+s.Description, "\r\n\t") || strings.TrimSpace(s.Description) != s.Description {
				t.Errorf("proto %d entry %d: bad strings %+v", p, i, s)
			}
		}
	}
	// The registry has ~11,700 usable rows; a table far smaller means a parse went wrong.
	if total < 11000 {
		t.Errorf("%d entries in all; want at least 11000", total)
	}
}

func TestServicesByName(t *testing.T) {
	type pp struct {
		proto  uint8
		lo, hi uint16
	}
	tests := []struct {
		name string
		want []pp
	}{
		{"ssh", []pp{{pTCP, 22, 22}, {pUDP, 22, 22}, {pSCTP, 22, 22}}},
		{"SSH", []pp{{pTCP, 22, 22}, {pUDP, 22, 22}, {pSCTP, 22, 22}}},
		{"x11", []pp{{pTCP, 6000, 6063}, {pUDP, 6000, 6063}}},
		{"discard", []pp{{pTCP, 9, 9}, {pUDP, 9, 9}, {protoDCCP, 9, 9}, {pSCTP, 9, 9}}},
		{"www", nil}, // alias on tcp/80, after "http"
		{"no-such-service", nil},
		{"", nil},
	}
	for _, tt := range tests {
		var got []pp
		for _, s := range ByName(tt.name) {
			if !strings.EqualFold(s.Name, tt.name) {
				t.Errorf("ByName(%q) returned %q", tt.name, s.Name)
			}
			got = append(got, pp{s.Proto, s.Lo, s.Hi})
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ByName(%q) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestIsServicePort(t *testing.T) {
	tests := []struct {
		proto uint8
		port  uint16
		want  bool
	}{
		{pTCP, 22, true},
		{pUDP, 53, true},
		{pTCP, 443, true},
		{pTCP, 1023, false}, // Reserved
		{pTCP, 4, false},    // well-known but unassigned
		{pSCTP, 22, true},
		{pSCTP, 53, false},   // IANA names no sctp/53
		{pTCP, 1366, false},  // netware-csp: the elastiflow #462 client port
		{pUDP, 1366, false},  //
		{pTCP, 1024, false},  // first registered port
		{pTCP, 40000, false}, // safetynetp, inside Linux's ephemeral range
		{pTCP, 1433, true},
		{pTCP, 3306, true},
		{pUDP, 3306, false},
		{pTCP, 3389, true},
		{pUDP, 3389, true},
		{pTCP, 5432, true},
		{pTCP, 8080, true},
		{pTCP, 27017, true},
		{pUDP, 1812, true},
		{pTCP, 1812, false},
		{pSCTP, 36412, true},
		{pTCP, 36412, false},
		{pTCP, 6160, true},
		{pTCP, 6162, true},
		{pUDP, 6162, false},
		{pTCP, 9392, true},
		{pTCP, 9393, true},
		{pTCP, 9401, true},
		{pTCP, 10005, true},
		{pTCP, 10006, true},
		{pTCP, 2500, false}, // Veeam data-mover range
		{pTCP, 2800, false},
		{pTCP, 3300, false},
		{pTCP, 49152, false},
		{pTCP, 65535, false},
		{capture.ProtoICMP, 0, false},
		{capture.ProtoICMP, 8080, false},
	}
	for _, tt := range tests {
		if got := IsServicePort(tt.proto, tt.port); got != tt.want {
			t.Errorf("IsServicePort(%d, %d) = %v; want %v", tt.proto, tt.port, got, tt.want)
		}
	}
}

// TestIsServicePortExcluded checks every port of the ranges the doc comment promises are
// never service ports, and the order of the curated list the search relies on.
func TestIsServicePortExcluded(t *testing.T) {
	for _, p := range svcProtos {
		for port := 2500; port <= 3300; port++ {
			if IsServicePort(p, uint16(port)) {
				t.Errorf("IsServicePort(%d, %d) = true in the Veeam data-mover range", p, port)
			}
		}
		for port := 49152; port <= 65535; port++ {
			if IsServicePort(p, uint16(port)) {
				t.Errorf("IsServicePort(%d, %d) = true in the dynamic range", p, port)
			}
		}
	}
	for i, c := range curatedPorts {
		if c.port < 1024 || (c.port >= 2500 && c.port <= 3300) || c.port >= 49152 || c.protos == 0 {
			t.Errorf("curatedPorts[%d] = %+v: outside the allowed ports or without a protocol", i, c)
		}
		if i > 0 && curatedPorts[i-1].port >= c.port {
			t.Errorf("curatedPorts[%d] (%d) does not sort after %d", i, c.port, curatedPorts[i-1].port)
		}
		for bit, p := range map[uint8]uint8{onTCP: pTCP, onUDP: pUDP, onSCTP: pSCTP} {
			if got, want := IsServicePort(p, c.port), c.protos&bit != 0; got != want {
				t.Errorf("IsServicePort(%d, %d) = %v; want %v (%s)", p, c.port, got, want, c.what)
			}
		}
	}
}

// TestLookupIndex: the per-port indexes answer as the sorted tables do, on every
// port of every protocol.
func TestLookupIndex(t *testing.T) {
	for _, proto := range svcProtos {
		tab := svcTable(proto)
		bit := map[uint8]uint8{capture.ProtoTCP: onTCP, capture.ProtoUDP: onUDP, capture.ProtoSCTP: onSCTP}[proto]
		for p := range 1 << 16 {
			port := uint16(p)
			got, ok := Lookup(proto, port)
			i := search(tab, port)
			if ok != (i >= 0) || ok && got != tab[i].service(proto) {
				t.Fatalf("Lookup(%d, %d) = %+v, %v; the table says entry %d", proto, port, got, ok, i)
			}
			onList := false
			for _, c := range curatedPorts {
				onList = onList || c.port == port && c.protos&bit != 0
			}
			if curatedServicePort(proto, port) != onList {
				t.Fatalf("curatedServicePort(%d, %d) = %v, the list says %v", proto, port, !onList, onList)
			}
		}
	}
}
