package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/internal/ipfixread"
	"github.com/portclass/portclass/reports/internal/termesc"
)

const (
	hostileClear   = "\x1b[2J"
	hostileFormula = "=cmd|' /C calc'!A0"
)

// hostileSummary puts terminal escapes, CR, NUL, invalid UTF-8, a C1 control, a bidi
// override and a spreadsheet formula in every string a capture, a config or a loaded
// summary can set. A flow's addresses, protocol, state, flags and Veeam rules are values
// (the loader refuses anything else), so only its service and input are strings; the
// loader also refuses such link type names, host addresses and role names.
func hostileSummary() *Summary {
	bad := "x" + hostileClear + "y\rz\x00w\xff\xfe|`v\u009b\u202e"
	agg := NewAggregator(Options{})
	agg.AddInput(capture.InputStats{Path: hostileFormula, Format: "pcap", LinkTypes: map[string]uint64{bad: 1},
		Unsupported: map[string]uint64{bad: 2}, Warnings: []string{"packet 1 at offset 24: " + bad}, Packets: 3})
	f := capture.Flow{Proto: capture.ProtoTCP, Client: ap("192.0.2.1:40000"), Server: ap("192.0.2.2:51515"),
		State: capture.S0, First: at(0), Last: at(1), Packets: [2]uint64{1, 0}, Bytes: [2]uint64{60, 0}, Input: hostileFormula}
	v := classify.Verdict{PortClass: ports.ClassDynamic, Service: bad, Outcome: capture.OutcomeOf(&f),
		Flags: flags(classify.FlagDynamicServer, classify.FlagUnexplained), Veeam: []veeam.Match{veeamRPC}}
	agg.Add(&classify.Flow{Flow: f, Verdict: v})
	agg.SetHosts([]Host{{Addr: bad, Roles: []HostRole{{Role: bad, Confidence: 0.5, Evidence: []string{bad}}}}})
	return agg.Summary()
}

// TestEscaping renders the hostile summary in every format and checks that no control
// character reaches the output raw and that the formats still parse.
func TestEscaping(t *testing.T) {
	s := hostileSummary()
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			enc, _ := EncoderFor[*Summary](format)
			var buf bytes.Buffer
			if err := enc.Encode(&buf, s); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			switch format {
			case "ipfix":
				// Binary: strings are length-prefixed UTF-8 (TestIPFIXInvalidUTF8);
				// what matters here is that the hostile summary still encodes.
				if _, err := ipfixread.Split(buf.Bytes()); err != nil {
					t.Fatal(err)
				}
				return
			case "parquet":
				rows, _, _ := readParquet(t, buf.Bytes())
				if len(rows) != 1 || !utf8.ValidString(rows[0].Service) || rows[0].Input != hostileFormula {
					t.Errorf("parquet rows %+v", rows)
				}
				return
			}
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
				if got := col("service"); !strings.HasPrefix(got, `x\x1b[2Jy\x0dz`) {
					t.Errorf("service cell %q", got)
				}
			case "json":
				var got struct {
					Inputs []struct{ Path string }
					Flows  []struct{ Service string }
				}
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatal(err)
				}
				if got.Inputs[0].Path != hostileFormula || !strings.HasPrefix(got.Flows[0].Service, "x"+hostileClear+"y\rz\x00w") {
					t.Errorf("json did not keep the strings: path %q service %q", got.Inputs[0].Path, got.Flows[0].Service)
				}
				if _, err := LoadSummary(strings.NewReader(out)); err == nil || !strings.Contains(err.Error(), "inputs[0].link_types: ") {
					t.Errorf("the loader took a link type name portclass never writes: %v", err)
				}
			case "html":
				// the browser must show the escaped text, not act on it
				texts := htmlTexts(t, out)
				mustContain(t, texts, `x\x1b[2Jy\x0dz\x00w\xff\xfe|`+"`"+`v\xc2\x9b\u202e`)
				mustContain(t, texts, hostileFormula)
			case "ndjson":
				var r rawRecord
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

// hostileMarkup is a string that tries every way out of an HTML text node or
// attribute value: tags, a script, quotes, an entity, a comment, CDATA, a URL scheme,
// plus control and bidi characters.
const hostileMarkup = `<script>alert(1)</script>"><img src=x onerror=alert(2)>'` +
	"</style></title><!-- ]]> &amp; javascript:alert(3) \x1b[31m\u202e\u2066"

// TestHTMLEscapingMarkup puts hostileMarkup in every string of a summary (input,
// warnings, link types, protocol, addresses, state, service, flags, Veeam rule and
// roles, hosts) and checks with an HTML parser that the page holds exactly its own
// style sheet and script, allowed by their CSP hashes, no element or attribute a
// capture put there, and every hostile string as visible text.
func TestHTMLEscapingMarkup(t *testing.T) {
	bad := hostileMarkup
	agg := NewAggregator(Options{})
	agg.AddInput(capture.InputStats{Path: bad, Format: bad, Compression: bad, LinkTypes: map[string]uint64{bad: 1},
		Unsupported: map[string]uint64{bad: 2}, Warnings: []string{bad}, Packets: 3})
	for i, r := range fixtureRecords() {
		if i%2 == 0 {
			r.Input = bad
		}
		r.Service = bad
		r.Flags = r.Flags.With(classify.FlagUnexplained)
		agg.Add(&r)
	}
	agg.SetHosts([]Host{{Addr: bad, Roles: []HostRole{{Role: bad, Confidence: 0.5, Evidence: []string{bad}}}}})
	s := agg.Summary()
	var buf bytes.Buffer
	if err := (HTML{MaxFlows: 5}).Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for i, r := range out {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u202e' || r == '\u2066' {
			t.Fatalf("raw %U at byte %d", r, i)
		}
	}
	doc := checkHTMLStructure(t, out)
	want := termesc.String(bad)
	if n := strings.Count(doc.text, want); n < 10 {
		t.Errorf("the hostile string shows as text %d times, want it in every section and flow (10+)", n)
	}
	if strings.Contains(doc.text, bad) {
		t.Errorf("the hostile string reached the page's text unescaped by termesc")
	}
	if strings.Contains(doc.attrs, bad) {
		t.Errorf("the hostile string reached an attribute value unescaped by termesc")
	}
}

// htmlDoc is what checkHTMLStructure collected: all text outside style and script,
// and all attribute values.
type htmlDoc struct{ text, attrs string }

// checkHTMLStructure parses page and fails the test unless it has one style and one
// script element whose SHA-256 hashes its Content-Security-Policy lists, a CSP that
// forbids everything else, no element that loads or runs anything, no event-handler
// attribute and no link out of the page.
func checkHTMLStructure(t *testing.T, page string) htmlDoc {
	t.Helper()
	root, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("page does not parse: %v", err)
	}
	var doc htmlDoc
	var text, attrs strings.Builder
	var csp string
	var styles, scripts []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "iframe", "img", "object", "embed", "link", "base", "form", "frame", "audio", "video", "source", "image", "use", "foreignobject":
				t.Errorf("element <%s> in the page", n.Data)
			case "style", "script":
				var b strings.Builder
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					b.WriteString(c.Data)
				}
				if n.Data == "style" {
					styles = append(styles, b.String())
				} else {
					scripts = append(scripts, b.String())
				}
				return
			}
			for _, a := range n.Attr {
				key := strings.ToLower(a.Key)
				attrs.WriteString(a.Val + "\n")
				switch {
				case strings.HasPrefix(key, "on"), key == "src", key == "srcdoc", key == "style", key == "xlink:href", key == "action", key == "formaction":
					t.Errorf("attribute %s=%q on <%s>", a.Key, a.Val, n.Data)
				case key == "href" && !strings.HasPrefix(a.Val, "#"):
					t.Errorf("link out of the page: href=%q", a.Val)
				case key == "http-equiv" && strings.EqualFold(a.Val, "content-security-policy"):
					for _, b := range n.Attr {
						if b.Key == "content" {
							csp = b.Val
						}
					}
				case key == "http-equiv":
					t.Errorf("meta http-equiv=%q", a.Val)
				}
			}
		}
		if n.Type == html.TextNode {
			text.WriteString(n.Data + "\n")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	if len(styles) != 1 || len(scripts) != 1 {
		t.Fatalf("%d style and %d script elements, want one each", len(styles), len(scripts))
	}
	for _, want := range []string{"default-src 'none'", "style-src '" + cspHash(styles[0]) + "'", "script-src '" + cspHash(scripts[0]) + "'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "http") {
		t.Errorf("Content-Security-Policy %q allows more than the page's own code", csp)
	}
	doc.text, doc.attrs = text.String(), attrs.String()
	return doc
}

// htmlTexts returns the visible text of an HTML page after checking its structure.
func htmlTexts(t *testing.T, page string) string {
	t.Helper()
	return checkHTMLStructure(t, page).text
}
