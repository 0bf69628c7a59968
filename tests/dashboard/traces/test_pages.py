"""The trace explorer's page views: status, template context, the search box's redirects, bad input.

The templates are the front end's; here a template directory placed first renders each page's
context as JSON, so these tests check what the views hand to whatever template is installed.
"""

from __future__ import annotations

import json

import pytest

from tests.dashboard.traces.conftest import bookinfo, now_us, post
from tests.support.ports import free_port

pytestmark = pytest.mark.django_db

TRACE = "c9" * 8


@pytest.fixture(autouse=True)
def _pages(context_templates):
    """Every test here renders the context instead of the front end's templates."""


def context(response) -> dict:
    return json.loads(response.content)


def test_search_page_normalizes_the_query(viewer_client, tracer):
    page = viewer_client.get("/traces/", {"service": "reviews", "lookback": "60m", "minDuration": "1000ms"})
    assert page.status_code == 200
    ctx = context(page)
    assert ctx["errors"] == []
    assert ctx["query"]["lookback"] == "1h" and ctx["query"]["minDuration"] == "1s"
    assert ctx["query_string"] == "service=reviews&minDuration=1s"


def test_search_page_with_bad_parameters_is_400_with_field_errors(viewer_client, tracer):
    page = viewer_client.get("/traces/", {"limit": "5000", "sort": "best"})
    assert page.status_code == 400
    assert sorted(e["path"] for e in context(page)["errors"]) == ["limit", "sort"]


def test_trace_id_or_request_id_in_the_search_box_opens_the_trace(viewer_client, tracer):
    spans = bookinfo(41, now_us() - 5_000_000, trace_id=TRACE)
    post(tracer, spans)
    by_id = viewer_client.get("/traces/", {"q": TRACE.upper()})
    assert (by_id.status_code, by_id["Location"]) == (302, f"/traces/{TRACE}/")
    request_id = spans[0]["tags"]["guid:x-request-id"]
    by_request = viewer_client.get("/traces/", {"q": request_id})
    assert (by_request.status_code, by_request["Location"]) == (302, f"/traces/{TRACE}/")
    unknown = viewer_client.get("/traces/", {"q": "no-such-request"})
    assert unknown.status_code == 404
    assert [e["path"] for e in context(unknown)["errors"]] == ["q"]


def test_trace_page_known_unknown_malformed_and_source_down(viewer_client, tracer, settings):
    post(tracer, bookinfo(42, now_us() - 5_000_000, trace_id=TRACE))
    page = viewer_client.get(f"/traces/{TRACE}/")
    assert page.status_code == 200 and context(page)["trace_id"] == TRACE
    assert viewer_client.get(f"/traces/{'d0' * 8}/").status_code == 404
    bad = viewer_client.get("/traces/not-a-trace/")
    assert bad.status_code == 400 and context(bad)["errors"][0]["path"] == "trace_id"
    settings.MESHCORE_TRACER_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    down = viewer_client.get(f"/traces/{TRACE}/")
    assert down.status_code == 503 and context(down)["source_error"]


def test_compare_page(viewer_client, tracer):
    page = viewer_client.get("/traces/compare/", {"a": TRACE.upper(), "b": ""})
    assert page.status_code == 200 and context(page)["a"] == TRACE and context(page)["b"] == ""
    bad = viewer_client.get("/traces/compare/", {"a": TRACE, "b": "zz"})
    assert bad.status_code == 400 and [e["path"] for e in context(bad)["errors"]] == ["b"]


def test_pages_require_login(client, tracer):
    page = client.get("/traces/")
    assert page.status_code == 302 and "/accounts/login" in page["Location"]


def test_search_page_suggests_the_tracer_services_and_none_when_it_is_down(viewer_client, tracer, settings):
    post(tracer, bookinfo(43, now_us() - 5_000_000))
    names = context(viewer_client.get("/traces/"))["service_names"]
    assert names == tracer.store.services() and len(names) >= 3
    settings.MESHCORE_TRACER_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    down = viewer_client.get("/traces/")
    assert down.status_code == 200 and context(down)["service_names"] == []
