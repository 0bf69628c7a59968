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

  function linksFor(service, extra) {
    if (!service) return [];
    return [
      { label: "recent traces", href: searchUrl(Object.assign({ service: service, sort: "recent" }, extra)) },
      { label: "slowest traces", href: searchUrl(Object.assign({ service: service, sort: "longest" }, extra)) },
    ];
  }

  // A node's recent and slowest traces: those its service (a workload: its service) took part in.
  function nodeLinks(node) { return linksFor(traceService(node), {}); }

  // An edge's: the traces of the calling side (a service -> version edge: the service's own), since
  // every span of a call is reported by the caller's and the callee's proxies under their services.
  function edgeLinks(edge, nodesById) {
    const source = nodesById[edge.source], target = nodesById[edge.target];
    const caller = source && source.kind === "service" && target ? target : source;
    return linksFor(traceService(caller), {});
  }

  function html(links) {
    const esc = function (s) { return String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;"); };
    return links.map(function (l) { return '<a class="trace-link" href="' + esc(l.href) + '">' + esc(l.label) + "</a>"; }).join(" · ");
  }

  window.MeshscopeTraceLinks = { searchUrl: searchUrl, traceService: traceService, nodeLinks: nodeLinks,
                                 edgeLinks: edgeLinks, html: html };
})();
