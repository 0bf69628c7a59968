// Pure waterfall layout (no DOM): which spans are rows, in which order, where their bars go.
//
// Input is the trace API's `spans` list, already in depth-first display order (parents before
// children, siblings by start) with a `depth` on each span. In that order the subtree of span i is
// the contiguous range [i, subtreeEnd[i]), so collapsing, re-rooting, hiding short spans and
// cutting at a depth are all one forward pass that jumps over ranges: O(spans), no recursion
// (a 50,000-span chain is as cheap as a flat trace). Indices are positions in `spans`.
(function (root) {
  "use strict";

  /**
   * Index a trace's spans once: typed arrays of start, duration, depth, parent index and subtree
   * end. `spans` must be in depth-first order with depths (the API's contract); a span whose
   * parent is missing has parent -1.
   */
  function buildIndex(spans) {
    const n = spans.length;
    const start = new Float64Array(n);
    const duration = new Float64Array(n);
    const depth = new Int32Array(n);
    const parent = new Int32Array(n);
    const subtreeEnd = new Int32Array(n);
    const byId = new Map();
    let traceStart = Infinity;
    let traceEnd = -Infinity;
    for (let i = 0; i < n; i++) {
      const s = spans[i];
      start[i] = s.start_us;
      duration[i] = s.duration_us || 0;
      depth[i] = s.depth || 0;
      byId.set(s.spanId, i);
      if (start[i] < traceStart) traceStart = start[i];
      if (start[i] + duration[i] > traceEnd) traceEnd = start[i] + duration[i];
    }
    // Subtree ends from depths with an explicit stack: a span's subtree ends at the first later
    // span that is not deeper than it.
    const stack = new Int32Array(n);
    let top = 0;
    for (let i = 0; i < n; i++) {
      while (top > 0 && depth[stack[top - 1]] >= depth[i]) subtreeEnd[stack[--top]] = i;
      parent[i] = top > 0 ? stack[top - 1] : -1;
      stack[top++] = i;
    }
    while (top > 0) subtreeEnd[stack[--top]] = n;
    if (n === 0) { traceStart = 0; traceEnd = 0; }
    return { n: n, spans: spans, start: start, duration: duration, depth: depth, parent: parent,
      subtreeEnd: subtreeEnd, byId: byId, traceStart: traceStart, traceEnd: traceEnd };
  }

  function hasChildren(index, i) {
    return index.subtreeEnd[i] > i + 1;
  }

  /** [start, end] in µs covered by the subtree of `rootIndex` (children may outlive their parent). */
  function subtreeBounds(index, rootIndex) {
    if (rootIndex < 0) return [index.traceStart, index.traceEnd];
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = rootIndex, end = index.subtreeEnd[rootIndex]; i < end; i++) {
      if (index.start[i] < lo) lo = index.start[i];
      const e = index.start[i] + index.duration[i];
      if (e > hi) hi = e;
    }
    return [lo, hi];
  }

  /**
   * The rows to show, as an Int32Array of span indices, for a view:
   *  - `root`: index to re-root on (only its subtree is shown), -1 for the whole trace;
   *  - `collapsed`: Uint8Array, 1 where a span's children are folded away;
   *  - `maxDepth`: rows deeper than this below the root are folded (null: no limit);
   *  - `minDuration_us`: spans shorter than this are hidden with their subtrees (0: none);
   *    the root row always stays.
   * Returns {rows, hidden} where `hidden` counts spans dropped by the duration filter.
   */
  function visibleRows(index, view) {
    const rootIndex = view.root != null && view.root >= 0 ? view.root : -1;
    const from = rootIndex >= 0 ? rootIndex : 0;
    const to = rootIndex >= 0 ? index.subtreeEnd[rootIndex] : index.n;
    const base = rootIndex >= 0 ? index.depth[rootIndex] : 0;
    const maxDepth = view.maxDepth == null ? Infinity : view.maxDepth;
    const minDuration = view.minDuration_us || 0;
    const collapsed = view.collapsed;
    const rows = new Int32Array(to - from);
    let count = 0;
    let hidden = 0;
    let i = from;
    while (i < to) {
      if (minDuration > 0 && i !== rootIndex && index.duration[i] < minDuration) {
        hidden += index.subtreeEnd[i] - i;
        i = index.subtreeEnd[i];
        continue;
      }
      rows[count++] = i;
      if ((collapsed && collapsed[i]) || index.depth[i] - base >= maxDepth) i = index.subtreeEnd[i];
      else i++;
    }
    return { rows: rows.subarray(0, count), hidden: hidden };
  }

  /** Whether row i shows as folded (a ▸ toggle) in `view`. */
  function isFolded(index, view, i) {
    if (!hasChildren(index, i)) return false;
    if (view.collapsed && view.collapsed[i]) return true;
    const base = view.root != null && view.root >= 0 ? index.depth[view.root] : 0;
    return view.maxDepth != null && index.depth[i] - base >= view.maxDepth;
  }

  /** Unfold every ancestor of span i (so a deep link or a search hit becomes a row). */
  function revealSpan(index, view, i) {
    let p = index.parent[i];
    while (p >= 0) {
      if (view.collapsed) view.collapsed[p] = 0;
      p = index.parent[p];
    }
    if (view.root != null && view.root >= 0 && !(i >= view.root && i < index.subtreeEnd[view.root])) view.root = -1;
    if (view.maxDepth != null) {
      const base = view.root != null && view.root >= 0 ? index.depth[view.root] : 0;
      if (index.depth[i] - base > view.maxDepth) view.maxDepth = index.depth[i] - base;
    }
    if (view.minDuration_us && index.duration[i] < view.minDuration_us) view.minDuration_us = 0;
  }

  /**
   * Rows [first, last) to render for a scroll position, with `overscan` extra rows either side.
   * Fixed row height in px; all arguments numbers.
   */
  function windowRange(scrollTop, viewportHeight, rowHeight, rowCount, overscan) {
    const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
    const last = Math.min(rowCount, Math.ceil((scrollTop + viewportHeight) / rowHeight) + overscan);
    return [first, Math.max(first, last)];
  }

  /**
   * A span's bar as fractions of the time window [viewStart, viewEnd] (µs): {left, width}, clipped
   * to [0, 1]; a bar outside the window has width 0. Zero-length spans get a visible sliver.
   */
  function bar(spanStart, spanDuration, viewStart, viewEnd) {
    const span = Math.max(1, viewEnd - viewStart);
    let left = (spanStart - viewStart) / span;
    let right = (spanStart + spanDuration - viewStart) / span;
    if (right < 0 || left > 1) return { left: Math.min(Math.max(left, 0), 1), width: 0 };
    left = Math.max(0, left);
    right = Math.min(1, right);
    return { left: left, width: Math.max(right - left, 0.001) };
  }

  /** Lower-cased text a span search looks in: service, name, id and every tag as "key=value". */
  function searchText(span) {
    let text = (span.service || "") + "\n" + (span.name || "") + "\n" + span.spanId;
    const tags = span.tags || {};
    for (const key in tags) text += "\n" + key + "=" + tags[key];
    return text.toLowerCase();
  }

  /**
   * Spans matching a search: every whitespace-separated term must occur (case-insensitive) in the
   * span's service, name, id or a "key=value" tag. Returns {marks: Uint8Array, count}.
   */
  function searchSpans(spans, query) {
    const terms = String(query || "").toLowerCase().split(/\s+/).filter(Boolean);
    const marks = new Uint8Array(spans.length);
    let count = 0;
    if (!terms.length) return { marks: marks, count: 0 };
    for (let i = 0; i < spans.length; i++) {
      const text = searchText(spans[i]);
      let all = true;
      for (let t = 0; t < terms.length && all; t++) all = text.indexOf(terms[t]) >= 0;
      if (all) { marks[i] = 1; count++; }
    }
    return { marks: marks, count: count };
  }

  /**
   * Spans carrying a tag: `spec` is "key" (present with any value) or "key=value" (exact value).
   * Returns {marks: Uint8Array, count}.
   */
  function tagSpans(spans, spec) {
    const text = String(spec || "").trim();
    const marks = new Uint8Array(spans.length);
    let count = 0;
    if (!text) return { marks: marks, count: 0 };
    const eq = text.indexOf("=");
    const key = eq >= 0 ? text.slice(0, eq).trim() : text;
    const value = eq >= 0 ? text.slice(eq + 1).trim() : null;
    for (let i = 0; i < spans.length; i++) {
      const tags = spans[i].tags || {};
      if (Object.prototype.hasOwnProperty.call(tags, key) && (value === null || String(tags[key]) === value)) {
        marks[i] = 1;
        count++;
      }
    }
    return { marks: marks, count: count };
  }

  /** Uint8Array with 1 on the spans whose ids are listed (the critical path). */
  function markIds(index, ids) {
    const marks = new Uint8Array(index.n);
    (ids || []).forEach(function (id) {
      const i = index.byId.get(id);
      if (i !== undefined) marks[i] = 1;
    });
    return marks;
  }

  /** Position in `rows` of the next (step +1) or previous (-1) marked span after position `from`,
   * wrapping around; -1 when nothing in `rows` is marked. */
  function nextMarked(rows, marks, from, step) {
    const n = rows.length;
    for (let k = 1; k <= n; k++) {
      const pos = (((from + step * k) % n) + n) % n;
      if (marks[rows[pos]]) return pos;
    }
    return -1;
  }

  /** Evenly spaced time ticks for a window (µs): [{fraction, offset_us}], `count` intervals. */
  function ticks(viewStart, viewEnd, traceStart, count) {
    const out = [];
    for (let k = 0; k <= count; k++) {
      const t = viewStart + ((viewEnd - viewStart) * k) / count;
      out.push({ fraction: k / count, offset_us: t - traceStart });
    }
    return out;
  }

  root.MeshscopeTraces = root.MeshscopeTraces || {};
  root.MeshscopeTraces.layout = {
    buildIndex: buildIndex, hasChildren: hasChildren, subtreeBounds: subtreeBounds, visibleRows: visibleRows,
    isFolded: isFolded, revealSpan: revealSpan, windowRange: windowRange, bar: bar, searchSpans: searchSpans,
    tagSpans: tagSpans, markIds: markIds, nextMarked: nextMarked, ticks: ticks,
  };
})(typeof window !== "undefined" ? window : globalThis);
