package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"

	"github.com/portclass/portclass/capture/synth"
)

// count reads a pcap or pcapng stream with gopacket and returns its packets and link type.
func count(t *testing.T, data []byte) (int, layers.LinkType) {
	t.Helper()
	n := 0
	if bytes.HasPrefix(data, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, _, err := r.ReadPacketData(); err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				return n, r.LinkType()
			}
			n++
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			return n, r.LinkType()
		}
		n++
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args    []string
		file    string
		packets int
		link    layers.LinkType
		decomp  func([]byte) []byte
	}{
		{[]string{"-scenario", "mix", "-packets", "3000", "-flows", "60", "-seed", "4"}, "mix.pcap", 3000, layers.LinkTypeEthernet, nil},
		{[]string{"-scenario", "mix", "-packets", "2000", "-flows", "40", "-link", "sll2", "-format", "pcapng"}, "mix-sll2.cap", 2000, layers.LinkTypeLinuxSLL2, nil},
		{[]string{"-scenario", "mix", "-packets", "3000", "-flows", "60", "-seed", "4", "-mss", "536"}, "mix-mss.pcap", 3000, layers.LinkTypeEthernet, nil},
		{[]string{"-scenario", "flows", "-packets", "4200", "-flows", "1000"}, "flows.pcap", 4200, layers.LinkTypeEthernet, nil},
		{[]string{"-scenario", "flows", "-packets", "4200", "-flows", "1000", "-span", "10s"}, "flows-span.pcap", 4200, layers.LinkTypeEthernet, nil},
		{[]string{"-scenario", "veeam", "-link", "raw"}, "veeam.pcapng", -1, layers.LinkTypeRaw, nil},
		{[]string{"-scenario", "sample", "-gzip"}, "sample.pcap.gz", -1, layers.LinkTypeEthernet, gunzip(t)},
		{[]string{"-scenario", "sample", "-zstd", "-link", "ppp"}, "sample.pcapng.zst", -1, layers.LinkTypePPP, unzstd(t)},
	} {
		path := filepath.Join(dir, c.file)
		if err := run(append(c.args, "-o", path), io.Discard); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.decomp != nil {
			data = c.decomp(data)
		}
		n, lt := count(t, data)
		if c.packets >= 0 && n != c.packets || n == 0 || lt != c.link {
			t.Errorf("%v: %d packets of %v, want %d of %v", c.args, n, lt, c.packets, c.link)
		}
		if strings.Contains(c.file, ".pcapng") != bytes.HasPrefix(data, []byte{0x0a, 0x0d, 0x0d, 0x0a}) && !strings.HasSuffix(c.file, ".cap") {
			t.Errorf("%s: format not taken from the extension", c.file)
		}
	}
	// The default snaplen of the scripted scenarios is synth.CommittedSnaplen, and the
	// output is the same as synth.Write's.
	path := filepath.Join(dir, "veeam.pcap")
	if err := run([]string{"-scenario", "veeam", "-o", path}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := synth.Write(&want, synth.Scenario{Kind: synth.KindVeeam, Seed: 1}, synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet, Snaplen: synth.CommittedSnaplen}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want.Bytes()) {
		t.Error("pcapgen -scenario veeam differs from synth.Write with the committed options")
	}

	fdir := filepath.Join(dir, "formats")
	if err := run([]string{"-scenario", "formats", "-o", fdir}, io.Discard); err != nil {
		t.Fatal(err)
	}
	files, _ := synth.Formats()
	for _, f := range files {
		if got, err := os.ReadFile(filepath.Join(fdir, f.Name)); err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("formats/%s not written: %v", f.Name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(fdir, "README.md")); err != nil {
		t.Error(err)
	}
	// The flows scenario is cut to synth.CommittedSnaplen by default, as FlowsFile
	// writes it, and -mss gives the same mix (same packets, flows and seed) smaller
	// frames.
	data, _ := os.ReadFile(filepath.Join(dir, "flows.pcap"))
	if r, err := pcapgo.NewReader(bytes.NewReader(data)); err != nil || r.Snaplen() != synth.CommittedSnaplen {
		t.Errorf("flows: %v, want snaplen %d", err, synth.CommittedSnaplen)
	}
	// -span is the scenario's Span.
	want.Reset()
	if err := synth.Write(&want, synth.Scenario{Kind: synth.KindFlows, Seed: 1, Packets: 4200, Flows: 1000, Span: 10 * time.Second}, synth.FileOptions{Format: synth.FormatPcap, LinkType: synth.LinkEthernet, Snaplen: synth.CommittedSnaplen}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "flows-span.pcap")); !bytes.Equal(got, want.Bytes()) || bytes.Equal(got, data) {
		t.Error("pcapgen -span 10s differs from synth.Write with Span 10s, or equals the default")
	}
	small, _ := os.Stat(filepath.Join(dir, "mix-mss.pcap"))
	full, _ := os.Stat(filepath.Join(dir, "mix.pcap"))
	if small == nil || full == nil || small.Size() >= full.Size()*3/4 {
		t.Errorf("-mss 536 did not make the mix much smaller: %v against %v", small, full)
	}
	// Nothing but the outputs is left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.pcap")
	for _, args := range [][]string{
		{"-o", out},
		{"-scenario", "mix"},
		{"-scenario", "nope", "-o", out},
		{"-scenario", "mix", "-o", out, "-link", "token-ring"},
		{"-scenario", "mix", "-o", out, "-link", "ipv4"},
		{"-scenario", "mix", "-o", out, "-format", "erf"},
		{"-scenario", "mix", "-o", out, "-gzip", "-zstd"},
		{"-scenario", "mix", "-o", out, "-packets", "0"},
		{"-scenario", "flows", "-o", out, "-flows", "-1"},
		{"-scenario", "mix", "-o", out, "-mss", "39"},
		{"-scenario", "flows", "-o", out, "-mss", "1461"},
		{"-scenario", "sample", "-o", out, "-mss", "1000"},
		{"-scenario", "flows", "-o", out, "-span", "-1s"},
		{"-scenario", "mix", "-o", out, "-span", "70s"},
		{"-scenario", "mix", "-o", out, "extra"},
		{"-bogus"},
	} {
		if err := run(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run created %s", out)
	}
	// A write failure is not a usage error and leaves no file behind.
	err := run([]string{"-scenario", "sample", "-o", filepath.Join(dir, "missing", "x.pcap")}, io.Discard)
	if err == nil || errors.Is(err, errUsage) {
		t.Errorf("writing into a missing directory: %v", err)
	}
}

func gunzip(t *testing.T) func([]byte) []byte {
	return func(b []byte) []byte {
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func unzstd(t *testing.T) func([]byte) []byte {
	return func(b []byte) []byte {
		d, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		out, err := d.DecodeAll(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}
