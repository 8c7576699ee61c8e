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

  function cells(tr) {
    var out = [];
    for (var i = 0; i < tr.cells.length; i++) { out.push(tr.cells[i].textContent.toLowerCase()); }
    return out;
  }

  // a term matches a row when it occurs in any cell, or with "column:" in that
  // column; "!" in front negates it.
  function matches(cs, term) {
    var neg = term.charAt(0) === "!";
    if (neg) { term = term.slice(1); }
    if (term === "") { return true; }
    var hit = false;
    var colon = term.indexOf(":");
    var col = colon > 0 ? names.indexOf(term.slice(0, colon)) : -1;
    if (col >= 0) {
      hit = cs[col].indexOf(term.slice(colon + 1)) >= 0;
    } else {
      for (var i = 0; i < cs.length && !hit; i++) { hit = cs[i].indexOf(term) >= 0; }
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
