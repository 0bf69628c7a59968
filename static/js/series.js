// Golden-signal time series of a service or workload: loads /api/.../metrics, then extends the
// charts live from each topology.updated event. `combine` mirrors dashboard/services/metrics.py.
(function () {
  "use strict";
  const SIGNALS = ["rps", "error_pct", "error_5xx_pct", "p50_ms", "p95_ms", "p99_ms"];

  function combine(edges) {
    edges = edges.filter(function (e) { return e.rps !== null && e.rps !== undefined; });
    const point = {};
    if (!edges.length) { SIGNALS.forEach(function (s) { point[s] = null; }); return point; }
    const sum = function (f) { return edges.reduce(function (a, e) { return a + (f(e) || 0); }, 0); };
    const rps = sum(function (e) { return e.rps; });
    const completed = sum(function (e) { return e.rps_2xx + e.rps_3xx + e.rps_4xx + e.rps_5xx; });
    const e4 = sum(function (e) { return e.rps_4xx; }), e5 = sum(function (e) { return e.rps_5xx; });
    const base = Math.max(rps, completed);
    point.rps = rps;
    point.error_pct = base ? 100 * (e4 + e5) / base : 0;
    point.error_5xx_pct = base ? 100 * e5 / base : 0;
    ["p50_ms", "p95_ms", "p99_ms"].forEach(function (k) {
      const w = edges.filter(function (e) { return e[k] !== null && e[k] !== undefined; });
      if (!w.length) { point[k] = null; return; }
      const weight = w.reduce(function (a, e) { return a + e.rps; }, 0);
      point[k] = weight > 0 ? w.reduce(function (a, e) { return a + e[k] * e.rps; }, 0) / weight
                            : w.reduce(function (a, e) { return a + e[k]; }, 0) / w.length;
    });
    return point;
  }

  // groups: {label: edgeFilter(edge) -> bool}; charts: [{div, signals: [...], title}]
  function start(options) {
    const groups = options.groups; // {name: function(edge) -> bool}
    const charts = options.charts;
    let series = null; // {timestamps: [], groups: {name: {signal: []}}}

    function render() {
      charts.forEach(function (chart) {
        const traces = [];
        Object.keys(series.groups).forEach(function (group) {
          if (chart.prefix && group.indexOf(chart.prefix) !== 0) return;
          chart.signals.forEach(function (signal) {
            traces.push({ x: series.timestamps, y: series.groups[group][signal], type: "scatter", mode: "lines",
                          name: group + (chart.signals.length > 1 ? " " + signal.replace("_ms", "") : "") });
          });
        });
        const layout = { title: { text: chart.title, font: { size: 13 } }, margin: { l: 45, r: 10, t: 30, b: 35 },
          uirevision: "series", legend: { orientation: "h" } };
        // Extra layout (e.g. route-change markers) from the page.
        if (options.layout) Object.assign(layout, options.layout(chart));
        Plotly.react(chart.div, traces, layout, { displaylogo: false, responsive: true });
      });
    }

    fetch(options.url).then(function (r) { return r.json(); }).then(function (initial) {
      series = options.fromApi(initial);
      render();
      MeshscopeLive.connectTopology({
        onEvent: function (message) {
          if (message.type !== "topology.updated" || !series) return;
          const map = message.data.map;
          const last = series.timestamps[series.timestamps.length - 1];
          if (last && last.getTime() >= map.taken_at * 1000) return;
          series.timestamps.push(new Date(map.taken_at * 1000));
          Object.keys(series.groups).forEach(function (group) {
            const point = combine(map.edges.filter(groups[group]));
            SIGNALS.forEach(function (s) { series.groups[group][s].push(point[s]); });
          });
          render();
        },
      });
    });
    return { render: function () { if (series) render(); } };
  }

  window.MeshscopeSeries = { start: start, combine: combine, SIGNALS: SIGNALS };
})();
