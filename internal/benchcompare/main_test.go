package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCaptures(t *testing.T) {
	for in, want := range map[string][]string{
		"mix,flows,small":   {"mix", "flows", "small"},
		"small, flows":      {"flows", "small"}, // in the order they run
		"burst,small,flows": {"flows", "burst", "small"},
		"flows":             {"flows"},
		"flows,flows":       {"flows"},
	} {
		if got, err := parseCaptures(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("parseCaptures(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ",", "flow", "mix,tiny"} {
		if got, err := parseCaptures(in); err == nil {
			t.Errorf("parseCaptures(%q) = %v, want an error", in, got)
		}
	}
}

// TestCommands checks what runs on each capture: the flows and burst captures'
// portclass writes the text report, tshark runs on the mix only, ndpiReader not on
// burst, the export rows on flows only, and the reference loop everywhere.
func TestCommands(t *testing.T) {
	o := &options{portclass: "pc", peers: "tcpdump,argus,ndpiReader,tshark,nope", extra: multiFlag{"old=/x/pc"}, ipfixSink: "127.0.0.1:9"}
	names := func(cmds []command) (out []string) {
		for _, c := range cmds {
			out = append(out, c.name)
		}
		return out
	}
	for _, name := range captureNames {
		cmds, notes := commands(o, name, "/tmp/refloop")
		got := names(cmds)
		for _, want := range []string{pcOne, pcDefault, refLoop, "old -w1"} {
			if !slices.Contains(got, want) {
				t.Errorf("%s: no %q in %v", name, want, got)
			}
		}
		if slices.Contains(got, "tshark") && name != "mix" {
			t.Errorf("%s: tshark runs", name)
		}
		if slices.Contains(got, "argus") != (name != "small") {
			t.Errorf("%s: argus runs: %v", name, slices.Contains(got, "argus"))
		}
		if slices.Contains(got, "ndpiReader") && (name == "burst" || name == "small") {
			t.Errorf("%s: ndpiReader runs", name)
		}
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, `"nope"`) }) {
			t.Errorf("%s: unknown peer not noted: %v", name, notes)
		}
		export := map[string]string{pcJSON: "json", pcParquet: "parquet", pcIPFIX: "json"}
		for _, c := range cmds {
			if !c.pc {
				continue
			}
			format := c.argv[slices.Index(c.argv, "--format")+1]
			want := map[bool]string{true: "text", false: "json"}[name == "flows" || name == "burst"]
			if f, ok := export[c.name]; ok {
				want = f
				if name != "flows" {
					t.Errorf("%s: export row %s runs", name, c.name)
				}
			}
			if format != want {
				t.Errorf("%s: %s writes %s, want %s", name, c.name, format, want)
			}
			if c.name == pcIPFIX && !slices.Contains(c.argv, "--ipfix") {
				t.Errorf("%s: %v does not export", c.name, c.argv)
			}
		}
		if got := slices.Contains(got, pcParquet); got != (name == "flows") {
			t.Errorf("%s: parquet row %v", name, got)
		}
	}
}

func TestTargets(t *testing.T) {
	set := &capSet{samples: map[string][]sample{
		pcOne:   {{wall: 3 * time.Second}, {wall: 2 * time.Second}, {wall: 9 * time.Second}},
		refLoop: {{wall: time.Second}},
	}}
	if r := wallRatio(set, pcOne, refLoop); r != 3 {
		t.Errorf("wallRatio = %v, want 3 (medians)", r)
	}
	if r := wallRatio(set, pcOne, "argus"); r != 0 {
		t.Errorf("wallRatio against a command that did not run = %v, want 0", r)
	}
	var b bytes.Buffer
	printTargets(&b, []target{
		{"a", 3, 2.5, "x"},
		{"b", 0.4, 0.5, "x"},
		{"c", 0, 0.5, "x"},
		{"d", 250, 250, " MB"},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{"NOT MET", ": met", "not measured", "actual 250 MB: met"}
	for i, w := range want {
		if i+1 >= len(lines) || !strings.HasSuffix(lines[i+1], strings.TrimPrefix(w, ": ")) || !strings.Contains(lines[i+1], w) {
			t.Errorf("target %d: %q, want %q in it\n%s", i, lines[min(i+1, len(lines)-1)], w, b.String())
		}
	}
}
