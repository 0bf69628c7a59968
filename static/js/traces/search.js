// The search page: results of the URL's search from the API as a scatter (start × duration, size by
// span count, errors red, click opens) and a sortable list, with the live tail on top. The form
// itself is plain HTML (GET), so the search always lives in the URL. `sortSummaries`, `params` and
// `scatterTraces` are pure.
(function (root) {
  "use strict";
  const T = root.MeshscopeTraces;
  const $ = function (id) { return document.getElementById(id); };
  const TAIL_CAP = 200;
  const SORTS = {
    recent: function (a, b) { return b.start_us - a.start_us; },
    longest: function (a, b) { return b.duration_us - a.duration_us || b.start_us - a.start_us; },
    spans: function (a, b) { return b.spanCount - a.spanCount || b.start_us - a.start_us; },
    errors: function (a, b) { return b.errorCount - a.errorCount || b.start_us - a.start_us; },
  };

  /** A sorted copy of summaries by one of the API's sort orders (unknown -> recent). */
  function sortSummaries(summaries, sort) {
    return summaries.slice().sort(SORTS[sort] || SORTS.recent);
  }

  /** The non-empty search parameters of a query string as an object (what the tail subscribes with). */
  function params(search) {
    const out = {};
    new URLSearchParams(search).forEach(function (value, key) { if (value !== "") out[key] = value; });
    return out;
  }

  /** Plotly traces for summaries: one for traces without errors, one (red) for traces with errors. */
  function scatterTraces(summaries) {
    function trace(name, colour, rows) {
      return {
        type: "scattergl", mode: "markers", name: name,
        x: rows.map(function (s) { return new Date(s.start_us / 1000); }),
        y: rows.map(function (s) { return s.duration_us / 1000; }),
        text: rows.map(function (s) { return s.rootService + ": " + s.rootOperation + "<br>" + s.spanCount + " spans" + (s.errorCount ? ", " + s.errorCount + " errors" : ""); }),
        customdata: rows.map(function (s) { return s.url; }),
        hovertemplate: "%{text}<br>%{y:.1f} ms<extra></extra>",
        marker: { color: colour, opacity: 0.75, size: rows.map(function (s) { return Math.min(40, 6 + 3 * Math.sqrt(s.spanCount)); }) },
      };
    }
    return [
      trace("traces", "#1f77b4", summaries.filter(function (s) { return !s.errorCount; })),
      trace("with errors", "#d62728", summaries.filter(function (s) { return s.errorCount; })),
    ];
  }

  function start(config) {
    const f = T.format;
    const query = params(location.search);
    const buffer = new T.tail.TailBuffer(TAIL_CAP);
    let sort = query.sort || "recent";
    const fresh = new Set();
    const selected = [];

    function cell(row, text, className) {
      const td = document.createElement("td");
      if (className) td.className = className;
      if (text instanceof Node) td.appendChild(text); else td.textContent = text;
      row.appendChild(td);
      return td;
    }

    function renderList() {
      const body = $("results-body");
      body.textContent = "";
      const rows = fresh.size ? buffer.rows : sortSummaries(buffer.rows, sort);
      rows.forEach(function (s) {
        const tr = document.createElement("tr");
        tr.dataset.traceId = s.traceId;
        if (fresh.has(s.traceId)) tr.className = "is-new";
        if (s.errorCount) tr.classList.add("is-error");
        const pick = document.createElement("input");
        pick.type = "checkbox";
        pick.className = "pick";
        pick.checked = selected.indexOf(s.traceId) >= 0;
        pick.title = "select for compare";
        cell(tr, pick);
        cell(tr, f.timestamp(s.start_us), "nowrap");
        const link = document.createElement("a");
        link.href = s.url;
        link.textContent = s.rootService + ": " + s.rootOperation;
        cell(tr, link);
        cell(tr, f.duration(s.duration_us), "num");
        cell(tr, String(s.spanCount), "num");
        cell(tr, s.errorCount ? String(s.errorCount) : "", "num");
        cell(tr, s.statusCode == null ? "" : String(s.statusCode), "num");
        cell(tr, (s.services || []).map(function (v) { return v.name + " ×" + v.count; }).join(", "), "muted");
        body.appendChild(tr);
      });
      $("result-count").textContent = rows.length + " trace" + (rows.length === 1 ? "" : "s");
      $("results").dataset.rows = rows.length;
      document.querySelectorAll("#results th[data-sort]").forEach(function (th) {
        th.classList.toggle("current", th.dataset.sort === sort && !fresh.size);
      });
    }

    function renderScatter() {
      const div = $("scatter");
      if (!root.Plotly) return;
      root.Plotly.react(div, scatterTraces(buffer.rows), {
        margin: { l: 60, r: 20, t: 10, b: 40 }, showlegend: true, legend: { orientation: "h" },
        yaxis: { title: { text: "duration (ms)" }, rangemode: "tozero" }, xaxis: { type: "date" }, hovermode: "closest",
      }, { displaylogo: false, responsive: true });
      if (!div.dataset.bound) {
        div.dataset.bound = "1";
        div.on("plotly_click", function (event) {
          const point = event.points && event.points[0];
          if (point && point.customdata) location.href = point.customdata;
        });
      }
    }

    function render() { renderList(); renderScatter(); }

    $("results").addEventListener("click", function (event) {
      const th = event.target.closest("th[data-sort]");
      if (th) {
        sort = th.dataset.sort;
        fresh.clear();
        const url = new URL(location.href);
        url.searchParams.set("sort", sort);
        history.replaceState(null, "", url);
        const select = document.querySelector("select[name=sort]");
        if (select) select.value = sort;
        render();
        return;
      }
      if (event.target.classList.contains("pick")) {
        const id = event.target.closest("tr").dataset.traceId;
        const at = selected.indexOf(id);
        if (at >= 0) selected.splice(at, 1); else selected.push(id);
        while (selected.length > 2) selected.shift();
        const button = $("compare");
        button.disabled = selected.length !== 2;
        button.dataset.a = selected[0] || "";
        button.dataset.b = selected[1] || "";
        renderList();
      }
    });
    $("compare").addEventListener("click", function () {
      const url = new URL(config.compare, location.href);
      url.searchParams.set("a", selected[0]);
      url.searchParams.set("b", selected[1]);
      location.href = url;
    });

    const banner = $("tail-status");
    function setBanner(text) { banner.textContent = text || ""; banner.hidden = !text; }

    fetch(config.api + location.search, { headers: { Accept: "application/json" } }).then(function (response) {
      return response.json().then(function (body) { return [response, body]; });
    }).then(function (pair) {
      const response = pair[0];
      const body = pair[1];
      if (!response.ok) {
        $("search-error").textContent = body.error || "HTTP " + response.status;
        $("search-error").hidden = false;
        return;
      }
      if (body.source && !body.source.ok) setBanner("The trace source is down: " + (body.source.error || "no answer"));
      // Tail arrivals during the fetch stay on top of the results.
      const arrived = buffer.rows.slice();
      buffer.seed(arrived.concat(sortSummaries(body.traces || [], sort)));
      render();
      $("results").dataset.loaded = "1";
    }).catch(function (error) {
      $("search-error").textContent = "The dashboard did not answer: " + error;
      $("search-error").hidden = false;
    });

    const pauseButton = $("tail-pause");
    function onTraces(summaries) {
      let changed = false;
      summaries.forEach(function (s) {
        if (buffer.add(s)) { fresh.add(s.traceId); changed = true; }
      });
      $("tail-queued").textContent = buffer.queued.length ? buffer.queued.length + " new while paused" : "";
      if (changed) render();
    }
    pauseButton.addEventListener("click", function () {
      if (buffer.paused) {
        buffer.paused = false;
        const waiting = buffer.queued;
        buffer.queued = [];
        onTraces(waiting);
        pauseButton.textContent = "Pause live tail";
        pauseButton.dataset.state = "live";
      } else {
        buffer.pause();
        pauseButton.textContent = "Resume live tail";
        pauseButton.dataset.state = "paused";
      }
      $("tail-queued").textContent = "";
    });
    T.tail.connect(config.ws, query, {
      onTraces: onTraces,
      onStatus: function (status) { setBanner(T.tail.statusText(status)); },
      onError: function (data) { setBanner("Live tail refused the search: " + ((data && data.error) || "bad parameters")); },
    });
    T.searchpage = { buffer: buffer };
  }

  T.search = { start: start, sortSummaries: sortSummaries, params: params, scatterTraces: scatterTraces, TAIL_CAP: TAIL_CAP };
})(typeof window !== "undefined" ? window : globalThis);
