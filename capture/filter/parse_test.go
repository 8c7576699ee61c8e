package filter

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var parseErrorCases = []struct {
	expr string
	col  int // 1-based
	msg  string
}{
	{"tcp port x", 10, `expected port number after "port", found "x": service names are not resolved`},
	{"tcp port", 9, `expected port number after "port"`},
	{"port 70000", 6, "port number 70000 greater than 65535"},
	{"portrange 80-70000", 11, "port number 70000 greater than 65535"},
	{"port 80-90", 6, `expected port number after "port", found range 80-90: use portrange`},
	{"host example.com", 6, `"example.com": hostnames are not resolved; use an address`},
	{"src net corp", 9, `"corp": network names are not resolved; use an address`},
	{"net 192.0.2.1/24", 5, `non-network bits set in "192.0.2.1/24"`},
	{"net 192.0.2.1 mask 255.255.255.0", 5, `non-network bits set in "192.0.2.1 mask 255.255.255.0"`},
	{"net 192.0.2.0/33", 15, "mask length must be <= 32"},
	{"host 192.0.2.0/24", 6, "mask syntax is for networks only; use net"},
	{"net 2001:db8::1/32", 5, `non-network bits set in "2001:db8::1/32"`},
	{"host 1.2.3.300", 6, `invalid IPv4 address "1.2.3.300"`},
	{"tcp host 192.0.2.1", 10, `"tcp" cannot qualify a host; write "tcp and host 192.0.2.1"`},
	{"ip6 host 192.0.2.1", 10, `"ip6" cannot qualify IPv4 host 192.0.2.1`},
	{"ip net 2001:db8::/32", 8, `"ip" cannot qualify IPv6 net 2001:db8::/32`},
	{"ip port 80", 9, `"ip" cannot qualify port; use tcp, udp or sctp`},
	{"tcp proto 6", 11, `"tcp proto" is meaningless; use ip proto, ip6 proto or proto`},
	{"ip proto 300", 10, "protocol number 300 greater than 255"},
	{`ip proto \foo`, 10, `unknown protocol name "foo"; use a number`},
	{"(port 80) or 443", 14, `"443" needs a qualifier such as host, net or port: the term before it has none to repeat`},
	{"tcp[0] = 1 or 2", 15, `"2" needs a qualifier such as host, net or port: the term before it has none to repeat`},
	{"192.0.2.1", 1, `"192.0.2.1" needs a qualifier such as host, net or port before it`},
	{"tcp or or udp", 8, `expected a primitive after "or", found "or"`},
	{"tcp and", 8, `expected a primitive after "and"`},
	{"tcp )", 5, `unexpected ")"; expected and, or or the end`},
	{"(tcp or udp", 12, `expected ")" to close the "(" at column 1, found end of expression`},
	{"src or 192.0.2.1", 8, `expected "dst" after "src or", found "192.0.2.1"`},
	{"vlan 5000", 6, "VLAN ID 5000 greater than maximum 4095"},
	{"less x", 6, `expected a length in bytes after "less", found "x"`},
	{"ip[0] / 0 > 1", 7, "division by zero"},
	{"ip[0] % 0 > 1", 7, "modulus by zero"},
	{"ip[1:3] = 1", 6, "data size must be 1, 2, or 4"},
	{"tcp[1] << 40 > 1", 8, "shift by more than 31 bits"},
	{"tcp[13] & 2", 12, "expected a comparison (=, !=, <, <=, >, >=), found end of expression"},
	{"ah[0] = 1", 1, "ah[...] is not supported"},
	{"port 09", 6, "number 09 contains non-octal digit"},
	{"port 4294967296", 6, "number 4294967296 overflows 32 bits"},
	{"host $", 6, "unexpected character '$'"},
	{"ether host 00:00:5e:00:53:01", 12, "MAC address 00:00:5e:00:53:01: link-layer addresses are not supported"},
	{"gateway 192.0.2.1", 1, `"gateway" is not supported by this filter compiler`},
	{"ether", 1, `"ether" alone is not a filter; only ether[offset] is supported`},
	{"tcp and\tport x", 14, `expected port number after "port", found "x": service names are not resolved`},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range parseErrorCases {
		_, err := Parse(tc.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tc.expr, err)
			continue
		}
		if se.Expr != tc.expr || se.Pos+1 != tc.col || se.Msg != tc.msg {
			t.Errorf("Parse(%q): column %d %q, want column %d %q", tc.expr, se.Pos+1, se.Msg, tc.col, tc.msg)
		}
	}
}

func TestSyntaxErrorFormat(t *testing.T) {
	_, err := Parse("tcp port x")
	want := "filter: column 10: expected port number after \"port\", found \"x\": service names are not resolved\n\ttcp port x\n\t         ^"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	// The caret keeps tabs so that it lines up, and counts characters, not bytes.
	_, err = Parse("tcp and\tport x")
	if got := err.Error(); !strings.HasSuffix(got, "\n\ttcp and\tport x\n\t       \t     ^") {
		t.Errorf("caret line with a tab: %q", got)
	}
	_, err = Parse("host é")
	if got := err.Error(); !strings.HasPrefix(got, "filter: column 6: ") || !strings.HasSuffix(got, "\n\t     ^") {
		t.Errorf("non-ASCII expression: %q", got)
	}
}

// parseStringCases are expressions and their canonical String, which spells out
// libpcap's implicit qualifier repetition.
var parseStringCases = []struct{ expr, want string }{
	{"", ""},
	{"  ", ""},
	{"tcp", "tcp"},
	{"host 192.0.2.1 or 192.0.2.2", "host 192.0.2.1 or host 192.0.2.2"},
	{"port 80 or 443", "port 80 or port 443"},
	{"tcp dst port 80 or 443 and not 8080", "(tcp dst port 80 or tcp dst port 443) and not tcp dst port 8080"},
	{"src or dst host 192.0.2.1 and 198.51.100.1", "src or dst host 192.0.2.1 and src or dst host 198.51.100.1"},
	{"src and dst net 192.0.2.0/24", "src and dst net 192.0.2.0/24"},
	{"ip6 net 2001:db8::/32", "ip6 net 2001:db8::/32"},
	{"host 2001:DB8::1 or 192.0.2.1", "host 2001:db8::1 or host 192.0.2.1"},
	{"net 192.0.2 or 10", "net 192.0.2.0/24 or net 10.0.0.0/8"},
	{"host 192.168", "net 192.168.0.0/16"},
	{"net 192.0.2.0 mask 255.255.255.0", "net 192.0.2.0/24"},
	{"net 192.0.0.2 mask 255.0.0.255", "net 192.0.0.2 mask 255.0.0.255"},
	{"port (80 or 443) and tcp", "(port 80 or port 443) and tcp"},
	{"tcp and udp and port 1 or port 2 or port 3", "(tcp and udp and port 1) or port 2 or port 3"},
	{"port 80 or (tcp) or 8", "port 80 or tcp or port 8"},
	{"not host 192.0.2.1 or 192.0.2.2", "not host 192.0.2.1 or host 192.0.2.2"},
	{"host 192.0.2.1 and not 192.0.2.2", "host 192.0.2.1 and not host 192.0.2.2"},
	{"tcp and (udp or icmp)", "tcp and (udp or icmp)"},
	{"tcp or udp and icmp", "(tcp or udp) and icmp"}, // same precedence, left to right
	{"!tcp && (udp || icmp6)", "not tcp and (udp or icmp6)"},
	{"portrange 90-80", "portrange 80-90"},
	{"udp portrange 1-10 or 20-30", "udp portrange 1-10 or udp portrange 20-30"},
	{"proto 17 or 6", "proto 17 or proto 6"},
	{`ip proto \udp`, "ip proto 17"},
	{"port 0x50 or 010", "port 80 or port 8"},
	{"vlan 100 and vlan", "vlan 100 and vlan"},
	{"less 100 or greater 0x10", "less 100 or greater 16"},
	{"tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "(tcp[13:1] & (2 | 16)) != 0"},
	{"ip[0] ^ 1 & 2 | 3 = 0", "(ip[0:1] ^ ((1 & 2) | 3)) = 0"},
	{"ip[0] & 1 ^ 2 = 0", "(ip[0:1] & (1 ^ 2)) = 0"},
	{"1 - -2 * 3 >= len", "(1 - (-(2) * 3)) >= len"},
	{"ether[12:2] == 0x800", "link[12:2] = 2048"},
	{"(1) + 2 < (3)", "(1 + 2) < 3"},
	{"port 80 and (1 + 2 = 3)", "port 80 and (1 + 2) = 3"},
}

func TestParseString(t *testing.T) {
	for _, tc := range parseStringCases {
		f, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.expr, err)
			continue
		}
		got := f.String()
		if got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.expr, got, tc.want)
			continue
		}
		// The canonical form parses to the same filter: same string, same program.
		g, err := Parse(got)
		if err != nil {
			t.Errorf("Parse(%q) of the canonical form: %v", got, err)
			continue
		}
		if g.String() != got {
			t.Errorf("canonical form not stable: %q -> %q", got, g.String())
		}
		p1, err1 := f.Compile(linkEthernet, 262144)
		p2, err2 := g.Compile(linkEthernet, 262144)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(p1, p2) {
			t.Errorf("%q and its canonical form %q compile differently (%v, %v)", tc.expr, got, err1, err2)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	f, err := Parse("vlan and tcp")
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range []uint16{linkSLL, linkRaw, linkNull} {
		if _, err := f.Compile(lt, 262144); !errors.Is(err, ErrLinkType) {
			t.Errorf("vlan on link type %d: %v, want ErrLinkType", lt, err)
		}
	}
	g, err := Parse("tcp")
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range []uint16{127, 239, 160, 105} {
		if _, err := g.Compile(lt, 262144); !errors.Is(err, ErrLinkType) {
			t.Errorf("link type %d: %v, want ErrLinkType", lt, err)
		}
		if _, err := g.Matcher(lt); !errors.Is(err, ErrLinkType) {
			t.Errorf("Matcher for link type %d: %v, want ErrLinkType", lt, err)
		}
	}
	if _, err := g.Compile(linkEthernet, 0); err == nil {
		t.Error("snaplen 0: no error")
	}
	// 120 ports compile to more instructions than the kernel accepts; Matcher has no limit.
	long := "port 1" + strings.Repeat(" or 2", 120)
	h, err := Parse(long)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Compile(linkEthernet, 262144); !errors.Is(err, ErrTooLong) {
		t.Errorf("120 ports: %v, want ErrTooLong", err)
	}
	if _, err := h.Matcher(linkEthernet); err != nil {
		t.Errorf("Matcher for 120 ports: %v", err)
	}
}

func TestScratchLimit(t *testing.T) {
	// Each "+ (" nests one level deeper on the right and needs one more scratch word.
	deep := func(n int) string {
		return "ip[0]" + strings.Repeat(" + (ip[1]", n) + strings.Repeat(")", n) + " > 0"
	}
	f, err := Parse(deep(16))
	if err != nil {
		t.Fatalf("16 levels: %v", err)
	}
	m, err := f.Matcher(linkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	if fr := craftedFrames(linkEthernet)[0].data; !m.Match(fr, len(fr)) {
		t.Error("16 levels: the IPv4 frame does not match")
	}
	_, err = Parse(deep(17))
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "scratch registers") {
		t.Errorf("17 levels: %v, want a scratch register error", err)
	}
}
