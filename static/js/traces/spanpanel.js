// The span panel: everything about one span, built with textContent only (span data comes from
// whatever sent the spans and must never become markup). `urls` are the page's URL templates with a
// NAME placeholder ({service, sidecar}) so no path is spelled out here.
(function (root) {
  "use strict";
  const T = root.MeshscopeTraces;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const key in attrs || {}) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function table(rows, className) {
    return el("table", { className: className || "kv" }, rows.map(function (row) {
      return el("tr", {}, [el("th", { text: row[0] }), row[1] instanceof Node ? el("td", {}, [row[1]]) : el("td", { text: String(row[1]) })]);
    }));
  }

  function endpoint(value) {
    if (!value) return "–";
    const parts = [];
    if (value.serviceName) parts.push(value.serviceName);
    const address = value.ipv4 || value.ipv6;
    if (address) parts.push(address + (value.port ? ":" + value.port : ""));
    else if (value.port) parts.push("port " + value.port);
    return parts.join(" ") || "–";
  }

  function fill(url, name) {
    return url.replace("NAME", encodeURIComponent(name));
  }

  /**
   * Render span `span` of a trace starting at traceStartUs into `container`. actions: {onReroot(),
   * onClose()} (buttons in the panel).
   */
  function render(container, span, traceStartUs, urls, actions) {
    container.textContent = "";
    const f = T.format;
    const header = el("div", { className: "sp-head" }, [
      el("h2", {}, [el("span", { className: "sp-svc", text: span.service }), document.createTextNode(" " + span.name)]),
      el("button", { type: "button", className: "sp-close", title: "close (Esc)", text: "×" }),
    ]);
    header.lastChild.addEventListener("click", actions.onClose);
    container.appendChild(header);
    if (span.error) container.appendChild(el("p", { className: "sp-error", text: "✕ this span is an error" }));

    const mesh = [];
    (span.flags || []).forEach(function (flag) {
      mesh.push(el("li", { className: "sp-flag" }, [el("code", { text: flag.code }), document.createTextNode(" " + flag.meaning)]));
    });
    if (span.route) {
      const label = "VirtualService " + span.route.namespace + "/" + span.route.name + ", rule #" + span.route.rule;
      mesh.push(el("li", { className: "sp-route" }, [document.createTextNode("route: "),
        span.route.url ? el("a", { href: span.route.url, text: label }) : el("span", { text: label })]));
    }
    if (span.skew_us) {
      mesh.push(el("li", { className: "sp-skew", text: "clock skew adjusted by " + f.duration(span.skew_us) }));
    }
    if (mesh.length) container.appendChild(el("ul", { className: "sp-mesh" }, mesh));

    const service = f.meshService(span.service);
    const links = [el("a", { href: fill(urls.service, service), text: "service " + service })];
    const sidecar = f.sidecarName(span.tags);
    if (sidecar) links.push(el("a", { href: fill(urls.sidecar, sidecar), text: "sidecar " + sidecar }));
    const reroot = el("button", { type: "button", className: "sp-reroot", text: "Show only this subtree" });
    reroot.addEventListener("click", actions.onReroot);
    links.push(reroot);
    const link = el("a", { href: "#span-" + span.spanId, className: "sp-deeplink", text: "link to this span" });
    links.push(link);
    container.appendChild(el("p", { className: "sp-links" }, links));

    container.appendChild(table([
      ["duration", f.duration(span.duration_us)],
      ["self time", f.duration(span.self_us)],
      ["starts at", "+" + f.duration(span.start_us - traceStartUs)],
      ["kind", span.kind || "–"],
      ["span id", span.spanId],
      ["parent id", span.parentId || "–"],
      ["local endpoint", endpoint(span.localEndpoint)],
      ["remote endpoint", endpoint(span.remoteEndpoint)],
    ]));

    const keys = Object.keys(span.tags || {}).sort();
    container.appendChild(el("h3", { text: "Tags (" + keys.length + ")" }));
    container.appendChild(table(keys.map(function (k) { return [k, span.tags[k]]; }), "kv sp-tags"));
    const notes = span.annotations || [];
    if (notes.length) {
      container.appendChild(el("h3", { text: "Annotations (" + notes.length + ")" }));
      container.appendChild(table(notes.map(function (a) {
        return ["+" + f.duration(a.timestamp_us - traceStartUs), a.value];
      }), "kv sp-annotations"));
    }
  }

  T.spanpanel = { render: render, endpoint: endpoint };
})(typeof window !== "undefined" ? window : globalThis);
