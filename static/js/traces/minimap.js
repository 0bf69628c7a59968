// The minimap above the waterfall: every span of the (re-rooted) trace drawn on a canvas, the
// zoomed time window shaded, and drag-to-zoom. `zoomWindow` is the pure part.
(function (root) {
  "use strict";

  /**
   * The time window (µs) a drag from x0 to x1 (px, either order) selects on a minimap `width` px wide
   * that shows [fullStart, fullEnd]. A drag shorter than `minPx` selects nothing (null): that is a click.
   */
  function zoomWindow(x0, x1, width, fullStart, fullEnd, minPx) {
    const lo = Math.max(0, Math.min(x0, x1));
    const hi = Math.min(width, Math.max(x0, x1));
    if (hi - lo < (minPx == null ? 3 : minPx)) return null;
    const span = fullEnd - fullStart;
    return [fullStart + (span * lo) / width, fullStart + (span * hi) / width];
  }

  /**
   * Attach to a canvas. options: {onZoom(startUs, endUs)}; call draw(index, rows, colourOf,
   * full, view) after every change (full/view: [startUs, endUs]).
   */
  function create(canvas, options) {
    const ctx = canvas.getContext("2d");
    let full = [0, 1];
    let dragFrom = null;
    let dragTo = null;
    let last = null;

    function resize() {
      const ratio = window.devicePixelRatio || 1;
      const width = canvas.clientWidth;
      const height = canvas.clientHeight;
      if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
        canvas.width = Math.round(width * ratio);
        canvas.height = Math.round(height * ratio);
      }
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      return [width, height];
    }

    function draw(index, rows, colourOf, fullWindow, view) {
      last = [index, rows, colourOf, fullWindow, view];
      full = fullWindow;
      const size = resize();
      const width = size[0];
      const height = size[1];
      ctx.clearRect(0, 0, width, height);
      const n = rows.length;
      if (!n) return;
      const span = Math.max(1, full[1] - full[0]);
      const rowH = Math.max(height / n, 0.5);
      // Many rows share a pixel row in large traces: colour runs are drawn as they come, the last
      // span of a pixel row wins, which is what the eye can resolve anyway.
      for (let k = 0; k < n; k++) {
        const i = rows[k];
        const x = ((index.start[i] - full[0]) / span) * width;
        const w = Math.max((index.duration[i] / span) * width, 1);
        ctx.fillStyle = colourOf(index.spans[i].service);
        ctx.fillRect(x, (k / n) * height, w, Math.max(rowH, 1));
      }
      if (view && (view[0] > full[0] || view[1] < full[1])) {
        ctx.fillStyle = "rgba(40, 40, 60, 0.25)";
        const a = ((view[0] - full[0]) / span) * width;
        const b = ((view[1] - full[0]) / span) * width;
        ctx.fillRect(0, 0, a, height);
        ctx.fillRect(b, 0, width - b, height);
      }
      if (dragFrom !== null && dragTo !== null) {
        ctx.fillStyle = "rgba(31, 119, 180, 0.25)";
        ctx.fillRect(Math.min(dragFrom, dragTo), 0, Math.abs(dragTo - dragFrom), height);
      }
    }

    function x(event) {
      const rect = canvas.getBoundingClientRect();
      return event.clientX - rect.left;
    }

    canvas.addEventListener("mousedown", function (event) {
      dragFrom = x(event);
      dragTo = dragFrom;
      event.preventDefault();
    });
    window.addEventListener("mousemove", function (event) {
      if (dragFrom === null) return;
      dragTo = x(event);
      if (last) draw.apply(null, last);
    });
    window.addEventListener("mouseup", function (event) {
      if (dragFrom === null) return;
      const selected = zoomWindow(dragFrom, x(event), canvas.clientWidth, full[0], full[1]);
      dragFrom = null;
      dragTo = null;
      if (selected) options.onZoom(selected[0], selected[1]);
      else if (last) draw.apply(null, last);
    });
    return { draw: draw };
  }

  root.MeshscopeTraces = root.MeshscopeTraces || {};
  root.MeshscopeTraces.minimap = { zoomWindow: zoomWindow, create: create };
})(typeof window !== "undefined" ? window : globalThis);
