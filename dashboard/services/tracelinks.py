"""Links from services, workloads and sidecars to their traces in the trace explorer. Pure; no Django.

The explorer's search (`/traces/`) takes the URL parameters of its API (`service`, `tags`, `sort`,
...). Envoy reports spans under the service name `<service>.<namespace>` (the gateway's:
`<gateway>.<namespace>`), and tags every span with `node_id`, the id of the proxy that wrote it:
a sidecar's traces are exactly those with its node id. `static/js/tracelinks.js` builds the same
links for the map's side panel.
"""

from __future__ import annotations

from urllib.parse import urlencode

TRACES_URL = "/traces/"


def trace_service(name: str, namespace: str) -> str:
    """The service name Envoy puts in the spans of service `name` in `namespace`."""
    return f"{name}.{namespace}"


def search_url(**params: str) -> str:
    """The trace search page with `params` in its query string (empty values left out)."""
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{TRACES_URL}?{query}" if query else TRACES_URL


def service_trace_links(name: str, namespace: str = "default") -> list[dict[str, str]]:
    """Recent, slowest and erroring traces through a service: [{"label", "href"}]."""
    service = trace_service(name, namespace)
    return [
        {"label": "recent traces", "href": search_url(service=service, sort="recent")},
        {"label": "slowest traces", "href": search_url(service=service, sort="longest")},
        {"label": "traces with errors", "href": search_url(service=service, tags="error", sort="recent")},
    ]


def proxy_trace_links(service: str, namespace: str, node_id: str) -> list[dict[str, str]]:
    """Recent, slowest and erroring traces through one proxy (`node_id`; "" falls back to the
    service's traces)."""
    if not node_id:
        return service_trace_links(service, namespace)
    name = trace_service(service, namespace)
    node = f"node_id={node_id}"
    return [
        {"label": "recent traces", "href": search_url(service=name, tags=node, sort="recent")},
        {"label": "slowest traces", "href": search_url(service=name, tags=node, sort="longest")},
        {
            "label": "traces with errors",
            "href": search_url(service=name, tags=f"{node} error", sort="recent"),
        },
    ]
