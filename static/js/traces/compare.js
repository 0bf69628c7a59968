// The compare page: two traces side by side as one merged tree of "service:operation" paths from
// the root, marking paths present in only one, and the paths whose durations differ most.
// `mergedRows` and `biggestDiffs` are pure.
(function (root) {
  "use strict";
  const T = root.MeshscopeTraces;
  const $ = function (id) { return document.getElementById(id); };
  const SEPARATOR = " > ";

  /**
   * One row per path in either trace, in tree order (a path sorts right after its parent path):
   * {key, depth, label, side: "both"|"a"|"b", a_us, b_us, diff_us}. Durations are null where a
   * path is absent.
   */
  function mergedRows(result) {
    const rows = [];
    (result.both || []).forEach(function (r) { rows.push({ key: r.key, side: "both", a_us: r.a_us, b_us: r.b_us, diff_us: r.diff_us }); });
    (result.onlyA || []).forEach(function (key) { rows.push({ key: key, side: "a", a_us: null, b_us: null, diff_us: null }); });
    (result.onlyB || []).forEach(function (key) { rows.push({ key: key, side: "b", a_us: null, b_us: null, diff_us: null }); });
    rows.forEach(function (r) {
      const parts = r.key.split(SEPARATOR);
      r.parts = parts;
      r.depth = parts.length - 1;
      r.label = parts[parts.length - 1];
    });
    // Comparing path segments one by one keeps children right under their parent.
    rows.sort(function (x, y) {
      const n = Math.min(x.parts.length, y.parts.length);
      for (let k = 0; k < n; k++) {
        if (x.parts[k] !== y.parts[k]) return x.parts[k] < y.parts[k] ? -1 : 1;
      }
      return x.parts.length - y.parts.length;
    });
    rows.forEach(function (r) { delete r.parts; });
    return rows;
  }

  /** The `count` paths (present in both) whose durations differ most, largest |diff| first. */
  function biggestDiffs(result, count) {
    return (result.both || []).slice().sort(function (x, y) {
      return Math.abs(y.diff_us) - Math.abs(x.diff_us);
    }).slice(0, count);
  }

  function td(tr, text, className) {
    const cell = document.createElement("td");
    if (className) cell.className = className;
    if (text instanceof Node) cell.appendChild(text); else cell.textContent = text;
    tr.appendChild(cell);
  }

  function summaryBox(box, summary, label) {
    const f = T.format;
    box.textContent = "";
    const h = document.createElement("h2");
    const link = document.createElement("a");
    link.href = summary.url || "#";
    link.textContent = label + ": " + (summary.rootService || "?") + ": " + (summary.rootOperation || "");
    h.appendChild(link);
    box.appendChild(h);
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = summary.traceId + " · " + (summary.start_us ? f.timestamp(summary.start_us) + " · " : "") +
      f.duration(summary.duration_us) + " · " + summary.spanCount + " spans" + (summary.errorCount ? " · " + summary.errorCount + " errors" : "");
    box.appendChild(p);
  }

  function render(result) {
    const f = T.format;
    summaryBox($("summary-a"), result.a, "A");
    summaryBox($("summary-b"), result.b, "B");
    const tree = $("compare-tree");
    tree.textContent = "";
    mergedRows(result).forEach(function (r) {
      const tr = document.createElement("tr");
      tr.className = "side-" + r.side;
      tr.dataset.key = r.key;
      const name = document.createElement("span");
      name.style.paddingLeft = Math.min(r.depth, 24) * 14 + "px";
      name.textContent = r.label;
      td(tr, name, "path");
      td(tr, r.side === "b" ? "—" : r.side === "a" ? "only in A" : f.duration(r.a_us), "num");
      td(tr, r.side === "a" ? "—" : r.side === "b" ? "only in B" : f.duration(r.b_us), "num");
      td(tr, r.diff_us == null ? "" : (r.diff_us > 0 ? "+" : "") + f.duration(r.diff_us), "num " + (r.diff_us > 0 ? "slower" : r.diff_us < 0 ? "faster" : ""));
      tree.appendChild(tr);
    });
    $("only-counts").textContent = (result.onlyA || []).length + " paths only in A, " + (result.onlyB || []).length + " only in B, " + (result.both || []).length + " in both";
    const diffs = $("compare-diffs");
    diffs.textContent = "";
    const top = biggestDiffs(result, 20);
    const widest = top.length ? Math.abs(top[0].diff_us) || 1 : 1;
    top.forEach(function (r) {
      const tr = document.createElement("tr");
      td(tr, r.key, "path");
      td(tr, f.duration(r.a_us), "num");
      td(tr, f.duration(r.b_us), "num");
      const bar = document.createElement("span");
      bar.className = "diffbar " + (r.diff_us > 0 ? "slower" : "faster");
      bar.style.width = (Math.abs(r.diff_us) / widest) * 120 + "px";
      const cell = document.createElement("span");
      cell.appendChild(bar);
      cell.appendChild(document.createTextNode(" " + (r.diff_us > 0 ? "+" : "") + f.duration(r.diff_us)));
      td(tr, cell, "num");
      diffs.appendChild(tr);
    });
    document.body.dataset.compareReady = "1";
  }

  function start(config) {
    fetch(config.api, { headers: { Accept: "application/json" } }).then(function (response) {
      return response.json().then(function (body) { return [response, body]; });
    }).then(function (pair) {
      if (!pair[0].ok) {
        $("compare-error").textContent = pair[1].error || "HTTP " + pair[0].status;
        $("compare-error").hidden = false;
        return;
      }
      render(pair[1]);
    }).catch(function (error) {
      $("compare-error").textContent = "The dashboard did not answer: " + error;
      $("compare-error").hidden = false;
    });
  }

  T.compare = { start: start, mergedRows: mergedRows, biggestDiffs: biggestDiffs };
})(typeof window !== "undefined" ? window : globalThis);
