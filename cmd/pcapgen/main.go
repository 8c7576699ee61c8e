// Command pcapgen writes portclass's synthetic test captures (package capture/synth).
// It is a development tool: the Makefile's testdata target runs it to regenerate
// testdata/sample.pcapng, testdata/veeam.pcap, testdata/veeam-firewall.pcap (for
// portclass verify), testdata/veeam-after.pcap (the veeam job after a firewall change,
// for portclass diff), testdata/tunnels.pcap (the veeam job inside VXLAN, Geneve and
// GRE tunnels) and testdata/formats/. Output is deterministic: the same flags give
// byte-identical files.
//
//	pcapgen -scenario mix|flows|sample|veeam|veeam-firewall|veeam-after|tunnels|formats -o FILE|DIR [-packets N] [-flows F] [-seed S]
//	        [-mss M] [-span D] [-format pcap|pcapng] [-link ethernet|sll|sll2|raw|null|loop|ppp] [-snaplen N]
//	        [-nano] [-gzip|-zstd]
//
// mix and flows are the benchmark captures (synth.MixFile, synth.FlowsFile): -packets
// and -flows default to each one's own (1M packets over 20k flows; 2.1M over 500k),
// -mss makes their TCP segments smaller, -span starts the flows of flows over a given
// time (70s: most of them open at once at the end, as after a scan).
//
// Files are written atomically: to a temporary file in the target directory that is
// then renamed.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/portclass/portclass/capture/synth"
)

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

// options are pcapgen's flags.
type options struct {
	scenario string
	out      string
	packets  int
	flows    int
	mss      int
	span     time.Duration
	seed     uint64
	format   string
	link     string
	snaplen  uint
	nano     bool
	gzip     bool
	zstd     bool
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pcapgen:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run parses args and writes the requested capture(s).
func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("pcapgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.scenario, "scenario", "", "mix, flows, sample, veeam, veeam-firewall, veeam-after, tunnels or formats (required)")
	fs.StringVar(&o.out, "o", "", "output file, or directory for -scenario formats (required)")
	fs.IntVar(&o.packets, "packets", synth.DefaultMixPackets, fmt.Sprintf("mix, flows: exact number of packets (flows: default %d)", synth.DefaultFlowsPackets))
	fs.IntVar(&o.flows, "flows", synth.DefaultMixFlows, fmt.Sprintf("mix: number of flows (roughly); flows: as portclass counts them, within a few %% (default %d)", synth.DefaultFlowsFlows))
	fs.IntVar(&o.mss, "mss", 0, "mix, flows: TCP payload of a full segment over IPv4, 40-1460 (default 1460)")
	fs.DurationVar(&o.span, "span", 0, "flows: start the flows over this time, e.g. 70s (default: about 20k open at once in portclass's flow table, 73 minutes for 500k flows)")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed")
	fs.StringVar(&o.format, "format", "", "pcap or pcapng (default: from the -o extension, else pcap)")
	fs.StringVar(&o.link, "link", "ethernet", "link type: ethernet, sll, sll2, raw, null, loop or ppp")
	fs.UintVar(&o.snaplen, "snaplen", 0, "cut records to this many bytes (default: 262144 for mix, 160 for tunnels, 96 for the others)")
	fs.BoolVar(&o.nano, "nano", false, "nanosecond timestamps (pcap magic a1b23c4d, pcapng if_tsresol 9)")
	fs.BoolVar(&o.gzip, "gzip", false, "gzip-compress the output")
	fs.BoolVar(&o.zstd, "zstd", false, "zstd-compress the output")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pcapgen -scenario mix|flows|sample|veeam|veeam-firewall|veeam-after|tunnels|formats -o FILE|DIR [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if o.out == "" {
		return fmt.Errorf("%w: -o is required", errUsage)
	}
	if o.gzip && o.zstd {
		return fmt.Errorf("%w: -gzip and -zstd exclude each other", errUsage)
	}
	if o.scenario == "formats" {
		return writeFormats(o.out)
	}
	kind, err := synth.ParseKind(o.scenario)
	if err != nil {
		return fmt.Errorf("%w: -scenario: %v", errUsage, err)
	}
	fo, err := fileOptions(o, kind)
	if err != nil {
		return err
	}
	if kind == synth.KindFlows {
		// the flows scenario's own defaults, unless given
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["packets"] {
			o.packets = synth.DefaultFlowsPackets
		}
		if !set["flows"] {
			o.flows = synth.DefaultFlowsFlows
		}
	}
	s := synth.Scenario{Kind: kind, Seed: o.seed, Packets: o.packets, Flows: o.flows, MSS: o.mss, Span: o.span}
	if (kind == synth.KindMix || kind == synth.KindFlows) && (o.packets <= 0 || o.flows <= 0) {
		return fmt.Errorf("%w: -packets and -flows must be positive", errUsage)
	}
	if o.mss != 0 && (kind != synth.KindMix && kind != synth.KindFlows || o.mss < 40 || o.mss > 1460) {
		return fmt.Errorf("%w: -mss %d: 40 to 1460, for mix and flows only", errUsage, o.mss)
	}
	if o.span < 0 || o.span != 0 && kind != synth.KindFlows {
		return fmt.Errorf("%w: -span %v: positive, for flows only", errUsage, o.span)
	}
	return writeAtomic(o.out, func(w io.Writer) error {
		switch {
		case o.gzip:
			zw := gzip.NewWriter(w)
			if err := synth.Write(zw, s, fo); err != nil {
				return err
			}
			return zw.Close()
		case o.zstd:
			zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return err
			}
			if err := synth.Write(zw, s, fo); err != nil {
				zw.Close()
				return err
			}
			return zw.Close()
		}
		return synth.Write(w, s, fo)
	})
}

// fileOptions turns the flags into synth.FileOptions.
func fileOptions(o options, kind synth.Kind) (synth.FileOptions, error) {
	fo := synth.FileOptions{Format: synth.FormatPcap, Nano: o.nano, Snaplen: uint32(o.snaplen)}
	switch {
	case o.format != "":
		f, err := synth.ParseFormat(o.format)
		if err != nil {
			return fo, fmt.Errorf("%w: -format: %v", errUsage, err)
		}
		fo.Format = f
	case strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(o.out, ".gz"), ".zst"), ".pcapng"):
		fo.Format = synth.FormatPcapng
	}
	lt, err := synth.ParseLink(o.link)
	if err != nil {
		return fo, fmt.Errorf("%w: -link: %v", errUsage, err)
	}
	if lt == synth.LinkIPv4 || lt == synth.LinkIPv6 {
		return fo, fmt.Errorf("%w: -link %s: scenarios mix IPv4 and IPv6; use raw", errUsage, o.link)
	}
	fo.LinkType = lt
	if o.snaplen > 1<<18 {
		return fo, fmt.Errorf("%w: -snaplen %d: at most 262144", errUsage, o.snaplen)
	}
	if fo.Snaplen == 0 && kind != synth.KindMix {
		// Committed captures stay small: headers are kept, payload bytes are not,
		// and original lengths still give the real byte counts.
		fo.Snaplen = synth.CommittedSnaplen
		if kind == synth.KindTunnels {
			fo.Snaplen = synth.TunnelsSnaplen // the outer headers come on top
		}
	}
	return fo, nil
}

// writeFormats writes the formats set and its README.md into dir.
func writeFormats(dir string) error {
	files, err := synth.Formats()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeAtomic(filepath.Join(dir, f.Name), func(w io.Writer) error {
			_, err := io.Copy(w, bytes.NewReader(f.Data))
			return err
		}); err != nil {
			return err
		}
	}
	readme := synth.FormatsREADME(files)
	return writeAtomic(filepath.Join(dir, "README.md"), func(w io.Writer) error {
		_, err := w.Write(readme)
		return err
	})
}

// writeAtomic writes path through fill into a temporary file in the same directory
// and renames it into place, so readers never see a half-written file.
func writeAtomic(path string, fill func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
