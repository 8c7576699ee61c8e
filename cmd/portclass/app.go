package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/policy"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/reports"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// app is the one place that holds configuration, I/O streams and the logger.
type app struct {
	v      *viper.Viper
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    zerolog.Logger
	cfg    Config
}

// Config is every setting portclass reads from flags, PORTCLASS_* variables and
// portclass.yaml, in that order of precedence. Every key has a default (see
// setDefaults), so that viper also sees environment variables for keys no file sets.
type Config struct {
	LogLevel   string     `mapstructure:"log-level"`
	Quiet      bool       `mapstructure:"quiet"`
	Format     string     `mapstructure:"format"`
	Output     string     `mapstructure:"output"`
	Top        int        `mapstructure:"top"`
	Filter     string     `mapstructure:"filter"`
	Strict     bool       `mapstructure:"strict"`
	Workers    int        `mapstructure:"workers"`
	MaxFlows   int        `mapstructure:"max-flows"`
	NoFlows    bool       `mapstructure:"no-flows"`
	Width      int        `mapstructure:"width"` // no default: unset is the terminal's (textWidth)
	HTMLFlows  int        `mapstructure:"html-max-flows"`
	Diff       DiffConfig `mapstructure:"diff"`
	SweepHosts int        `mapstructure:"sweep-hosts"`
	SweepPorts int        `mapstructure:"sweep-ports"`
	SpillAfter int        `mapstructure:"spill-after"`
	TempDir    string     `mapstructure:"temp-dir"`
	// TunnelPorts are the UDP ports decapsulated, as "PORT=TYPE"; NoDecap turns
	// decapsulation off.
	TunnelPorts []string            `mapstructure:"tunnel-ports"`
	NoDecap     bool                `mapstructure:"no-decap"`
	Timeouts    Timeouts            `mapstructure:"timeouts"`
	Ephemeral   map[string]string   `mapstructure:"ephemeral"`
	Services    []ports.UserService `mapstructure:"services"`
	Veeam       veeam.Options       `mapstructure:"veeam"`
	Inventory   map[string][]string `mapstructure:"inventory"`
	Policy      string              `mapstructure:"policy"`
	Capture     CaptureConfig       `mapstructure:"capture"`
	Verify      VerifyConfig        `mapstructure:"verify"`
	Learn       LearnConfig         `mapstructure:"learn"`
	Rules       RulesConfig         `mapstructure:"rules"`

	ExportConfig `mapstructure:",squash"` // ipfix, ipfix-pen, ... (export.go)
}

// VerifyConfig is the verify command's own settings.
type VerifyConfig struct {
	Format string `mapstructure:"format"`  // text, json or md
	FailOn string `mapstructure:"fail-on"` // finding kinds that give exit code 1
}

// LearnConfig is the settings of policy learn.
type LearnConfig struct {
	MinConfidence float64 `mapstructure:"min-confidence"`
	MaxClients    int     `mapstructure:"max-clients"`
}

// RulesConfig is the settings of policy rules.
type RulesConfig struct {
	Format string `mapstructure:"format"`
	Table  string `mapstructure:"table"`
	Chain  string `mapstructure:"chain"`
}

// Timeouts are the flow idle timeouts, by packet time.
type Timeouts struct {
	TCP   time.Duration `mapstructure:"tcp"`
	UDP   time.Duration `mapstructure:"udp"`
	ICMP  time.Duration `mapstructure:"icmp"`
	Other time.Duration `mapstructure:"other"`
}

func setDefaults(v *viper.Viper) {
	v.SetDefault("log-level", "info")
	v.SetDefault("quiet", false)
	v.SetDefault("format", "")
	v.SetDefault("output", "")
	v.SetDefault("top", 10)
	v.SetDefault("filter", "")
	v.SetDefault("strict", false)
	v.SetDefault("workers", 0)
	v.SetDefault("max-flows", maxMaxFlows) // commands that read captures: from the memory (applyMemoryDefaults)
	v.SetDefault("no-flows", false)
	v.SetDefault("html-max-flows", reports.DefaultHTMLMaxFlows)
	v.SetDefault("diff.unchanged", false)
	v.SetDefault("diff.fail-on", defaultFailOn())
	v.SetDefault("sweep-hosts", reports.DefaultSweepHosts)
	v.SetDefault("sweep-ports", reports.DefaultSweepPorts)
	v.SetDefault("spill-after", maxSpillAfter)
	v.SetDefault("temp-dir", "")
	v.SetDefault("tunnel-ports", defaultTunnelPorts())
	v.SetDefault("no-decap", false)
	v.SetDefault("timeouts.tcp", 5*time.Minute)
	v.SetDefault("timeouts.udp", time.Minute)
	v.SetDefault("timeouts.icmp", time.Minute)
	v.SetDefault("timeouts.other", time.Minute)
	eph := map[string]string{}
	for _, r := range ports.DefaultEphemeral {
		eph[r.Name] = fmt.Sprintf("%d-%d", r.Lo, r.Hi)
	}
	v.SetDefault("ephemeral", eph)
	v.SetDefault("services", []map[string]any{})
	v.SetDefault("veeam.versions", []string{})
	v.SetDefault("veeam.data_mover_range", "")
	v.SetDefault("veeam.ports", map[string]any{})
	v.SetDefault("inventory", map[string]any{})
	v.SetDefault("policy", "")
	v.SetDefault("verify.format", "")
	v.SetDefault("verify.fail-on", strings.Join(policy.FailDefault.Names(), ","))
	v.SetDefault("learn.min-confidence", 0.5)
	v.SetDefault("learn.max-clients", 16)
	v.SetDefault("rules.format", "nftables")
	v.SetDefault("rules.table", "filter")
	v.SetDefault("rules.chain", "")
	captureDefaults(v)
	exportDefaults(v)
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	a := &app{v: viper.New(), stdin: stdin, stdout: stdout, stderr: stderr}
	a.log = newLogger(stderr, "info")
	return a
}

// newLogger writes human-readable lines to a terminal and JSON lines otherwise.
func newLogger(w io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	if isTerminal(w) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
	}
	// Inputs read side by side log from several goroutines: one line at a time.
	w = zerolog.SyncWriter(w)
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "portclass",
		Short: "Classify captured traffic by port class, service and Veeam role",
		Long: `portclass reads pcap and pcapng captures (also gzip/zstd-compressed, or from stdin),
groups packets into flows, classifies each flow by transport protocol, IANA port class
(well-known 0-1023, registered 1024-49151, dynamic 49152-65535), IANA service and
Veeam Backup & Replication rule, and reports what talked to what and what nothing explains.

Configuration: flags > PORTCLASS_* environment variables > portclass.yaml (in ./, the XDG
config directory, /etc/portclass) > defaults. Exit codes: 0 ok, 1 findings, 2 usage or input
error, 130 interrupted.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.loadConfig(cmd)
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	pf := root.PersistentFlags()
	pf.String("config", "", "configuration file (default: portclass.yaml in ./, $XDG_CONFIG_HOME/portclass, /etc/portclass)")
	pf.String("log-level", "info", "log level: debug, info, warn, error")
	pf.BoolP("quiet", "q", false, "no progress bar and only warnings and errors on stderr")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageErr(err) })
	memoryDefaultsInHelp(root)
	root.AddCommand(a.analyzeCmd(), a.captureCmd(), a.verifyCmd(), a.diffCmd(), a.mergeCmd(), a.policyCmd(), newPortsCmd(a.v))
	return root
}

// loadConfig reads the configuration for cmd: one viper instance, flags bound to keys.
func (a *app) loadConfig(cmd *cobra.Command) error {
	v := a.v
	setDefaults(v)
	applyMemoryDefaults(cmd, v)
	v.SetEnvPrefix("PORTCLASS")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()
	bind := func(fs *pflag.FlagSet) {
		fs.VisitAll(func(f *pflag.Flag) {
			key := f.Name
			if k, ok := f.Annotations["viper-key"]; ok && len(k) == 1 {
				key = k[0]
			}
			_ = v.BindPFlag(key, f)
		})
	}
	bind(cmd.Flags())
	bind(cmd.InheritedFlags())
	if path, _ := cmd.Flags().GetString("config"); path != "" {
		v.SetConfigFile(path)
	} else {
		// No SetConfigType: with it viper also takes a file named plain "portclass"
		// (such as the binary itself) for the configuration.
		v.SetConfigName("portclass")
		v.AddConfigPath(".")
		if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
			v.AddConfigPath(filepath.Join(x, "portclass"))
		} else if h, err := os.UserHomeDir(); err == nil {
			v.AddConfigPath(filepath.Join(h, ".config", "portclass"))
		}
		v.AddConfigPath("/etc/portclass")
	}
	if err := v.ReadInConfig(); err != nil && !errors.As(err, new(viper.ConfigFileNotFoundError)) {
		if f := v.ConfigFileUsed(); f != "" {
			return usageErr(fmt.Errorf("config %s: %w", f, err))
		}
		return usageErr(fmt.Errorf("config: %w", err))
	}
	cf, err := a.fileKeys(cmd)
	if err != nil {
		return usageErr(err)
	}
	if err := v.Unmarshal(&a.cfg); err != nil {
		return usageErr(a.decodeErr(cmd, cf, err))
	}
	if err := a.checkValues(cmd, cf); err != nil {
		return usageErr(err)
	}
	level := a.cfg.LogLevel
	if a.cfg.Quiet && (level == "info" || level == "debug") {
		level = "warn"
	}
	if _, err := zerolog.ParseLevel(level); err != nil {
		return usageErr(fmt.Errorf("--log-level %q: want debug, info, warn or error", a.cfg.LogLevel))
	}
	a.log = newLogger(a.stderr, level)
	if f := v.ConfigFileUsed(); f != "" {
		a.log.Debug().Str("file", f).Msg("configuration read")
	}
	return nil
}

// keyFlag marks flag name as setting configuration key (when they differ).
func keyFlag(fs *pflag.FlagSet, name, key string) {
	_ = fs.SetAnnotation(name, "viper-key", []string{key})
}

// defaultTunnelPorts is capture.DefaultTunnelPorts as "PORT=TYPE", by port.
func defaultTunnelPorts() []string {
	m := capture.DefaultTunnelPorts()
	out := make([]string, 0, len(m))
	for _, p := range slices.Sorted(maps.Keys(m)) {
		out = append(out, strconv.Itoa(int(p))+"="+m[p].String())
	}
	return out
}

// parseTunnelPorts is the inverse of defaultTunnelPorts, checked: ports 1-65535 once
// each, types that travel on UDP ports of their own. An empty list is no UDP tunnel
// port (an empty map, not capture's defaults).
func parseTunnelPorts(list []string) (map[uint16]capture.TunnelType, error) {
	m := make(map[uint16]capture.TunnelType, len(list))
	for _, e := range list {
		ps, name, ok := strings.Cut(strings.TrimSpace(e), "=")
		if !ok {
			return nil, fmt.Errorf("%q: want PORT=TYPE, e.g. 4789=vxlan", e)
		}
		p, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%q: %q is not a port (1-65535)", e, ps)
		}
		t := capture.ParseTunnelType(name)
		if !t.OnUDP() {
			var names []string
			for _, d := range capture.DefaultTunnelPorts() {
				names = append(names, d.String())
			}
			slices.Sort(names)
			return nil, fmt.Errorf("%q: %q is not a tunnel type on UDP (one of %s)", e, name, strings.Join(slices.Compact(names), ", "))
		}
		if old, dup := m[uint16(p)]; dup {
			return nil, fmt.Errorf("port %d given twice (%s and %s)", p, old, t)
		}
		m[uint16(p)] = t
	}
	return m, nil
}

// ephemeralRanges turns the ephemeral map of the configuration into ranges, sorted by name.
func (c *Config) ephemeralRanges() ([]ports.Range, error) {
	names := make([]string, 0, len(c.Ephemeral))
	for n := range c.Ephemeral {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []ports.Range{}
	for _, n := range names {
		lo, hi, err := ports.ParseRange(c.Ephemeral[n])
		if err != nil {
			return nil, fmt.Errorf("ephemeral.%s: %w", n, err)
		}
		out = append(out, ports.Range{Name: n, Lo: lo, Hi: hi})
	}
	return out, nil
}
