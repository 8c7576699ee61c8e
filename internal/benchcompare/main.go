// Command benchcompare measures portclass against the peers Debian packages, on the
// same generated capture, and prints a table of medians and ratios. It is the
// `make bench-compare` target and a development tool: it is not part of the portclass
// binary.
//
//	go run ./internal/benchcompare [-packets N] [-flows F] [-rounds R] [-portclass BIN]
//	        [-peers tcpdump,argus,ndpiReader,tshark] [-extra NAME=BIN] [-rss-scale K]
//	go run ./internal/benchcompare -startup [-portclass BIN]
//
// Every round runs each command once, in an order rotated from round to round, after
// one warm-up round that is not counted (the capture is then in the page cache for
// everyone). Each run's wall time, CPU time (user + system) and peak resident memory
// (getrusage's ru_maxrss of the child) are recorded; the table shows medians, and
// wall time as a ratio to `tcpdump -r F -w /dev/null`, which only reads the file and
// writes it back out. The commands:
//
//	portclass -w1   portclass analyze --workers 1 --format json F > /dev/null (one core)
//	portclass -w0   portclass analyze --workers 0 --format json F > /dev/null (the default:
//	                every core; one capture worker, the stages after it on other goroutines)
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
//	tcpdump         tcpdump -r F -w /dev/null
//	argus           argus -r F -w /dev/null
//	ndpiReader      ndpiReader -q -i F > /dev/null
//	tshark          tshark -r F -q -z conv,tcp -z conv,udp > /dev/null
//
// A peer that is not installed is skipped with a note. -extra adds another portclass
// binary (run with one worker and with every core), to compare builds in the same run. -rss-scale K also
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
	"errors"
	"flag"
	"fmt"
	"io"
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
	argv []string // with "{}" for the capture file
	pc   bool     // a portclass run (its packets/s is the one compared)
}

// sample is one run's cost.
type sample struct {
	wall, cpu time.Duration
	rss       int64 // bytes
}

type options struct {
	packets, flows, rounds int
	dir, portclass, peers  string
	extra                  multiFlag
	rssScale               int
	startupOnly            bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.packets, "packets", synth.DefaultMixPackets, "packets of the generated mix capture")
	fs.IntVar(&o.flows, "flows", synth.DefaultMixFlows, "flows of the generated mix capture")
	fs.IntVar(&o.rounds, "rounds", 5, "measured rounds (after one warm-up round)")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "directory for the generated captures (kept between runs)")
	fs.StringVar(&o.portclass, "portclass", "bin/portclass", "the portclass binary")
	fs.StringVar(&o.peers, "peers", "tcpdump,argus,ndpiReader,tshark", "peers to run, comma-separated")
	fs.Var(&o.extra, "extra", "NAME=BIN: another portclass binary to run, with one worker and every core (repeatable)")
	fs.IntVar(&o.rssScale, "rss-scale", 0, "also run portclass on a capture of this many times the packets over the same flows (0: no)")
	fs.BoolVar(&o.startupOnly, "startup", false, "measure only the start-up (against a static Go hello world)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 {
		return errors.New("-rounds must be at least 1")
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
	fmt.Fprintf(stderr, "generating or reusing the mix capture (%d packets, %d flows) in %s ...\n", o.packets, o.flows, o.dir)
	file, err := synth.MixFile(o.dir, o.packets, o.flows)
	if err != nil {
		return err
	}
	dir, err := synth.MixDir(o.dir, runtime.NumCPU(), o.packets, o.flows)
	if err != nil {
		return err
	}
	cmds, notes := commands(&o)
	fmt.Fprintf(stderr, "%d commands, %d rounds + 1 warm-up\n", len(cmds), o.rounds)
	samples := make(map[string][]sample)
	for round := 0; round <= o.rounds; round++ {
		for i := range cmds {
			c := cmds[(i+round)%len(cmds)]
			s, err := measure(c.argv, file, dir)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if round > 0 {
				samples[c.name] = append(samples[c.name], s)
			}
			fmt.Fprintf(stderr, "round %d/%d %-14s %v\n", round, o.rounds, c.name, s.wall.Round(time.Millisecond))
		}
	}
	startup, err := measureStartup(&o)
	if err != nil {
		return err
	}
	var scaled map[string]sample
	var scaledFile string
	if o.rssScale > 1 {
		scaledFile, scaled, err = measureScaled(&o, stderr)
		if err != nil {
			return err
		}
	}

	// The report.
	printMachine(stdout)
	st, _ := os.Stat(file)
	fmt.Fprintf(stdout, "capture: %s, %d packets, %d flows requested, %.0f MB; %d rounds, medians [min-max]\n", filepath.Base(file), o.packets, o.flows, float64(st.Size())/1e6, o.rounds)
	fmt.Fprintf(stdout, "D: %s, the same number of packets and flows in %d inputs (seeds 1-%d)\n\n", filepath.Base(dir), runtime.NumCPU(), runtime.NumCPU())
	base := median(samples["tcpdump"], func(s sample) float64 { return s.wall.Seconds() })
	one := median(samples["portclass -w1"], func(s sample) float64 { return s.wall.Seconds() })
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\twall s\t[min-max]\tvs tcpdump\tpackets/s\tCPU s\tpeak RSS MB\t")
	for _, c := range cmds {
		ss := samples[c.name]
		wall := median(ss, func(s sample) float64 { return s.wall.Seconds() })
		lo, hi := minMax(ss, func(s sample) float64 { return s.wall.Seconds() })
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.2fx", wall/base)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t[%.3f-%.3f]\t%s\t%.2f M\t%.3f\t%.1f\t\n", c.name, wall, lo, hi, ratio,
			float64(o.packets)/wall/1e6, median(ss, func(s sample) float64 { return s.cpu.Seconds() }),
			median(ss, func(s sample) float64 { return float64(s.rss) / 1e6 }))
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	ratio := func(what, slow, fast string) {
		a := median(samples[slow], func(s sample) float64 { return s.wall.Seconds() })
		b := median(samples[fast], func(s sample) float64 { return s.wall.Seconds() })
		if a > 0 && b > 0 {
			fmt.Fprintf(stdout, "portclass, %s: %.2fx the packets/s of one core (%s vs %s)\n", what, a/b, fast, slow)
		}
	}
	ratio(fmt.Sprintf("one input, every core (%d, the default)", runtime.NumCPU()), "portclass -w1", "portclass -w0")
	ratio("one input sharded", "portclass -w1", "portclass -wN")
	ratio(fmt.Sprintf("%d inputs, every core (the default)", runtime.NumCPU()), "portclass -w1 D", "portclass -w0 D")
	ratio(fmt.Sprintf("%d processes at once, one input of D each (the machine's ceiling)", runtime.NumCPU()), "portclass -w1 D", procs("portclass"))
	if a, b := median(samples["tcpdump"], wallOf), median(samples[procs("tcpdump")], wallOf); a > 0 && b > 0 {
		// tcpdump's F and D hold the same packets and flows
		fmt.Fprintf(stdout, "tcpdump, %d processes at once, one input of D each: %.2fx the packets/s of one\n", runtime.NumCPU(), a/b)
	}
	if one > 0 && base > 0 {
		fmt.Fprintf(stdout, "portclass, one worker: %.2fx the wall time of tcpdump -w /dev/null\n", one/base)
	}
	printStartup(stdout, startup)
	if scaled != nil {
		st2, _ := os.Stat(scaledFile)
		fmt.Fprintf(stdout, "peak RSS over %d times the packets (%.0f MB, same flows):", o.rssScale, float64(st2.Size())/1e6)
		for _, name := range []string{"portclass -w1", "portclass -w0"} {
			small := median(samples[name], func(s sample) float64 { return float64(s.rss) / 1e6 })
			fmt.Fprintf(stdout, " %s %.1f MB (%.2fx);", name, float64(scaled[name].rss)/1e6, float64(scaled[name].rss)/1e6/small)
		}
		fmt.Fprintln(stdout)
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	return nil
}

// commands lists what to run: portclass with one worker and every core, the extra
// binaries, and the peers that are installed.
func commands(o *options) ([]command, []string) {
	every := fmt.Sprint(runtime.NumCPU())
	pc := func(name, bin, workers, input string) command {
		return command{name, []string{bin, "analyze", "-q", "--workers", workers, "--format", "json", input}, true}
	}
	cmds := []command{
		pc("portclass -w1", o.portclass, "1", "{}"), pc("portclass -w0", o.portclass, "0", "{}"),
		pc("portclass -wN", o.portclass, every, "{}"),
		pc("portclass -w1 D", o.portclass, "1", "{dir}"), pc("portclass -w0 D", o.portclass, "0", "{dir}"),
		pc(procs("portclass"), o.portclass, "1", "{part}"),
	}
	for _, e := range o.extra {
		name, bin, ok := strings.Cut(e, "=")
		if !ok {
			name, bin = filepath.Base(e), e
		}
		cmds = append(cmds, pc(name+" -w1", bin, "1", "{}"), pc(name+" -w0", bin, "0", "{}"))
	}
	peers := map[string][]string{
		"tcpdump":    {"tcpdump", "-r", "{}", "-w", "/dev/null"},
		"argus":      {"argus", "-r", "{}", "-w", "/dev/null"},
		"ndpiReader": {"ndpiReader", "-q", "-i", "{}"},
		"tshark":     {"tshark", "-r", "{}", "-q", "-z", "conv,tcp", "-z", "conv,udp"},
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
		if _, err := exec.LookPath(argv[0]); err != nil {
			notes = append(notes, fmt.Sprintf("%s is not installed: skipped (Debian: apt-get install %s)", p, debianPackage(p)))
			continue
		}
		cmds = append(cmds, command{name: p, argv: argv})
		if p == "tcpdump" {
			cmds = append(cmds, command{name: procs(p), argv: []string{"tcpdump", "-r", "{part}", "-w", "/dev/null"}})
		}
	}
	if !slices.ContainsFunc(cmds, func(c command) bool { return c.name == "tcpdump" }) {
		notes = append(notes, "no tcpdump: no ratios")
	}
	return cmds, notes
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
	cmds, _ := commands(&options{portclass: o.portclass})
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
