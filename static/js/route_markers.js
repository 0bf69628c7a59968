// Route-change markers on a service's charts: a dashed vertical line at every revision touching
// the service (loaded from /api/routes/revisions, then live from `routes.changed`), and the
// golden signals of the minutes before vs after each change (/api/routes/revisions/<id>/impact).
// Usage: const markers = MeshscopeRouteMarkers.watch("reviews", onUpdate); pass markers.layout to
// MeshscopeSeries.start({layout: ...}); onUpdate is called whenever markers change.
(function () {
  "use strict";

  function watch(service, onUpdate) {
    const state = { revisions: [] };

    function changed() {
      document.body.dataset.routeMarkers = String(state.revisions.length);
      if (onUpdate) onUpdate(state.revisions);
    }

    function layout() {
      return {
        shapes: state.revisions.map(function (r) {
          return { type: "line", xref: "x", yref: "paper", x0: r.created_at, x1: r.created_at, y0: 0, y1: 1,
                   line: { color: "#7b1fa2", width: 1.5, dash: "dash" }, name: "revision " + r.id };
        }),
        annotations: state.revisions.map(function (r) {
          return { x: r.created_at, xref: "x", y: 1, yref: "paper", text: "#" + r.id, showarrow: false,
                   font: { size: 10, color: "#7b1fa2" }, yanchor: "bottom" };
        }),
      };
    }

    fetch("/api/routes/revisions?limit=50&service=" + encodeURIComponent(service))
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (body) { state.revisions = body.items; changed(); })
      .catch(function () { /* markers are an extra: the charts work without them */ });

    MeshscopeLive.connect("/ws/routes/", {
      onEvent: function (message) {
        if (message.type !== "routes.changed") return;
        (message.data.revisions || []).forEach(function (r) {
          if ((r.services || []).indexOf(service) >= 0 && !state.revisions.some(function (x) { return x.id === r.id; })) {
            state.revisions.unshift(r);
          }
        });
        changed();
      },
    });
    return { layout: layout, state: state };
  }

  window.MeshscopeRouteMarkers = { watch: watch };
})();

// The before/after table of a service page: golden signals around each of the latest changes.
(function () {
  "use strict";
  const fmt = function (v, unit) { return v === null || v === undefined ? "–" : (Math.round(v * 100) / 100) + unit; };

  function show(divId, service, revisions) {
    const div = document.getElementById(divId);
    if (!div || !revisions.length) return;
    const latest = revisions.slice(0, 5);
    Promise.all(latest.map(function (r) {
      return fetch("/api/routes/revisions/" + r.id + "/impact?minutes=5&service=" + encodeURIComponent(service))
        .then(function (res) { return res.ok ? res.json() : null; });
    })).then(function (impacts) {
      const rows = impacts.map(function (m, i) {
        const r = latest[i];
        if (!m) return "";
        const b = m.before.inbound.all || {}, a = m.after.inbound.all || {};
        const link = '<a href="/routes/revisions/' + r.id + '/">#' + r.id + "</a>";
        return "<tr><td>" + link + "</td><td>" + new Date(r.created_at).toLocaleTimeString() + "</td><td>" +
          (r.kind + " " + r.name + " " + r.action).replace(/</g, "&lt;") + "</td><td>" + (r.user || r.source) + "</td>" +
          "<td>" + fmt(b.rps, "") + " → " + fmt(a.rps, "") + "</td><td>" + fmt(b.error_pct, "%") + " → " + fmt(a.error_pct, "%") +
          "</td><td>" + fmt(b.p95_ms, " ms") + " → " + fmt(a.p95_ms, " ms") + "</td></tr>";
      }).join("");
      div.innerHTML = '<table class="impact"><tr><th>change</th><th>when</th><th>what</th><th>who</th>' +
        "<th>req/s before → after</th><th>errors</th><th>p95</th></tr>" + rows + "</table>" +
        '<p class="muted">Inbound golden signals averaged over the 5 minutes before vs after each change (so far).</p>';
    });
  }

  window.MeshscopeRouteImpact = { show: show };
})();
