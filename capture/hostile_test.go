package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The tests of this file build one hostile input per case the robustness issue lists
// and check what portclass makes of it: which error (with offset and field) or which
// warnings, and that the rest of the input is still used where the format allows.

// ngFile builds little-endian pcapng files block by block.
type ngFile struct{ bytes.Buffer }

var le = binary.LittleEndian

// block writes a block of type typ; the body is padded to 4 bytes.
func (n *ngFile) block(typ uint32, body []byte) *ngFile {
	body = append([]byte(nil), body...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	l := uint32(12 + len(body))
	n.Write(le.AppendUint32(le.AppendUint32(nil, typ), l))
	n.Write(body)
	n.Write(le.AppendUint32(nil, l))
	return n
}

// shb writes a section header of version major.0.
func (n *ngFile) shb(major uint16) *ngFile {
	b := le.AppendUint32(nil, 0x1a2b3c4d)
	b = le.AppendUint16(b, major)
	b = le.AppendUint16(b, 0)
	return n.block(ngSHB, le.AppendUint64(b, ^uint64(0)))
}

// idb writes an interface of link type lt with options (already encoded by opt).
func (n *ngFile) idb(lt uint16, opts ...[]byte) *ngFile {
	b := le.AppendUint16(nil, lt)
	b = append(b, 0, 0)
	b = le.AppendUint32(b, 0) // snaplen: none
	for _, o := range opts {
		b = append(b, o...)
	}
	if len(opts) > 0 {
		b = append(b, 0, 0, 0, 0) // opt_endofopt
	}
	return n.block(ngIDB, b)
}

// epb writes an enhanced packet block on interface id with timestamp units ts.
func (n *ngFile) epb(id uint32, ts uint64, frame []byte) *ngFile {
	return n.epbLen(id, ts, uint32(len(frame)), frame)
}

// epbLen is epb with a captured length field that need not match the data.
func (n *ngFile) epbLen(id uint32, ts uint64, capLen uint32, frame []byte) *ngFile {
	b := le.AppendUint32(nil, id)
	b = le.AppendUint32(b, uint32(ts>>32))
	b = le.AppendUint32(b, uint32(ts))
	b = le.AppendUint32(b, capLen)
	b = le.AppendUint32(b, uint32(len(frame)))
	return n.block(ngEPB, append(b, frame...))
}

// opt encodes one pcapng option, padded.
func opt(code uint16, v []byte) []byte {
	b := le.AppendUint16(le.AppendUint16(nil, code), uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// readAll runs the pipeline (one worker) over data and returns the input's stats and
// the flows.
func readAll(t *testing.T, data []byte) (InputStats, []Flow, error) {
	t.Helper()
	var flows []Flow
	res, err := Run(context.Background(), []string{"-"}, Options{Workers: 1, Stdin: bytes.NewReader(data)}, func(f *Flow) { flows = append(flows, *f) })
	if err != nil {
		return InputStats{}, nil, err
	}
	return res.Inputs[0], flows, nil
}

// wantFormatError checks that data is refused before any packet with a message
// holding every part of want.
func wantFormatError(t *testing.T, data []byte, want ...string) {
	t.Helper()
	_, _, err := readAll(t, data)
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("want a *FormatError, got %v", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// wantTruncated checks that reading stopped at offset with a warning naming field,
// after packets packets.
func wantTruncated(t *testing.T, in InputStats, offset int64, field string, packets uint64) {
	t.Helper()
	if !in.Truncated || in.TruncatedAt != offset || in.Packets != packets {
		t.Fatalf("want truncated at %d after %d packets, got truncated=%v at %d after %d (%q)", offset, packets, in.Truncated, in.TruncatedAt, in.Packets, in.Warnings)
	}
	if !hasWarning(in, fmt.Sprintf("offset %d: %s", offset, field)) {
		t.Errorf("no warning naming offset %d and field %q: %q", offset, field, in.Warnings)
	}
}

func hasWarning(in InputStats, part string) bool {
	for _, w := range in.Warnings {
		if strings.Contains(w, part) {
			return true
		}
	}
	return false
}

// pcapRecord appends one classic pcap record with explicit length fields.
func pcapRecord(b []byte, sec, frac, capLen, origLen uint32, data []byte) []byte {
	b = le.AppendUint32(b, sec)
	b = le.AppendUint32(b, frac)
	b = le.AppendUint32(b, capLen)
	b = le.AppendUint32(b, origLen)
	return append(b, data...)
}

func TestHostilePcapHeaders(t *testing.T) {
	good := pcapOf(1, seedFrames()...)
	withHeader := func(off int, v uint32) []byte {
		b := append([]byte(nil), good...)
		le.PutUint32(b[off:], v)
		return b
	}
	t.Run("header cut short", func(t *testing.T) {
		wantFormatError(t, good[:10], "pcap file header", "unexpected EOF")
	})
	t.Run("unknown version", func(t *testing.T) {
		b := append([]byte(nil), good...)
		le.PutUint16(b[4:], 3)
		wantFormatError(t, b, "-: pcap file header: offset 4: version 3.4 is not 2.x")
	})
	t.Run("reserved link-type bits", func(t *testing.T) {
		wantFormatError(t, withHeader(20, 0x00300001), "offset 20", "reserved bits")
	})
	for _, snap := range []uint32{0, 1, 0xffffffff} {
		t.Run(fmt.Sprintf("absurd snaplen %d", snap), func(t *testing.T) {
			// the file header's snaplen is advice; records are judged on their own
			in, _, err := readAll(t, withHeader(16, snap))
			if err != nil || in.Truncated || in.Packets != uint64(len(seedFrames())) {
				t.Fatalf("%v %+v", err, in)
			}
		})
	}
}

func TestHostilePcapRecords(t *testing.T) {
	frames := seedFrames()
	head := pcapOf(1)
	first := pcapRecord(nil, 1768471200, 0, uint32(len(frames[0])), uint32(len(frames[0])), frames[0])
	t.Run("caplen above the limit", func(t *testing.T) {
		for _, capLen := range []uint32{MaxCapLen + 1, 0x7fffffff, 0xffffffff} {
			b := append(append([]byte(nil), head...), first...)
			b = pcapRecord(b, 1768471201, 0, capLen, capLen, frames[1])
			in, _, err := readAll(t, b)
			if err != nil {
				t.Fatal(err)
			}
			wantTruncated(t, in, int64(len(head)+len(first))+8, "record caplen", 1)
		}
	})
	t.Run("caplen past the end of the file", func(t *testing.T) {
		b := append(append([]byte(nil), head...), first...)
		b = pcapRecord(b, 1768471201, 0, 1000, 1000, frames[1])
		in, _, err := readAll(t, b)
		if err != nil {
			t.Fatal(err)
		}
		wantTruncated(t, in, int64(len(head)+len(first)), "record data", 1)
	})
	t.Run("file ends inside a record header", func(t *testing.T) {
		b := append(append([]byte(nil), head...), first...)
		in, _, err := readAll(t, append(b, 1, 2, 3, 4, 5))
		if err != nil {
			t.Fatal(err)
		}
		wantTruncated(t, in, int64(len(b)), "record header", 1)
	})
	t.Run("caplen 0 and original length below caplen", func(t *testing.T) {
		b := append([]byte(nil), head...)
		b = pcapRecord(b, 1768471200, 0, 0, 0, nil)
		b = pcapRecord(b, 1768471200, 0, 0, 1500, nil)
		b = pcapRecord(b, 1768471200, 0, uint32(len(frames[0])), 10, frames[0])
		in, flows, err := readAll(t, b)
		if err != nil || in.Truncated || in.Packets != 3 || in.DecodeErrors != 2 || in.Decoded != 1 {
			t.Fatalf("%v %+v", err, in)
		}
		// the wire length is never below what was captured
		if in.Bytes != 1500+uint64(len(frames[0])) || len(flows) != 1 || flows[0].Bytes[0] != uint64(len(frames[0])) {
			t.Fatalf("bytes %d, flows %+v", in.Bytes, flows)
		}
	})
	t.Run("out-of-range timestamps", func(t *testing.T) {
		b := append([]byte(nil), head...)
		for i := range 5 {
			b = pcapRecord(b, 0xffffffff, 1_000_000+uint32(i), uint32(len(frames[0])), uint32(len(frames[0])), frames[0])
		}
		in, flows, err := readAll(t, b)
		if err != nil || in.Truncated || in.Packets != 5 || len(flows) != 1 {
			t.Fatalf("%v %+v", err, in)
		}
		if len(in.Warnings) != 2 || !strings.Contains(in.Warnings[0], "offset 28: record timestamp: fraction 1000000 is out of range") ||
			!strings.Contains(in.Warnings[1], "5 records in all") {
			t.Errorf("warnings %q", in.Warnings)
		}
		if want := int64(0xffffffff)*1e9 + 1_000_004_000; in.LastTS != want {
			t.Errorf("last timestamp %d, want %d (year 2106, used as is)", in.LastTS, want)
		}
	})
}

func TestHostilePcapngSectionHeaders(t *testing.T) {
	frame := seedFrames()[0]
	var good ngFile
	good.shb(1).idb(LinkEthernet).epb(0, 1, frame)
	for _, c := range []struct {
		name string
		at   int    // where the section header's length (4) or byte-order magic (8) is
		v    uint32 // written there, little-endian
		want string
	}{
		{"block length not a multiple of 4", 4, 29, "-: offset 4: section header block length: 29 is invalid"},
		{"block length above 16 MiB", 4, MaxBlockLen + 4, "offset 4: section header block length"},
		{"block length past the file", 4, 4000, "offset 0: section header block: file ends after"},
		{"byte-order magic", 8, 0x1a2b3c00, "offset 8: section header byte-order magic"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), good.Bytes()...)
			le.PutUint32(b[c.at:], c.v)
			wantFormatError(t, b, c.want)
		})
	}
	t.Run("unknown first version", func(t *testing.T) {
		var n ngFile
		n.shb(2).idb(LinkEthernet).epb(0, 1, frame)
		wantFormatError(t, n.Bytes(), "offset 12: section header version: 2.0 is not 1.x")
	})
	t.Run("unknown version of a later section", func(t *testing.T) {
		// its blocks cannot be read: reading stops there, the first section is kept
		var n ngFile
		n.Write(good.Bytes())
		at := int64(n.Len())
		n.shb(2).idb(LinkEthernet).epb(0, 1, frame)
		in, _, err := readAll(t, n.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		wantTruncated(t, in, at+12, "section header version", 1)
	})
}

func TestHostilePcapngBlocks(t *testing.T) {
	frames := seedFrames()
	var head ngFile
	head.shb(1).idb(LinkEthernet)
	base := head.Bytes()
	build := func(f func(n *ngFile)) []byte {
		var n ngFile
		n.Write(base)
		f(&n)
		return n.Bytes()
	}
	t.Run("block length invalid: no resync", func(t *testing.T) {
		var at int64
		b := build(func(n *ngFile) {
			n.epb(0, 1, frames[0])
			at = int64(n.Len())
			n.Write(le.AppendUint32(le.AppendUint32(nil, ngEPB), 13))
			n.epb(0, 2, frames[1])
		})
		in, _, err := readAll(t, b)
		if err != nil {
			t.Fatal(err)
		}
		wantTruncated(t, in, at+4, "block length", 1)
	})
	t.Run("block length past the file", func(t *testing.T) {
		var at int64
		b := build(func(n *ngFile) {
			n.epb(0, 1, frames[0])
			at = int64(n.Len())
			n.epb(0, 2, frames[1])
		})
		le.PutUint32(b[at+4:], 1<<20)
		in, _, err := readAll(t, b)
		if err != nil {
			t.Fatal(err)
		}
		wantTruncated(t, in, at, "enhanced packet block: file ends after", 1)
	})
	t.Run("trailing length differs", func(t *testing.T) {
		var at int64
		b := build(func(n *ngFile) {
			n.epb(0, 1, frames[0])
			at = int64(n.Len())
			n.epb(0, 2, frames[1]).epb(0, 3, frames[2])
		})
		l := int64(le.Uint32(b[at+4:]))
		le.PutUint32(b[at+l-4:], 8)
		in, _, err := readAll(t, b)
		if err != nil {
			t.Fatal(err)
		}
		wantTruncated(t, in, at+l-4, "trailing block length", 1)
	})
	// Damaged bodies inside sane lengths: the block is skipped and reading goes on.
	resync := []struct {
		name, warning string
		write         func(n *ngFile) int64 // writes the damaged block, returns its offset
	}{
		{"interface id not described", "enhanced packet block interface id: interface 7 is not described (the section has 1) (block skipped)",
			func(n *ngFile) int64 { at := int64(n.Len()); n.epb(7, 1, frames[0]); return at + 8 }},
		{"captured length past the block", "enhanced packet block captured length: 5000 exceeds the block's",
			func(n *ngFile) int64 { at := int64(n.Len()); n.epbLen(0, 1, 5000, frames[0]); return at + 20 }},
		{"captured length above the limit", fmt.Sprintf("captured length: %d exceeds", MaxCapLen+4),
			func(n *ngFile) int64 {
				at := int64(n.Len())
				n.epb(0, 1, make([]byte, MaxCapLen+4))
				return at + 20
			}},
		{"block larger than the read buffer", fmt.Sprintf("captured length: %d exceeds", readBuf+100),
			func(n *ngFile) int64 {
				at := int64(n.Len())
				n.epb(0, 1, make([]byte, readBuf+100))
				return at + 20
			}},
		{"packet block shorter than its fixed fields", "enhanced packet block: 20 bytes, shorter than the 32-byte minimum",
			func(n *ngFile) int64 { at := int64(n.Len()); n.block(ngEPB, make([]byte, 8)); return at }},
		{"simple packet block too short", "simple packet block: 12 bytes",
			func(n *ngFile) int64 { at := int64(n.Len()); n.block(ngSPB, nil); return at }},
	}
	for _, c := range resync {
		t.Run(c.name, func(t *testing.T) {
			var at int64
			b := build(func(n *ngFile) {
				n.epb(0, 1, frames[0])
				at = c.write(n)
				n.epb(0, 2, frames[1])
				n.block(0x0bad, []byte("unknown blocks are skipped silently"))
				n.epb(0, 3, frames[0])
			})
			in, flows, err := readAll(t, b)
			if err != nil {
				t.Fatal(err)
			}
			if in.Truncated || in.Packets != 3 || len(flows) != 2 {
				t.Fatalf("want 3 packets in 2 flows around the damaged block, got %d packets %d flows, truncated=%v %q", in.Packets, len(flows), in.Truncated, in.Warnings)
			}
			if !hasWarning(in, fmt.Sprintf("offset %d: ", at)) || !hasWarning(in, c.warning) || !hasWarning(in, "1 damaged blocks skipped in all") {
				t.Errorf("warnings %q lack offset %d / %q", in.Warnings, at, c.warning)
			}
		})
	}
}

func TestHostilePcapngInterfaces(t *testing.T) {
	frames := seedFrames()
	run := func(t *testing.T, n *ngFile) (InputStats, []Flow) {
		t.Helper()
		in, flows, err := readAll(t, n.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return in, flows
	}
	t.Run("option running past its block", func(t *testing.T) {
		var n ngFile
		n.shb(1)
		at := int64(n.Len())
		body := le.AppendUint16(nil, LinkEthernet)
		body = append(body, 0, 0, 0, 0, 0, 0)
		body = append(body, opt(9, []byte{9})...)                             // if_tsresol: ns, read
		body = append(body, le.AppendUint16(le.AppendUint16(nil, 2), 200)...) // if_name of 200 bytes: past the block
		n.block(ngIDB, body)
		n.epb(0, 1500, frames[0])
		in, _ := run(t, &n)
		if in.Packets != 1 || in.Truncated || in.FirstTS != 1500 {
			t.Fatalf("packets %d truncated %v first %d", in.Packets, in.Truncated, in.FirstTS)
		}
		if !hasWarning(in, fmt.Sprintf("offset %d: interface option length: option 2 of 200 bytes runs past its block", at+16+8+2)) {
			t.Errorf("warnings %q", in.Warnings)
		}
	})
	t.Run("timestamp resolution and offset out of range", func(t *testing.T) {
		var n ngFile
		n.shb(1).idb(LinkEthernet, opt(9, []byte{20}), opt(14, le.AppendUint64(nil, 1<<62)))
		n.epb(0, 7, frames[0])
		in, _ := run(t, &n)
		if in.Packets != 1 || in.FirstTS != 7000 {
			t.Fatalf("packets %d first %d (want microseconds assumed: 7000 ns)", in.Packets, in.FirstTS)
		}
		if !hasWarning(in, "if_tsresol: 0x14 is out of range (microseconds assumed)") || !hasWarning(in, "if_tsoffset: 4611686018427387904 s is out of range (ignored)") {
			t.Errorf("warnings %q", in.Warnings)
		}
	})
	t.Run("timestamps beyond 2262 are clamped", func(t *testing.T) {
		var n ngFile
		n.shb(1).idb(LinkEthernet, opt(9, []byte{0}), opt(14, le.AppendUint64(nil, 1<<32))) // seconds, +136 years
		n.epb(0, 1<<40, frames[0]).epb(0, ^uint64(0), frames[1]).epb(0, 1, frames[2])
		in, _ := run(t, &n)
		if in.Packets != 3 || in.LastTS != maxInt64 || !hasWarning(in, "2 packet timestamps beyond the year 2262 clamped") {
			t.Fatalf("last %d, warnings %q", in.LastTS, in.Warnings)
		}
	})
	t.Run("damaged description keeps the indexes of the others", func(t *testing.T) {
		var n ngFile
		n.shb(1)
		at := int64(n.Len())
		n.block(ngIDB, []byte{1, 0}).idb(LinkRaw)
		n.epb(0, 1, frames[0]).epb(1, 2, frames[0][14:])
		in, flows := run(t, &n)
		if in.Packets != 1 || in.LinkTypes["RAW"] != 1 || len(flows) != 1 {
			t.Fatalf("want the RAW packet of interface 1 only: %+v", in)
		}
		if !hasWarning(in, fmt.Sprintf("offset %d: interface description block: 16 bytes", at)) || !hasWarning(in, "interface 0 has a damaged description (block skipped)") {
			t.Errorf("warnings %q", in.Warnings)
		}
	})
	t.Run("65536 interfaces and one more", func(t *testing.T) {
		var n ngFile
		n.shb(1)
		for i := range maxInterfaces + 1 {
			lt := LinkEthernet
			if i == maxInterfaces-1 {
				lt = LinkRaw
			}
			n.idb(lt)
		}
		n.epb(0, 1, frames[0]).epb(maxInterfaces-1, 2, frames[0][14:]).epb(maxInterfaces, 3, frames[0])
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		in, _ := run(t, &n)
		runtime.ReadMemStats(&m1)
		if in.Packets != 2 || in.LinkTypes["RAW"] != 1 || in.LinkTypes["EN10MB"] != 1 {
			t.Fatalf("%+v", in)
		}
		if !hasWarning(in, "1 interface description blocks beyond the limit of 65536 per section ignored") ||
			!hasWarning(in, "interface 65536 is not described (the section has 65536)") {
			t.Errorf("warnings %q", in.Warnings)
		}
		// 65536 interfaces cost a few MiB (a slice of 48-byte descriptions, grown by doubling)
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 32<<20 {
			t.Errorf("reading %d interfaces allocated %d MiB", maxInterfaces, alloc>>20)
		}
	})
	t.Run("many damaged blocks: warnings are bounded", func(t *testing.T) {
		var n ngFile
		n.shb(1).idb(LinkEthernet)
		for i := range 1000 {
			n.epb(uint32(5+i), 1, frames[0])
		}
		n.epb(0, 1, frames[0])
		in, _ := run(t, &n)
		if in.Packets != 1 || len(in.Warnings) != maxWarnings+2 || !hasWarning(in, "950 more problems not listed") || !hasWarning(in, "1000 damaged blocks skipped in all") {
			t.Fatalf("packets %d, %d warnings: %q", in.Packets, len(in.Warnings), in.Warnings[maxWarnings-1:])
		}
	})
}

// TestTruncatedAtEveryLayer cuts packets after every byte: cuts inside the link, IP
// or transport header are decode errors, never a panic or a wrong flow; cuts after
// the ports (TCP: after the flags) decode.
func TestTruncatedAtEveryLayer(t *testing.T) {
	frames := seedFrames()
	cases := []struct {
		name  string
		lt    uint32
		frame []byte
		need  int // bytes needed to decode
	}{
		{"ethernet ipv4 tcp", 1, frames[0], 14 + 20 + 14},
		{"ethernet ipv6 hop-by-hop udp", 1, frames[1], 14 + 40 + 8 + 4},
		{"qinq ipv4 tcp", 1, frames[3], 14 + 8 + 20 + 14},
		{"raw ipv4 tcp", 101, frames[0][14:], 20 + 14},
		{"sll2 ipv6 udp", 276, append(append([]byte{0x86, 0xdd}, make([]byte, 18)...), frames[1][14:]...), 20 + 40 + 8 + 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cuts [][]byte
			for n := range len(c.frame) + 1 {
				cuts = append(cuts, c.frame[:n])
			}
			in, flows, err := readAll(t, pcapOf(c.lt, cuts...))
			if err != nil {
				t.Fatal(err)
			}
			if in.DecodeErrors != uint64(c.need) || in.Decoded != uint64(len(c.frame)+1-c.need) {
				t.Fatalf("%d decode errors and %d decoded, want %d and %d", in.DecodeErrors, in.Decoded, c.need, len(c.frame)+1-c.need)
			}
			if len(flows) != 1 {
				t.Fatalf("%d flows from one packet cut in many ways: %+v", len(flows), flows)
			}
		})
	}
}

func TestIPv6ExtensionChains(t *testing.T) {
	ip6 := func(next byte, payload []byte) []byte {
		h := make([]byte, 40)
		h[0], h[6], h[7] = 0x60, next, 64
		binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
		h[8], h[23], h[24], h[39] = 0x20, 1, 0x20, 2
		return append(h, payload...)
	}
	udp := []byte{0x9c, 0x40, 0x00, 0x35, 0, 8, 0, 0}
	var chain []byte // 8000 destination-options headers, then UDP: long but valid
	for i := range 8000 {
		next := byte(60)
		if i == 7999 {
			next = 17
		}
		chain = append(chain, next, 0, 1, 4, 0, 0, 0, 0)
	}
	loop := bytes.Repeat([]byte{0, 0, 1, 4, 0, 0, 0, 0}, 8000) // hop-by-hop naming itself to the end
	cases := []struct {
		name   string
		packet []byte
		want   int
		dport  uint16
	}{
		{"8000 headers then UDP", ip6(60, append(chain, udp...)), decOK, 53},
		{"a header naming itself until the packet ends", ip6(0, loop), decMalformed, 0},
		{"header length past the packet", ip6(0, []byte{17, 255, 0, 0, 0, 0, 0, 0}), decMalformed, 0},
		{"AH length past the packet", ip6(51, []byte{17, 200, 0, 0, 0, 0, 0, 0}), decMalformed, 0},
		{"fragment header cut short", ip6(44, []byte{17, 0, 0}), decMalformed, 0},
		{"chain cut inside a header", ip6(60, chain[:8*100+3]), decMalformed, 0},
	}
	for _, c := range cases {
		var d decoder
		var p pkt
		if r := d.decode(LinkIPv6, c.packet, &p); r != c.want || p.dport != c.dport {
			t.Errorf("%s: result %d port %d, want %d %d", c.name, r, p.dport, c.want, c.dport)
		}
	}
}

// TestICMPErrorsQuotingGarbage: an ICMP error whose quote is not a usable packet is
// still an ICMP flow of its own, and annotates no other flow.
func TestICMPErrorsQuotingGarbage(t *testing.T) {
	frames := seedFrames()
	udp4 := frames[4][14:] // the UDP packet the errors pretend to quote
	ip4 := func(b []byte) []byte { return append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0}, b...) }
	ip6 := func(b []byte) []byte { return append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd}, b...) }
	quoteIHL15 := append([]byte{0x4f}, udp4[1:]...)
	quote6in4 := append([]byte(nil), frames[1][14:]...)
	nested := icmpErrorPacket(false, 3, 3, icmpErrorPacket(false, 3, 3, icmpErrorPacket(false, 11, 0, udp4)))
	garbage := []struct {
		name  string
		frame []byte
	}{
		{"empty quote", ip4(icmpErrorPacket(false, 3, 3, nil))},
		{"quote of 7 bytes", ip4(icmpErrorPacket(false, 3, 1, udp4[:7]))},
		{"quote with IHL 15 and 28 bytes", ip4(icmpErrorPacket(false, 3, 3, quoteIHL15[:28]))},
		{"IPv6 quoted in ICMPv4", ip4(icmpErrorPacket(false, 3, 3, quote6in4))},
		{"quote of a non-first fragment", ip4(icmpErrorPacket(false, 3, 3, frames[5][14:]))},
		{"random bytes", ip4(icmpErrorPacket(false, 11, 0, []byte("\x45garbage that is not a packet at all....")))},
		{"ICMPv6 quote cut in the extension headers", ip6(icmpErrorPacket(true, 1, 4, frames[1][14:14+44]))},
		{"errors nested three deep", ip4(nested)},
	}
	var all [][]byte
	for _, g := range garbage {
		var d decoder
		var p pkt
		if r := d.decode(LinkEthernet, g.frame, &p); r != decOK || p.hasQuote != (g.name == "errors nested three deep") {
			t.Errorf("%s: result %d, quote %v", g.name, r, p.hasQuote)
		}
		all = append(all, g.frame)
	}
	all = append(all, frames[4]) // the real UDP flow (a first fragment)
	in, flows, err := readAll(t, pcapOf(1, all...))
	if err != nil || in.Decoded != uint64(len(all)) {
		t.Fatalf("%v %+v", err, in)
	}
	for _, f := range flows {
		// the nested error quotes an ICMP error flow, not the UDP flow
		if f.Proto == ProtoUDP && len(f.ICMPErrors) != 0 {
			t.Errorf("the UDP flow got ICMP errors from garbage quotes: %+v", f.ICMPErrors)
		}
	}
}

// TestFragmentFloodIsBounded sends fragments whose first fragment never comes: the
// fragments held wait at most fragHeldMax in all, the rest are counted as orphans.
func TestFragmentFloodIsBounded(t *testing.T) {
	var ft fragTable
	ft.init()
	for i := range fragHeldMax + 5000 {
		p := pkt{ts: int64(i), proto: ProtoUDP, kind: kindFragment, fragID: uint32(i / 4)}
		if ft.attach(&p, 0) {
			t.Fatal("a fragment without its first fragment was released")
		}
		if ft.held > fragHeldMax {
			t.Fatalf("%d fragments held", ft.held)
		}
	}
	if n := ft.orphans(); n != fragHeldMax+5000 {
		t.Fatalf("%d orphans, want every fragment", n)
	}
}

func gzipWriter(w io.Writer) io.WriteCloser {
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	return zw
}

// bomb returns a pcap header followed by records of 64 KiB zeros, size bytes in all,
// compressed with codec: a few hundred KiB that decompress to size.
func bomb(t *testing.T, codec string, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch codec {
	case "gzip":
		w = gzipWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	}
	w.Write(pcapOf(1))
	rec := pcapRecord(nil, 1768471200, 0, 65535, 65535, make([]byte, 65535))
	for n := 24; n < size; n += len(rec) {
		w.Write(rec)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecompressionBombs: memory stays flat however far a small compressed input
// expands. Allocations while reading 8 MiB and 64 MiB of decompressed data are
// compared: the larger input may not cost more than a little extra.
func TestDecompressionBombs(t *testing.T) {
	for _, codec := range []string{"gzip", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			var allocs [2]uint64
			for i, size := range []int{8 << 20, 64 << 20} {
				data := bomb(t, codec, size)
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				in, _, err := readAll(t, data)
				runtime.ReadMemStats(&m1)
				if err != nil || in.Truncated || in.Packets < uint64(size/65551) {
					t.Fatalf("%v %+v", err, in)
				}
				allocs[i] = m1.TotalAlloc - m0.TotalAlloc
				t.Logf("%s: %d KiB compressed, %d MiB decompressed, %d KiB allocated", codec, len(data)>>10, size>>20, allocs[i]>>10)
			}
			if allocs[1] > allocs[0]+4<<20 || allocs[1] > 48<<20 {
				t.Errorf("allocations grow with the decompressed size: %d KiB for 8 MiB, %d KiB for 64 MiB", allocs[0]>>10, allocs[1]>>10)
			}
		})
	}
}

// TestHostileCompressedStreams: a zstd frame asking for a window above the limit is
// refused before anything is decoded; a damaged or cut stream is used up to the
// damage, with the decompressed offset and the codec in the warning.
func TestHostileCompressedStreams(t *testing.T) {
	t.Run("zstd window of 1 GiB", func(t *testing.T) {
		// frame header: descriptor 0 (window descriptor present), window log 10+20 = 30
		frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0x01, 0x00, 0x00}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		wantFormatError(t, frame, "-: zstd", "window")
		runtime.ReadMemStats(&m1)
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 16<<20 {
			t.Errorf("refusing the frame allocated %d MiB", alloc>>20)
		}
	})
	// enough packets for several zstd blocks (128 KiB each): a cut stream still
	// decodes its first blocks
	var frames [][]byte
	for range 1000 {
		frames = append(frames, seedFrames()...)
	}
	plain := pcapOf(1, frames...)
	for _, c := range []struct {
		codec string
		data  []byte
	}{{"gzip", gzipOf(plain)}, {"zstd", zstdEnc.EncodeAll(plain, nil)}} {
		t.Run(c.codec+" cut short", func(t *testing.T) {
			in, _, err := readAll(t, c.data[:len(c.data)-10])
			if err != nil {
				t.Fatal(err)
			}
			if !in.Truncated || in.TruncatedAt < 24 || in.TruncatedAt > int64(len(plain)) || !hasWarning(in, c.codec+": ") {
				t.Fatalf("truncated=%v at %d, warnings %q", in.Truncated, in.TruncatedAt, in.Warnings)
			}
		})
	}
	t.Run("gzip checksum wrong", func(t *testing.T) {
		b := gzipOf(plain)
		b[len(b)-6] ^= 0xff // CRC-32 of the trailer
		in, _, err := readAll(t, b)
		if err != nil {
			t.Fatal(err)
		}
		// every packet was read before the trailer was checked
		if !in.Truncated || in.Packets != uint64(len(frames)) || in.TruncatedAt != int64(len(plain)) || !hasWarning(in, "gzip: invalid checksum") {
			t.Fatalf("truncated=%v at %d after %d packets, warnings %q", in.Truncated, in.TruncatedAt, in.Packets, in.Warnings)
		}
	})
}
