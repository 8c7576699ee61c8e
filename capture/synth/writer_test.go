package synth_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portclass/portclass/capture/synth"
)

// testRecords returns n frames of different lengths with timestamps that have a
// nanosecond part.
func testRecords(n int) ([]time.Time, [][]byte) {
	var ts []time.Time
	var frames [][]byte
	for i := range n {
		p := synth.Packet{Src: a4, Dst: b4, Proto: synth.ProtoUDP, SrcPort: uint16(1000 + i), DstPort: 53, PayloadLen: i * 37}
		ts = append(ts, synth.BaseTime().Add(time.Duration(i)*1234567891*time.Nanosecond))
		frames = append(frames, p.Frame(synth.LinkEthernet, nil))
	}
	return ts, frames
}

func TestPcapRoundTrip(t *testing.T) {
	ts, frames := testRecords(20)
	for _, c := range []struct {
		name      string
		be, nano  bool
		snaplen   uint32
		wantMagic []byte
	}{
		{"le-usec", false, false, 0, []byte{0xd4, 0xc3, 0xb2, 0xa1}},
		{"be-usec", true, false, 0, []byte{0xa1, 0xb2, 0xc3, 0xd4}},
		{"le-nsec", false, true, 0, []byte{0x4d, 0x3c, 0xb2, 0xa1}},
		{"be-nsec-snaplen", true, true, 200, []byte{0xa1, 0xb2, 0x3c, 0x4d}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := synth.NewPcapWriter(&buf, synth.PcapOptions{BigEndian: c.be, Nano: c.nano, LinkType: synth.LinkEthernet, Snaplen: c.snaplen})
			if err != nil {
				t.Fatal(err)
			}
			for i := range frames {
				if err := w.WritePacket(ts[i], frames[i], 0); err != nil {
					t.Fatal(err)
				}
			}
			if w.Packets() != len(frames) {
				t.Errorf("Packets() = %d, want %d", w.Packets(), len(frames))
			}
			if !bytes.Equal(buf.Bytes()[:4], c.wantMagic) {
				t.Errorf("magic % x, want % x", buf.Bytes()[:4], c.wantMagic)
			}
			r, err := pcapgo.NewReader(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if r.LinkType() != layers.LinkTypeEthernet {
				t.Errorf("link type %v", r.LinkType())
			}
			snap := c.snaplen
			if snap == 0 {
				snap = synth.DefaultSnaplen
			}
			if r.Snaplen() != snap {
				t.Errorf("snaplen %d, want %d", r.Snaplen(), snap)
			}
			for i := range frames {
				data, ci, err := r.ReadPacketData()
				if err != nil {
					t.Fatalf("packet %d: %v", i+1, err)
				}
				want := ts[i].Truncate(time.Microsecond)
				if c.nano {
					want = ts[i]
				}
				if !ci.Timestamp.Equal(want) {
					t.Errorf("packet %d: time %v, want %v", i+1, ci.Timestamp, want)
				}
				wantData := frames[i][:min(len(frames[i]), int(snap))]
				if !bytes.Equal(data, wantData) || ci.CaptureLength != len(wantData) || ci.Length != len(frames[i]) {
					t.Errorf("packet %d: %d/%d bytes, want %d/%d", i+1, ci.CaptureLength, ci.Length, len(wantData), len(frames[i]))
				}
			}
			if _, _, err := r.ReadPacketData(); err != io.EOF {
				t.Errorf("after the last packet: %v, want io.EOF", err)
			}
		})
	}
}

func TestPcapFCSBits(t *testing.T) {
	for _, c := range []struct {
		ext  uint32
		want uint32
	}{
		{synth.FCSBitsLibpcap(4), 0x24000001},
		{synth.FCSBitsDraft(4), 0x50000001},
	} {
		var buf bytes.Buffer
		if _, err := synth.NewPcapWriter(&buf, synth.PcapOptions{LinkType: synth.LinkEthernet, LinkTypeExt: c.ext}); err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint32(buf.Bytes()[20:]); got != c.want {
			t.Errorf("link-type field %#08x, want %#08x", got, c.want)
		}
	}
	if _, err := synth.NewPcapWriter(io.Discard, synth.PcapOptions{LinkTypeExt: 1}); err == nil {
		t.Error("an extension overlapping the link type was accepted")
	}
}

func TestPcapErrors(t *testing.T) {
	w, err := synth.NewPcapWriter(io.Discard, synth.PcapOptions{LinkType: synth.LinkRaw})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(synth.BaseTime(), make([]byte, 10), 5); err == nil {
		t.Error("original length shorter than the frame was accepted")
	}
	if err := w.WritePacket(time.Unix(-1, 0), make([]byte, 10), 0); err == nil {
		t.Error("a timestamp before 1970 was accepted")
	}
	boom := errors.New("disk full")
	if _, err := synth.NewPcapWriter(failWriter{boom}, synth.PcapOptions{}); !errors.Is(err, boom) {
		t.Errorf("header write error %v does not wrap %v", err, boom)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// TestNgRoundTrip writes two sections of opposite byte orders, interfaces of
// several link types and resolutions, EPBs and SPBs, and reads them back.
func TestNgRoundTrip(t *testing.T) {
	ts, frames := testRecords(12)
	raw := make([][]byte, len(frames))
	for i := range frames {
		raw[i] = frames[i][14:] // the same IP packet without its Ethernet header
	}
	type ifc struct {
		link    uint16
		res     uint8
		snaplen uint32
	}
	sections := []struct {
		be     bool
		ifaces []ifc
	}{
		{false, []ifc{{synth.LinkEthernet, 6, 0}, {synth.LinkRaw, 9, 0}, {synth.LinkEthernet, 0x80 | 20, 0}}},
		{true, []ifc{{synth.LinkRaw, 9, 100}, {synth.LinkEthernet, 6, 0}}},
	}
	var buf bytes.Buffer
	w, err := synth.NewNgWriter(&buf, synth.NgOptions{Application: "test"})
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		iface int
		ifc   ifc
		i     int  // record index into ts/frames
		spb   bool // written as a Simple Packet Block
	}
	var recs []rec
	for si, sec := range sections {
		if si > 0 {
			if err := w.NewSectionWith(synth.NgOptions{BigEndian: sec.be}); err != nil {
				t.Fatal(err)
			}
		}
		for k, f := range sec.ifaces {
			n, err := w.AddInterface(f.link, "if", f.res, f.snaplen)
			if err != nil || n != k {
				t.Fatalf("AddInterface = %d, %v; want %d", n, err, k)
			}
		}
		for k := range 6 {
			i := si*6 + k
			iface := k % len(sec.ifaces)
			f := sec.ifaces[iface]
			data := frames[i]
			if f.link == synth.LinkRaw {
				data = raw[i]
			}
			r := rec{iface: iface, ifc: f, i: i}
			if si == 1 && k == 5 {
				r.iface, r.ifc, r.spb = 0, sec.ifaces[0], true
				data = raw[i]
				err = w.WriteSimplePacket(data[:min(len(data), int(r.ifc.snaplen))], len(data))
			} else {
				err = w.WritePacket(iface, ts[i], data, 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
	}
	if err := w.WritePacket(7, ts[0], frames[0], 0); err == nil {
		t.Error("a packet on an undefined interface was accepted")
	}

	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range recs {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("record %d: %v", rc.i+1, err)
		}
		want := frames[rc.i]
		if rc.ifc.link == synth.LinkRaw {
			want = raw[rc.i]
		}
		orig := len(want)
		if rc.ifc.snaplen != 0 {
			want = want[:min(len(want), int(rc.ifc.snaplen))]
		}
		if !bytes.Equal(data, want) || ci.Length != orig || ci.InterfaceIndex != rc.iface {
			t.Errorf("record %d: %d/%d bytes on interface %d, want %d/%d on %d", rc.i+1, len(data), ci.Length, ci.InterfaceIndex, len(want), orig, rc.iface)
		}
		if len(ci.AncillaryData) == 0 || ci.AncillaryData[0] != layers.LinkType(rc.ifc.link) {
			t.Errorf("record %d: link type %v, want %d", rc.i+1, ci.AncillaryData, rc.ifc.link)
		}
		if rc.spb {
			continue // no timestamp
		}
		var wantTS time.Time
		switch rc.ifc.res {
		case 6:
			wantTS = ts[rc.i].Truncate(time.Microsecond)
		case 9:
			wantTS = ts[rc.i]
		default:
			// 2^-20 s units; pcapgo scales them with an integer factor
			// (1e9/2^20 = 953), so only bound the error.
			d := ts[rc.i].Sub(ci.Timestamp)
			if d < 0 || d > time.Millisecond {
				t.Errorf("record %d: time %v, want %v (2^-20 s units)", rc.i+1, ci.Timestamp, ts[rc.i])
			}
			continue
		}
		if !ci.Timestamp.Equal(wantTS) {
			t.Errorf("record %d: time %v, want %v", rc.i+1, ci.Timestamp, wantTS)
		}
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Errorf("after the last packet: %v, want io.EOF", err)
	}
}

// TestNgBinaryTimestamp checks the raw EPB timestamp of a 2^-20 s interface exactly,
// since pcapgo's conversion is lossy.
func TestNgBinaryTimestamp(t *testing.T) {
	var buf bytes.Buffer
	w, _ := synth.NewNgWriter(&buf, synth.NgOptions{})
	if _, err := w.AddInterface(synth.LinkRaw, "", 0x80|20, 0); err != nil {
		t.Fatal(err)
	}
	start := buf.Len()
	ts := synth.BaseTime().Add(750 * time.Millisecond)
	if err := w.WritePacket(0, ts, make([]byte, 20), 0); err != nil {
		t.Fatal(err)
	}
	epb := buf.Bytes()[start:]
	units := uint64(binary.LittleEndian.Uint32(epb[12:]))<<32 | uint64(binary.LittleEndian.Uint32(epb[16:]))
	want := uint64(ts.Unix())<<20 | 3<<18 // 0.75 s = 3/4 of 2^20
	if units != want {
		t.Errorf("timestamp units %#x, want %#x", units, want)
	}
	if _, err := w.AddInterface(synth.LinkRaw, "", 10, 0); err == nil {
		t.Error("if_tsresol 10 (finer than ns) was accepted")
	}
}
