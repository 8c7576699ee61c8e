package appid

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// TestFeedAllocs checks that Feed never allocates, over every table case.
func TestFeedAllocs(t *testing.T) {
	for _, tc := range feedCases {
		if n := testing.AllocsPerRun(20, func() {
			var st State
			for _, p := range tc.pkts {
				st.Feed(tc.tr, p.side, p.data)
			}
		}); n != 0 {
			t.Errorf("%s: Feed allocates %.1f times per flow", tc.name, n)
		}
	}
}

// TestTakeAllocs bounds what Take allocates per flow: one string per value, plus the
// buffer of a ClientHello split across segments.
func TestTakeAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkts [][]byte
		max  float64
	}{
		{"ClientHello", [][]byte{tlsClientHello}, 2},
		{"ClientHello in three segments", [][]byte{tlsSplit1, tlsSplit2, tlsSplit3}, 3},
		{"HTTP request", [][]byte{httpGet5432}, 1},
		{"SSH identification string", [][]byte{sshClient}, 1},
	} {
		n := testing.AllocsPerRun(20, func() {
			var st State
			var m Meta
			for _, p := range tc.pkts {
				st.Feed(TCP, 0, p)
				st.Take(&m, p)
			}
		})
		if n > tc.max {
			t.Errorf("%s: Take allocates %.1f times per flow, want at most %.0f", tc.name, n, tc.max)
		}
	}
}

// TestPacketBudget: a side's payloads after the MaxPackets-th are not inspected, and
// a State whose two sides are spent is done.
func TestPacketBudget(t *testing.T) {
	var st State
	for i := range MaxPackets {
		if st.Feed(TCP, 0, blob(100, uint64(10+i))) {
			t.Fatalf("done after %d unknown payloads of one side", i+1)
		}
	}
	st.Feed(TCP, 0, tlsClientHello)
	if st.Protocol() != Unknown {
		t.Errorf("a ClientHello after %d payloads was inspected: %q", MaxPackets, st.Protocol())
	}
	for i := range MaxPackets - 1 {
		if st.Feed(TCP, 1, blob(100, uint64(20+i))) {
			t.Fatalf("done with side 1 at %d payloads", i+1)
		}
	}
	if !st.Feed(TCP, 1, blob(100, 30)) {
		t.Errorf("not done with both sides spent")
	}
	if st.Feed(TCP, 1, tlsServerHello); st.Protocol() != Unknown {
		t.Errorf("a done State changed: %q", st.Protocol())
	}
}

// TestByteBudget: bytes of a side past MaxBytes are not inspected. A request line that
// starts 6 bytes before the budget's end is not seen; 96 bytes before, it is.
func TestByteBudget(t *testing.T) {
	for _, tc := range []struct {
		before int
		want   Protocol
	}{{MaxBytes - 6, Unknown}, {MaxBytes - 96, HTTP}} {
		var st State
		st.Feed(TCP, 0, blob(tc.before, 40))
		st.Feed(TCP, 0, httpGet5432)
		if got := st.Protocol(); got != tc.want {
			t.Errorf("request after %d bytes: %q, want %q", tc.before, got, tc.want)
		}
	}
	// One payload longer than the budget: what lies past it is not read.
	var st State
	st.Feed(TCP, 0, append(blob(MaxBytes, 41), httpGet5432...))
	st.Feed(TCP, 0, httpGet5432)
	if st.Protocol() != Unknown {
		t.Errorf("bytes past the budget were inspected: %q", st.Protocol())
	}
}

// TestDone: a final verdict with nothing awaited is done at once; one that awaits
// metadata is done when it came; empty payloads do not count; sides are taken modulo 2.
func TestDone(t *testing.T) {
	var st State
	for range 10 {
		st.Feed(TCP, 0, nil)
	}
	if !st.Feed(TCP, 2, tlsClientHello) || st.Protocol() != TLS {
		t.Fatalf("ClientHello after empty payloads: done %v, %q", st.Done(), st.Protocol())
	}
	if side, ok := st.Client(); !ok || side != 0 {
		t.Errorf("side 2 is not side 0: Client() = %d, %v", side, ok)
	}

	st = State{}
	if st.Feed(TCP, 0, sshClient) {
		t.Errorf("ssh done before the peer's identification string")
	}
	if !st.Feed(TCP, 1, sshServer) {
		t.Errorf("ssh not done after both identification strings")
	}

	st = State{}
	if st.Feed(TCP, 0, pgSSLRequest) || st.Feed(TCP, 1, pgSSLYes) {
		t.Errorf("postgresql done before the ClientHello that 'S' announces")
	}
	if !st.Feed(TCP, 0, pgClientHello) {
		t.Errorf("postgresql not done after the ClientHello")
	}

	st = State{}
	if !st.Feed(Transport(132), 0, tlsClientHello) || st.Protocol() != Unknown {
		t.Errorf("SCTP payload inspected")
	}
}

// TestStateLayout: State stays small and free of pointers, so that it lives in the
// flow table's entries at no cost to the collector.
func TestStateLayout(t *testing.T) {
	if n := unsafe.Sizeof(State{}); n != 14 {
		t.Errorf("State is %d bytes, want 14", n)
	}
	typ := reflect.TypeFor[State]()
	for i := range typ.NumField() {
		switch f := typ.Field(i); f.Type.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.String, reflect.Interface, reflect.Func, reflect.Chan:
			t.Errorf("State.%s is a %s", f.Name, f.Type.Kind())
		}
	}
}

func TestProtocolNames(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Protocols() {
		name := p.String()
		if name == "" || name != strings.ToLower(name) || strings.ContainsAny(name, " _") || seen[name] {
			t.Errorf("protocol %d: bad or repeated name %q", p, name)
		}
		seen[name] = true
		if q, err := ParseProtocol(name); err != nil || q != p {
			t.Errorf("ParseProtocol(%q) = %d, %v, want %d", name, q, err, p)
		}
	}
	if len(seen) != int(numProtocols)-1 {
		t.Errorf("%d names for %d protocols", len(seen), numProtocols-1)
	}
	if p, err := ParseProtocol(""); err != nil || p != Unknown || Unknown.String() != "" {
		t.Errorf(`ParseProtocol("") = %d, %v; Unknown.String() = %q`, p, err, Unknown.String())
	}
	if _, err := ParseProtocol("TLS"); !errors.Is(err, ErrUnknownName) {
		t.Errorf(`ParseProtocol("TLS") = %v, want ErrUnknownName`, err)
	}
	if s := Protocol(200).String(); s != "protocol(200)" {
		t.Errorf("Protocol(200).String() = %q", s)
	}
}
