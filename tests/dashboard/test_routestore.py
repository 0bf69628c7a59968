"""The RouteStore source against the real resource API (control plane without Envoy, in a thread):
documents in and out, statuses and field errors as data, the token on every call."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp import web

from dashboard.sources.errors import SourceError
from dashboard.sources.routestore import ControlPlaneRouteStore
from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.api import make_api
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ResourceStore
from meshcore.model.yaml_io import parse_documents
from tests.support.ports import free_port
from tests.support.samples import reviews_weights, sample


@pytest.fixture
def api(tmp_path):
    """The resource API on a free port, run by an event loop in a thread; records request headers."""
    seen: list[dict[str, str]] = []
    loop = asyncio.new_event_loop()
    port = free_port()
    ready = threading.Event()

    @web.middleware
    async def record(request, handler):
        seen.append(dict(request.headers))
        return await handler(request)

    async def serve() -> web.AppRunner:
        control_plane = ControlPlane(bookinfo_registry(), ResourceStore(tmp_path / "resources.json"))
        app = make_api(control_plane, token="test-token")
        app.middlewares.append(record)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    def main() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(serve())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    ready.wait(10)
    yield f"http://127.0.0.1:{port}", seen
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def documents(text: str) -> list[dict]:
    return [r.to_dict() for r in parse_documents(text)]


def test_apply_get_list_delete_and_revision(api):
    url, seen = api
    store = ControlPlaneRouteStore(url, 5.0, token="test-token")
    start = store.revision()
    outcome = store.apply(documents(sample("destination-rule-all")))
    assert {o["action"] for o in outcome.objects} == {"created"}
    assert any(w.path.endswith("subsets[1].labels") for w in outcome.warnings)
    created = store.apply(documents(reviews_weights(v3=100)), wait_s=0.5).objects[0]
    assert created["metadata"]["resourceVersion"] and store.revision() != start
    assert (
        store.get("virtualservices", "default", "reviews")["spec"]["http"][0]["route"][0]["destination"][
            "subset"
        ]
        == "v3"
    )
    assert [d["metadata"]["name"] for d in store.list("virtualservices", "default")] == ["reviews"]
    assert store.list("virtualservices", "other") == []
    deleted = store.delete("virtualservices", "default", "reviews", created["metadata"]["resourceVersion"])
    assert deleted["metadata"]["name"] == "reviews"
    assert all(h.get("Authorization") == "Bearer test-token" for h in seen)


def test_failures_carry_status_and_field_errors(api):
    url, _ = api
    store = ControlPlaneRouteStore(url, 5.0, token="test-token")
    store.apply(documents(sample("destination-rule-all")))
    with pytest.raises(SourceError) as invalid:
        store.apply(documents(reviews_weights(v1=50, v3=40)))
    assert invalid.value.status == 422
    assert [(e.path, e.message) for e in invalid.value.errors] == [
        ("spec.http[0].route", "weights sum to 90, must be 100")
    ]
    stale = documents(reviews_weights(v1=100))
    stale[0]["metadata"]["resourceVersion"] = "42"
    with pytest.raises(SourceError) as conflict:
        store.apply(stale)
    assert conflict.value.status == 409
    with pytest.raises(SourceError) as missing:
        store.get("virtualservices", "default", "nothing")
    assert missing.value.status == 404
    with pytest.raises(SourceError) as unknown:
        store.list("pods")
    assert unknown.value.status == 404
    dry = store.dry_run(documents(reviews_weights(v3=100)))
    assert dry.objects[0]["action"] == "created" and dry.changes
    with pytest.raises(SourceError) as gone:
        store.get("virtualservices", "default", "reviews")
    assert gone.value.status == 404  # the dry run stored nothing


def test_an_unreachable_store_is_a_source_error_without_status():
    store = ControlPlaneRouteStore(f"http://127.0.0.1:{free_port()}", 0.5)
    with pytest.raises(SourceError) as raised:
        store.revision()
    assert raised.value.unreachable
