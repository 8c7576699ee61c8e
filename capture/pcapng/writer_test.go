package pcapng_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portclass/portclass/capture/pcapng"
)

// TestWriterOptions writes what live capture's --write writes (section and interface
// options, nanosecond timestamps, two interfaces) and reads it back with gopacket's
// pcapgo, an independent reader. The formats themselves (byte orders, sections,
// resolutions, simple packet blocks) are tested through package synth.
func TestWriterOptions(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapng.NewWriter(&buf, pcapng.Options{Application: "portclass capture", Hardware: "amd64", OS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	ifs := []pcapng.Interface{
		{LinkType: 1, TSResol: 9, Snaplen: 256, Name: "eth0", Description: "portclass live capture on eth0", Filter: "tcp port 443", OS: "linux"},
		{LinkType: 101, TSResol: 9, Snaplen: 256, Name: "tun0"}, // options left out
	}
	for i, ifc := range ifs {
		if n, err := w.AddInterfaceWith(ifc); n != i || err != nil {
			t.Fatalf("AddInterfaceWith(%d) = %d, %v", i, n, err)
		}
	}
	ts := time.Unix(1700000000, 123456789)
	frame := bytes.Repeat([]byte{0xab}, 61) // not a multiple of 4: padded
	if err := w.WritePacket(1, ts, frame, 1500); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(2, ts, frame, 0); err == nil {
		t.Error("WritePacket on interface 2 of 2: no error")
	}
	if err := w.WritePacket(0, ts, frame, 60); err == nil {
		t.Error("WritePacket with a wire length shorter than the frame: no error")
	}

	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	if si := r.SectionInfo(); si.Application != "portclass capture" || si.Hardware != "amd64" || si.OS != "linux" {
		t.Errorf("section options %+v", si)
	}
	data, ci, err := r.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, frame) || ci.Length != 1500 || ci.InterfaceIndex != 1 || !ci.Timestamp.Equal(ts) {
		t.Errorf("packet: %d bytes, wire %d, interface %d, time %v", len(data), ci.Length, ci.InterfaceIndex, ci.Timestamp)
	}
	if r.NInterfaces() != 2 {
		t.Fatalf("%d interfaces, want 2", r.NInterfaces())
	}
	for i, want := range ifs {
		got, err := r.Interface(i)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != want.Name || got.Description != want.Description || got.Filter != want.Filter || got.OS != want.OS ||
			uint16(got.LinkType) != want.LinkType || got.SnapLength != want.Snaplen {
			t.Errorf("interface %d: %+v, want %+v", i, got, want)
		}
	}
}
