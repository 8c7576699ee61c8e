package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
)

const (
	hostileClear   = "\x1b[2J"
	hostileFormula = "=cmd|' /C calc'!A0"
)

// hostileSummary puts terminal escapes, CR, NUL, invalid UTF-8, a C1 control, a bidi
// override and a spreadsheet formula in every string a capture or config can set.
func hostileSummary() *Summary {
	bad := "x" + hostileClear + "y\rz\x00w\xff\xfe|`v\u009b\u202e"
	agg := NewAggregator(Options{})
	agg.AddInput(capture.InputStats{Path: hostileFormula, Format: "pcap", LinkTypes: map[string]uint64{bad: 1},
		Unsupported: map[string]uint64{bad: 2}, Warnings: []string{"packet 1 at offset 24: " + bad}, Packets: 3})
	f := capture.Flow{Proto: capture.ProtoTCP, Client: ap("192.0.2.1:40000"), Server: ap("192.0.2.2:51515"),
		State: capture.S0, First: at(0), Last: at(1), Packets: [2]uint64{1, 0}, Bytes: [2]uint64{60, 0}, Input: hostileFormula}
	v := classify.Verdict{PortClass: classify.ClassDynamic, Service: bad,
		Flags: []string{"-" + bad, classify.FlagServerEphemeral + ":" + bad, "@SUM(1+1)"},
		Veeam: []classify.VeeamMatch{{Rule: "+" + bad, Service: bad, From: bad, To: bad}}}
	agg.Add(NewRecord(&f, &v))
	agg.SetHosts([]Host{{Addr: bad, Roles: []HostRole{{Role: bad, Confidence: 0.5, Evidence: []string{bad}}}}})
	return agg.Summary()
}

// TestEscaping renders the hostile summary in every format and checks that no control
// character reaches the output raw and that the formats still parse.
func TestEscaping(t *testing.T) {
	s := hostileSummary()
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			enc, _ := EncoderFor(format)
			var buf bytes.Buffer
			if err := enc.Encode(&buf, s); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			checkTerminalSafe(t, out)
			switch format {
			case "text":
				mustContain(t, out, `x\x1b[2Jy\x0dz\x00w\xff\xfe|`+"`"+`v\xc2\x9b\u202e`)
			case "md":
				mustContain(t, out, `x\\x1b\[2Jy\\x0dz\\x00w\\xff\\xfe\|\`+"`"+`v\\xc2\\x9b\\u202e`)
				checkMarkdownTables(t, out)
			case "csv":
				rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
				if err != nil {
					t.Fatalf("csv does not parse: %v", err)
				}
				if len(rows) != 2 {
					t.Fatalf("%d csv rows, want header + 1", len(rows))
				}
				for i, cell := range rows[1] {
					if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
						t.Errorf("column %s starts with a formula character: %q", csvHeader[i], cell)
					}
				}
				col := func(name string) string {
					for i, h := range csvHeader {
						if h == name {
							return rows[1][i]
						}
					}
					return ""
				}
				if got := col("input"); got != "'"+hostileFormula {
					t.Errorf("input cell %q, want %q", got, "'"+hostileFormula)
				}
				if got := col("flags"); !strings.HasPrefix(got, `'-x\x1b[2Jy\x0dz`) {
					t.Errorf("flags cell %q", got)
				}
				if got := col("veeam"); !strings.HasPrefix(got, `'+x\x1b`) {
					t.Errorf("veeam cell %q", got)
				}
			case "json":
				got, err := LoadSummary(strings.NewReader(out))
				if err != nil {
					t.Fatal(err)
				}
				if got.Inputs[0].Path != hostileFormula || !strings.HasPrefix(got.Flows[0].Service, "x"+hostileClear+"y\rz\x00w") {
					t.Errorf("json did not keep the strings: path %q service %q", got.Inputs[0].Path, got.Flows[0].Service)
				}
			case "ndjson":
				var r Record
				if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(r.Service, "x"+hostileClear+"y\rz\x00w") {
					t.Errorf("ndjson service %q", r.Service)
				}
			}
		})
	}
}

// checkTerminalSafe checks that out is valid UTF-8 without a raw control character
// (other than newlines) or bidi override.
func checkTerminalSafe(t *testing.T, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("output is not valid UTF-8")
	}
	for i, r := range out {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u202e' {
			t.Fatalf("raw %U at byte %d in:\n%s", r, i, out)
		}
	}
}

// checkMarkdownTables checks that every row of a table has as many cells as its header
// (an unescaped | would add one).
func checkMarkdownTables(t *testing.T, md string) {
	t.Helper()
	cells := func(line string) int {
		return strings.Count(strings.ReplaceAll(strings.ReplaceAll(line, `\\`, ""), `\|`, ""), "|") - 1
	}
	want := -1
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			want = -1
			continue
		}
		if want < 0 {
			want = cells(line)
			continue
		}
		if got := cells(line); got != want {
			t.Errorf("markdown row has %d cells, header %d: %s", got, want, line)
		}
	}
}

func mustContain(t *testing.T, out, want string) {
	t.Helper()
	if !strings.Contains(out, want) {
		t.Errorf("output does not contain %q:\n%s", want, out)
	}
}
