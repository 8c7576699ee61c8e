package filter

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenPrograms are listed in testdata/programs.golden in tcpdump -d style, so that a
// change in the generated code shows up in review.
var goldenPrograms = []struct {
	expr string
	lts  []uint16
}{
	{"tcp port 443", craftedLinkTypes},
	{"host 192.0.2.1 or net 198.51.100.0/24", []uint16{linkEthernet, linkNull, linkRaw}},
	{"ip6 src net 2001:db8::/32", []uint16{linkSLL2, linkLoop}},
	{"vlan 100 and udp portrange 1024-65535", []uint16{linkEthernet}},
	{"tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", []uint16{linkEthernet}},
	{"icmp6[icmp6type] = icmp6-echo or ip[2:2] - ((ip[0] & 0xf) << 2) > len / 2", []uint16{linkEthernet}},
	{"less 100 or greater 1400", []uint16{linkIPv4}},
	{"ip proto 47 or ip6 proto 58", []uint16{linkRaw, linkPPP, linkIPv6}},
	{"", []uint16{linkEthernet}},
}

func TestGoldenPrograms(t *testing.T) {
	var b bytes.Buffer
	for _, g := range goldenPrograms {
		f, err := Parse(g.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", g.expr, err)
		}
		for _, lt := range g.lts {
			prog, err := f.Compile(lt, 262144)
			if err != nil {
				t.Fatalf("Compile(%q, %d): %v", g.expr, lt, err)
			}
			fmt.Fprintf(&b, "# %s (link type %d)\n%s\n", g.expr, lt, listing(prog))
		}
	}
	golden := filepath.Join("testdata", "programs.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s differs; rerun with -update and review:\n%s", golden, firstDiff(string(want), b.String()))
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, wl, gl)
		}
	}
	return ""
}
