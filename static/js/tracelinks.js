// Links from the map's nodes and edges to their traces (the trace search page /traces/, whose URL
// parameters are its API's). Mirrors dashboard/services/tracelinks.py: Envoy reports spans under
// "<service>.<namespace>" (the gateway's "<gateway>.<namespace>").
(function () {
  "use strict";
  const TRACES_URL = "/traces/";

  function searchUrl(params) {
    const query = Object.keys(params).filter(function (k) { return params[k]; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
    return query ? TRACES_URL + "?" + query : TRACES_URL;
  }

  // The span service name of a map node (null for nodes no proxy reports, e.g. "unknown").
  function traceService(node) {
    if (!node) return null;
    const namespace = node.namespace || "default";
    if (node.kind === "workload") return (node.service || node.name) + "." + namespace;
    if (node.kind === "service" || node.kind === "gateway") return node.name + "." + namespace;
    return null;
  }

  // The tags naming the proxy that wrote a node's spans (its Envoy node id), when the map knows it.
  function proxyTags(node) {
    const id = node && node.sidecar && node.sidecar.node_id;
    return id ? "node_id=" + id : "";
  }

  function linksFor(node) {
    const service = traceService(node);
    if (!service) return [];
    const tags = proxyTags(node);
    return [
      { label: "recent traces", href: searchUrl({ service: service, tags: tags, sort: "recent" }) },
      { label: "slowest traces", href: searchUrl({ service: service, tags: tags, sort: "longest" }) },
    ];
  }

  // A node's recent and slowest traces: those its service took part in; a workload's or the
  // gateway's, those its own proxy wrote spans for.
  function nodeLinks(node) { return linksFor(node); }

  // An edge's: the traces of the proxy on the calling side, which writes the CLIENT span of every
  // call on the edge (a service -> version edge has no proxy of its own: the version's, which
  // writes the SERVER span). The search cannot ask for the callee too, so these include the
  // caller's other calls.
  function edgeLinks(edge, nodesById) {
    const source = nodesById[edge.source], target = nodesById[edge.target];
    return linksFor(source && source.kind === "service" && target ? target : source);
  }

  function html(links) {
    const esc = function (s) { return String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;"); };
    return links.map(function (l) { return '<a class="trace-link" href="' + esc(l.href) + '">' + esc(l.label) + "</a>"; }).join(" · ");
  }

  window.MeshscopeTraceLinks = { searchUrl: searchUrl, traceService: traceService, nodeLinks: nodeLinks,
                                 edgeLinks: edgeLinks, html: html };
})();
