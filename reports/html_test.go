package reports

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/portclass/portclass/classify"
	"golang.org/x/net/html"
)

// flowTableRows returns the cells' text of every row of the page's flow table.
func flowTableRows(t *testing.T, page string) [][]string {
	t.Helper()
	root, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	var inTable bool
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "table" {
			for _, a := range n.Attr {
				if a.Key == "id" && a.Val == "flow-table" {
					inTable = true
					defer func() { inTable = false }()
				}
			}
		}
		if inTable && n.Type == html.ElementNode && n.Data == "tr" && n.Parent.Data == "tbody" {
			var row []string
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.Data == "td" {
					var b strings.Builder
					for x := c.FirstChild; x != nil; x = x.NextSibling {
						b.WriteString(x.Data)
					}
					row = append(row, b.String())
				}
			}
			rows = append(rows, row)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return rows
}

func encodeHTML(t *testing.T, h HTML, s *Summary) string {
	t.Helper()
	return encode[*Summary](t, h, s)
}

// TestHTMLMaxFlows checks the cap on embedded flow records: the unexplained flows are
// kept first, then failed attempts, then the largest; they stay in report order and
// the page says how many were left out. No cap embeds every record.
func TestHTMLMaxFlows(t *testing.T) {
	s := fixtureSummary(0)
	page := encodeHTML(t, HTML{MaxFlows: 5}, s)
	rows := flowTableRows(t, page)
	var got []string
	for _, r := range rows {
		got = append(got, r[0]+" "+r[2]+" "+r[4])
	}
	// 3 unexplained (tcp and udp 51515, tcp 60000), then the failed attempts, largest
	// first: the unanswered SYNs to 8080 (222 B), the NTP datagram blocked by ICMPv6
	// (110 B); the rest is left out. Report order.
	want := []string{
		"tcp 203.0.113.80:8080 S0",
		"tcp 198.51.100.7:51515 REJ",
		"udp 198.51.100.7:51515 S0",
		"udp [2001:db8::30]:123 S0",
		"tcp 192.0.2.30:60000 S1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kept rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	mustContain(t, page, "This page embeds 5 of 16 flow records; <strong>11 were left out</strong> (limit 5, --html-max-flows)")

	for _, max := range []int{0, -1, 16, 100} {
		page := encodeHTML(t, HTML{MaxFlows: max}, s)
		if n := len(flowTableRows(t, page)); n != 16 {
			t.Errorf("MaxFlows %d: %d rows, want all 16", max, n)
		}
		if strings.Contains(page, "left out") {
			t.Errorf("MaxFlows %d: the page says flows were left out", max)
		}
	}
}

// TestHTMLStreamedFlows checks that a summary whose records come from a FlowIter (as
// in a spilled analyze run) gives the same page as one holding them in Flows, and
// that a summary written without records says so.
func TestHTMLStreamedFlows(t *testing.T) {
	want := encodeHTML(t, HTML{MaxFlows: 4}, fixtureSummary(0))
	s := fixtureSummary(0)
	recs := s.Flows
	s.SetFlowIter(func(yield func(*classify.Flow) error) error {
		for i := range recs {
			r := recs[i] // a copy that is overwritten: records must not be kept by pointer
			if err := yield(&r); err != nil {
				return err
			}
			r.Client = netip.AddrPort{}
		}
		return nil
	})
	if got := encodeHTML(t, HTML{MaxFlows: 4}, s); got != want {
		t.Errorf("streamed records give another page:\n%s", lineDiff(want, got))
	}
	s = fixtureSummary(0)
	s.Flows = nil
	page := encodeHTML(t, HTML{}, s)
	mustContain(t, page, "This report was written without its flow records (--no-flows).")
	if strings.Contains(page, `id="flow-table"`) {
		t.Errorf("a flow table without records")
	}
}

// fuzzSeeds are the small summaries the fuzz targets of this package start from.
func fuzzSeeds(f *testing.F) {
	agg := NewAggregator(Options{Top: 1})
	recs := fixtureRecords()
	for _, i := range []int{0, 5, 6, 9} {
		agg.Add(&recs[i])
	}
	agg.AddInput(fixtureInputs()[1])
	agg.SetHosts(fixtureHosts()[:1])
	var small strings.Builder
	if err := (JSON{}).Encode(&small, agg.Summary()); err != nil {
		f.Fatal(err)
	}
	f.Add(small.String())
	f.Add(`{"schema_version":1,"flows":[{"proto":"tcp","client":"<script>","server":"\u202e:1","state":"REJ","flags":["unexplained-ephemeral"]}],"totals":{"flows":1}}`)
	f.Add(`{"schema_version":1,"protocols":[{"proto":"</svg><script>","bytes":1}],"port_classes":[{"port_class":"\"'><x"}]}`)
	f.Add(`{"schema_version":1,"flows":[{"proto":"udp","client":"[::1]:1","server":"[::1]:2","state":"S0","icmp_errors":[{"type":3,"code":13,"from":"\u0000","count":4294967295}]}],"totals":{"flows":1}}`)
}

// FuzzHTML: whatever summary LoadSummary accepts, the HTML page holds exactly its own
// style sheet and script (allowed by their CSP hashes), no element or attribute that
// a string of the summary put there, and no raw control or bidi character.
func FuzzHTML(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		s, err := LoadSummary(strings.NewReader(in))
		if err != nil {
			return
		}
		page := encodeHTML(t, HTML{MaxFlows: 3}, s)
		for i, r := range page {
			if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u202e' {
				t.Fatalf("raw %U at byte %d", r, i)
			}
		}
		checkHTMLStructure(t, page)
		if n := len(flowTableRows(t, page)); n > 3 || n > len(s.Flows) {
			t.Fatalf("%d rows for %d flows with MaxFlows 3", n, len(s.Flows))
		}
	})
}

// BenchmarkHTML writes the page of 100k records, of which it embeds the default
// 5000: the cost of streaming every record through the selection.
func BenchmarkHTML(b *testing.B) {
	const n = 100_000
	s := benchSummary(n)
	b.ReportAllocs()
	records := 0
	var size int
	for b.Loop() {
		var buf bytes.Buffer
		if err := (HTML{MaxFlows: DefaultHTMLMaxFlows}).Encode(&buf, s); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
		records += n
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(size), "page-bytes")
}
