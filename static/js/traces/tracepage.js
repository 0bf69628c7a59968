// The trace page: loads one trace from the API and wires the waterfall, minimap, span panel,
// search, filters, keyboard, stats table and call graph together. State lives here; the pure
// work is in layout.js, the drawing in waterfall.js / minimap.js / spanpanel.js / callgraph.js.
(function (root) {
  "use strict";
  const T = root.MeshscopeTraces;
  const $ = function (id) { return document.getElementById(id); };

  function showError(message) {
    const box = $("trace-error");
    box.textContent = message;
    box.hidden = false;
    $("trace-loading").hidden = true;
  }

  async function load(config) {
    let response;
    try {
      response = await fetch(config.api, { headers: { Accept: "application/json" } });
    } catch (error) {
      showError("The dashboard did not answer: " + error);
      return null;
    }
    if (!response.ok) {
      let message = "HTTP " + response.status;
      try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
      showError(response.status === 404 ? "No trace " + config.trace_id + ": " + message : message);
      return null;
    }
    return response.json();
  }

  function start(config) {
    load(config).then(function (trace) {
      performance.mark("trace-parsed");
      if (trace) show(trace, config);
    });
  }

  function show(trace, config) {
    const spans = trace.spans;
    const index = T.layout.buildIndex(spans);
    performance.mark("trace-indexed");
    const colourOf = T.format.serviceColours(trace.services);
    const view = { root: -1, collapsed: new Uint8Array(index.n), maxDepth: null, minDuration_us: 0 };
    const state = {
      rows: new Int32Array(0), posOf: new Int32Array(index.n), selected: -1, zoom: null,
      marks: { critical: T.layout.markIds(index, trace.criticalPath), search: null, tag: null },
      showCritical: true, hidePercent: 0,
    };
    const scroller = $("waterfall");
    const panel = $("span-panel");
    const waterfall = T.waterfall.create(scroller, {
      onSelect: function (pos) { select(state.rows[pos], true); },
      onToggle: function (pos) { toggle(state.rows[pos]); },
      onReroot: function (pos) { reroot(state.rows[pos]); },
    });
    const minimap = T.minimap.create($("minimap"), {
      onZoom: function (a, b) { state.zoom = [a, b]; refresh(); },
    });

    summary(trace, index);

    function full() {
      return T.layout.subtreeBounds(index, view.root);
    }

    function relayout() {
      const bounds = full();
      view.minDuration_us = (state.hidePercent / 100) * (bounds[1] - bounds[0]);
      const result = T.layout.visibleRows(index, view);
      state.rows = result.rows;
      state.posOf.fill(-1);
      for (let k = 0; k < state.rows.length; k++) state.posOf[state.rows[k]] = k;
      $("row-count").textContent = state.rows.length + " of " + index.n + " spans shown" +
        (result.hidden ? " · " + result.hidden + " shorter than " + state.hidePercent + " % hidden" : "");
      $("reset-root").hidden = view.root < 0;
      $("root-label").textContent = view.root >= 0 ? "subtree of " + spans[view.root].service + " " + spans[view.root].name : "";
    }

    function refresh() {
      const bounds = full();
      const window = state.zoom || bounds;
      $("reset-zoom").hidden = !state.zoom;
      const selectedPos = state.selected >= 0 ? state.posOf[state.selected] : -1;
      waterfall.update({
        index: index, rows: state.rows, view: window, colourOf: colourOf,
        folded: function (i) { return T.layout.isFolded(index, view, i); },
        marks: { critical: state.showCritical ? state.marks.critical : null, search: state.marks.search, tag: state.marks.tag },
        selected: selectedPos, baseDepth: view.root >= 0 ? index.depth[view.root] : 0,
      });
      drawTicks(window, bounds);
      // The minimap can wait a frame: rows first, so the page answers scrolling sooner.
      requestAnimationFrame(function () { minimap.draw(index, state.rows, colourOf, bounds, window); });
    }

    function drawTicks(window, bounds) {
      const box = $("ticks");
      box.textContent = "";
      T.layout.ticks(window[0], window[1], bounds[0], 4).forEach(function (tick) {
        const mark = document.createElement("span");
        mark.className = "tick";
        mark.style.left = tick.fraction * 100 + "%";
        mark.textContent = T.format.duration(tick.offset_us);
        box.appendChild(mark);
      });
    }

    function select(i, updateHash) {
      state.selected = i;
      if (i < 0) {
        panel.hidden = true;
        refresh();
        return;
      }
      if (state.posOf[i] < 0) {
        T.layout.revealSpan(index, view, i);
        if (view.minDuration_us === 0) { state.hidePercent = 0; $("hide-short").value = ""; }
        $("max-depth").value = view.maxDepth == null ? "" : view.maxDepth;
        relayout();
      }
      refresh();
      waterfall.reveal(state.posOf[i]);
      panel.hidden = false;
      T.spanpanel.render(panel, spans[i], index.traceStart, config.urls, {
        onReroot: function () { reroot(i); },
        onClose: function () { select(-1, true); },
      });
      if (updateHash) history.replaceState(null, "", i >= 0 ? "#span-" + spans[i].spanId : location.pathname + location.search);
    }

    function toggle(i) {
      if (!T.layout.hasChildren(index, i)) return;
      const folded = T.layout.isFolded(index, view, i);
      if (folded && view.maxDepth != null && !view.collapsed[i]) {
        // Folded by the depth limit: unfolding one row lifts the limit for its level.
        view.maxDepth = index.depth[i] - (view.root >= 0 ? index.depth[view.root] : 0) + 1;
        $("max-depth").value = view.maxDepth;
      } else {
        view.collapsed[i] = folded ? 0 : 1;
      }
      relayout();
      refresh();
    }

    function reroot(i) {
      view.root = i;
      state.zoom = null;
      relayout();
      refresh();
      scroller.scrollTop = 0;
    }

    function move(step) {
      const n = state.rows.length;
      if (!n) return;
      const pos = state.selected >= 0 && state.posOf[state.selected] >= 0 ? state.posOf[state.selected] : -1;
      const next = pos < 0 ? 0 : Math.min(n - 1, Math.max(0, pos + step));
      select(state.rows[next], true);
    }

    function jumpToMatch(step) {
      if (!state.marks.search) return;
      const pos = state.selected >= 0 ? state.posOf[state.selected] : -1;
      const next = T.layout.nextMarked(state.rows, state.marks.search, pos, step);
      if (next >= 0) select(state.rows[next], true);
    }

    function fromHash() {
      const match = /^#span-(.+)$/.exec(location.hash);
      if (!match) return;
      const i = index.byId.get(decodeURIComponent(match[1]));
      if (i !== undefined) select(i, false);
    }

    // Controls.
    let searchTimer = null;
    $("span-search").addEventListener("input", function () {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(function () {
        const query = $("span-search").value;
        const result = T.layout.searchSpans(spans, query);
        state.marks.search = result.count ? result.marks : null;
        $("search-count").textContent = query.trim() ? result.count + " match" + (result.count === 1 ? "" : "es") : "";
        refresh();
      }, index.n > 20000 ? 250 : 80);
    });
    $("span-search").addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); jumpToMatch(event.shiftKey ? -1 : 1); }
      if (event.key === "Escape") $("span-search").blur();
    });
    $("search-next").addEventListener("click", function () { jumpToMatch(1); });
    $("search-prev").addEventListener("click", function () { jumpToMatch(-1); });
    $("tag-highlight").addEventListener("change", function () {
      const result = T.layout.tagSpans(spans, $("tag-highlight").value);
      state.marks.tag = result.count ? result.marks : null;
      $("tag-count").textContent = $("tag-highlight").value.trim() ? result.count + " tagged" : "";
      refresh();
    });
    $("hide-short").addEventListener("change", function () {
      const value = parseFloat($("hide-short").value);
      state.hidePercent = isFinite(value) && value > 0 ? Math.min(value, 100) : 0;
      relayout();
      refresh();
    });
    $("max-depth").addEventListener("change", function () {
      const value = parseInt($("max-depth").value, 10);
      view.maxDepth = isFinite(value) && value >= 0 ? value : null;
      relayout();
      refresh();
    });
    $("expand-all").addEventListener("click", function () {
      view.collapsed.fill(0);
      view.maxDepth = null;
      $("max-depth").value = "";
      relayout();
      refresh();
    });
    $("collapse-all").addEventListener("click", function () {
      for (let i = 0; i < index.n; i++) view.collapsed[i] = T.layout.hasChildren(index, i) ? 1 : 0;
      relayout();
      refresh();
    });
    $("reset-zoom").addEventListener("click", function () { state.zoom = null; refresh(); });
    $("reset-root").addEventListener("click", function () { reroot(-1); });
    $("show-critical").addEventListener("change", function () { state.showCritical = $("show-critical").checked; refresh(); });
    document.addEventListener("keydown", function (event) {
      const target = event.target;
      if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const key = event.key;
      if (key === "j" || key === "ArrowDown") { event.preventDefault(); move(1); }
      else if (key === "k" || key === "ArrowUp") { event.preventDefault(); move(-1); }
      else if ((key === "Enter" || key === " ") && state.selected >= 0) { event.preventDefault(); toggle(state.selected); }
      else if (key === "/") { event.preventDefault(); $("span-search").focus(); }
      else if (key === "n") jumpToMatch(1);
      else if (key === "N") jumpToMatch(-1);
      else if (key === "Escape") select(-1, true);
    });
    window.addEventListener("hashchange", fromHash);

    relayout();
    refresh();
    performance.mark("trace-laid-out");
    $("trace-loading").hidden = true;
    $("trace-body").hidden = false;
    waterfall.render();
    // First rows are painted and the scroll handler is attached: the page is interactive.
    requestAnimationFrame(function () {
      document.body.dataset.traceReady = "1";
      document.body.dataset.traceReadyMs = String(Math.round(performance.now()));
      fromHash();
      // Tables below the fold come after the waterfall is usable.
      setTimeout(function () {
        statsTable($("stats"), trace.stats || []);
        T.callgraph.render($("callgraph"), trace.callGraph, colourOf);
      }, 0);
    });
    T.current = { index: index, view: view, state: state, select: select, reroot: reroot, toggle: toggle };
  }

  function summary(trace, index) {
    const f = T.format;
    const rootSpan = trace.spans[0];
    $("trace-title").textContent = rootSpan ? rootSpan.service + ": " + rootSpan.name : trace.traceId;
    const errors = trace.spans.reduce(function (n, s) { return n + (s.error ? 1 : 0); }, 0);
    $("trace-facts").textContent = f.timestamp(trace.start_us) + " · " + f.duration(trace.duration_us) + " · " +
      index.n + " spans · " + trace.services.length + " services" + (errors ? " · " + errors + " errors" : "") +
      " · critical path " + (trace.criticalPath || []).length + " spans";
    const warnings = $("warnings");
    warnings.textContent = "";
    (trace.warnings || []).forEach(function (text) {
      const item = document.createElement("li");
      item.textContent = text;
      warnings.appendChild(item);
    });
    warnings.hidden = !(trace.warnings || []).length;
  }

  /** Stats rows (API order) into a table whose headers sort it. */
  function statsTable(tableEl, stats) {
    const columns = [["service", "service"], ["operation", "operation"], ["count", "count"],
      ["total_us", "total"], ["self_us", "self time"], ["percent", "% of trace (self)"]];
    let sortKey = "self_us";
    let descending = true;
    function draw() {
      const sorted = stats.slice().sort(function (a, b) {
        const x = a[sortKey];
        const y = b[sortKey];
        const c = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
        return descending ? -c : c;
      });
      tableEl.textContent = "";
      const head = document.createElement("tr");
      columns.forEach(function (col) {
        const th = document.createElement("th");
        th.textContent = col[1] + (col[0] === sortKey ? (descending ? " ▾" : " ▴") : "");
        th.dataset.key = col[0];
        th.className = "sortable";
        head.appendChild(th);
      });
      tableEl.appendChild(head);
      sorted.forEach(function (row) {
        const tr = document.createElement("tr");
        columns.forEach(function (col) {
          const td = document.createElement("td");
          const v = row[col[0]];
          td.textContent = col[0].endsWith("_us") ? T.format.duration(v) : col[0] === "percent" ? Number(v).toFixed(1) + " %" : String(v);
          tr.appendChild(td);
        });
        tableEl.appendChild(tr);
      });
    }
    tableEl.onclick = function (event) {
      const key = event.target.dataset && event.target.dataset.key;
      if (!key) return;
      descending = key === sortKey ? !descending : true;
      sortKey = key;
      draw();
    };
    draw();
  }

  T.tracepage = { start: start, statsTable: statsTable };
})(typeof window !== "undefined" ? window : globalThis);
