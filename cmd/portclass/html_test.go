package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports"
)

// flowRowsOf parses an HTML report and returns the Client and Server cells of its
// flow table.
func flowRowsOf(t *testing.T, page string) []string {
	t.Helper()
	root, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("html does not parse: %v", err)
	}
	var rows []string
	var walk func(n *html.Node, in bool)
	walk = func(n *html.Node, in bool) {
		if n.Type == html.ElementNode && n.Data == "table" {
			in = slices.Contains(n.Attr, html.Attribute{Key: "id", Val: "flow-table"})
		}
		if in && n.Type == html.ElementNode && n.Data == "tr" && n.Parent.Data == "tbody" {
			var cells []string
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.FirstChild != nil {
					cells = append(cells, c.FirstChild.Data)
				} else {
					cells = append(cells, "")
				}
			}
			rows = append(rows, cells[1]+" "+cells[2])
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
	}
	walk(root, false)
	return rows
}

// TestAnalyzeHTML writes the HTML report of the project's two captures with -o (format
// from the extension) and a cap on embedded flows, and checks it against the JSON
// report of the same run: every unexplained flow is in the page, the page says how
// many records it left out, and a spilled run writes the same page.
func TestAnalyzeHTML(t *testing.T) {
	inputs := []string{testdata("sample.pcapng"), testdata("veeam.pcap")}
	_, js, _ := runCLI(t, append([]string{"analyze", "--quiet", "--format", "json"}, inputs...)...)
	s, err := reports.LoadSummary(strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	var unexplained []string
	for _, f := range s.Flows {
		if f.Flags.Has(classify.FlagUnexplained) {
			unexplained = append(unexplained, f.Client.String()+" "+f.Server.String())
		}
	}
	if len(unexplained) == 0 || len(unexplained) >= 20 {
		t.Fatalf("%d unexplained flows: the test wants a few", len(unexplained))
	}
	out := filepath.Join(t.TempDir(), "report.html")
	code, _, errs := runCLI(t, append([]string{"analyze", "--quiet", "--html-max-flows", "20", "-o", out}, inputs...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	rows := flowRowsOf(t, page)
	if len(rows) != 20 {
		t.Fatalf("%d flow rows, want 20", len(rows))
	}
	for _, u := range unexplained {
		if !slices.Contains(rows, u) {
			t.Errorf("unexplained flow %s is not in the page", u)
		}
	}
	notice := "This page embeds 20 of " + strconv.Itoa(len(s.Flows)) + " flow records; <strong>" + strconv.Itoa(len(s.Flows)-20) + " were left out</strong>"
	if !strings.Contains(page, notice) {
		t.Errorf("page lacks %q", notice)
	}
	for _, sec := range []string{`id="inputs"`, `id="protocols"`, `id="port-classes"`, `id="top-services"`, `id="top-server-ports"`,
		`id="top-talkers"`, `id="ephemeral-range-traffic"`, `id="connection-states"`, `id="veeam-hosts"`, `id="veeam-rules"`, `id="chart-classes"`, `id="chart-protocols"`} {
		if !strings.Contains(page, sec) {
			t.Errorf("page lacks the section %s", sec)
		}
	}
	// the configuration key works too, and a spilled run gives the same page
	t.Setenv("PORTCLASS_HTML_MAX_FLOWS", "20")
	code, spilled, errs := runCLI(t, append([]string{"analyze", "--quiet", "--format", "html", "--spill-after", "3", "--temp-dir", t.TempDir()}, inputs...)...)
	if spilled = spilledLine.ReplaceAllString(spilled, ""); code != exitOK || spilled != page {
		t.Errorf("spilled run with PORTCLASS_HTML_MAX_FLOWS=20: exit %d, same page %v: %s", code, spilled == page, errs)
	}
}

// TestAnalyzeHTMLGolden: the page of testdata/veeam.pcap, whose flows include some that
// two Veeam rules explain (collapsed to a count), and whose charts have legends, is
// stable (testdata/veeam.html.golden; -update rewrites it).
func TestAnalyzeHTMLGolden(t *testing.T) {
	code, out, errs := runCLI(t, "analyze", "--quiet", "--format", "html", testdata("veeam.pcap"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	out = strings.ReplaceAll(out, testdata("")+"/", "testdata/")
	for _, want := range []string{"<details><summary>2 rules</summary>", `<ul class="legend">`, `<p class="hint">`} {
		if !strings.Contains(out, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	golden(t, "veeam.html.golden", []byte(out))
}
