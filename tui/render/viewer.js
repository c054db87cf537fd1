// The report's viewer (tui/render/viewer.py): items or pairs from the JSON block, filtered,
// sorted and paged in the page itself. Every string from the data goes in with textContent
// (never innerHTML); the filter lives in the URL fragment (#items?cat=...&q=...), so a link
// can point at a filtered list and reloading keeps it.
(function () {
  "use strict";
  var block = document.getElementById("viewer-data");
  if (!block) return;
  var data = JSON.parse(block.textContent);
  var PAGE = 100, FOLD = 1200;
  var controls = document.getElementById("viewer-controls");
  var list = document.getElementById("viewer-list");
  var pagers = [document.getElementById("viewer-pager-top"), document.getElementById("viewer-pager")];
  var anchor = data.kind === "pairs" ? "pairs" : "items";
  var state = {};

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function show(value) {
    if (value === true) return "yes";
    if (value === false) return "no";
    if (value === null || value === undefined) return "—";
    return String(value);
  }
  function uniq(values) {
    var seen = {}, out = [];
    values.forEach(function (v) { if (v !== null && v !== undefined && !seen[v]) { seen[v] = 1; out.push(v); } });
    return out;
  }

  // --- the filter in the fragment ---------------------------------------------------------
  function readHash() {
    var hash = location.hash.slice(1), at = hash.indexOf("?"), out = {};
    if (at < 0 || hash.slice(0, at) !== anchor) return out;
    hash.slice(at + 1).split("&").forEach(function (part) {
      if (!part) return;
      var eq = part.indexOf("=");
      var key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      out[key] = eq < 0 ? "1" : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, " "));
    });
    return out;
  }
  function writeHash() {
    var parts = [];
    Object.keys(state).sort().forEach(function (k) {
      if (state[k] !== "" && state[k] !== undefined && !(k === "page" && state[k] === "1"))
        parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(state[k]));
    });
    var hash = "#" + anchor + (parts.length ? "?" + parts.join("&") : "");
    if (location.hash !== hash) history.replaceState(null, "", hash);
  }

  // --- controls --------------------------------------------------------------------------
  var inputs = {};
  function select(key, label, options) {
    var wrap = el("label", null, label + " ");
    var box = el("select");
    box.dataset.key = key;
    options.forEach(function (o) {
      var opt = el("option", null, o[1]);
      opt.value = o[0];
      box.appendChild(opt);
    });
    box.addEventListener("change", function () { set(key, box.value); });
    wrap.appendChild(box);
    controls.appendChild(wrap);
    inputs[key] = box;
    return box;
  }
  function check(key, label) {
    var wrap = el("label");
    var box = el("input");
    box.type = "checkbox";
    box.dataset.key = key;
    box.addEventListener("change", function () { set(key, box.checked ? "1" : ""); });
    wrap.appendChild(box);
    wrap.appendChild(document.createTextNode(" " + label));
    controls.appendChild(wrap);
    inputs[key] = box;
  }
  function search() {
    var box = el("input");
    box.type = "search";
    box.placeholder = "search prompts and answers";
    box.dataset.key = "q";
    var timer = null;
    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { set("q", box.value); }, 150);
    });
    controls.appendChild(box);
    inputs.q = box;
  }
  function set(key, value) {
    state[key] = value;
    if (key === "crit") state.val = "";
    if (key !== "page") state.page = "1";
    writeHash();
    draw();
  }
  function syncInputs() {
    Object.keys(inputs).forEach(function (k) {
      var box = inputs[k], value = state[k] || "";
      if (box.type === "checkbox") box.checked = value === "1";
      else box.value = value;
    });
  }
  function reset() {
    var button = el("button", null, "clear");
    button.type = "button";
    button.addEventListener("click", function () { state = {}; writeHash(); syncInputs(); draw(); });
    controls.appendChild(button);
  }

  // --- paging ------------------------------------------------------------------------------
  function page(rows, render) {
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    var at = Math.min(pages, Math.max(1, parseInt(state.page || "1", 10) || 1));
    list.textContent = "";
    var slice = rows.slice((at - 1) * PAGE, at * PAGE);
    if (!slice.length) list.appendChild(el("p", "empty", "Nothing matches this filter."));
    var frag = document.createDocumentFragment();
    slice.forEach(function (row) { frag.appendChild(render(row)); });
    list.appendChild(frag);
    pagers.forEach(function (pager) {
      pager.textContent = "";
      var first = rows.length ? (at - 1) * PAGE + 1 : 0;
      pager.appendChild(el("span", "count", first + "–" + Math.min(rows.length, at * PAGE) + " of " + rows.length));
      if (pages > 1) {
        [["‹ previous", at - 1], ["next ›", at + 1]].forEach(function (b) {
          var button = el("button", null, b[0]);
          button.type = "button";
          button.disabled = b[1] < 1 || b[1] > pages;
          button.addEventListener("click", function () { set("page", String(b[1])); list.scrollIntoView(); });
          pager.appendChild(button);
        });
        pager.appendChild(el("span", null, "page " + at + " of " + pages));
      }
    });
  }

  function folded(text, cls) {
    var wrap = el("div");
    var body = el("div", "text" + (cls ? " " + cls : ""), text);
    wrap.appendChild(body);
    if (text && text.length > FOLD) {
      body.classList.add("folded");
      var more = el("button", "more", "show all (" + text.length + " characters)");
      more.type = "button";
      more.addEventListener("click", function () {
        var open = body.classList.toggle("folded");
        more.textContent = open ? "show all (" + text.length + " characters)" : "show less";
      });
      wrap.appendChild(more);
    }
    return wrap;
  }
  function role(parent, text) { parent.appendChild(el("div", "role", text)); }
  function raw(parent, label, text) {
    if (!text) return;
    var box = el("details");
    box.appendChild(el("summary", null, label));
    box.appendChild(el("div", "text", text));
    parent.appendChild(box);
  }

  // --- items (a run session) ------------------------------------------------------------------
  function items() {
    var criteria = data.criteria || [], rows = data.items || [];
    var judges = uniq([].concat.apply([], rows.map(function (i) { return Object.keys(i.judges || {}); })));
    var categories = uniq(rows.map(function (i) { return i.category; })).sort();
    rows.forEach(function (item) {
      item._text = ((item.turns || []).join("\n") + "\n" + (item.answers || []).join("\n")).toLowerCase();
      item._jerr = Object.keys(item.judges || {}).some(function (j) { return item.judges[j].error; });
      item._err = !!(item.error || item.ended || (item.check_errors && item.check_errors.length)) ||
        (item.status && item.status !== "done");
    });

    select("cat", "category", [["", "all"]].concat(categories.map(function (c) { return [c, c]; })));
    var crit = select("crit", "criterion", [["", "any"]].concat(criteria.map(function (c) { return [c, c]; })));
    var value = select("val", "your value", [["", "any"]]);
    function values() {
      var at = criteria.indexOf(state.crit || ""), seen = [];
      if (at >= 0) rows.forEach(function (i) { if (i.human && i.human[at] !== null) seen.push(show(i.human[at])); });
      value.textContent = "";
      [["", "any"]].concat(uniq(seen).sort().map(function (v) { return [v, v]; })).forEach(function (o) {
        var opt = el("option", null, o[1]);
        opt.value = o[0];
        value.appendChild(opt);
      });
      value.value = state.val || "";
    }
    crit.addEventListener("change", values);
    select("judge", "vs judge", [["", "—"]].concat(judges.map(function (j) { return [j, j]; })));
    select("diff", "differ by", [["", "any"], ["1", "1+"], ["2", "2+"], ["3", "3+"]]);
    select("sort", "sort", [["", "prompt order"], ["disagree", "disagreement, largest first"]]);
    check("flag", "flagged");
    check("err", "errors");
    check("jerr", "judge errors");
    search();
    reset();

    function disagreement(item, judge) {
      var verdict = item.judges && item.judges[judge];
      if (!item.human || !verdict || !verdict.scores) return null;
      var at = criteria.indexOf(state.crit || ""), most = null;
      criteria.forEach(function (c, k) {
        if (at >= 0 && k !== at) return;
        var you = item.human[k], it = verdict.scores[k];
        if (you === null || you === undefined || it === null || it === undefined) return;
        var d = typeof you === "number" && typeof it === "number" ? Math.abs(you - it) : (you === it ? 0 : 1);
        most = most === null ? d : Math.max(most, d);
      });
      return most;
    }

    function render(item) {
      var card = el("article", "item" + (item.flagged ? " flagged" : ""));
      card.dataset.id = item.id;
      var head = el("div", "head");
      head.appendChild(el("span", "id", item.id));
      if (item.category) head.appendChild(el("span", "badge", item.category));
      if (item.status && item.status !== "done") head.appendChild(el("span", "badge warn", item.status));
      if (item.flagged) head.appendChild(el("span", "badge bad", "flagged"));
      if (item.error) head.appendChild(el("span", "badge bad", "error"));
      if (item._jerr) head.appendChild(el("span", "badge bad", "judge error"));
      if (state.judge && item._d !== null && item._d !== undefined)
        head.appendChild(el("span", "badge", "differs from " + state.judge + " by " + item._d));
      card.appendChild(head);
      if (item.system) { role(card, "system"); card.appendChild(folded(item.system)); }
      var turns = item.turns || [], answers = item.answers || [];
      for (var t = 0; t < Math.max(turns.length, answers.length); t++) {
        if (t < turns.length) { role(card, turns.length > 1 ? "prompt, turn " + (t + 1) : "prompt"); card.appendChild(folded(turns[t])); }
        if (t < answers.length) { role(card, "answer"); card.appendChild(folded(answers[t])); }
      }
      if (item.ended) card.appendChild(el("p", "note", "the answer ended: " + item.ended));
      if (item.error) card.appendChild(el("p", "note", "error: " + item.error));
      var names = Object.keys(item.judges || {});
      if (item.human || names.length) {
        var table = el("table", "scores"), head1 = el("tr");
        ["criterion", "you"].concat(names).forEach(function (n) { head1.appendChild(el("th", null, n)); });
        var thead = el("thead"); thead.appendChild(head1); table.appendChild(thead);
        var body = el("tbody");
        criteria.forEach(function (c, k) {
          var tr = el("tr");
          tr.appendChild(el("td", null, c));
          tr.appendChild(el("td", "r", show(item.human ? item.human[k] : null)));
          names.forEach(function (n) {
            var s = item.judges[n].scores;
            tr.appendChild(el("td", "r", item.judges[n].error ? "error" : show(s ? s[k] : null)));
          });
          body.appendChild(tr);
        });
        table.appendChild(body);
        card.appendChild(table);
      }
      if (item.stale) {
        var stale = Object.keys(item.stale).map(function (c) { return c + " " + show(item.stale[c]); }).join(", ");
        card.appendChild(el("p", "note", "labels given on an earlier answer, not counted: " + stale));
      }
      names.forEach(function (n) {
        var verdict = item.judges[n];
        if (verdict.error) card.appendChild(el("p", "note", n + ": " + verdict.error));
        raw(card, n + ": reasoning", verdict.reasoning);
        raw(card, n + ": raw reply", verdict.raw);
      });
      var checks = Object.keys(item.checks || {});
      if (checks.length)
        card.appendChild(el("p", "note", "checks: " + checks.map(function (c) { return c + " " + (item.checks[c] === true ? "pass" : item.checks[c] === false ? "fail" : show(item.checks[c])); }).join(", ")));
      var metrics = Object.keys(item.metrics || {});
      if (metrics.length)
        card.appendChild(el("p", "note", "metrics: " + metrics.map(function (m) { return m + " " + show(item.metrics[m]); }).join(", ")));
      (item.check_errors || []).forEach(function (e) { card.appendChild(el("p", "note", "check error: " + e)); });
      if (item.comment) { role(card, "comment"); card.appendChild(el("div", "text", item.comment)); }
      return card;
    }

    function draw() {
      var at = criteria.indexOf(state.crit || ""), q = (state.q || "").toLowerCase();
      var min = parseInt(state.diff || "0", 10) || 0;
      var shown = rows.filter(function (item) {
        if (state.cat && item.category !== state.cat) return false;
        if (state.flag === "1" && !item.flagged) return false;
        if (state.err === "1" && !item._err) return false;
        if (state.jerr === "1" && !item._jerr) return false;
        if (at >= 0 && state.val && !(item.human && show(item.human[at]) === state.val)) return false;
        if (q && item._text.indexOf(q) < 0) return false;
        item._d = state.judge ? disagreement(item, state.judge) : null;
        if (state.judge && min > 0 && !(item._d !== null && item._d >= min)) return false;
        return true;
      });
      if (state.sort === "disagree" && state.judge)
        shown = shown.map(function (item, k) { return [item, k]; }).sort(function (x, y) {
          var a = x[0]._d === null ? -1 : x[0]._d, b = y[0]._d === null ? -1 : y[0]._d;
          return b - a || x[1] - y[1];
        }).map(function (p) { return p[0]; });
      page(shown, render);
    }
    return { draw: draw, values: values };
  }

  // --- pairs (a comparison) ------------------------------------------------------------------
  function words(text) { return (text || "").split(/(\s+)/).filter(function (w) { return w.length; }); }
  function diffInto(parent, mine, other, keep) {
    // keep: "ins" marks words only in `mine` against `other` as added (the second answer), "del" as removed.
    var a = words(other), b = words(mine);
    if (a.length * b.length > 4000000) { parent.appendChild(el("div", "text", mine)); return; }
    var n = a.length, m = b.length, table = [];
    for (var i = 0; i <= n; i++) table.push(new Uint32Array(m + 1));
    for (i = n - 1; i >= 0; i--)
      for (var j = m - 1; j >= 0; j--)
        table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    var box = el("div", "text");
    i = 0; j = 0;
    while (j < m) {
      if (i < n && a[i] === b[j]) { box.appendChild(document.createTextNode(b[j])); i++; j++; }
      else if (i < n && table[i + 1][j] >= table[i][j + 1]) i++;
      else { box.appendChild(el(keep, "w", b[j])); j++; }
    }
    parent.appendChild(box);
  }

  function pairs() {
    var rows = data.pairs || [];
    var judges = uniq([].concat.apply([], rows.map(function (p) { return Object.keys(p.judges || {}); })));
    var votes = [["", "any"], ["a", "a"], ["b", "b"], ["tie", "tie"], ["both_bad", "both bad"], ["none", "no vote"]];
    select("you", "your vote", votes);
    select("judge", "judge", [["", "—"]].concat(judges.map(function (j) { return [j, j]; })));
    select("jv", "judge verdict", [["", "any"], ["a", "a"], ["b", "b"], ["tie", "tie"], ["error", "error"]]);
    select("agree", "you and the judges", [["", "any"], ["agree", "agree"], ["differ", "differ"]]);
    select("stale", "stale pairs", [["", "shown"], ["hide", "hidden"], ["only", "only"]]);
    check("diff", "word diff");
    search();
    reset();
    rows.forEach(function (p) {
      p._text = ((p.turns || []).join("\n") + "\n" + p.answer_a + "\n" + p.answer_b).toLowerCase();
    });

    function verdicts(p) {
      var names = state.judge ? [state.judge] : Object.keys(p.judges || {});
      return names.filter(function (n) { return p.judges && p.judges[n]; }).map(function (n) { return p.judges[n].verdict; });
    }
    function render(p) {
      var card = el("article", "pair" + (p.stale ? " stale" : ""));
      card.dataset.id = p.pair;
      var head = el("div", "head");
      head.appendChild(el("span", "id", p.item));
      if (p.category) head.appendChild(el("span", "badge", p.category));
      head.appendChild(el("span", "badge", "you: " + (p.human || (p.skipped ? "skipped" : "no vote"))));
      if (p.stale) head.appendChild(el("span", "badge warn", "stale: " + p.stale));
      card.appendChild(head);
      (p.turns || []).forEach(function (t, k) { role(card, p.turns.length > 1 ? "prompt, turn " + (k + 1) : "prompt"); card.appendChild(folded(t)); });
      var second = p.first === "a" ? "b" : "a", sides = el("div", "sides");
      [p.first, second].forEach(function (side, k) {
        var col = el("div");
        role(col, "answer " + (k + 1) + " — " + side + ": " + (side === "a" ? p.a : p.b));
        var mine = side === "a" ? p.answer_a : p.answer_b, other = side === "a" ? p.answer_b : p.answer_a;
        if (state.diff === "1") diffInto(col, mine, other, k === 0 ? "del" : "ins");
        else col.appendChild(folded(mine));
        sides.appendChild(col);
      });
      card.appendChild(sides);
      Object.keys(p.judges || {}).forEach(function (n) {
        var j = p.judges[n];
        card.appendChild(el("p", "note", n + ": " + show(j.verdict) + " (a shown first: " + show(j.ab) + "; b shown first: " + show(j.ba) + ")" + (j.error ? " — " + j.error : "")));
        raw(card, n + ": raw reply, a shown first", j.raw_ab);
        raw(card, n + ": raw reply, b shown first", j.raw_ba);
      });
      return card;
    }
    function draw() {
      var q = (state.q || "").toLowerCase();
      var shown = rows.filter(function (p) {
        if (state.stale === "hide" && p.stale) return false;
        if (state.stale === "only" && !p.stale) return false;
        if (state.you && (state.you === "none" ? p.human : p.human !== state.you)) return false;
        if (state.judge && !(p.judges && p.judges[state.judge])) return false;
        if (state.jv && verdicts(p).indexOf(state.jv) < 0) return false;
        if (state.agree) {
          var v = verdicts(p);
          if (!p.human || !v.length) return false;
          var all = v.every(function (x) { return x === p.human; });
          if ((state.agree === "agree") !== all) return false;
        }
        if (q && p._text.indexOf(q) < 0) return false;
        return true;
      });
      page(shown, render);
    }
    return { draw: draw, values: function () {} };
  }

  var view = data.kind === "pairs" ? pairs() : items();
  var draw = view.draw;
  function restore() {
    state = readHash();
    view.values();
    syncInputs();
    draw();
  }
  function here() { return location.hash.slice(1).split("?")[0] === anchor; }
  // A link into the list (a category row, a judge's row) opens the list at its filter.
  window.addEventListener("hashchange", function () {
    if (here()) { restore(); document.getElementById(anchor).scrollIntoView(); }
  });
  restore();
  if (here() && location.hash.indexOf("?") >= 0) document.getElementById(anchor).scrollIntoView();
})();
