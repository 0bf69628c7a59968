// Golden-signal time series of a service or workload: loads /api/.../metrics (rates over the
// sliding window the API states as window_s), then extends the charts live from each
// topology.updated event over the same window. `edgeTotals`, `pointOf` and `windowed` mirror
// dashboard/services/metrics.py.
(function () {
  "use strict";
  const SIGNALS = ["rps", "error_pct", "error_5xx_pct", "p50_ms", "p95_ms", "p99_ms"];
  const RATE_CLASSES = ["rps", "rps_2xx", "rps_3xx", "rps_4xx", "rps_5xx"];
  const LATENCIES = ["p50_ms", "p95_ms", "p99_ms"];
  // One color per version or destination (same order on every chart), one dash per quantile.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const DASH = { p50_ms: "dot", p95_ms: "solid", p99_ms: "dash" };
  const has = function (v) { return v !== null && v !== undefined; };

  // Summed rates of edges (null when no edge has a rate): {rps, rps_2xx.., latency: {k: [Σv·w, Σw, Σv, n]}}.
  function edgeTotals(edges) {
    edges = edges.filter(function (e) { return has(e.rps); });
    if (!edges.length) return null;
    const totals = { latency: {} };
    RATE_CLASSES.forEach(function (k) { totals[k] = edges.reduce(function (a, e) { return a + (e[k] || 0); }, 0); });
    LATENCIES.forEach(function (k) {
      const w = edges.filter(function (e) { return has(e[k]); });
      if (!w.length) return;
      totals.latency[k] = [
        w.reduce(function (a, e) { return a + e[k] * e.rps; }, 0),
        w.reduce(function (a, e) { return a + e.rps; }, 0),
        w.reduce(function (a, e) { return a + e[k]; }, 0),
        w.length,
      ];
    });
    return totals;
  }

  function pointOf(totals) {
    const point = {};
    if (!totals) { SIGNALS.forEach(function (s) { point[s] = null; }); return point; }
    const completed = totals.rps_2xx + totals.rps_3xx + totals.rps_4xx + totals.rps_5xx;
    const base = Math.max(totals.rps, completed);
    point.rps = totals.rps;
    point.error_pct = base ? 100 * (totals.rps_4xx + totals.rps_5xx) / base : 0;
    point.error_5xx_pct = base ? 100 * totals.rps_5xx / base : 0;
    LATENCIES.forEach(function (k) {
      const l = totals.latency[k];
      point[k] = !l ? null : (l[1] > 0 ? l[0] / l[1] : l[2] / l[3]);
    });
    return point;
  }

  function combine(edges) { return pointOf(edgeTotals(edges)); }

  // The point over samples [{t, dt, totals}] (all inside one window): counts / seconds covered.
  function windowed(samples) {
    const sums = { latency: {} };
    let seconds = 0;
    RATE_CLASSES.forEach(function (k) { sums[k] = 0; });
    samples.forEach(function (s) {
      if (!s.totals || !(s.dt > 0)) return;
      seconds += s.dt;
      RATE_CLASSES.forEach(function (k) { sums[k] += s.totals[k] * s.dt; });
      Object.keys(s.totals.latency).forEach(function (k) {
        const l = s.totals.latency[k];
        const into = sums.latency[k] || (sums.latency[k] = [0, 0, 0, 0]);
        into[0] += l[0] * s.dt; into[1] += l[1] * s.dt; into[2] += l[2]; into[3] += l[3];
      });
    });
    if (!(seconds > 0)) return pointOf(null);
    const rates = { latency: {} };
    RATE_CLASSES.forEach(function (k) { rates[k] = sums[k] / seconds; });
    Object.keys(sums.latency).forEach(function (k) {
      const l = sums.latency[k];
      rates.latency[k] = [l[0] / seconds, l[1] / seconds, l[2], l[3]];
    });
    return pointOf(rates);
  }

  // The rates a windowed API point stands for, to fill the part of the window live events do not
  // cover yet after the page loads (an approximation: the point's classes and latencies as one sample).
  function totalsOfPoint(point) {
    if (!point || !has(point.rps)) return null;
    const errors = point.rps * (point.error_pct || 0) / 100, e5 = point.rps * (point.error_5xx_pct || 0) / 100;
    const totals = { rps: point.rps, rps_2xx: point.rps - errors, rps_3xx: 0, rps_4xx: errors - e5, rps_5xx: e5,
                     latency: {} };
    LATENCIES.forEach(function (k) { if (has(point[k])) totals.latency[k] = [point[k] * point.rps, point.rps, point[k], 1]; });
    return totals;
  }

  function windowLabel(seconds) {
    return seconds ? seconds + " s sliding window" : "per poll";
  }

  // Legend name and style of one line: groups "in v1" / "out ratings" lose the chart's prefix.
  function lineOf(chart, group, signal, colors) {
    const label = chart.prefix && group.indexOf(chart.prefix) === 0 ? group.slice(chart.prefix.length) : group;
    const name = (label || group) + (chart.signals.length > 1 ? " " + signal.replace("_ms", "") : "");
    // Keyed by the label, so v2 has one color on the inbound and the outbound charts alike.
    const key = label || group;
    if (!(key in colors)) colors[key] = PALETTE[Object.keys(colors).length % PALETTE.length];
    return { name: name, legendgroup: group,
             line: { color: colors[key], width: group.indexOf(" all") >= 0 ? 3 : 2, dash: DASH[signal] || "solid" } };
  }

  // groups: {label: edgeFilter(edge) -> bool}; charts: [{div, signals: [...], title, prefix}]
  function start(options) {
    const groups = options.groups; // {name: function(edge) -> bool}
    const charts = options.charts;
    const colors = {};
    let series = null; // {timestamps: [], groups: {name: {signal: []}}}
    let windowS = 0;
    const recent = {}; // group -> [{t, dt, totals}] of live events inside the window
    let seeds = {}; // group -> {t, totals}: the API's last point

    function render() {
      charts.forEach(function (chart) {
        const traces = [];
        Object.keys(series.groups).forEach(function (group) {
          if (chart.prefix && group.indexOf(chart.prefix) !== 0) return;
          chart.signals.forEach(function (signal) {
            traces.push(Object.assign({ x: series.timestamps, y: series.groups[group][signal], type: "scatter",
                                        mode: "lines" }, lineOf(chart, group, signal, colors)));
          });
        });
        const layout = {
          title: { text: chart.title + " · " + windowLabel(windowS), font: { size: 13 } },
          margin: { l: 45, r: 10, t: 30, b: 35 },
          uirevision: "series",
          legend: { orientation: "h", x: 0, y: -0.22, font: { size: 11 }, traceorder: "grouped" },
          // Times only: Plotly's second tick line (the date) ran into legends of three rows.
          xaxis: { tickformat: "%H:%M:%S" },
        };
        // Extra layout (e.g. route-change markers) from the page.
        if (options.layout) Object.assign(layout, options.layout(chart));
        Plotly.react(chart.div, traces, layout, { displaylogo: false, responsive: true });
      });
    }

    function extend(map) {
      const t = map.taken_at;
      const last = series.timestamps[series.timestamps.length - 1];
      if (last && last.getTime() >= t * 1000) return;
      const dt = has(map.interval_s) ? map.interval_s : (last ? t - last.getTime() / 1000 : 0);
      series.timestamps.push(new Date(t * 1000));
      Object.keys(series.groups).forEach(function (group) {
        const sample = { t: t, dt: dt, totals: edgeTotals(map.edges.filter(groups[group])) };
        let point;
        if (!windowS) {
          point = pointOf(sample.totals);
        } else {
          const inside = (recent[group] || []).concat([sample]).filter(function (s) { return s.t > t - windowS; });
          recent[group] = inside;
          const covered = inside.reduce(function (a, s) { return a + (s.totals && s.dt > 0 ? s.dt : 0); }, 0);
          const seed = seeds[group];
          const samples = inside.slice();
          if (seed && seed.totals && seed.t > t - windowS && covered < windowS) {
            samples.push({ t: seed.t, dt: Math.min(windowS - covered, windowS - (t - seed.t)), totals: seed.totals });
          }
          point = windowed(samples);
        }
        SIGNALS.forEach(function (s) { series.groups[group][s].push(point[s]); });
      });
      render();
    }

    fetch(options.url).then(function (r) {
      if (!r.ok) throw new Error("metrics: HTTP " + r.status);
      return r.json();
    }).then(function (initial) {
      windowS = initial.window_s || 0;
      series = options.fromApi(initial);
      const n = series.timestamps.length;
      seeds = {};
      if (n) {
        Object.keys(series.groups).forEach(function (group) {
          const point = {};
          SIGNALS.forEach(function (s) { point[s] = series.groups[group][s][n - 1]; });
          seeds[group] = { t: series.timestamps[n - 1].getTime() / 1000, totals: totalsOfPoint(point) };
        });
      }
      render();
      MeshscopeLive.connectTopology({
        onEvent: function (message) {
          if (message.type !== "topology.updated" || !series) return;
          extend(message.data.map);
        },
      });
    }).catch(function (error) {
      charts.forEach(function (chart) {
        const div = document.getElementById(chart.div);
        if (div) div.textContent = "unavailable: " + error.message;
      });
    });
    return { render: function () { if (series) render(); } };
  }

  window.MeshscopeSeries = {
    start: start, combine: combine, edgeTotals: edgeTotals, pointOf: pointOf, windowed: windowed,
    windowLabel: windowLabel, SIGNALS: SIGNALS,
  };
})();
