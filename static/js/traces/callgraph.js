// A small call graph of one trace (services as nodes, calls as edges with counts), drawn as SVG.
// `layers` is the pure part: columns by breadth-first distance from the nodes nobody calls.
(function (root) {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";

  /**
   * Column of every node: 0 for nodes without callers, then breadth-first along edges; each node
   * keeps the first column it gets, so cycles terminate. A cycle no caller reaches starts at its
   * first node (in `graph.nodes` order). Returns Map id -> column.
   */
  function layers(graph) {
    const incoming = new Map();
    const outgoing = new Map();
    graph.nodes.forEach(function (n) { incoming.set(n.id, 0); outgoing.set(n.id, []); });
    graph.edges.forEach(function (e) {
      if (!outgoing.has(e.source) || !incoming.has(e.target) || e.source === e.target) return;
      outgoing.get(e.source).push(e.target);
      incoming.set(e.target, incoming.get(e.target) + 1);
    });
    const column = new Map();
    const queue = [];
    graph.nodes.forEach(function (n) { if (incoming.get(n.id) === 0) { column.set(n.id, 0); queue.push(n.id); } });
    let head = 0;
    for (;;) {
      for (; head < queue.length; head++) {
        const id = queue[head];
        outgoing.get(id).forEach(function (target) {
          if (!column.has(target)) { column.set(target, column.get(id) + 1); queue.push(target); }
        });
      }
      // A cycle nobody outside calls into: start it from its first node.
      const unreached = graph.nodes.find(function (n) { return !column.has(n.id); });
      if (!unreached) break;
      column.set(unreached.id, 0);
      queue.push(unreached.id);
    }
    return column;
  }

  function node(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const key in attrs) el.setAttribute(key, attrs[key]);
    if (text != null) el.textContent = text;
    return el;
  }

  /** Draw `graph` ({nodes: [{id, service}], edges: [{source, target, count}]}) into `container`. */
  function render(container, graph, colourOf) {
    container.textContent = "";
    if (!graph || !graph.nodes || !graph.nodes.length) return;
    const column = layers(graph);
    const perColumn = new Map();
    const position = new Map();
    // Columns as wide as the longest name (about 7 px a character at 12 px) so labels never overlap.
    const longest = graph.nodes.reduce(function (n, node) { return Math.max(n, String(node.id).length); }, 0);
    const label = Math.max(60, longest * 7 + 20);
    const W = label + 60;
    const H = 46;
    graph.nodes.forEach(function (n) {
      const c = column.get(n.id);
      const row = perColumn.get(c) || 0;
      perColumn.set(c, row + 1);
      position.set(n.id, [20 + c * W, 24 + row * H]);
    });
    let maxRow = 0;
    perColumn.forEach(function (v) { maxRow = Math.max(maxRow, v); });
    const width = 60 + (Math.max.apply(null, Array.from(perColumn.keys())) + 1) * W;
    const svg = node("svg", { width: width, height: 20 + maxRow * H, class: "callgraph" });
    const defs = node("defs", {});
    const marker = node("marker", { id: "cg-arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto" });
    marker.appendChild(node("path", { d: "M0,0 L10,5 L0,10 z", fill: "#888" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    graph.edges.forEach(function (e) {
      const a = position.get(e.source);
      const b = position.get(e.target);
      if (!a || !b) return;
      const x1 = a[0] + 16 + label;
      svg.appendChild(node("line", { x1: x1, y1: a[1], x2: b[0] - 4, y2: b[1], stroke: "#888", "marker-end": "url(#cg-arrow)" }));
      svg.appendChild(node("text", { x: (x1 + b[0]) / 2, y: (a[1] + b[1]) / 2 - 4, class: "cg-count" }, "×" + e.count));
    });
    graph.nodes.forEach(function (n) {
      const p = position.get(n.id);
      const g = node("g", { class: "cg-node", "data-id": n.id });
      g.appendChild(node("circle", { cx: p[0] + 6, cy: p[1], r: 6, fill: colourOf(n.service) }));
      g.appendChild(node("text", { x: p[0] + 16, y: p[1] + 4 }, n.id));
      svg.appendChild(g);
    });
    container.appendChild(svg);
  }

  root.MeshscopeTraces = root.MeshscopeTraces || {};
  root.MeshscopeTraces.callgraph = { layers: layers, render: render };
})(typeof window !== "undefined" ? window : globalThis);
