// Command benchcompare measures portclass against the peers Debian packages and a
// reference loop written with gopacket, on generated captures, and prints tables of
// medians and ratios. It is the `make bench-compare` target and a development tool:
// it is not part of the portclass binary.
//
//	go run ./internal/benchcompare [-captures mix,flows,burst,small] [-rounds R] [-portclass BIN]
//	        [-peers tcpdump,argus,ndpiReader,tshark] [-extra NAME=BIN] [-rss-scale K]
//	        [-packets N] [-flows F] [-flows-packets N] [-flows-count F] [-burst-span D]
//	        [-small-mss M]
//	go run ./internal/benchcompare -startup [-portclass BIN]
//
// -captures selects the captures (all four by default; make bench-compare
// CAPTURES=flows runs only the flow-heavy one, about a minute):
//
//	mix    packet-heavy: the mix scenario, -packets packets (1M) over about -flows
//	       flows (20k), mostly long TCP connections of full-size frames (936 MB); and D,
//	       the same packets and flows as one input per CPU. The start-up measurement and
//	       -rss-scale go with it.
//	flows  flow-heavy (issue 12): the flows scenario, -flows-packets packets (2.1M) over
//	       -flows-count short flows (500k) among ~66k hosts, ~20k open at once, cut to 96
//	       bytes a frame as a header-only capture is (190 MB). What a flow costs.
//	burst  the flows capture's flows started within -burst-span (70 s) instead of 73
//	       minutes, each with its own timing as before: nearly all 500k are open at
//	       once at the end, as after a scan, and argus holds as many (about 590 MB,
//	       the footprint issue 12 measured for argus, which on the flows capture
//	       times its flows out and keeps 22 MB). What a flow costs in a full table.
//	small  the mix's packets and flows in smaller frames: TCP segments of -small-mss
//	       bytes (1080: ~700-byte frames, 700 MB). What a packet costs when the copy
//	       out of the page cache weighs less.
//
// The captures are generated once into -dir (synth.MixFile, FlowsFile, FlowsFileSpan,
// MixFileMSS)
// and reused. For each capture, every round runs each command once, in an order
// rotated from round to round, after one warm-up round that is not counted (the
// capture is then in the page cache for everyone), so that the ratios compare runs
// made at the same time on a machine shared with other work. Each run's wall time,
// CPU time (user + system) and peak resident memory (getrusage's ru_maxrss of the
// child) are recorded; the tables show medians, and wall time as ratios to the
// capture's references (mix: tcpdump and the reference loop; flows and burst: the
// reference loop and argus; small: the reference loop and tcpdump), and the flows,
// burst and small captures end with the targets of issue 12 and whether the medians
// meet them. argus ends on a timed wait, so its wall times come in whole seconds
// (1.01, 2.01, 3.02 s): the flows and burst captures also give portclass's CPU time as
// a ratio to argus's and the loop's.
// The flows capture also runs the export rows (issue 16), each with every core:
// portclass json (--format json, every record), portclass parquet (--format parquet)
// and portclass json+ipfix (--format json --ipfix to a UDP socket of benchcompare that
// reads and drops the datagrams), with their ratios to portclass json and the target
// of at most 1.2x its wall time. The commands:
//
//	portclass -w1   portclass analyze --workers 1 --format json F > /dev/null (one core);
//	                on the flows and burst captures --format text (the report without
//	                the records)
//	portclass -w0   portclass analyze --workers 0 ... (the default: every core; one
//	                capture worker, the stages after it on other goroutines)
//	portclass -wN   portclass analyze --workers N --format json F > /dev/null (N = every core,
//	                the flows of the one input sharded across them)
//	portclass -w1 D portclass analyze --workers 1 --format json D > /dev/null, where D is a
//	                directory holding the same number of packets and flows in N inputs
//	portclass -w0 D portclass analyze --workers 0 --format json D > /dev/null (the default:
//	                every core, each reading whole inputs)
//	portclass ×N D  N processes at once, portclass analyze --workers 1 on one input of D
//	                each: nothing shared but the machine, so its ratio to -w1 D is the
//	                most that any split of this work across N cores can gain here
//	tcpdump ×N D    the same with tcpdump -r P -w /dev/null, for comparison
//	reference loop  refloop F: a minimal gopacket loop (pcapgo zero-copy reads,
//	                DecodingLayerParser, a map of 5-tuples to counters; ./refloop), built
//	                with go build into a temporary directory: the floor of a flow tool in Go
//	tcpdump         tcpdump -r F -w /dev/null
//	argus           argus -r F -w /dev/null
//	ndpiReader      ndpiReader -q -i F > /dev/null
//	tshark          tshark -r F -q -z conv,tcp -z conv,udp > /dev/null (mix only)
//
// A peer that is not installed is skipped with a note. -extra adds another portclass
// binary (run with one worker and with every core on mix, with one worker on the
// others), to compare builds in the same run. -rss-scale K also
// runs portclass on a capture of K times the packets over the same flows (after a
// warm-up run), to show that peak memory does not grow with the size of the file.
// Start-up is the median wall and CPU time, over 40 interleaved rounds, of `portclass
// analyze` on a capture of 100 packets and on an empty (header-only) one and of
// `portclass --version`, each also as a ratio to a static Go hello world built for the
// purpose: the floor any Go process pays here (exec, runtime, page faults), so the
// figures carry over between machines better than milliseconds do. -startup measures
// only that (make bench-startup).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portclass/portclass/capture/synth"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

// command is one thing measured.
type command struct {
	name string
	argv []string // with "{}" for the capture file, "{dir}" for D, "{part}" for each input of D
	pc   bool     // a portclass run
}

// sample is one run's cost.
type sample struct {
	wall, cpu time.Duration
	rss       int64 // bytes
}

type options struct {
	packets, flows, rounds   int
	flowsPackets, flowsCount int
	burstSpan                time.Duration
	smallMSS                 int
	captures                 string
	dir, portclass, peers    string
	extra                    multiFlag
	rssScale                 int
	startupOnly              bool
	ipfixSink                string // a UDP socket of this process that drains IPFIX messages
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Names of the commands that other rows are compared with.
const (
	refLoop   = "reference loop"
	pcOne     = "portclass -w1"
	pcDefault = "portclass -w0"
)

// capSet is one capture and what is measured on it.
type capSet struct {
	name    string // mix, flows, burst or small
	file    string
	dir     string // mix: the same packets and flows in one input per CPU
	packets int
	flows   int      // requested
	refs    []string // commands the table gives wall-time ratios to
	cmds    []command
	samples map[string][]sample
	counted string // what portclass and the reference loop count in the capture
}

// captureNames are the captures -captures selects from, in the order they run.
var captureNames = []string{"mix", "flows", "burst", "small"}

// Targets of issue 12 (per-flow cost), checked against the medians.
const (
	targetFlowsVsRef   = 2.5 // flows and burst captures: portclass -w1 wall / the reference loop's
	targetFlowsVsArgus = 0.5 // flows and burst captures: portclass -w1 wall / argus's
	targetFlowsRSS     = 250 // flows and burst captures: portclass -w1 peak RSS, MB
	targetSmallVsRef   = 1.3 // small capture: portclass -w1 wall / the reference loop's
	targetExport       = 1.2 // flows capture: --format parquet or --ipfix wall / --format json (issue 16)
)

// Commands of the export rows (flows capture, issue 16).
const (
	pcJSON    = "portclass json"
	pcParquet = "portclass parquet"
	pcIPFIX   = "portclass json+ipfix"
)

// startSink listens on a UDP port of 127.0.0.1 and reads and drops every datagram,
// as a collector that keeps up would; it returns the address.
func startSink() (string, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	if uc, ok := c.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(4 << 20)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return c.LocalAddr().String(), nil
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.captures, "captures", strings.Join(captureNames, ","), "captures to measure, comma-separated: mix (packet-heavy), flows (flow-heavy), burst (flow-heavy, every flow open at once), small (the mix in smaller frames)")
	fs.IntVar(&o.packets, "packets", synth.DefaultMixPackets, "packets of the generated mix capture (and of small)")
	fs.IntVar(&o.flows, "flows", synth.DefaultMixFlows, "flows of the generated mix capture (and of small)")
	fs.IntVar(&o.flowsPackets, "flows-packets", synth.DefaultFlowsPackets, "packets of the generated flow-heavy capture")
	fs.IntVar(&o.flowsCount, "flows-count", synth.DefaultFlowsFlows, "flows of the generated flow-heavy capture")
	fs.DurationVar(&o.burstSpan, "burst-span", synth.DefaultBurstSpan, "time over which the flows of the burst capture start")
	fs.IntVar(&o.smallMSS, "small-mss", 1080, "TCP segment payload of the small capture (1080: ~700-byte frames)")
	fs.IntVar(&o.rounds, "rounds", 5, "measured rounds (after one warm-up round)")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "directory for the generated captures (kept between runs)")
	fs.StringVar(&o.portclass, "portclass", "bin/portclass", "the portclass binary")
	fs.StringVar(&o.peers, "peers", "tcpdump,argus,ndpiReader,tshark", "peers to run, comma-separated")
	fs.Var(&o.extra, "extra", "NAME=BIN: another portclass binary to run, with one worker and every core (repeatable)")
	fs.IntVar(&o.rssScale, "rss-scale", 0, "also run portclass on a mix capture of this many times the packets over the same flows (0: no)")
	fs.BoolVar(&o.startupOnly, "startup", false, "measure only the start-up (against a static Go hello world)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	if o.burstSpan <= 0 {
		return errors.New("-burst-span must be positive")
	}
	if _, err := os.Stat(o.portclass); err != nil {
		return fmt.Errorf("portclass binary: %w (run make build first)", err)
	}
	if o.startupOnly {
		runs, err := measureStartup(&o)
		if err != nil {
			return err
		}
		printMachine(stdout)
		printStartup(stdout, runs)
		return nil
	}
	selected, err := parseCaptures(o.captures)
	if err != nil {
		return err
	}
	if slices.Contains(selected, "flows") {
		if o.ipfixSink, err = startSink(); err != nil {
			return err
		}
	}
	ref, cleanup, err := buildRefloop(o.dir)
	if err != nil {
		return err
	}
	defer cleanup()
	var (
		sets  []*capSet
		notes []string
	)
	for _, name := range selected {
		set, n, err := prepare(&o, name, ref, stderr)
		if err != nil {
			return err
		}
		sets = append(sets, set)
		notes = append(notes, n...)
	}
	for _, set := range sets {
		if err := measureSet(set, o.rounds, stderr); err != nil {
			return err
		}
	}
	mix := slices.Contains(selected, "mix")
	var startup []startupRun
	if mix {
		if startup, err = measureStartup(&o); err != nil {
			return err
		}
	}
	var scaled map[string]sample
	var scaledFile string
	if mix && o.rssScale > 1 {
		scaledFile, scaled, err = measureScaled(&o, stderr)
		if err != nil {
			return err
		}
	}

	// The report.
	printMachine(stdout)
	for _, set := range sets {
		fmt.Fprintln(stdout)
		printSet(stdout, set, o.rounds)
		switch set.name {
		case "mix":
			printMixRatios(stdout, set)
			printStartup(stdout, startup)
			if scaled != nil {
				st2, _ := os.Stat(scaledFile)
				fmt.Fprintf(stdout, "peak RSS over %d times the packets (%.0f MB, same flows):", o.rssScale, float64(st2.Size())/1e6)
				for _, name := range []string{pcOne, pcDefault} {
					small := median(set.samples[name], func(s sample) float64 { return float64(s.rss) / 1e6 })
					fmt.Fprintf(stdout, " %s %.1f MB (%.2fx);", name, float64(scaled[name].rss)/1e6, float64(scaled[name].rss)/1e6/small)
				}
				fmt.Fprintln(stdout)
			}
		case "flows", "burst":
			wall := median(set.samples[pcOne], wallOf)
			if wall > 0 {
				fmt.Fprintf(stdout, "per flow (wall time / %d flows requested): portclass -w1 %.2f µs", set.flows, 1e6*wall/float64(set.flows))
				if r := median(set.samples[refLoop], wallOf); r > 0 {
					fmt.Fprintf(stdout, ", reference loop %.2f µs", 1e6*r/float64(set.flows))
				}
				if a := median(set.samples["argus"], wallOf); a > 0 {
					fmt.Fprintf(stdout, ", argus %.2f µs", 1e6*a/float64(set.flows))
				}
				fmt.Fprintln(stdout)
			}
			// argus ends on a timed wait: its wall times come in whole seconds (1.01,
			// 2.01, 3.02 s on the VM of docs/performance.md), so the CPU times say more
			if a, b := cpuRatio(set, pcOne, refLoop), cpuRatio(set, pcOne, "argus"); a > 0 && b > 0 {
				fmt.Fprintf(stdout, "CPU time: portclass -w1 %.2fx the reference loop's, %.2fx argus's (whose wall time comes in whole seconds)\n", a, b)
			}
			for _, c := range []string{pcParquet, pcIPFIX} {
				if x := wallRatio(set, c, pcJSON); x > 0 {
					fmt.Fprintf(stdout, "export: %s %.2fx the wall time of %s, %.2fx its CPU time\n", c, x, pcJSON, cpuRatio(set, c, pcJSON))
				}
			}
			var targets []target
			if set.name == "flows" {
				targets = []target{
					{pcParquet + " wall / " + pcJSON, wallRatio(set, pcParquet, pcJSON), targetExport, "x"},
					{pcIPFIX + " wall / " + pcJSON, wallRatio(set, pcIPFIX, pcJSON), targetExport, "x"},
				}
			}
			printTargets(stdout, append(targets, []target{
				{pcOne + " wall / " + refLoop, wallRatio(set, pcOne, refLoop), targetFlowsVsRef, "x"},
				{pcOne + " wall / argus", wallRatio(set, pcOne, "argus"), targetFlowsVsArgus, "x"},
				{pcOne + " peak RSS", median(set.samples[pcOne], func(s sample) float64 { return float64(s.rss) / 1e6 }), targetFlowsRSS, " MB"},
			}...))
		case "small":
			if x := cpuRatio(set, pcOne, refLoop); x > 0 {
				fmt.Fprintf(stdout, "CPU time: portclass -w1 %.2fx the reference loop's\n", x)
			}
			printTargets(stdout, []target{{pcOne + " wall / " + refLoop, wallRatio(set, pcOne, refLoop), targetSmallVsRef, "x"}})
		}
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	return nil
}

// parseCaptures checks -captures and returns the names in the order they run.
func parseCaptures(list string) ([]string, error) {
	want := map[string]bool{}
	for _, c := range strings.Split(list, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !slices.Contains(captureNames, c) {
			return nil, fmt.Errorf("-captures: unknown capture %q (want %s)", c, strings.Join(captureNames, ", "))
		}
		want[c] = true
	}
	var out []string
	for _, c := range captureNames {
		if want[c] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-captures: no capture selected")
	}
	return out, nil
}

// prepare generates (or reuses) the capture name and lists its commands.
func prepare(o *options, name, ref string, stderr io.Writer) (*capSet, []string, error) {
	set := &capSet{name: name, samples: map[string][]sample{}}
	var err error
	switch name {
	case "mix":
		set.packets, set.flows, set.refs = o.packets, o.flows, []string{"tcpdump", refLoop}
		fmt.Fprintf(stderr, "generating or reusing the mix capture (%d packets, %d flows) in %s ...\n", o.packets, o.flows, o.dir)
		if set.file, err = synth.MixFile(o.dir, o.packets, o.flows); err != nil {
			return nil, nil, err
		}
		if set.dir, err = synth.MixDir(o.dir, runtime.NumCPU(), o.packets, o.flows); err != nil {
			return nil, nil, err
		}
	case "flows":
		set.packets, set.flows, set.refs = o.flowsPackets, o.flowsCount, []string{refLoop, "argus"}
		fmt.Fprintf(stderr, "generating or reusing the flow-heavy capture (%d packets, %d flows) in %s ...\n", o.flowsPackets, o.flowsCount, o.dir)
		if set.file, err = synth.FlowsFile(o.dir, o.flowsPackets, o.flowsCount); err != nil {
			return nil, nil, err
		}
	case "burst":
		set.packets, set.flows, set.refs = o.flowsPackets, o.flowsCount, []string{refLoop, "argus"}
		fmt.Fprintf(stderr, "generating or reusing the burst capture (%d packets, %d flows starting within %v) in %s ...\n", o.flowsPackets, o.flowsCount, o.burstSpan, o.dir)
		if set.file, err = synth.FlowsFileSpan(o.dir, o.flowsPackets, o.flowsCount, o.burstSpan); err != nil {
			return nil, nil, err
		}
	case "small":
		set.packets, set.flows, set.refs = o.packets, o.flows, []string{refLoop, "tcpdump"}
		fmt.Fprintf(stderr, "generating or reusing the mix capture in smaller frames (%d packets, %d flows, MSS %d) in %s ...\n", o.packets, o.flows, o.smallMSS, o.dir)
		if set.file, err = synth.MixFileMSS(o.dir, o.packets, o.flows, o.smallMSS); err != nil {
			return nil, nil, err
		}
	}
	cmds, notes := commands(o, name, ref)
	set.cmds = cmds
	return set, notes, nil
}

// commands lists what to run on capture name: portclass with one worker and every
// core (and, on mix, sharded and on D), the extra binaries, the reference loop, and
// the peers that are installed.
func commands(o *options, name, ref string) ([]command, []string) {
	format := "json"
	if name == "flows" || name == "burst" {
		format = "text" // the report without every flow's record: what the flows cost, not their encoding
	}
	pc := func(cname, bin, workers, input string) command {
		return command{cname, []string{bin, "analyze", "-q", "--workers", workers, "--format", format, input}, true}
	}
	cmds := []command{pc(pcOne, o.portclass, "1", "{}"), pc(pcDefault, o.portclass, "0", "{}")}
	if name == "mix" {
		cmds = append(cmds,
			pc("portclass -wN", o.portclass, fmt.Sprint(runtime.NumCPU()), "{}"),
			pc("portclass -w1 D", o.portclass, "1", "{dir}"), pc("portclass -w0 D", o.portclass, "0", "{dir}"),
			pc(procs("portclass"), o.portclass, "1", "{part}"))
	}
	for _, e := range o.extra {
		ename, bin, ok := strings.Cut(e, "=")
		if !ok {
			ename, bin = filepath.Base(e), e
		}
		cmds = append(cmds, pc(ename+" -w1", bin, "1", "{}"))
		if name == "mix" {
			cmds = append(cmds, pc(ename+" -w0", bin, "0", "{}"))
		}
	}
	if name == "flows" {
		// The export rows (issue 16): every record as JSON, as Parquet, and as JSON
		// with the records also sent to an IPFIX collector (a UDP sink of this process
		// that keeps up), all with every core, to stdout (/dev/null).
		an := []string{o.portclass, "analyze", "-q", "--workers", "0"}
		cmds = append(cmds,
			command{pcJSON, append(slices.Clone(an), "--format", "json", "{}"), true},
			command{pcParquet, append(slices.Clone(an), "--format", "parquet", "{}"), true})
		if o.ipfixSink != "" {
			cmds = append(cmds, command{pcIPFIX, append(slices.Clone(an), "--format", "json", "--ipfix", o.ipfixSink, "{}"), true})
		}
	}
	if ref != "" {
		cmds = append(cmds, command{name: refLoop, argv: []string{ref, "{}"}})
	}
	peers := map[string][]string{
		"tcpdump":    {"tcpdump", "-r", "{}", "-w", "/dev/null"},
		"argus":      {"argus", "-r", "{}", "-w", "/dev/null"},
		"ndpiReader": {"ndpiReader", "-q", "-i", "{}"},
		"tshark":     {"tshark", "-r", "{}", "-q", "-z", "conv,tcp", "-z", "conv,udp"},
	}
	// Which peers run on which capture: tshark takes 8 s on the mix and would take
	// minutes and gigabytes on 500k flows; the small capture only needs the floor.
	runsOn := map[string][]string{
		"mix":   {"tcpdump", "argus", "ndpiReader", "tshark"},
		"flows": {"tcpdump", "argus", "ndpiReader"},
		"burst": {"tcpdump", "argus"},
		"small": {"tcpdump"},
	}
	var notes []string
	for _, p := range strings.Split(o.peers, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		argv, ok := peers[p]
		if !ok {
			notes = append(notes, fmt.Sprintf("unknown peer %q skipped (known: tcpdump, argus, ndpiReader, tshark)", p))
			continue
		}
		if !slices.Contains(runsOn[name], p) {
			continue
		}
		if _, err := exec.LookPath(argv[0]); err != nil {
			notes = append(notes, fmt.Sprintf("%s is not installed: skipped on %s (Debian: apt-get install %s)", p, name, debianPackage(p)))
			continue
		}
		cmds = append(cmds, command{name: p, argv: argv})
		if p == "tcpdump" && name == "mix" {
			cmds = append(cmds, command{name: procs(p), argv: []string{"tcpdump", "-r", "{part}", "-w", "/dev/null"}})
		}
	}
	return cmds, notes
}

// buildRefloop builds the reference loop (./refloop) into a temporary directory in
// dir, with the go command on PATH (make bench-compare runs benchcompare with go run,
// from the module's directory); cleanup removes it.
func buildRefloop(dir string) (string, func(), error) {
	tmp, err := os.MkdirTemp(dir, "portclass-bench-refloop-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	bin := filepath.Join(tmp, "refloop")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/portclass/portclass/internal/benchcompare/refloop")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building the reference loop (run benchcompare from the module's directory): %w\n%s", err, out)
	}
	return bin, cleanup, nil
}

// measureSet runs set's commands for one warm-up round and rounds measured ones, the
// order rotated from round to round. Before that it counts the capture's flows, once,
// with portclass and the reference loop (which also warms the page cache).
func measureSet(set *capSet, rounds int, stderr io.Writer) error {
	fmt.Fprintf(stderr, "%s: %d commands, %d rounds + 1 warm-up\n", set.name, len(set.cmds), rounds)
	set.counted = countFlows(set)
	for round := 0; round <= rounds; round++ {
		for i := range set.cmds {
			c := set.cmds[(i+round)%len(set.cmds)]
			s, err := measure(c.argv, set.file, set.dir)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", set.name, c.name, err)
			}
			if round > 0 {
				set.samples[c.name] = append(set.samples[c.name], s)
			}
			fmt.Fprintf(stderr, "%s round %d/%d %-16s %v\n", set.name, round, rounds, c.name, s.wall.Round(time.Millisecond))
		}
	}
	return nil
}

// countFlows returns what portclass (the report's totals) and the reference loop (its
// output) count in set's capture, for the report's header; "" when either fails.
func countFlows(set *capSet) string {
	var pc, ref []string
	for _, c := range set.cmds {
		switch c.name {
		case pcOne:
			pc = []string{c.argv[0], "analyze", "-q", "--workers", "1", "--format", "json", "--no-flows", set.file}
		case refLoop:
			ref = []string{c.argv[0], set.file}
		}
	}
	if pc == nil || ref == nil {
		return ""
	}
	out, err := exec.Command(pc[0], pc[1:]...).Output()
	if err != nil {
		return ""
	}
	var rep struct {
		Totals struct {
			Flows        uint64 `json:"flows"`
			DecodeErrors uint64 `json:"decode_errors"`
		} `json:"totals"`
	}
	if json.Unmarshal(out, &rep) != nil {
		return ""
	}
	out, err = exec.Command(ref[0], ref[1:]...).Output()
	if err != nil {
		return ""
	}
	return fmt.Sprintf("portclass %d flows (%d decode errors), reference loop %s", rep.Totals.Flows, rep.Totals.DecodeErrors, strings.TrimSpace(string(out)))
}

// printSet prints set's header and table.
func printSet(w io.Writer, set *capSet, rounds int) {
	st, _ := os.Stat(set.file)
	size := 0.0
	if st != nil {
		size = float64(st.Size()) / 1e6
	}
	fmt.Fprintf(w, "== %s: %s, %d packets, %d flows requested, %.0f MB (%.0f bytes a record); %d rounds, medians [min-max]\n",
		set.name, filepath.Base(set.file), set.packets, set.flows, size, 1e6*size/float64(max(1, set.packets)), rounds)
	if set.counted != "" {
		fmt.Fprintf(w, "counted: %s\n", set.counted)
	}
	if set.dir != "" {
		fmt.Fprintf(w, "D: %s, the same number of packets and flows in %d inputs (seeds 1-%d)\n", filepath.Base(set.dir), runtime.NumCPU(), runtime.NumCPU())
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "command\twall s\t[min-max]\t")
	for _, r := range set.refs {
		fmt.Fprintf(tw, "vs %s\t", r)
	}
	fmt.Fprintln(tw, "packets/s\tCPU s\tpeak RSS MB\t")
	for _, c := range set.cmds {
		ss := set.samples[c.name]
		wall := median(ss, wallOf)
		lo, hi := minMax(ss, wallOf)
		fmt.Fprintf(tw, "%s\t%.3f\t[%.3f-%.3f]\t", c.name, wall, lo, hi)
		for _, r := range set.refs {
			if x := wallRatio(set, c.name, r); x > 0 {
				fmt.Fprintf(tw, "%.2fx\t", x)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintf(tw, "%.2f M\t%.3f\t%.1f\t\n", float64(set.packets)/wall/1e6,
			median(ss, func(s sample) float64 { return s.cpu.Seconds() }),
			median(ss, func(s sample) float64 { return float64(s.rss) / 1e6 }))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// wallRatio is the median wall time of command a over that of b in set, 0 when
// either did not run.
func wallRatio(set *capSet, a, b string) float64 {
	x, y := median(set.samples[a], wallOf), median(set.samples[b], wallOf)
	if x <= 0 || y <= 0 {
		return 0
	}
	return x / y
}

// cpuRatio is wallRatio for CPU time.
func cpuRatio(set *capSet, a, b string) float64 {
	cpu := func(s sample) float64 { return s.cpu.Seconds() }
	x, y := median(set.samples[a], cpu), median(set.samples[b], cpu)
	if x <= 0 || y <= 0 {
		return 0
	}
	return x / y
}

// printMixRatios prints the mix capture's ratios: every core and the ceiling against
// one core, and one core against tcpdump and the reference loop.
func printMixRatios(w io.Writer, set *capSet) {
	ratio := func(what, slow, fast string) {
		if x := wallRatio(set, slow, fast); x > 0 {
			fmt.Fprintf(w, "portclass, %s: %.2fx the packets/s of one core (%s vs %s)\n", what, x, fast, slow)
		}
	}
	ratio(fmt.Sprintf("one input, every core (%d, the default)", runtime.NumCPU()), pcOne, pcDefault)
	ratio("one input sharded", pcOne, "portclass -wN")
	ratio(fmt.Sprintf("%d inputs, every core (the default)", runtime.NumCPU()), "portclass -w1 D", "portclass -w0 D")
	ratio(fmt.Sprintf("%d processes at once, one input of D each (the machine's ceiling)", runtime.NumCPU()), "portclass -w1 D", procs("portclass"))
	if x := wallRatio(set, "tcpdump", procs("tcpdump")); x > 0 {
		// tcpdump's F and D hold the same packets and flows
		fmt.Fprintf(w, "tcpdump, %d processes at once, one input of D each: %.2fx the packets/s of one\n", runtime.NumCPU(), x)
	}
	if x := wallRatio(set, pcOne, "tcpdump"); x > 0 {
		fmt.Fprintf(w, "portclass, one worker: %.2fx the wall time of tcpdump -w /dev/null\n", x)
	}
	if x := wallRatio(set, pcOne, refLoop); x > 0 {
		fmt.Fprintf(w, "portclass, one worker: %.2fx the wall time of the reference loop (gopacket), %.2fx its CPU time\n", x, cpuRatio(set, pcOne, refLoop))
	}
}

// target is a bound that a median must not exceed.
type target struct {
	what          string
	actual, limit float64
	unit          string // "x" or " MB"
}

// printTargets prints each target with the median, and whether it is met.
func printTargets(w io.Writer, ts []target) {
	fmt.Fprintln(w, "targets (issues 12 and 16):")
	for _, t := range ts {
		verdict := "met"
		switch {
		case t.actual <= 0:
			verdict = "not measured"
		case t.actual > t.limit:
			verdict = "NOT MET"
		}
		prec := 2
		if t.unit != "x" {
			prec = 0
		}
		fmt.Fprintf(w, "  %-40s target ≤ %.*f%s, actual %.*f%s: %s\n", t.what, prec, t.limit, t.unit, prec, t.actual, t.unit, verdict)
	}
}

func debianPackage(peer string) string {
	switch peer {
	case "ndpiReader":
		return "libndpi-bin"
	case "argus":
		return "argus-server"
	}
	return peer
}

// procs names the command that runs one process of name per input of D, at once.
func procs(name string) string { return fmt.Sprintf("%s ×%d D", name, runtime.NumCPU()) }

func wallOf(s sample) float64 { return s.wall.Seconds() }

// measure runs argv (with "{}" replaced by file and "{dir}" by dir), stdout to
// /dev/null, and returns its costs. An argv with "{part}" runs once per file of dir,
// all at once: the wall time is until the last ends, the CPU time their sum, the peak
// memory their largest. A command that fails is an error, with the end of its stderr.
func measure(argv []string, file, dir string) (sample, error) {
	parts := []string{""}
	if slices.Contains(argv, "{part}") {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return sample{}, err
		}
		parts = parts[:0]
		for _, e := range ents {
			parts = append(parts, filepath.Join(dir, e.Name()))
		}
	}
	cmds := make([]*exec.Cmd, len(parts))
	errbs := make([]bytes.Buffer, len(parts))
	for p, part := range parts {
		args := make([]string, len(argv))
		for i, a := range argv {
			args[i] = strings.NewReplacer("{dir}", dir, "{part}", part, "{}", file).Replace(a)
		}
		cmds[p] = exec.Command(args[0], args[1:]...)
		cmds[p].Stderr = &errbs[p]
	}
	start := time.Now()
	errs := make([]error, len(cmds))
	for p, c := range cmds {
		errs[p] = c.Start()
	}
	for p, c := range cmds {
		if errs[p] == nil {
			errs[p] = c.Wait()
		}
	}
	s := sample{wall: time.Since(start)}
	for p, c := range cmds {
		if errs[p] != nil {
			tail := errbs[p].String()
			if len(tail) > 500 {
				tail = tail[len(tail)-500:]
			}
			return sample{}, fmt.Errorf("%s: %w\n%s", strings.Join(c.Args, " "), errs[p], tail)
		}
		cpu, rss := usage(c.ProcessState)
		s.cpu += cpu
		s.rss = max(s.rss, rss)
	}
	return s, nil
}

// startupRounds is how many times each start-up command runs.
const startupRounds = 40

// startupRun is one start-up command and its samples.
type startupRun struct {
	name string
	argv []string // "{}" is the capture: the 100-packet one, or the empty one for argv[0] == "{empty}"
	ss   []sample
}

// measureStartup runs the start-up commands startupRounds times, interleaved: a
// static Go hello world (the reference), portclass --version, portclass analyze of an
// empty capture and of a 100-packet capture.
func measureStartup(o *options) ([]startupRun, error) {
	tiny, err := synth.MixFile(o.dir, 100, 10)
	if err != nil {
		return nil, err
	}
	empty, err := emptyCapture(o.dir)
	if err != nil {
		return nil, err
	}
	hello, err := buildHello(o.dir)
	if err != nil {
		return nil, err
	}
	analyze := []string{o.portclass, "analyze", "-q", "--format", "json", "-o", "/dev/null", "{}"}
	runs := []startupRun{
		{name: "hello world (static Go)", argv: []string{hello}},
		{name: "portclass --version", argv: []string{o.portclass, "--version"}},
		{name: "analyze, empty capture", argv: append([]string{"{empty}"}, analyze...)},
		{name: "analyze, 100 packets", argv: analyze},
	}
	for round := range startupRounds {
		for i := range runs {
			r := &runs[(i+round)%len(runs)]
			argv, file := r.argv, tiny
			if argv[0] == "{empty}" {
				argv, file = argv[1:], empty
			}
			s, err := measure(argv, file, "")
			if err != nil {
				return nil, err
			}
			r.ss = append(r.ss, s)
		}
	}
	return runs, nil
}

// printStartup prints the start-up medians, as ratios to the first run (hello world).
func printStartup(w io.Writer, runs []startupRun) {
	wall := func(s sample) float64 { return s.wall.Seconds() }
	cpu := func(s sample) float64 { return s.cpu.Seconds() }
	ref := median(runs[0].ss, wall)
	fmt.Fprintf(w, "start-up, %d interleaved runs each (medians): ", startupRounds)
	for i, r := range runs {
		if i > 0 {
			fmt.Fprint(w, "; ")
		}
		fmt.Fprintf(w, "%s %.1f ms wall", r.name, 1e3*median(r.ss, wall))
		if i > 0 {
			fmt.Fprintf(w, " (%.2fx)", median(r.ss, wall)/ref)
		}
		fmt.Fprintf(w, ", %.1f ms CPU", 1e3*median(r.ss, cpu))
	}
	fmt.Fprintln(w)
}

// emptyCapture writes (once) a pcap file with its header and no packet.
func emptyCapture(dir string) (string, error) {
	path := filepath.Join(dir, "portclass-bench-empty-v1.pcap")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	var b bytes.Buffer
	if _, err := synth.NewPcapWriter(&b, synth.PcapOptions{LinkType: synth.LinkEthernet}); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("empty capture: %w", err)
	}
	return path, nil
}

// buildHello builds a static Go hello world into dir, with the go command on PATH
// (make bench-compare runs benchcompare with go run).
func buildHello(dir string) (string, error) {
	src, err := os.MkdirTemp(dir, "portclass-hello-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	files := map[string]string{
		"go.mod":  "module hello\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello, world\") }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(dir, "portclass-bench-hello")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the hello world reference: %w\n%s", err, out)
	}
	return bin, nil
}

// measureScaled runs portclass once per worker setting on a capture of rssScale times
// the packets over the same number of flows.
func measureScaled(o *options, stderr io.Writer) (string, map[string]sample, error) {
	fmt.Fprintf(stderr, "generating or reusing the mix capture (%d packets, %d flows) ...\n", o.packets*o.rssScale, o.flows)
	file, err := synth.MixFile(o.dir, o.packets*o.rssScale, o.flows)
	if err != nil {
		return "", nil, err
	}
	out := map[string]sample{}
	cmds, _ := commands(&options{portclass: o.portclass}, "mix", "")
	for round := range 2 { // the first round warms the page cache
		for _, c := range cmds[:2] {
			s, err := measure(c.argv, file, "")
			if err != nil {
				return "", nil, fmt.Errorf("%s: %w", c.name, err)
			}
			if round > 0 {
				out[c.name] = s
			}
			fmt.Fprintf(stderr, "scaled round %d %-14s %v, %.1f MB\n", round, c.name, s.wall.Round(time.Millisecond), float64(s.rss)/1e6)
		}
	}
	return file, out, nil
}

func median(ss []sample, f func(sample) float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func minMax(ss []sample, f func(sample) float64) (float64, float64) {
	if len(ss) == 0 {
		return 0, 0
	}
	lo, hi := f(ss[0]), f(ss[0])
	for _, s := range ss[1:] {
		lo, hi = min(lo, f(s)), max(hi, f(s))
	}
	return lo, hi
}

// printMachine prints the report's first line: date, host, platform and CPU.
func printMachine(w io.Writer) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "benchcompare %s, %s (%s/%s, %d CPUs: %s)\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
}

// cpuModel is the "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
