package reports

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/classify"
	"golang.org/x/net/html"
)

// domNode is an element or (when T is "") a text node of a page, as the script test
// hands it to node.
type domNode struct {
	T string            `json:"t,omitempty"`
	A map[string]string `json:"a,omitempty"`
	C []*domNode        `json:"c,omitempty"`
	X string            `json:"x,omitempty"`
}

func toDOM(n *html.Node) *domNode {
	switch n.Type {
	case html.TextNode:
		return &domNode{X: n.Data}
	case html.ElementNode, html.DocumentNode:
	default:
		return nil
	}
	d := &domNode{T: n.Data, A: map[string]string{}}
	if n.Type == html.DocumentNode {
		d.T = "#document"
	}
	for _, a := range n.Attr {
		d.A[a.Key] = a.Val
	}
	if n.Data == "script" || n.Data == "style" {
		return d
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if cd := toDOM(c); cd != nil {
			d.C = append(d.C, cd)
		}
	}
	return d
}

// scriptDOM is a minimal DOM (what html.js uses: tables, rows, cells, attributes,
// events, fragments, text, style.display, timers) built from the parsed page, then
// the page's script; the actions of a test follow, and print the results as JSON.
const scriptDOM = `
"use strict";
const fs = require("fs");
const tree = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const pageScript = fs.readFileSync(process.argv[3], "utf8");
function El(n) {
  this.tagName = n.t.toUpperCase(); this.attrs = n.a || {}; this.children = []; this.parentNode = null;
  this.listeners = {}; this.style = {}; this.value = ""; this.checked = false;
}
function Text(s) { this.text = s; this.parentNode = null; }
function build(n) {
  if (!n.t) { return new Text(n.x); }
  const e = new El(n);
  (n.c || []).forEach(function (c) { const k = build(c); k.parentNode = e; e.children.push(k); });
  return e;
}
El.prototype.getAttribute = function (k) { return k in this.attrs ? this.attrs[k] : null; };
El.prototype.setAttribute = function (k, v) { this.attrs[k] = String(v); };
El.prototype.removeAttribute = function (k) { delete this.attrs[k]; };
El.prototype.addEventListener = function (ev, fn) { (this.listeners[ev] = this.listeners[ev] || []).push(fn); };
El.prototype.fire = function (ev, arg) { (this.listeners[ev] || []).forEach(function (fn) { fn(arg || {}); }); };
El.prototype.appendChild = function (k) {
  const self = this;
  if (k.tagName === "#FRAGMENT") { k.children.slice().forEach(function (c) { self.appendChild(c); }); return k; }
  if (k.parentNode) { const sib = k.parentNode.children; sib.splice(sib.indexOf(k), 1); }
  k.parentNode = this; this.children.push(k); return k;
};
function kids(e, tags) { return e.children.filter(function (c) { return c instanceof El && tags.indexOf(c.tagName) >= 0; }); }
Object.defineProperty(El.prototype, "className", { get: function () { return this.attrs["class"] || ""; } });
Object.defineProperty(El.prototype, "title", { set: function (v) { this.attrs.title = v; }, get: function () { return this.attrs.title || ""; } });
Object.defineProperty(El.prototype, "tHead", { get: function () { return kids(this, ["THEAD"])[0]; } });
Object.defineProperty(El.prototype, "tBodies", { get: function () { return kids(this, ["TBODY"]); } });
Object.defineProperty(El.prototype, "rows", { get: function () { return kids(this, ["TR"]); } });
Object.defineProperty(El.prototype, "cells", { get: function () { return kids(this, ["TD", "TH"]); } });
Object.defineProperty(El.prototype, "textContent", {
  get: function () { return this.children.map(function (c) { return c instanceof Text ? c.text : c.textContent; }).join(""); },
  set: function (v) { const t = new Text(String(v)); t.parentNode = this; this.children = [t]; }
});
const root = build(tree);
function all(e, pred, out) {
  out = out || [];
  if (e instanceof El) { if (pred(e)) { out.push(e); } e.children.forEach(function (c) { all(c, pred, out); }); }
  return out;
}
let timers = [];
global.setTimeout = function (fn) { timers.push(fn); return timers.length; };
global.clearTimeout = function () { timers = []; };
global.document = {
  querySelectorAll: function (sel) {
    if (sel !== "table.sortable") { throw new Error("unexpected selector " + sel); }
    return all(root, function (e) { return e.tagName === "TABLE" && e.className.split(" ").indexOf("sortable") >= 0; });
  },
  getElementById: function (id) { return all(root, function (e) { return e.attrs.id === id; })[0] || null; },
  createDocumentFragment: function () { return new El({ t: "#fragment" }); }
};
eval(pageScript);
`

// scriptHarness runs scriptDOM, then clicks and filters on the fixture page.
const scriptHarness = scriptDOM + `
const byId = document.getElementById;
const out = {};
function head(table, name) { return table.tHead.rows[0].cells.filter(function (c) { return c.textContent === name; })[0]; }
function col(table, name) { return table.tHead.rows[0].cells.indexOf(head(table, name)); }
function column(table, name, attr) {
  const i = col(table, name);
  return table.tBodies[0].rows.map(function (r) { const c = r.cells[i]; return attr ? c.getAttribute(attr) : c.textContent; });
}
function visible(table, name) {
  const i = col(table, name);
  return table.tBodies[0].rows.filter(function (r) { return r.style.display !== "none"; }).map(function (r) { return r.cells[i].textContent; });
}
const flows = byId("flow-table");
out.initialCount = byId("flow-count").textContent;
head(flows, "Bytes").fire("click");
out.bytesFirstClick = column(flows, "Bytes", "data-v");
out.bytesSort = head(flows, "Bytes").getAttribute("aria-sort");
head(flows, "Bytes").fire("click");
out.bytesSecondClick = column(flows, "Bytes", "data-v");
head(flows, "Server").fire("keydown", { key: "Enter", preventDefault: function () {} });
out.serverSort = column(flows, "Server");
const input = byId("flow-filter");
input.value = "state:REJ"; input.fire("input"); timers.forEach(function (f) { f(); }); timers = [];
out.rejRows = visible(flows, "State");
out.rejCount = byId("flow-count").textContent;
input.value = "!tcp  udp"; input.fire("input"); timers.forEach(function (f) { f(); }); timers = [];
out.notTCP = visible(flows, "Proto");
input.value = ""; input.fire("input"); timers.forEach(function (f) { f(); }); timers = [];
byId("only-unexplained").checked = true; byId("only-unexplained").fire("change");
out.unexplained = visible(flows, "Server");
byId("only-unexplained").checked = false; byId("only-failed").checked = true; byId("only-failed").fire("change");
out.failed = visible(flows, "State");
const protos = byId("protocols").children.filter(function (c) { return c.tagName === "DIV"; })[0].children[0];
head(protos, "Bytes").fire("click");
out.protocolsByBytes = column(protos, "Protocol");
process.stdout.write(JSON.stringify(out));
`

// TestHTMLScript runs the page's script under node (skipped when node is not
// installed) on a small DOM built from the fixture report, and checks that clicking
// headers sorts numbers, IEC byte sizes and text both ways, and that the filter box
// (words, column:word, !word) and the check boxes show the right rows.
func TestHTMLScript(t *testing.T) {
	outb := runPageScript(t, encodeHTML(t, HTML{}, fixtureSummary(0)), scriptHarness)
	var got struct {
		InitialCount, BytesSort, RejCount                      string
		BytesFirstClick, BytesSecondClick, ServerSort          []string
		RejRows, NotTCP, Unexplained, Failed, ProtocolsByBytes []string
	}
	if err := json.Unmarshal(outb, &got); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	s := fixtureSummary(0)
	var bytesDesc, servers, unexplained, failed []string
	for i := range s.Flows {
		r := &s.Flows[i]
		bytesDesc = append(bytesDesc, itoa(r.Bytes()))
		servers = append(servers, strings.ToLower(endpoint(r.Proto, r.Server)))
	}
	slices.SortStableFunc(bytesDesc, func(a, b string) int { return len(b)*100 - len(a)*100 + strings.Compare(b, a) })
	slices.Sort(servers)
	if got.InitialCount != "16 of 16 rows" {
		t.Errorf("count %q", got.InitialCount)
	}
	if strings.Join(got.BytesFirstClick, ",") != strings.Join(bytesDesc, ",") || got.BytesSort != "descending" {
		t.Errorf("first click on Bytes (%s): %v, want %v", got.BytesSort, got.BytesFirstClick, bytesDesc)
	}
	if !slices.IsSortedFunc(got.BytesSecondClick, func(a, b string) int { return len(a)*100 - len(b)*100 + strings.Compare(a, b) }) {
		t.Errorf("second click on Bytes is not ascending: %v", got.BytesSecondClick)
	}
	var gotServers []string
	for _, s := range got.ServerSort {
		gotServers = append(gotServers, strings.ToLower(s))
	}
	if !slices.Equal(gotServers, servers) {
		t.Errorf("Server column sorted: %v, want %v", gotServers, servers)
	}
	if !slices.Equal(got.RejRows, []string{"REJ"}) || got.RejCount != "1 of 16 rows" {
		t.Errorf("state:REJ shows %v (%s)", got.RejRows, got.RejCount)
	}
	for _, p := range got.NotTCP {
		if p != "udp" {
			t.Errorf("'!tcp udp' shows a %s row", p)
		}
	}
	if len(got.NotTCP) != 3 {
		t.Errorf("'!tcp udp' shows %d rows, want the 3 udp flows", len(got.NotTCP))
	}
	for i := range s.Flows {
		r := &s.Flows[i]
		if r.Flags.Has(classify.FlagUnexplained) {
			unexplained = append(unexplained, endpoint(r.Proto, r.Server))
		}
		if failedAttempt(r) {
			failed = append(failed, r.State.String())
		}
	}
	slices.Sort(unexplained)
	slices.Sort(got.Unexplained)
	if !slices.Equal(got.Unexplained, unexplained) {
		t.Errorf("unexplained only: %v, want %v", got.Unexplained, unexplained)
	}
	if len(got.Failed) != len(failed) {
		t.Errorf("failed only: %v, want %v", got.Failed, failed)
	}
	if want := []string{"tcp", "ip-47", "icmp", "sctp", "udp"}; !slices.Equal(got.ProtocolsByBytes, want) {
		t.Errorf("Protocols by bytes (IEC sizes parsed): %v, want %v", got.ProtocolsByBytes, want)
	}
}

// runPageScript runs harness (scriptDOM and the actions of a test) under node on the
// DOM of page, with args after the page, and returns what it printed. The test is
// skipped when node is not installed.
func runPageScript(t *testing.T, page, harness string, args ...string) []byte {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the page script is not exercised")
	}
	root, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tree, _ := json.Marshal(toDOM(root))
	files := map[string]string{"tree.json": string(tree), "page.js": htmlJS, "harness.js": harness}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(node, append([]string{filepath.Join(dir, "harness.js"), filepath.Join(dir, "tree.json"), filepath.Join(dir, "page.js")}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node: %v\n%s", err, stderr)
	}
	return out
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
