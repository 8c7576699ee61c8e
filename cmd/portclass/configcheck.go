package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/internal/suggest"
)

// The configuration is checked in three steps, each naming where a bad setting comes
// from: a flag (--top), a variable (PORTCLASS_TOP) or the file and line
// (portclass.yaml:3). viper itself ignores keys it does not know and reports a value
// it cannot decode as "decoding failed ... 'top'" without saying where it came from.
//
//  1. fileKeys: every key of the configuration file must be one of Config's, at its
//     level; otherwise an error with the file, line and column and the closest keys.
//  2. decodeErr: when Unmarshal fails, each setting is decoded alone to find the one
//     that fails and say which source gave it.
//  3. checkValues: numbers and durations where a negative or zero value makes no sense.

// keySchema is what Config accepts at one level of the configuration.
type keySchema struct {
	fields map[string]*keySchema // a struct's keys
	any    *keySchema            // a map: any key, values of this schema
	items  *keySchema            // a list of structs
	typ    reflect.Type
}

// schemaOf describes t as the configuration decodes it (mapstructure tags; a field
// without a tag is matched by its lower-case name, as mapstructure does).
func schemaOf(t reflect.Type) *keySchema {
	s := &keySchema{typ: t}
	switch t.Kind() {
	case reflect.Struct:
		s.fields = map[string]*keySchema{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Tag.Get("mapstructure")
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			s.fields[name] = schemaOf(f.Type)
		}
	case reflect.Map:
		s.any = schemaOf(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			s.items = schemaOf(t.Elem())
		}
	}
	return s
}

// configSchema is Config's schema, made when a configuration file or an error needs it
// (not at start-up).
var configSchema = sync.OnceValue(func() *keySchema { return schemaOf(reflect.TypeFor[Config]()) })

// configFile is the configuration file read, for messages: where each key is.
type configFile struct {
	path  string
	lines map[string]int // dotted key → line
}

func (f *configFile) where(key string) string {
	if f == nil {
		return ""
	}
	if l := f.lines[key]; l > 0 {
		return f.path + ":" + strconv.Itoa(l)
	}
	return f.path
}

// fileKeys reads the configuration file viper read (none: nil) and refuses keys that
// Config does not have. Files that are not YAML or JSON are checked without lines.
func (a *app) fileKeys(cmd *cobra.Command) (*configFile, error) {
	path := a.v.ConfigFileUsed()
	if path == "" {
		return nil, nil
	}
	cf := &configFile{path: path, lines: map[string]int{}}
	var problems []string
	unknown := func(key string, line, col int, parent *keySchema) {
		at := path
		if line > 0 {
			at = fmt.Sprintf("%s:%d:%d", path, line, col)
		}
		problems = append(problems, fmt.Sprintf("%s: unknown key %q%s", at, key, suggestKey(cmd, key, parent)))
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json", "":
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err) // viper read it; it will not happen
		}
		if len(doc.Content) == 1 {
			walkNode(doc.Content[0], "", configSchema(), cf, unknown)
		}
	default: // toml, hcl, ini, ...: viper's own reading, without lines
		fv := viper.New()
		fv.SetConfigFile(path)
		if err := fv.ReadInConfig(); err == nil {
			walkMap(fv.AllSettings(), "", configSchema(), unknown)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("config %s", strings.Join(problems, "; "))
	}
	return cf, nil
}

// walkNode checks the keys of YAML node n at key prefix against s and records their
// lines. Aliases are not followed: an alias bomb costs nothing here (viper refused
// excessive aliasing already) and the keys of an anchor are checked where it is.
func walkNode(n *yaml.Node, prefix string, s *keySchema, cf *configFile, unknown func(string, int, int, *keySchema)) {
	switch {
	case n.Kind == yaml.MappingNode && (s.fields != nil || s.any != nil):
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			name := strings.ToLower(k.Value) // viper's keys are case-insensitive
			full := name
			if prefix != "" {
				full = prefix + "." + name
			}
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				continue
			}
			sub := s.any
			if s.fields != nil {
				if sub = s.fields[name]; sub == nil {
					unknown(full, k.Line, k.Column, s)
					continue
				}
			}
			if _, seen := cf.lines[full]; !seen {
				cf.lines[full] = k.Line
			}
			walkNode(v, full, sub, cf, unknown)
		}
	case n.Kind == yaml.SequenceNode && s.items != nil:
		for i, item := range n.Content {
			walkNode(item, fmt.Sprintf("%s[%d]", prefix, i), s.items, cf, unknown)
		}
	}
}

// walkMap is walkNode for a configuration decoded into maps (no lines).
func walkMap(m map[string]any, prefix string, s *keySchema, unknown func(string, int, int, *keySchema)) {
	for k, v := range m {
		full := k
		if prefix != "" {
			full = prefix + "." + k
		}
		sub := s.any
		if s.fields != nil {
			if sub = s.fields[k]; sub == nil {
				unknown(full, 0, 0, s)
				continue
			}
		}
		if mm, ok := v.(map[string]any); ok && sub != nil {
			walkMap(mm, full, sub, unknown)
		}
	}
}

// suggestKey names the keys close to an unknown one: its neighbours by edit distance
// (as the policy loader's "did you mean"), or the key a flag of that name sets
// (tcp-timeout: "did you mean timeouts.tcp?").
func suggestKey(cmd *cobra.Command, full string, parent *keySchema) string {
	name := full[strings.LastIndexByte(full, '.')+1:]
	if len(name) > 64 {
		return ""
	}
	var cands []string
	for k := range parent.fields {
		if suggest.Distance(name, k) <= max(2, len(name)/4) || (len(name) >= 3 && strings.HasPrefix(k, name)) {
			cands = append(cands, strings.TrimPrefix(full[:len(full)-len(name)]+k, "."))
		}
	}
	if !strings.Contains(full, ".") {
		for _, key := range flagKeys(cmd)[name] {
			if !contains(cands, key) {
				cands = append(cands, key)
			}
		}
	}
	if len(cands) == 0 {
		return ""
	}
	sort.Strings(cands)
	if len(cands) > 5 {
		cands = cands[:5]
	}
	return " (did you mean " + strings.Join(cands, ", ") + "?)"
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// flagKeys maps the flags of every command to the configuration keys they set, where
// the two differ (tcp-timeout → timeouts.tcp, interface → capture.interfaces).
func flagKeys(cmd *cobra.Command) map[string][]string {
	out := map[string][]string{}
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if k := keyOfFlag(f); k != f.Name && !contains(out[f.Name], k) {
				out[f.Name] = append(out[f.Name], k)
			}
		})
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(cmd.Root())
	return out
}

// keyOfFlag is the configuration key flag f sets (see keyFlag).
func keyOfFlag(f *pflag.Flag) string {
	if k, ok := f.Annotations["viper-key"]; ok && len(k) == 1 {
		return k[0]
	}
	return f.Name
}

// source names where the value of key comes from, as viper chose it: the flag if it
// was given, else the environment variable, else the file (with the line), else the
// default.
func (a *app) source(cmd *cobra.Command, cf *configFile, key string) string {
	var flag string
	visit := func(f *pflag.Flag) {
		if f.Changed && keyOfFlag(f) == key && flag == "" {
			flag = "--" + f.Name
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	if flag != "" {
		return flag
	}
	env := "PORTCLASS_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(key))
	if os.Getenv(env) != "" {
		return env
	}
	if cf != nil && a.v.InConfig(key) {
		return cf.where(key) + ": " + key
	}
	return "default " + key
}

// sourceValue is source with the value as given: "--top -1", "PORTCLASS_TOP=abc",
// "portclass.yaml:3: top: abc".
func (a *app) sourceValue(cmd *cobra.Command, cf *configFile, key string) string {
	src := a.source(cmd, cf, key)
	val := fmt.Sprint(a.v.Get(key))
	switch {
	case strings.HasPrefix(src, "--"):
		if f := cmd.Flags().Lookup(src[2:]); f != nil {
			val = f.Value.String()
		}
		return src + " " + val
	case strings.HasPrefix(src, "PORTCLASS_"):
		return src + "=" + os.Getenv(src)
	}
	return src + ": " + val
}

// leafKeys lists the settings of s (dotted keys) that decode on their own: scalars,
// lists and maps, in a stable order.
func leafKeys(s *keySchema, prefix string) []string {
	if s.fields == nil {
		return []string{prefix}
	}
	names := make([]string, 0, len(s.fields))
	for n := range s.fields {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		full := n
		if prefix != "" {
			full = prefix + "." + n
		}
		out = append(out, leafKeys(s.fields[n], full)...)
	}
	return out
}

// schemaAt is the schema of dotted key.
func schemaAt(key string) *keySchema {
	s := configSchema()
	for _, part := range strings.Split(key, ".") {
		if s.fields == nil || s.fields[part] == nil {
			return nil
		}
		s = s.fields[part]
	}
	return s
}

// decodeErr explains a failed Unmarshal: the first setting that does not decode on
// its own, with its source and what it wants.
func (a *app) decodeErr(cmd *cobra.Command, cf *configFile, err error) error {
	for _, key := range leafKeys(configSchema(), "") {
		s := schemaAt(key)
		v := reflect.New(s.typ)
		if kerr := a.v.UnmarshalKey(key, v.Interface()); kerr != nil {
			return fmt.Errorf("%s: %s", a.sourceValue(cmd, cf, key), want(s.typ, kerr))
		}
	}
	if cf != nil {
		return fmt.Errorf("config %s: %w", cf.path, err)
	}
	return fmt.Errorf("config: %w", err)
}

// want says what a setting of type t takes; err is the decoder's message for others.
func want(t reflect.Type, err error) string {
	if t == reflect.TypeFor[time.Duration]() {
		return "want a duration such as 90s, 5m or 1h"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "want a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "want a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "want a number"
	case reflect.Bool:
		return "want true or false"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "error(s) decoding:\n\n* "); i >= 0 {
		msg = msg[i+len("error(s) decoding:\n\n* "):]
	}
	return strings.TrimPrefix(msg, "decoding failed due to the following error(s):\n\n")
}

// setting is a numeric setting and the values it accepts.
type setting struct {
	key  string
	ok   func(c *Config) bool
	want string
}

// parsedSettings are the settings with a syntax of their own, checked by parsing
// them: the error says what is wrong.
var parsedSettings = []struct {
	key   string
	parse func(c *Config) error
}{
	{"tunnel-ports", func(c *Config) error { _, err := parseTunnelPorts(c.TunnelPorts); return err }},
}

// settings are the numbers and durations checked by checkValues. Those that accept 0
// say what 0 means (README, Configuration).
var settings = []setting{
	{"top", func(c *Config) bool { return c.Top >= 0 }, "want 0 (every entry) or more"},
	{"workers", func(c *Config) bool { return c.Workers >= 0 }, "want 0 (every core) or more"},
	{"max-flows", func(c *Config) bool { return c.MaxFlows >= 0 }, "want 0 (no bound) or more"},
	{"spill-after", func(c *Config) bool { return c.SpillAfter >= 1 }, "want 1 or more"},
	{"html-max-flows", func(c *Config) bool { return c.HTMLFlows >= 0 }, "want 0 (every flow) or more"},
	{"width", func(c *Config) bool { return c.Width >= 0 }, "want 0 (no limit) or more"},
	{"sweep-hosts", func(c *Config) bool { return c.SweepHosts >= 1 }, "want 1 or more"},
	{"sweep-ports", func(c *Config) bool { return c.SweepPorts >= 1 }, "want 1 or more"},
	{"timeouts.tcp", func(c *Config) bool { return c.Timeouts.TCP > 0 }, "want a duration above 0"},
	{"timeouts.udp", func(c *Config) bool { return c.Timeouts.UDP > 0 }, "want a duration above 0"},
	{"timeouts.icmp", func(c *Config) bool { return c.Timeouts.ICMP > 0 }, "want a duration above 0"},
	{"timeouts.other", func(c *Config) bool { return c.Timeouts.Other > 0 }, "want a duration above 0"},
	{"learn.min-confidence", func(c *Config) bool { return c.Learn.MinConfidence >= 0 && c.Learn.MinConfidence <= 1 }, "want 0 to 1"},
	{"learn.max-clients", func(c *Config) bool { return c.Learn.MaxClients >= 1 }, "want 1 or more"},
	{"capture.snaplen", func(c *Config) bool { return c.Capture.Snaplen >= 1 && c.Capture.Snaplen <= capture.MaxCapLen }, "want 1 to " + strconv.Itoa(capture.MaxCapLen)},
	{"capture.duration", func(c *Config) bool { return c.Capture.Duration >= 0 }, "want 0 (until interrupted) or a duration"},
	{"capture.every", func(c *Config) bool { return c.Capture.Every >= 0 }, "want 0 (one report at the end) or a duration"},
	{"capture.metrics-every", func(c *Config) bool { return c.Capture.MetricsEvery > 0 }, "want a duration above 0"},
	{"capture.write-max-files", func(c *Config) bool { return c.Capture.WriteMaxFiles >= 0 }, "want 0 (keep every file) or more"},
}

// checkValues refuses the settings whose value makes no sense (a negative count, a
// zero timeout), naming the flag, variable or file line that gave it.
func (a *app) checkValues(cmd *cobra.Command, cf *configFile) error {
	var errs []string
	for _, s := range settings {
		if !s.ok(&a.cfg) {
			errs = append(errs, a.sourceValue(cmd, cf, s.key)+": "+s.want)
		}
	}
	for _, s := range parsedSettings {
		if err := s.parse(&a.cfg); err != nil {
			errs = append(errs, a.sourceValue(cmd, cf, s.key)+": "+err.Error())
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}
