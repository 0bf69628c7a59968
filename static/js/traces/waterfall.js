// The waterfall: one row per visible span, rendered virtually. Rows have a fixed height and sit
// absolutely positioned in a spacer as tall as all rows together; only the rows in the viewport
// (plus a few) exist in the DOM, so a 200,000-span trace costs what a screenful costs.
(function (root) {
  "use strict";
  const T = root.MeshscopeTraces;
  const ROW_HEIGHT = 24;
  const OVERSCAN = 12;
  const INDENT_PX = 12;
  const MAX_INDENT_LEVELS = 24;

  /**
   * Attach to `scroller` (a fixed-height element with overflow: auto). handlers: {onSelect(pos),
   * onToggle(pos), onReroot(pos)}, positions are indices into the rows last given to update().
   */
  function create(scroller, handlers) {
    const spacer = document.createElement("div");
    spacer.className = "wf-spacer";
    scroller.appendChild(spacer);
    const pool = [];
    let model = null;
    let pending = false;
    let renders = 0;

    function makeRow() {
      const row = document.createElement("div");
      row.className = "wf-row";
      row.innerHTML = '<div class="wf-label"><span class="wf-toggle"></span><span class="wf-svc"></span>' +
        '<span class="wf-op"></span></div><div class="wf-track"><div class="wf-bar"></div>' +
        '<span class="wf-dur"></span></div>';
      spacer.appendChild(row);
      return {
        el: row, label: row.firstChild, toggle: row.firstChild.childNodes[0], svc: row.firstChild.childNodes[1],
        op: row.firstChild.childNodes[2], bar: row.lastChild.firstChild, dur: row.lastChild.lastChild,
      };
    }

    /**
     * model: {index, rows (Int32Array), view: [startUs, endUs], colourOf, folded(i), marks:
     * {critical, search, tag} (Uint8Array or null), selected: row position or -1, baseDepth}.
     */
    function update(next) {
      model = next;
      spacer.style.height = model.rows.length * ROW_HEIGHT + "px";
      render();
    }

    function schedule() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; render(); });
    }

    function render() {
      if (!model) return;
      const rows = model.rows;
      const range = T.layout.windowRange(scroller.scrollTop, scroller.clientHeight, ROW_HEIGHT, rows.length, OVERSCAN);
      const needed = range[1] - range[0];
      while (pool.length < needed) pool.push(makeRow());
      const index = model.index;
      const marks = model.marks || {};
      const view = model.view;
      for (let k = 0; k < pool.length; k++) {
        const cell = pool[k];
        const pos = range[0] + k;
        if (k >= needed) { cell.el.style.display = "none"; continue; }
        const i = rows[pos];
        const span = index.spans[i];
        const depth = index.depth[i] - (model.baseDepth || 0);
        cell.el.style.display = "";
        cell.el.style.transform = "translateY(" + pos * ROW_HEIGHT + "px)";
        cell.el.dataset.pos = pos;
        cell.el.dataset.spanId = span.spanId;
        let cls = "wf-row";
        if (span.error) cls += " is-error";
        if (marks.critical && marks.critical[i]) cls += " is-critical";
        if (marks.search && marks.search[i]) cls += " is-match";
        if (marks.tag && marks.tag[i]) cls += " is-tagged";
        if (pos === model.selected) cls += " is-selected";
        cell.el.className = cls;
        cell.label.style.paddingLeft = Math.min(depth, MAX_INDENT_LEVELS) * INDENT_PX + 4 + "px";
        cell.toggle.textContent = T.layout.hasChildren(index, i) ? (model.folded(i) ? "▸" : "▾") : "";
        cell.svc.textContent = (depth > MAX_INDENT_LEVELS ? "⋯" + depth + " " : "") + span.service;
        cell.svc.style.color = model.colourOf(span.service);
        cell.op.textContent = span.name;
        const geometry = T.layout.bar(index.start[i], index.duration[i], view[0], view[1]);
        cell.bar.style.left = geometry.left * 100 + "%";
        cell.bar.style.width = geometry.width * 100 + "%";
        cell.bar.style.background = model.colourOf(span.service);
        cell.dur.textContent = T.format.duration(index.duration[i]);
        cell.dur.style.left = Math.min(geometry.left + geometry.width, 0.9) * 100 + "%";
      }
      renders++;
      scroller.dataset.renders = renders;
      scroller.dataset.firstRow = range[0];
    }

    /** Scroll so row `pos` is in view (centred when it was out of view). */
    function reveal(pos) {
      const top = pos * ROW_HEIGHT;
      if (top < scroller.scrollTop || top + ROW_HEIGHT > scroller.scrollTop + scroller.clientHeight) {
        scroller.scrollTop = Math.max(0, top - scroller.clientHeight / 2);
      }
      render();
    }

    function rowPos(event) {
      const row = event.target.closest(".wf-row");
      return row ? Number(row.dataset.pos) : -1;
    }

    scroller.addEventListener("scroll", schedule, { passive: true });
    window.addEventListener("resize", schedule);
    scroller.addEventListener("click", function (event) {
      const pos = rowPos(event);
      if (pos < 0) return;
      if (event.target.classList.contains("wf-toggle") && event.target.textContent) handlers.onToggle(pos);
      else handlers.onSelect(pos);
    });
    scroller.addEventListener("dblclick", function (event) {
      const pos = rowPos(event);
      if (pos >= 0) handlers.onReroot(pos);
    });
    return { update: update, render: render, reveal: reveal, ROW_HEIGHT: ROW_HEIGHT };
  }

  T.waterfall = { create: create, ROW_HEIGHT: ROW_HEIGHT };
})(typeof window !== "undefined" ? window : globalThis);
