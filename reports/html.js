// portclass report: sort any table.sortable by a click on a column header, filter
// the flow records. Plain ES5 so that old browsers on backup servers run it too.
(function () {
  "use strict";
  var units = { "B": 1, "KiB": 1024, "MiB": 1048576, "GiB": 1073741824, "TiB": 1099511627776,
    "PiB": 1125899906842624, "EiB": 1152921504606846976 };

  // value of a cell for sorting: data-v when present, else a number (with an IEC
  // byte unit) for numeric columns, else the lower-cased text.
  function key(td, numeric) {
    var v = td.getAttribute("data-v");
    var t = v !== null ? v : td.textContent;
    if (!numeric) { return t.toLowerCase(); }
    var m = /^\s*(-?[0-9.]+)\s*([KMGTPE]?i?B)?\s*$/.exec(t);
    if (!m) { return -Infinity; }
    return parseFloat(m[1]) * (m[2] ? units[m[2]] || 1 : 1);
  }

  function sortBy(table, col, th) {
    var numeric = th.className.indexOf("num") >= 0;
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    if (!th.getAttribute("aria-sort") && numeric) { dir = -1; }
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = [];
    for (var r = 0; r < body.rows.length; r++) {
      rows.push({ k: key(body.rows[r].cells[col], numeric), i: r, tr: body.rows[r] });
    }
    rows.sort(function (a, b) {
      if (a.k < b.k) { return -dir; }
      if (a.k > b.k) { return dir; }
      return a.i - b.i;
    });
    var frag = document.createDocumentFragment();
    for (var j = 0; j < rows.length; j++) { frag.appendChild(rows[j].tr); }
    body.appendChild(frag);
  }

  var tables = document.querySelectorAll("table.sortable");
  for (var t = 0; t < tables.length; t++) {
    (function (table) {
      var heads = table.tHead.rows[0].cells;
      for (var c = 0; c < heads.length; c++) {
        (function (col, th) {
          th.setAttribute("tabindex", "0");
          th.title = "sort";
          th.addEventListener("click", function () { sortBy(table, col, th); });
          th.addEventListener("keydown", function (e) {
            if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, col, th); }
          });
        })(c, heads[c]);
      }
    })(tables[t]);
  }

  var flows = document.getElementById("flow-table");
  if (!flows) { return; }
  var input = document.getElementById("flow-filter");
  var onlyU = document.getElementById("only-unexplained");
  var onlyF = document.getElementById("only-failed");
  var count = document.getElementById("flow-count");
  var names = [];
  var hc = flows.tHead.rows[0].cells;
  for (var h = 0; h < hc.length; h++) { names.push(hc[h].textContent.toLowerCase().replace(/\s+/g, "")); }
  var rows = flows.tBodies[0].rows;
  var cache = [];

  // parseAddr reads an IPv4 or IPv6 address (lower case) into its family and 4 or 16
  // bytes; null for anything else.
  function parseV4(s) {
    var p = s.split(".");
    if (p.length !== 4) { return null; }
    var b = [];
    for (var i = 0; i < 4; i++) {
      if (!/^[0-9]{1,3}$/.test(p[i]) || +p[i] > 255) { return null; }
      b.push(+p[i]);
    }
    return b;
  }
  function groups(h) {
    if (h === "") { return []; }
    var g = h.split(":");
    for (var i = 0; i < g.length; i++) {
      if (!/^[0-9a-f]{1,4}$/.test(g[i])) { return null; }
      g[i] = parseInt(g[i], 16);
    }
    return g;
  }
  function parseV6(s) {
    var v4 = null;
    if (s.indexOf(".") >= 0) { // a dotted IPv4 tail (::ffff:192.0.2.1): two groups
      var c = s.lastIndexOf(":");
      v4 = parseV4(s.slice(c + 1));
      if (!v4) { return null; }
      s = s.slice(0, c + 1);
      if (s.slice(-2) !== "::") { s = s.slice(0, -1); }
    }
    var halves = s.split("::");
    if (halves.length > 2) { return null; }
    var head = groups(halves[0]);
    var tail = halves.length === 2 ? groups(halves[1]) : [];
    if (!head || !tail) { return null; }
    if (v4) { tail.push(v4[0] * 256 + v4[1], v4[2] * 256 + v4[3]); }
    var n = head.length + tail.length;
    if (halves.length === 1 ? n !== 8 : n > 7) { return null; }
    var g = head.slice();
    for (var z = n; z < 8; z++) { g.push(0); }
    g = g.concat(tail);
    var b = [];
    for (var i = 0; i < 8; i++) { b.push(g[i] >> 8, g[i] & 255); }
    return b;
  }
  function parseAddr(s) {
    if (s.indexOf(":") < 0) {
      var b4 = parseV4(s);
      return b4 ? { f: 4, b: b4 } : null;
    }
    var b6 = parseV6(s);
    return b6 ? { f: 6, b: b6 } : null;
  }
  // parsePrefix reads a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32.
  function parsePrefix(s) {
    var i = s.indexOf("/");
    if (i < 0) { return null; }
    var a = parseAddr(s.slice(0, i));
    var n = s.slice(i + 1);
    if (!a || !/^[0-9]{1,3}$/.test(n) || +n > a.b.length * 8) { return null; }
    return { f: a.f, b: a.b, bits: +n };
  }
  function inPrefix(a, p) {
    if (!a || a.f !== p.f) { return false; }
    for (var i = 0; i < p.bits; i++) {
      var m = 0x80 >> (i & 7);
      if ((a.b[i >> 3] & m) !== (p.b[i >> 3] & m)) { return false; }
    }
    return true;
  }
  function sameAddr(a, b) {
    if (!a || !b || a.f !== b.f) { return false; }
    for (var i = 0; i < a.b.length; i++) { if (a.b[i] !== b.b[i]) { return false; } }
    return true;
  }
  // endpoint splits "192.0.2.1:80", "[2001:db8::1]:443" or a bare address into the
  // address and the port ("" without).
  function endpoint(s) {
    var m = /^\[([^\]]+)\]:([0-9]+)$/.exec(s) || /^([0-9.]+):([0-9]+)$/.exec(s);
    return m ? [m[1], m[2]] : [s, ""];
  }

  // cell is what the filter compares a table cell with: its text (and data-v) for
  // words, and for column:value terms its whole values: the value (data-v, else the
  // text), the text shown, each item of a list ("a, b"), an endpoint's address and
  // port; addr is the endpoint's address, parsed.
  function cell(td) {
    var text = td.textContent.toLowerCase();
    var v = td.getAttribute("data-v");
    v = v === null ? text : v.toLowerCase();
    var c = { text: text + "\n" + v, vals: [v, text], addr: null };
    var cls = " " + td.className + " ";
    if (cls.indexOf(" list ") >= 0) {
      var items = v.split(", ");
      for (var i = 0; i < items.length; i++) { c.vals.push(items[i]); }
    }
    if (cls.indexOf(" addr ") >= 0) {
      var ep = endpoint(v);
      c.vals.push(ep[0]);
      if (ep[1] !== "") { c.vals.push(ep[1]); }
      c.addr = parseAddr(ep[0]);
    }
    return c;
  }
  function cells(tr) {
    var out = [];
    for (var i = 0; i < tr.cells.length; i++) { out.push(cell(tr.cells[i])); }
    return out;
  }

  // column is the index of the column a term names: its header without spaces, or
  // the one column whose name starts so ("veeam" for "Veeam rules"); -1 for none.
  function column(name) {
    var i = names.indexOf(name);
    if (i >= 0 || name === "") { return i; }
    var found = -1;
    for (var k = 0; k < names.length; k++) {
      if (names[k].indexOf(name) === 0) {
        if (found >= 0) { return -1; }
        found = k;
      }
    }
    return found;
  }

  // valueMatches: a column:value term. "~text" is a part of the cell; a CIDR prefix
  // holds the cell's address; anything else is one of its whole values (an address
  // in any spelling of it).
  function valueMatches(c, value) {
    if (value.charAt(0) === "~") { return c.text.indexOf(value.slice(1)) >= 0; }
    var p = parsePrefix(value);
    if (p) { return inPrefix(c.addr, p); }
    if (c.vals.indexOf(value) >= 0) { return true; }
    return c.addr !== null && sameAddr(c.addr, parseAddr(value));
  }

  // matches: does row cs (from cells) pass term? Words (and "~word") match a part of
  // any cell, a CIDR prefix the client's or server's address, "column:value" see
  // valueMatches; "!" in front negates.
  function matches(cs, term) {
    var neg = term.charAt(0) === "!";
    if (neg) { term = term.slice(1); }
    if (term === "") { return true; }
    var hit = false;
    var colon = term.indexOf(":");
    var col = colon > 0 ? column(term.slice(0, colon)) : -1;
    var p = col < 0 ? parsePrefix(term) : null;
    if (col >= 0) {
      hit = valueMatches(cs[col], term.slice(colon + 1));
    } else if (p) {
      for (var a = 0; a < cs.length && !hit; a++) { hit = inPrefix(cs[a].addr, p); }
    } else {
      var word = term.charAt(0) === "~" ? term.slice(1) : term;
      for (var i = 0; i < cs.length && !hit; i++) { hit = cs[i].text.indexOf(word) >= 0; }
    }
    return neg ? !hit : hit;
  }

  function apply() {
    var terms = input.value.toLowerCase().split(/\s+/);
    var shown = 0;
    for (var r = 0; r < rows.length; r++) {
      var tr = rows[r];
      var id = tr.getAttribute("data-i");
      if (id === null) { id = String(cache.length); tr.setAttribute("data-i", id); cache.push(cells(tr)); }
      var ok = (!onlyU.checked || tr.getAttribute("data-u") === "1") &&
        (!onlyF.checked || tr.getAttribute("data-f") === "1");
      for (var k = 0; ok && k < terms.length; k++) { ok = matches(cache[+id], terms[k]); }
      tr.style.display = ok ? "" : "none";
      if (ok) { shown++; }
    }
    count.textContent = shown + " of " + rows.length + " rows";
  }

  var timer = null;
  input.addEventListener("input", function () {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(apply, 150);
  });
  onlyU.addEventListener("change", apply);
  onlyF.addEventListener("change", apply);
  apply();
})();
