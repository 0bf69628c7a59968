"""Service-name suggestions: the brief cache (its clock is injected, so expiry is exact rather than
waited for) and the datalist the real search template draws from the real tracer's services."""

from __future__ import annotations

import pytest

from dashboard.sources.errors import SourceError
from dashboard.traces.suggestions import NameCache
from tests.dashboard.traces.conftest import bookinfo, now_us, post
from tests.support.ports import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_names_are_loaded_once_per_ttl_and_per_key():
    clock = Clock()
    cache = NameCache(ttl_s=30.0, clock=clock)
    loads: list[str] = []

    def load(key: str):
        def run() -> list[str]:
            loads.append(key)
            return [f"{key}-{len(loads)}"]

        return run

    assert cache.get("a", load("a")) == ["a-1"]
    clock.now += 29.9
    assert cache.get("a", load("a")) == ["a-1"]  # within the TTL: no second load
    assert cache.get("b", load("b")) == ["b-2"]  # another source has its own entry
    clock.now += 0.1
    assert cache.get("a", load("a")) == ["a-3"]  # expired: loaded again
    assert loads == ["a", "b", "a"]


def test_a_failed_load_is_not_cached():
    cache = NameCache(ttl_s=30.0, clock=Clock())

    def failing() -> list[str]:
        raise SourceError("tracer down")

    with pytest.raises(SourceError):
        cache.get("a", failing)
    assert cache.get("a", lambda: ["productpage"]) == ["productpage"]


@pytest.mark.django_db
def test_search_form_offers_the_services_as_a_datalist(viewer_client, tracer):
    post(tracer, bookinfo(44, now_us() - 5_000_000))
    html = viewer_client.get("/traces/").content.decode()
    assert 'list="service-names"' in html
    for name in tracer.store.services():
        assert f'<option value="{name}">' in html


@pytest.mark.django_db
def test_a_source_that_cannot_be_detected_gives_no_suggestions(viewer_client, settings):
    """MESHSCOPE_TRACES_KIND=auto probes the server to build the source; when nothing listens
    there the search page still opens, without suggestions."""
    settings.TRACES_KIND = "auto"
    settings.TRACES_URL = f"http://127.0.0.1:{free_port()}"
    page = viewer_client.get("/traces/")
    assert page.status_code == 200
    assert '<datalist id="service-names"></datalist>' in page.content.decode()
