// Health page: re-measures every few seconds by fetching the report's tables (?fragment=1) and
// swapping them in; a failed fetch keeps the last tables and says so, and the badge turns stale.
(function () {
  "use strict";
  const REFRESH_MS = 3000;
  const target = document.getElementById("health-report");
  if (!target) return;
  const feed = window.MeshscopeLive ? window.MeshscopeLive.polled("health") : { ok: function () {}, failed: function () {} };
  // The page was rendered with a fresh report.
  feed.ok();

  function refresh() {
    fetch(location.pathname + "?fragment=1", { headers: { Accept: "text/html" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        target.innerHTML = html;
        target.dataset.refreshedAt = String(Date.now());
        feed.ok();
      })
      .catch(function (error) {
        feed.failed();
        const status = document.getElementById("health-status");
        if (status) status.textContent = "Could not refresh the report: " + error.message;
      })
      .finally(function () { setTimeout(refresh, REFRESH_MS); });
  }
  setTimeout(refresh, REFRESH_MS);
})();
