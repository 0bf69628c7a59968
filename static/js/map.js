// The live service map: draws the server-rendered Plotly figure with Plotly.react (node positions
// come from the server and stay put), and applies the browser-side options on top of it: edge
// label mode, hidden nodes, find highlight, pause, replay of stored snapshots, exports.
(function () {
  "use strict";
  const mapDiv = document.getElementById("map");
  const state = {
    latest: JSON.parse(document.getElementById("initial-topology").textContent),
    shown: null,
    labelMode: "rate",
    hidden: new Set(),
    find: "",
    paused: false,
    replay: null, // array of snapshots while replaying
    updates: 0,
    selected: null,
  };
  window.meshscopeMap = state; // for tests and debugging

  const LABEL_INDEX = { rate: 3, error: 4, p95: 5 };

  function matches(label) {
    return state.find && label.toLowerCase().includes(state.find.toLowerCase());
  }

  function nodeHidden(id) {
    return state.hidden.has(id);
  }

  // Keep the points of a trace whose customdata passes `keep`; lines come in triples (x0, x1, null).
  function filterTrace(trace, keep, stride) {
    const out = Object.assign({}, trace);
    const arrays = ["x", "y", "customdata", "text", "hovertext"];
    const markerArrays = ["symbol", "color", "opacity"];
    const idx = [];
    for (let i = 0; i < trace.x.length; i += stride) {
      if (keep(trace.customdata[i])) for (let j = 0; j < stride; j++) idx.push(i + j);
    }
    arrays.forEach(function (key) { if (Array.isArray(trace[key])) out[key] = idx.map(function (i) { return trace[key][i]; }); });
    if (trace.marker) {
      out.marker = Object.assign({}, trace.marker);
      markerArrays.forEach(function (key) {
        if (Array.isArray(trace.marker[key])) out.marker[key] = idx.map(function (i) { return trace.marker[key][i]; });
      });
      if (trace.marker.line && Array.isArray(trace.marker.line.width)) {
        out.marker.line = Object.assign({}, trace.marker.line, { width: idx.map(function (i) { return trace.marker.line.width[i]; }) });
      }
    }
    return out;
  }

  function prepare(figure) {
    const edgeVisible = function (cd) { return !nodeHidden(cd[1]) && !nodeHidden(cd[2]); };
    const data = figure.data.map(function (trace) {
      const role = trace.meta && trace.meta.role;
      if (role === "edges") return filterTrace(trace, edgeVisible, 3);
      if (role === "labels") {
        const t = filterTrace(trace, edgeVisible, 1);
        t.text = t.customdata.map(function (cd) { return cd[LABEL_INDEX[state.labelMode]]; });
        return t;
      }
      if (role === "nodes") {
        const t = filterTrace(trace, function (cd) { return !nodeHidden(cd[0]); }, 1);
        if (state.find) {
          t.marker = Object.assign({}, t.marker);
          t.marker.size = t.customdata.map(function (cd) { return matches(cd[1]) || matches(cd[0]) ? 34 : 22; });
          t.marker.line = Object.assign({}, t.marker.line, {
            width: t.customdata.map(function (cd) { return matches(cd[1]) || matches(cd[0]) ? 4 : 1; }),
          });
        }
        return t;
      }
      return trace;
    });
    return { data: data, layout: withoutHiddenLocks(figure.layout) };
  }

  // mTLS padlocks are layout images named by their edge id ("source->target").
  function withoutHiddenLocks(layout) {
    if (!layout.images || !state.hidden.size) return layout;
    const images = layout.images.filter(function (image) {
      const ends = String(image.name || "").split("->");
      return !nodeHidden(ends[0]) && !nodeHidden(ends[1]);
    });
    return Object.assign({}, layout, { images: images });
  }

  function draw(payload) {
    if (!payload || !payload.figure) return;
    state.shown = payload;
    const fig = prepare(payload.figure);
    Plotly.react(mapDiv, fig.data, fig.layout, { displaylogo: false, responsive: true, scrollZoom: true });
    mapDiv.dataset.takenAt = payload.taken_at;
    const stale = (payload.map.stale_sources || []);
    document.getElementById("stale").textContent = stale.length ? "stale: " + stale.join(", ") : "";
    document.getElementById("updated").textContent = "as of " + new Date(payload.taken_at).toLocaleTimeString();
    if (state.selected) showPanel(state.selected);
  }

  function onEvent(message) {
    if (message.type !== "topology.updated") return;
    state.latest = message.data;
    state.updates += 1;
    mapDiv.dataset.updates = String(state.updates);
    if (!state.paused && !state.replay) draw(state.latest);
  }

  // --- side panel -------------------------------------------------------------------------
  const fmt = function (v, unit) { return v === null || v === undefined ? "–" : (Math.round(v * 100) / 100) + (unit || ""); };

  function showPanel(id) {
    state.selected = id;
    const map = state.shown.map;
    const panel = document.getElementById("panel");
    const table = document.getElementById("panel-table");
    const links = document.getElementById("panel-links");
    const node = map.nodes.find(function (n) { return n.id === id; });
    const edge = map.edges.find(function (e) { return e.id === id; });
    let rows = [];
    links.innerHTML = "";
    if (node) {
      document.getElementById("panel-title").textContent = node.label + " (" + node.kind + ")";
      const into = map.edges.filter(function (e) { return e.target === id && e.rps !== null; });
      rows = [["health", node.health + (node.idle ? " (idle)" : "")],
              ["requests/s in", fmt(into.reduce(function (s, e) { return s + e.rps; }, 0))]];
      if (node.sidecar) {
        rows.push(["sidecar", node.sidecar.state]);
        if (node.sidecar.config_version !== undefined) rows.push(["xDS version", node.sidecar.config_version + " (acked " + node.sidecar.acked_version + ")"]);
        if (node.sidecar.nack) rows.push(["NACK", node.sidecar.nack.message || "rejected"]);
      }
      if (node.stale) rows.push(["stale", "sidecar unreachable"]);
      if (node.kind === "service") links.innerHTML = '<a href="/services/' + encodeURIComponent(node.name) + '/">service page</a>';
      if (node.kind === "workload") links.innerHTML = '<a href="/services/workloads/' + encodeURIComponent(node.name) + '/">workload page</a> · <a href="/services/sidecars/' + encodeURIComponent(node.name) + '/">sidecar</a>';
      const traces = MeshscopeTraceLinks.html(MeshscopeTraceLinks.nodeLinks(node));
      if (traces) links.innerHTML += (links.innerHTML ? " · " : "") + traces;
    } else if (edge) {
      document.getElementById("panel-title").textContent = edge.source + " → " + edge.target;
      rows = [["health", edge.health + (edge.stale ? " (stale)" : "")], ["requests/s", fmt(edge.rps)],
              ["2xx / 4xx / 5xx per s", fmt(edge.rps_2xx) + " / " + fmt(edge.rps_4xx) + " / " + fmt(edge.rps_5xx)],
              ["4xx %", fmt(edge.error_4xx_pct, "%")], ["5xx %", fmt(edge.error_5xx_pct, "%")],
              ["p50 / p95 / p99", fmt(edge.p50_ms) + " / " + fmt(edge.p95_ms) + " / " + fmt(edge.p99_ms) + " ms"],
              ["timeouts/s", fmt(edge.timeouts_per_s)],
              ["403 RBAC denied/s", fmt(edge.denied_per_s)], ["429 rate-limited/s", fmt(edge.rate_limited_per_s)],
              ["mTLS", (edge.mtls ? "on" : "off") + (edge.mtls_pct === null || edge.mtls_pct === undefined ? "" : " (" + fmt(edge.mtls_pct, "%") + " of requests)")]];
      const nodesById = {};
      map.nodes.forEach(function (n) { nodesById[n.id] = n; });
      links.innerHTML = MeshscopeTraceLinks.html(MeshscopeTraceLinks.edgeLinks(edge, nodesById));
    } else {
      return;
    }
    table.innerHTML = rows.map(function (r) { return "<tr><th>" + r[0] + "</th><td>" + String(r[1]).replace(/</g, "&lt;") + "</td></tr>"; }).join("");
    panel.hidden = false;
    drawPanelChart(id, node, edge);
  }

  let chartFetchedAt = 0;
  let chartHistory = null;
  function drawPanelChart(id, node, edge) {
    const now = Date.now();
    const render = function () {
      if (!chartHistory) return;
      const xs = [], ys = [];
      chartHistory.forEach(function (s) {
        let v = null;
        if (edge) {
          const e = s.map.edges.find(function (x) { return x.id === id; });
          v = e ? e.rps : null;
        } else {
          v = s.map.edges.filter(function (x) { return x.target === id && x.rps !== null; }).reduce(function (a, x) { return a + x.rps; }, 0);
        }
        xs.push(s.taken_at); ys.push(v);
      });
      Plotly.react("panel-chart", [{ x: xs, y: ys, type: "scatter", mode: "lines", line: { width: 1.5 } }],
        { height: 160, margin: { l: 35, r: 5, t: 20, b: 30 }, title: { text: "requests/s, last 10 min", font: { size: 11 } } },
        { displayModeBar: false });
    };
    if (now - chartFetchedAt > 5000) {
      chartFetchedAt = now;
      fetch("/api/topology/history?minutes=10&max_points=120").then(function (r) { return r.json(); }).then(function (h) {
        chartHistory = h.snapshots; render();
      });
    } else {
      render();
    }
  }

  function bindClick() {
    mapDiv.on("plotly_click", function (event) {
      const point = event.points && event.points[0];
      if (point && point.customdata) showPanel(point.customdata[0]);
    });
  }

  // --- toolbar ----------------------------------------------------------------------------
  function redraw() { draw(state.replay ? state.shown : state.latest); }
  document.getElementById("label-mode").addEventListener("change", function (e) { state.labelMode = e.target.value; redraw(); });
  document.getElementById("find").addEventListener("input", function (e) { state.find = e.target.value.trim(); redraw(); });
  document.getElementById("hide").addEventListener("click", function () {
    if (!state.find || !state.shown) return;
    state.shown.map.nodes.forEach(function (n) { if (matches(n.label) || matches(n.id)) state.hidden.add(n.id); });
    redraw();
  });
  document.getElementById("show-all").addEventListener("click", function () { state.hidden.clear(); redraw(); });
  const pauseButton = document.getElementById("pause");
  pauseButton.addEventListener("click", function () {
    state.paused = !state.paused;
    pauseButton.textContent = state.paused ? "Resume" : "Pause";
    if (!state.paused) redraw();
  });
  document.getElementById("panel-close").addEventListener("click", function () {
    state.selected = null; document.getElementById("panel").hidden = true;
  });

  const slider = document.getElementById("slider");
  const liveButton = document.getElementById("live");
  document.getElementById("replay").addEventListener("click", function () {
    fetch("/api/topology/history?minutes=30&max_points=360&figures=true")
      .then(function (r) { return r.json(); })
      .then(function (h) {
        if (!h.snapshots || !h.snapshots.length) return;
        state.replay = h.snapshots;
        slider.max = String(h.snapshots.length - 1);
        slider.value = slider.max;
        slider.disabled = false;
        liveButton.disabled = false;
        showFrame();
      });
  });
  function showFrame() {
    const frame = state.replay[Number(slider.value)];
    document.getElementById("frame-time").textContent = "replay " + new Date(frame.taken_at).toLocaleTimeString();
    draw(frame);
  }
  slider.addEventListener("input", function () { if (state.replay) showFrame(); });
  liveButton.addEventListener("click", function () {
    state.replay = null; slider.disabled = true; liveButton.disabled = true;
    document.getElementById("frame-time").textContent = "";
    draw(state.latest);
  });

  document.getElementById("export-png").addEventListener("click", function () {
    Plotly.downloadImage(mapDiv, { format: "png", filename: "meshscope-map", width: 1600, height: 900 });
  });
  document.getElementById("export-svg").addEventListener("click", function () {
    Plotly.downloadImage(mapDiv, { format: "svg", filename: "meshscope-map", width: 1600, height: 900 });
  });
  document.getElementById("export-json").addEventListener("click", function () {
    if (!state.shown) return;
    const blob = new Blob([JSON.stringify(state.shown.map, null, 2)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "meshscope-map.json";
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
  });

  if (state.latest) draw(state.latest);
  else Plotly.newPlot(mapDiv, [], { xaxis: { visible: false }, yaxis: { visible: false }, annotations: [{ text: "waiting for the first poll…", showarrow: false }] });
  bindClick();
  MeshscopeLive.connectTopology({ onEvent: onEvent });
})();
