package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/portclass/portclass/internal/corpus"
	"github.com/portclass/portclass/reports"
)

// robustTimeout bounds one analysis of one damaged file. It detects hangs; it is not
// a speed target (every file here is analysed in well under a second, a few seconds
// with the race detector on a loaded machine).
const robustTimeout = 2 * time.Minute

// analyzeFile runs `portclass analyze --format json FILE` in-process, the way main
// does, and fails the test if it panics or does not finish within robustTimeout.
func analyzeFile(t *testing.T, path string) (code int, out, errs string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
		panicked string
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panicked = fmt.Sprintf("%v\n%s", p, debug.Stack())
			}
			done <- r
		}()
		r.code, r.out, r.err = runCLI(t, "analyze", "--quiet", "--format", "json", path)
	}()
	select {
	case r := <-done:
		if r.panicked != "" {
			t.Fatalf("%s: analyze panicked: %s", path, r.panicked)
		}
		return r.code, r.out, r.err
	case <-time.After(robustTimeout):
		t.Fatalf("%s: analyze did not finish within %v: a hang", path, robustTimeout)
	}
	return 0, "", ""
}

// checkOutcome asserts what must hold for any input: exit 0 with a report, or exit 2
// with nothing written and a message naming the file; a truncated input is named with
// its offset and field on stderr and carries a warning with the offset in the report.
// It returns the input's entry of the report (nil for exit 2).
func checkOutcome(t *testing.T, path string, code int, out, errs string) *reports.Input {
	t.Helper()
	switch code {
	case exitUsage:
		if out != "" {
			t.Errorf("%s: exit 2 but a report was written", path)
		}
		if !strings.Contains(errs, path+": ") {
			t.Errorf("%s: exit 2 without a message naming the file: %q", path, errs)
		}
		return nil
	case exitOK:
	default:
		t.Fatalf("%s: exit %d (want 0 or 2): %s", path, code, errs)
	}
	s, err := reports.LoadSummary(strings.NewReader(out))
	if err != nil || len(s.Inputs) != 1 {
		t.Fatalf("%s: exit 0 but the report does not load: %v", path, err)
	}
	in := &s.Inputs[0]
	if in.Path != path {
		t.Errorf("report names input %q, want %q", in.Path, path)
	}
	if in.Truncated {
		at := strconv.FormatInt(in.TruncatedAt, 10)
		if !strings.Contains(errs, `"input":"`+path+`"`) || !strings.Contains(errs, `"offset":`+at) || !strings.Contains(errs, `"field":"`) {
			t.Errorf("%s: truncated at %d, but stderr does not name file, offset and field: %s", path, in.TruncatedAt, errs)
		}
		found := false
		for _, w := range in.Warnings {
			found = found || strings.Contains(w, "offset "+at+": ")
		}
		if !found {
			t.Errorf("%s: truncated at %d without a warning naming it: %q", path, in.TruncatedAt, in.Warnings)
		}
	}
	return in
}

// TestAnalyzeMalformedCorpus runs analyze over every capture of the shared corpus
// that its manifest calls malformed or unreadable.
func TestAnalyzeMalformedCorpus(t *testing.T) {
	dir, entries := corpus.Manifest(t)
	n := 0
	for _, e := range entries {
		if !e.Malformed() && !e.Unreadable() {
			continue
		}
		n++
		t.Run(e.Path, func(t *testing.T) {
			path := filepath.Join(dir, e.Path)
			code, out, errs := analyzeFile(t, path)
			in := checkOutcome(t, path, code, out, errs)
			if e.Unreadable() && in != nil {
				t.Errorf("the manifest says no reader can use it, but analyze read %d packets", in.Packets)
			}
			if want, err := strconv.ParseUint(e.Packets, 10, 64); err == nil && in != nil && in.Packets > want {
				t.Errorf("%d packets read, the manifest lists %d", in.Packets, want)
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d malformed captures in the manifest", n)
	}
}

// lenField is a length field in a capture file or a packet header.
type lenField struct {
	off, width int // width 1 means the high nibble (IHL is the low one: width -1)
	order      binary.ByteOrder
	name       string
}

// unit is one record (pcap) or block (pcapng) of a capture file.
type unit struct {
	start, end int
	before     int  // packet records before it
	header     bool // the file header or first section header: damage refuses the file
	fields     []lenField
	layers     []int      // absolute offsets where the packet's layers start, and where the last ends
	pfields    []lenField // length fields of the packet's headers
}

// packetLayout finds the layer boundaries and header length fields of a packet at
// offset off of the file, with gopacket as an independent decoder.
func packetLayout(u *unit, lt layers.LinkType, data []byte, off int) {
	p := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: false, NoCopy: true})
	at := off
	for _, l := range p.Layers() {
		if _, ok := l.(*gopacket.Payload); ok {
			break
		}
		u.layers = append(u.layers, at)
		switch l.LayerType() {
		case layers.LayerTypeIPv4:
			u.pfields = append(u.pfields, lenField{at, -1, binary.BigEndian, "ipv4 ihl"}, lenField{at + 2, 2, binary.BigEndian, "ipv4 total length"})
		case layers.LayerTypeIPv6:
			u.pfields = append(u.pfields, lenField{at + 4, 2, binary.BigEndian, "ipv6 payload length"})
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Routing:
			u.pfields = append(u.pfields, lenField{at + 1, 1, binary.BigEndian, "ipv6 extension length"})
		case layers.LayerTypeTCP:
			u.pfields = append(u.pfields, lenField{at + 12, 1, binary.BigEndian, "tcp data offset"})
		case layers.LayerTypeUDP:
			u.pfields = append(u.pfields, lenField{at + 4, 2, binary.BigEndian, "udp length"})
		}
		at += len(l.LayerContents())
	}
	u.layers = append(u.layers, at)
}

// layout splits a little- or big-endian pcap, or a pcapng file, into units.
func layout(t *testing.T, b []byte) []unit {
	t.Helper()
	if binary.LittleEndian.Uint32(b) == 0x0a0d0d0a {
		return layoutNg(t, b)
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if b[0] == 0xa1 {
		order = binary.BigEndian
	}
	lt := layers.LinkType(order.Uint32(b[20:]) & 0xffff)
	units := []unit{{start: 0, end: 24, header: true, fields: []lenField{{16, 4, order, "snaplen"}, {4, 2, order, "version"}}}}
	for off, n := 24, 0; off+16 <= len(b); n++ {
		capLen := int(order.Uint32(b[off+8:]))
		u := unit{start: off, end: off + 16 + capLen, before: n,
			fields: []lenField{{off + 8, 4, order, "caplen"}, {off + 12, 4, order, "origlen"}}}
		packetLayout(&u, lt, b[off+16:u.end], off+16)
		units = append(units, u)
		off = u.end
	}
	return units
}

func layoutNg(t *testing.T, b []byte) []unit {
	order := binary.ByteOrder(binary.LittleEndian)
	if binary.LittleEndian.Uint32(b[8:]) != 0x1a2b3c4d {
		order = binary.BigEndian
	}
	var units []unit
	var ifaces []layers.LinkType
	n := 0
	for off := 0; off+12 <= len(b); {
		typ, l := order.Uint32(b[off:]), int(order.Uint32(b[off+4:]))
		u := unit{start: off, end: off + l, before: n, header: off == 0,
			fields: []lenField{{off + 4, 4, order, "block length"}, {off + l - 4, 4, order, "trailing block length"}}}
		switch typ {
		case 0x0a0d0d0a:
			ifaces = nil
		case 1:
			ifaces = append(ifaces, layers.LinkType(order.Uint16(b[off+8:])))
			if l > 20 {
				u.fields = append(u.fields, lenField{off + 18, 2, order, "first option length"})
			}
		case 6:
			capLen := int(order.Uint32(b[off+20:]))
			u.fields = append(u.fields, lenField{off + 20, 4, order, "captured length"}, lenField{off + 8, 4, order, "interface id"})
			packetLayout(&u, ifaces[order.Uint32(b[off+8:])], b[off+28:off+28+capLen], off+28)
			n++
		}
		units = append(units, u)
		off += l
	}
	return units
}

// mutation is one damaged copy of a capture and, when known, what analyze must say.
type mutation struct {
	name string
	data []byte
	// for cuts: the exact outcome
	cut         bool
	refused     bool  // exit 2
	truncatedAt int64 // -1: not truncated
	packets     int
}

func setField(b []byte, f lenField, v uint64) []byte {
	c := append([]byte(nil), b...)
	switch f.width {
	case -1:
		c[f.off] = c[f.off]&0xf0 | byte(v&0xf)
	case 1:
		if strings.HasSuffix(f.name, "data offset") {
			c[f.off] = c[f.off]&0x0f | byte(v&0xf)<<4
		} else {
			c[f.off] = byte(v)
		}
	case 2:
		f.order.PutUint16(c[f.off:], uint16(v))
	case 4:
		f.order.PutUint32(c[f.off:], uint32(v))
	}
	return c
}

// mutations makes the damaged copies of capture b: cuts at every layer boundary of
// the first records (and one byte after each), every length field of those records
// and their packet headers set to 0, 1, the largest value and the value plus 4, and
// flips of 1 to 8 random bits from deterministic seeds, half of them in the first
// 2 KiB where the headers are.
func mutations(t *testing.T, b []byte, records, flips int) []mutation {
	units := layout(t, b)
	var out []mutation
	for i, u := range units {
		if i > records {
			break
		}
		cuts := []int{u.start + 1, u.start + 7, u.start + 8, u.start + 12, u.end - 4, u.end - 1}
		for _, l := range u.layers {
			cuts = append(cuts, l, l+1)
		}
		for _, c := range cuts {
			if c <= u.start || c >= u.end || c > len(b) {
				continue
			}
			m := mutation{name: fmt.Sprintf("cut-%d", c), data: b[:c], cut: true, refused: u.header, truncatedAt: int64(u.start), packets: u.before}
			out = append(out, m)
		}
		for _, f := range append(u.fields, u.pfields...) {
			if f.off < 0 || f.off+max(f.width, 1) > len(b) {
				continue
			}
			var cur uint64
			switch f.width {
			case 2:
				cur = uint64(f.order.Uint16(b[f.off:]))
			case 4:
				cur = uint64(f.order.Uint32(b[f.off:]))
			}
			for _, v := range []uint64{0, 1, 1<<32 - 1, cur + 4} {
				out = append(out, mutation{name: fmt.Sprintf("%s@%d=%d", strings.ReplaceAll(f.name, " ", "-"), f.off, v), data: setField(b, f, v)})
			}
		}
	}
	for seed := range uint64(flips) {
		r := rand.New(rand.NewPCG(seed, 0x706f7274636c6173))
		c := append([]byte(nil), b...)
		for range 1 + r.IntN(8) {
			pos := r.IntN(len(c))
			if r.IntN(2) == 0 {
				pos = r.IntN(min(len(c), 2048))
			}
			c[pos] ^= 1 << r.IntN(8)
		}
		out = append(out, mutation{name: fmt.Sprintf("flip-seed-%d", seed), data: c})
	}
	return out
}

// TestAnalyzeMutatedCaptures runs analyze over damaged copies of the project's own
// captures: cut at every layer boundary of their first records (the outcome is then
// known exactly: refused when the cut is in the file header, else read up to the
// record the cut falls in and marked truncated at its offset), with length fields set
// to 0, 1, huge and off by four, and with random bit flips.
func TestAnalyzeMutatedCaptures(t *testing.T) {
	sources := []struct {
		file           string
		records, flips int
	}{
		{"formats/pcap-le-usec.pcap", 6, 40},
		{"formats/pcap-be-nsec.pcap", 2, 10},
		{"formats/pcapng-ifaces.pcapng", 6, 30},
		{"formats/ipv6-ext.pcap", 3, 20},
		{"formats/vlan-qinq.pcap", 2, 10},
		{"formats/link-sll2.pcap", 2, 10},
		{"veeam.pcap", 2, 10},
		{"sample.pcapng", 3, 6},
	}
	dir := t.TempDir()
	total := 0
	for _, src := range sources {
		if testing.Short() && src.file == "sample.pcapng" {
			continue
		}
		b, err := os.ReadFile(corpus.Testdata(t, src.file))
		if err != nil {
			t.Fatal(err)
		}
		base := strings.NewReplacer("/", "-", ".", "-").Replace(src.file)
		for _, m := range mutations(t, b, src.records, src.flips) {
			path := filepath.Join(dir, base+"-"+m.name)
			if err := os.WriteFile(path, m.data, 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := analyzeFile(t, path)
			in := checkOutcome(t, path, code, out, errs)
			total++
			if !m.cut {
				continue
			}
			switch {
			case m.refused && in != nil:
				t.Errorf("%s: cut in the file header, but analyze read it", path)
			case !m.refused && in == nil:
				t.Errorf("%s: cut after the file header, but analyze refused it: %s", path, errs)
			case in != nil && (!in.Truncated || in.TruncatedAt != m.truncatedAt || in.Packets != uint64(m.packets)):
				t.Errorf("%s: want truncated at %d after %d packets, got truncated=%v at %d after %d", path, m.truncatedAt, m.packets, in.Truncated, in.TruncatedAt, in.Packets)
			}
		}
	}
	t.Logf("%d damaged captures analysed", total)
}

// TestAnalyzeWarnsOnSkippedBlock checks that a pcapng block portclass skips (here an
// enhanced packet block naming an interface the file never described) is reported on
// stderr, with the input, as well as under the input in the report.
func TestAnalyzeWarnsOnSkippedBlock(t *testing.T) {
	data, err := os.ReadFile(testdata("sample.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint32(data[8:12]) != 0x1a2b3c4d {
		t.Fatal("sample.pcapng is not little-endian")
	}
	// Walk the blocks to the third enhanced packet block and point it at interface 99.
	epbs := 0
	for off := 0; off+12 <= len(data); {
		typ, n := binary.LittleEndian.Uint32(data[off:]), int(binary.LittleEndian.Uint32(data[off+4:]))
		if typ == 6 {
			if epbs++; epbs == 3 {
				binary.LittleEndian.PutUint32(data[off+8:], 99)
				break
			}
		}
		off += n
	}
	path := filepath.Join(t.TempDir(), "damaged.pcapng")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "analyze", "--format", "json", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s, err := reports.LoadSummary(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Inputs) != 1 || len(s.Inputs[0].Warnings) == 0 || s.Inputs[0].Truncated {
		t.Fatalf("inputs %+v: want one warning and no truncation", s.Inputs)
	}
	w := s.Inputs[0].Warnings[0]
	if !strings.Contains(stderr, "damaged.pcapng") || !strings.Contains(stderr, strings.SplitN(w, " (", 2)[0]) {
		t.Errorf("stderr does not carry the warning %q for the input:\n%s", w, stderr)
	}
	if got, want := s.Totals.Packets, uint64(1638); got != want {
		t.Errorf("%d packets read, want %d (one block skipped, the rest kept)", got, want)
	}
}
