"""Links to the trace explorer from services, workloads and sidecars (dashboard.services.tracelinks)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from dashboard.services.tracelinks import proxy_trace_links, search_url, service_trace_links


def query(href: str) -> dict[str, str]:
    parts = urlsplit(href)
    assert parts.path == "/traces/"
    return {key: values[0] for key, values in parse_qs(parts.query).items()}


def test_a_service_links_to_its_recent_slowest_and_erroring_traces():
    links = {link["label"]: query(link["href"]) for link in service_trace_links("reviews")}
    assert links == {
        "recent traces": {"service": "reviews.default", "sort": "recent"},
        "slowest traces": {"service": "reviews.default", "sort": "longest"},
        "traces with errors": {"service": "reviews.default", "tags": "error", "sort": "recent"},
    }
    assert query(service_trace_links("ratings", "shop")[0]["href"])["service"] == "ratings.shop"


def test_a_sidecar_links_to_the_spans_its_own_proxy_wrote():
    node_id = "sidecar~127.0.0.1~reviews-v2.default~default.svc.cluster.local"
    links = {link["label"]: query(link["href"]) for link in proxy_trace_links("reviews", "default", node_id)}
    assert links["slowest traces"] == {
        "service": "reviews.default",
        "tags": f"node_id={node_id}",
        "sort": "longest",
    }
    assert links["traces with errors"]["tags"] == f"node_id={node_id} error"
    # Without a node id (registry down), the service's traces.
    assert proxy_trace_links("reviews", "default", "") == service_trace_links("reviews")


def test_search_url_leaves_out_empty_parameters_and_escapes_values():
    assert search_url() == "/traces/"
    assert search_url(service="a b", tags="") == "/traces/?service=a+b"


def test_every_link_is_a_valid_search_of_the_trace_explorer():
    from django.http import QueryDict
    from django.urls import reverse

    from dashboard.traces.search import parse_query

    assert reverse("traces:search") == "/traces/"
    node_id = "sidecar~127.0.0.1~reviews-v2.default~default.svc.cluster.local"
    for link in service_trace_links("reviews") + proxy_trace_links("reviews", "default", node_id):
        query, errors = parse_query(QueryDict(urlsplit(link["href"]).query))
        assert errors == [], (link, errors)
        assert query.normalized()["service"] == "reviews.default"
