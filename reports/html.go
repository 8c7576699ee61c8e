package reports

import (
	"bufio"
	"cmp"
	"container/heap"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports/internal/termesc"
)

// DefaultHTMLMaxFlows is how many flow records the HTML report embeds unless told
// otherwise: enough for a backup window, small enough (about 3 MB) for a browser on a
// backup server to sort and filter at once.
const DefaultHTMLMaxFlows = 5000

// HTML writes the report as one self-contained HTML page for a browser on an
// air-gapped machine: no external scripts, styles, fonts or images, and a
// Content-Security-Policy that forbids loading any (the one inline style sheet and
// the one inline script are allowed by their SHA-256 hashes, so not even an injected
// inline script would run).
//
// The page has the header and every section of the text report (the same facts, from
// the same section builder), inline SVG bar charts (bytes per port class and per
// protocol, flows per connection state, the top server ports), and the flow records
// as a table that a small inline script sorts (click a column) and filters (words
// that must all appear; "column:value", a whole value of the column, such as an
// address with any port, one flag, "icmp" but not "icmpv6"; "column:~text", a part of
// it; an address prefix; "!term" to exclude; and check boxes for unexplained and
// failed flows). The charts' colours have a legend; a flow of several Veeam rules
// shows their count with the list in a <details>. Without JavaScript the page is still
// complete, only static.
//
// At most MaxFlows records are embedded (MaxFlows <= 0: all of them). When there are
// more, the page keeps the ones that matter most for the questions portclass answers:
// flows flagged unexplained-ephemeral first, then failed attempts (unanswered,
// refused, answered by an ICMP error), then the largest by bytes; ties go to the
// earlier record. They are shown in report order and the page says how many were
// left out. The selection streams the records once through [Summary.EachFlow] and
// keeps only MaxFlows of them in memory.
//
// Escaping: every string that came from a capture or from configuration first goes
// through the terminal escaper (controls, invalid UTF-8, bidi and line-separator
// characters become visible escapes) and then through html/template, which escapes
// it for its context (element text, attribute value, SVG text).
type HTML struct {
	MaxFlows int
}

var (
	//go:embed html.tmpl
	htmlTemplateText string
	//go:embed html.css
	htmlCSS string
	//go:embed html.js
	htmlJS string

	// htmlTemplate is parsed when first used, not at start-up (1,000 allocations that
	// every command would pay).
	htmlTemplate = sync.OnceValue(func() *template.Template {
		return template.Must(template.New("report").Parse(htmlTemplateText))
	})
	// htmlCSP allows the page's own inline style sheet and script by hash and nothing
	// else: no network access, no other inline code, no form posts, no framing. It is
	// computed when first used too (two SHA-256 sums, 0.1 ms at every start before).
	htmlCSP = sync.OnceValue(func() string {
		return "default-src 'none'; style-src '" + cspHash(htmlCSS) + "'; script-src '" + cspHash(htmlJS) +
			"'; img-src data:; base-uri 'none'; form-action 'none'"
	})
)

// cspHash is the CSP source expression for an inline element with text s.
func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// htmlPage is what the template renders. Every string in it is already passed
// through termesc; html/template does the HTML escaping.
type htmlPage struct {
	CSP       string
	CSS       template.CSS
	Script    template.JS
	Warning   [2]string // label and reason of an incomplete report, shown first (doc.warning)
	Subtitle  string
	Overview  [][2]string
	Charts    []htmlChart
	Sections  []htmlSection
	FlowCols  []htmlCol
	Flows     []htmlFlow
	FlowTotal uint64
	LeftOut   uint64
	MaxFlows  int
	NoRecords bool // the summary counts flows but carries no records (--no-flows)
	Tunnels   bool // the flow table has a Tunnel column (the capture had tunnels)
	Schema    int
}

type htmlCol struct {
	Name string
	Num  bool
}

type htmlSection struct {
	ID, Title, Empty string
	Cols             []htmlCol
	Rows             [][]string
	Notes            []string
}

type htmlChart struct {
	ID, Title string
	Height    int
	Bars      []htmlBar
	Legend    []htmlLegend // what the bars' colours say
}

// htmlLegend is one colour of a chart: the class of its bars and what it means.
type htmlLegend struct {
	Class, Label string
}

// htmlBar is one bar of a chart in the chart's SVG coordinates.
type htmlBar struct {
	Label, Value, Tip string
	Y, TextY          int
	W, ValueX         string
	Class             string
}

type htmlFlow struct {
	Proto, Client, Server, State, Meaning string
	Service, Class, Flags, Veeam, ICMP    string
	VeeamRules                            []string // Veeam is them joined; more than one collapse to a count
	ICMPList                              string   // the ICMP errors joined by ", ", for the filter
	VeeamTip                              string   // service and roles of each rule
	VLAN                                  uint16
	Packets, Bytes                        uint64
	BytesH, First, Last, Duration, Input  string
	Tunnel                                string // the tunnel path (capture.TunnelPath.String), "" for none
	FirstFull, LastFull                   string // TimeLayout; the cells show milliseconds
	Unexplained, Failed                   bool
}

// Encode implements Encoder[*Summary].
func (h HTML) Encode(w io.Writer, s *Summary) error {
	if s == nil {
		return errors.New("encode html: nil summary")
	}
	recs, total, err := selectFlows(s, h.MaxFlows)
	if err != nil {
		return fmt.Errorf("encode html: %w", err)
	}
	p := &htmlPage{
		CSP:       htmlCSP(),
		CSS:       template.CSS(htmlCSS),
		Script:    template.JS(htmlJS),
		FlowTotal: total,
		LeftOut:   total - uint64(len(recs)),
		MaxFlows:  h.MaxFlows,
		NoRecords: total == 0 && s.Totals.Flows > 0,
		Schema:    SchemaVersion,
		FlowCols: []htmlCol{{"Proto", false}, {"Client", false}, {"Server", false}, {"VLAN", true},
			{"State", false}, {"Service", false}, {"Class", false}, {"Packets", true}, {"Bytes", true},
			{"First", false}, {"Last", false}, {"Seconds", true}, {"Flags", false}, {"Veeam rules", false},
			{"ICMP errors", false}, {"Input", false}},
		Tunnels: len(s.Tunnels) > 0,
	}
	if p.Tunnels {
		p.FlowCols = append(p.FlowCols, htmlCol{"Tunnel", false})
	}
	if t := &s.Totals; !t.First.IsZero() {
		p.Subtitle = stamp(t.First.Time) + " – " + stamp(t.Last.Time) + ", "
	}
	p.Subtitle += plural(uint64(s.Totals.Inputs), "input") + ", " + plural(s.Totals.Flows, "flow")
	d := summaryDoc(s)
	label, reason := d.warning()
	p.Warning = [2]string{label, termesc.String(reason)}
	for _, kv := range d.kv {
		p.Overview = append(p.Overview, [2]string{kv[0], termesc.String(kv[1])})
	}
	p.Charts = htmlCharts(s)
	for _, sec := range d.secs {
		hs := htmlSection{ID: slug(sec.title), Title: sec.title, Empty: sec.empty}
		for _, c := range sec.cols {
			hs.Cols = append(hs.Cols, htmlCol{c.name, c.right})
		}
		for _, r := range sec.rows {
			row := make([]string, len(r))
			for i, cell := range r {
				row[i] = termesc.String(cell)
			}
			hs.Rows = append(hs.Rows, row)
		}
		for _, n := range sec.notes {
			hs.Notes = append(hs.Notes, termesc.String(n))
		}
		p.Sections = append(p.Sections, hs)
	}
	p.Flows = make([]htmlFlow, len(recs))
	for i := range recs {
		p.Flows[i] = newHTMLFlow(&recs[i])
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := htmlTemplate().Execute(bw, p); err != nil {
		return fmt.Errorf("encode html: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode html: %w", err)
	}
	return nil
}

func newHTMLFlow(r *classify.Flow) htmlFlow {
	rules := make([]string, len(r.Veeam))
	tips := make([]string, len(r.Veeam))
	for i, m := range r.Veeam {
		rule := m.Rule()
		rules[i] = rule.ID
		tips[i] = rule.Service + ": " + rule.From + " → " + rule.To
	}
	errs := make([]string, len(r.ICMPErrors))
	for i, e := range r.ICMPErrors {
		errs[i] = icmpErrorString(icmpErrorOf(e))
	}
	secs := r.Last.Sub(r.First).Seconds()
	proto, state := capture.ProtoName(r.Proto), r.State.String()
	return htmlFlow{
		Proto:       termesc.String(proto),
		Client:      termesc.String(endpoint(r.Proto, r.Client)),
		Server:      termesc.String(endpoint(r.Proto, r.Server)),
		State:       termesc.String(state),
		Meaning:     stateMeaning(proto, state),
		Service:     termesc.String(r.Service),
		Class:       termesc.String(r.PortClass.String()),
		Flags:       termesc.String(strings.Join(r.Flags.Names(), ", ")),
		Veeam:       termesc.String(strings.Join(rules, ", ")),
		VeeamRules:  rules, // rule ids of the matrix: nothing to escape
		ICMPList:    termesc.String(strings.Join(errs, ", ")),
		VeeamTip:    termesc.String(strings.Join(tips, "; ")),
		ICMP:        termesc.String(strings.Join(errs, "; ")),
		VLAN:        r.VLAN,
		Packets:     r.Packets(),
		Bytes:       r.Bytes(),
		BytesH:      humanBytes(r.Bytes()),
		First:       shortStamp(r.First),
		Last:        shortStamp(r.Last),
		FirstFull:   stamp(r.First),
		LastFull:    stamp(r.Last),
		Duration:    strconv.FormatFloat(secs, 'f', 3, 64),
		Input:       termesc.String(r.Input),
		Tunnel:      r.Tunnel.String(),
		Unexplained: r.Flags.Has(classify.FlagUnexplained),
		Failed:      failedAttempt(r),
	}
}

// shortStamp is t in UTC to the millisecond, for a table cell: "2026-01-15 10:00:01.003".
func shortStamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

// failedAttempt reports whether a flow is a connection attempt that did not get
// through, as the attempts section counts them: refused, unanswered or ICMP-blocked
// (Reachability).
func failedAttempt(r *classify.Flow) bool { return r.Outcome.Failed() }

// flowRank orders records by how much the HTML report wants to keep them: lower tier
// first (0 unexplained, 1 failed attempt, 2 the rest), then more bytes, then earlier
// in the report.
type flowRank struct {
	tier  int
	bytes uint64
	seq   uint64
}

func rankOf(r *classify.Flow, seq uint64) flowRank {
	tier := 2
	switch {
	case r.Flags.Has(classify.FlagUnexplained):
		tier = 0
	case failedAttempt(r):
		tier = 1
	}
	return flowRank{tier, r.Bytes(), seq}
}

func compareRanks(a, b flowRank) int {
	return cmp.Or(cmp.Compare(a.tier, b.tier), cmp.Compare(b.bytes, a.bytes), cmp.Compare(a.seq, b.seq))
}

// keptFlows is a max-heap by rank: its root is the record the selection would drop
// first.
type keptFlows struct {
	recs  []classify.Flow
	ranks []flowRank
}

func (k *keptFlows) Len() int           { return len(k.recs) }
func (k *keptFlows) Less(i, j int) bool { return compareRanks(k.ranks[i], k.ranks[j]) > 0 }
func (k *keptFlows) Swap(i, j int) {
	k.recs[i], k.recs[j] = k.recs[j], k.recs[i]
	k.ranks[i], k.ranks[j] = k.ranks[j], k.ranks[i]
}
func (k *keptFlows) Push(x any) {
	e := x.(keptFlow)
	k.recs = append(k.recs, e.rec)
	k.ranks = append(k.ranks, e.rank)
}
func (k *keptFlows) Pop() any {
	n := len(k.recs) - 1
	e := keptFlow{k.recs[n], k.ranks[n]}
	k.recs, k.ranks = k.recs[:n], k.ranks[:n]
	return e
}

type keptFlow struct {
	rec  classify.Flow
	rank flowRank
}

// selectFlows returns at most max records of s (all when max <= 0), chosen by rank and
// returned in report order, and the number of records s has.
func selectFlows(s *Summary, max int) ([]classify.Flow, uint64, error) {
	var k keptFlows
	var n uint64
	err := s.EachFlow(func(r *classify.Flow) error {
		rank := rankOf(r, n)
		n++
		if max > 0 && k.Len() == max {
			if compareRanks(rank, k.ranks[0]) >= 0 {
				return nil
			}
			heap.Pop(&k)
		}
		heap.Push(&k, keptFlow{cloneRecord(r), rank})
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("flow record %d: %w", n, err)
	}
	idx := make([]int, k.Len())
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(k.ranks[a].seq, k.ranks[b].seq) })
	out := make([]classify.Flow, len(idx))
	for i, j := range idx {
		out[i] = k.recs[j]
	}
	return out, n, nil
}

// cloneRecord copies a record that is only valid during a FlowIter callback.
func cloneRecord(r *classify.Flow) classify.Flow {
	c := *r
	c.Veeam = slices.Clone(r.Veeam)
	c.ICMPErrors = slices.Clone(r.ICMPErrors)
	return c
}

// Chart layout in SVG user units: labels right-aligned before labelW, bars up to barW
// long, one row every rowH.
const (
	chartLabelW = 170
	chartBarW   = 300
	chartRowH   = 22
	chartMaxBar = 12
)

// htmlCharts builds the report's bar charts from the breakdowns.
func htmlCharts(s *Summary) []htmlChart {
	type item struct {
		label string
		n     uint64
		class string
	}
	mk := func(id, title string, items []item, bytes bool) htmlChart {
		c := htmlChart{ID: id, Title: title}
		if len(items) > chartMaxBar {
			items = items[:chartMaxBar]
		}
		var top uint64
		for _, it := range items {
			top = max(top, it.n)
		}
		for i, it := range items {
			v := strconv.FormatUint(it.n, 10)
			tip := termesc.String(it.label) + ": " + v
			if bytes {
				v = humanBytes(it.n)
				tip += " bytes"
			} else {
				tip += " flows"
			}
			w := 0.0
			if top > 0 {
				w = float64(chartBarW) * float64(it.n) / float64(top)
			}
			if it.n > 0 {
				w = max(w, 1)
			}
			y := i*chartRowH + 4
			c.Bars = append(c.Bars, htmlBar{
				Label: termesc.String(it.label), Value: v, Tip: tip, Y: y, TextY: y + 13,
				W:      strconv.FormatFloat(w, 'f', 1, 64),
				ValueX: strconv.FormatFloat(chartLabelW+w+6, 'f', 1, 64),
				Class:  it.class,
			})
		}
		c.Height = len(c.Bars)*chartRowH + 8
		return c
	}
	var classes, protos, states, ports []item
	for _, c := range s.PortClasses {
		classes = append(classes, item{orDash(c.PortClass, "(no ports)"), c.Bytes, "c-" + slug(c.PortClass)})
	}
	for _, p := range s.Protocols {
		protos = append(protos, item{p.Proto, p.Bytes, ""})
	}
	st := slices.Clone(s.States)
	slices.SortStableFunc(st, func(x, y StateCount) int { return cmp.Compare(y.Flows, x.Flows) })
	for _, c := range st {
		class := ""
		if c.Proto == "tcp" && slices.Contains([]string{"S0", "REJ", "SH", "RSTOS0"}, c.State) {
			class = "bad" // refused or unanswered (RSTR may be either: not marked)
		}
		states = append(states, item{c.Proto + " " + orDash(c.State, "-"), c.Flows, class})
	}
	for _, p := range s.ServerPorts {
		label := p.Proto + "/" + strconv.FormatUint(uint64(p.Port), 10)
		if p.Service != "" {
			label += " " + p.Service
		}
		ports = append(ports, item{label, p.Bytes, "c-" + slug(p.PortClass)})
	}
	stateChart := mk("chart-states", "Flows per connection state", states, false)
	if slices.ContainsFunc(stateChart.Bars, func(b htmlBar) bool { return b.Class == "bad" }) {
		stateChart.Legend = []htmlLegend{{"", "answered, or no attempt"}, {"bad", "TCP attempts that failed: unanswered (S0, SH, RSTOS0) or refused (REJ)"}}
	}
	portChart := mk("chart-ports", "Bytes per server port (largest)", ports, true)
	portChart.Legend = legendOf(portChart.Bars, []htmlLegend{{"c-well-known", "well-known (0–1023)"},
		{"c-registered", "registered (1024–49151)"}, {"c-dynamic", "dynamic (49152–65535)"}})
	var out []htmlChart
	for _, c := range []htmlChart{
		mk("chart-classes", "Bytes per server port class", classes, true),
		mk("chart-protocols", "Bytes per protocol", protos, true),
		stateChart,
		portChart,
	} {
		if len(c.Bars) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// legendOf is the entries of all whose colour (class) a bar of the chart has.
func legendOf(bars []htmlBar, all []htmlLegend) []htmlLegend {
	var out []htmlLegend
	for _, l := range all {
		if slices.ContainsFunc(bars, func(b htmlBar) bool { return b.Class == l.Class }) {
			out = append(out, l)
		}
	}
	return out
}

// slug turns a section title into an element id: "Top services (top 10)" →
// "top-services".
func slug(title string) string {
	if i := strings.Index(title, " ("); i >= 0 {
		title = title[:i]
	}
	b := make([]byte, 0, len(title))
	for _, c := range []byte(strings.ToLower(title)) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case len(b) > 0 && b[len(b)-1] != '-':
			b = append(b, '-')
		}
	}
	return strings.TrimSuffix(string(b), "-")
}

func plural(n uint64, word string) string {
	s := strconv.FormatUint(n, 10) + " " + word
	if n != 1 {
		s += "s"
	}
	return s
}
