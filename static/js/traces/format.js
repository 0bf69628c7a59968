// Pure formatting helpers shared by the trace pages (no DOM). Times in the trace API are
// microseconds (Zipkin's unit); these turn them into what a person reads.
(function (root) {
  "use strict";

  // Twelve colours that stay apart on a white background; services get them in the order the
  // trace lists them, so one trace always colours the same service the same way.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#843c39"];

  /** Duration in µs -> "850 µs", "12.3 ms", "1.25 s", "2 min 5 s". */
  function duration(us) {
    if (us == null || !isFinite(us)) return "–";
    const abs = Math.abs(us);
    if (abs < 1000) return Math.round(us) + " µs";
    if (abs < 1e6) return trim(us / 1000, abs < 1e4 ? 2 : 1) + " ms";
    if (abs < 60e6) return trim(us / 1e6, 2) + " s";
    const minutes = Math.floor(abs / 60e6);
    return (us < 0 ? "-" : "") + minutes + " min " + Math.round((abs - minutes * 60e6) / 1e6) + " s";
  }

  function trim(value, digits) {
    return String(Number(value.toFixed(digits)));
  }

  /** Epoch µs -> local "YYYY-MM-DD HH:MM:SS.mmm". */
  function timestamp(us) {
    const d = new Date(us / 1000);
    const pad = function (n, w) { return String(n).padStart(w || 2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" +
      pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }

  /** A function service name -> colour, stable for the given list of names. */
  function serviceColours(names) {
    const map = new Map();
    (names || []).forEach(function (name, i) { map.set(name, PALETTE[i % PALETTE.length]); });
    return function (name) {
      if (!map.has(name)) map.set(name, PALETTE[map.size % PALETTE.length]);
      return map.get(name);
    };
  }

  /** The sidecar (workload) a span was recorded by, from Envoy's `node_id` tag
   * ("sidecar~10.0.0.1~reviews-v1.default~default.svc.cluster.local" -> "reviews-v1"), or null. */
  function sidecarName(tags) {
    const node = tags && tags.node_id;
    if (!node) return null;
    const parts = String(node).split("~");
    if (parts.length < 3 || !parts[2]) return null;
    return parts[2].split(".")[0] || null;
  }

  /** The mesh service of a span's service name: Envoy reports "<service>.<namespace>"
   * ("reviews.default" -> "reviews"); a name without a namespace is kept. */
  function meshService(name) {
    const text = String(name || "");
    const dot = text.indexOf(".");
    return dot > 0 ? text.slice(0, dot) : text;
  }

  /** Percent with one decimal: 0.1234 -> "12.3 %". */
  function percent(fraction) {
    return (Math.round(fraction * 1000) / 10).toFixed(1) + " %";
  }

  root.MeshscopeTraces = root.MeshscopeTraces || {};
  root.MeshscopeTraces.format = {
    duration: duration, timestamp: timestamp, serviceColours: serviceColours, sidecarName: sidecarName,
    meshService: meshService, percent: percent, PALETTE: PALETTE,
  };
})(typeof window !== "undefined" ? window : globalThis);
