"""The live tail against the real tracer: completion rule, once-only announcements, outages, and the
task + websocket consumer over a real Redis channel layer with server-side filtering."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from dashboard.sources.traces import ZipkinTraceSource
from dashboard.topology.state import MemoryPollState
from dashboard.traces.tail import TAIL_KEY, RedisTailState, TailConfig, tail_once
from meshcore.tracer.samples import RATINGS
from tests.dashboard.traces.conftest import bookinfo, now_us, post

CONFIG = TailConfig(interval_s=1.0, quiet_s=1.0, window_s=15.0, limit=100)


class Clock:
    """Real time plus a controllable offset, so the quiet period passes without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def test_without_its_root_a_trace_completes_when_quiet_and_again_when_late_spans_arrive(tracer):
    source = ZipkinTraceSource(tracer.url, 5)
    # Seconds of the fake clock are far apart from the real time a read takes on a busy machine.
    config = TailConfig(interval_s=1.0, quiet_s=10.0, window_s=120.0, limit=100)
    state, clock = MemoryPollState(), Clock()
    spans = bookinfo(11, now_us() - 2_000_000, trace_id="e5" * 8)
    root, inner = spans[:2], spans[2:]  # the gateway's root span and its server half come last
    post(tracer, inner[:3])
    assert tail_once(source, state, config, clock).completed == []
    clock.offset += 6
    post(tracer, inner[3:])
    assert tail_once(source, state, config, clock).completed == []  # a new span arrived: not quiet
    clock.offset += 6
    assert tail_once(source, state, config, clock).completed == []  # quiet for 6 s only
    clock.offset += 6
    result = tail_once(source, state, config, clock)
    assert [(e["summary"]["traceId"], e["summary"]["spanCount"]) for e in result.completed] == [("e5" * 8, 6)]
    assert result.status == {"behind": False, "source_down": False, "error": None, "cursor_age_s": 0.0}
    clock.offset += 5
    assert tail_once(source, state, config, clock).completed == []  # announced once...
    post(tracer, root)
    clock.offset += 5
    again = tail_once(source, state, config, clock).completed
    assert [(e["summary"]["traceId"], e["summary"]["spanCount"]) for e in again] == [
        ("e5" * 8, 8)
    ]  # ...until it grew
    clock.offset += 15
    assert tail_once(source, state, config, clock).completed == []


def test_a_trace_whose_root_arrived_is_complete_at_first_sight(tracer):
    source = ZipkinTraceSource(tracer.url, 5)
    state, clock = MemoryPollState(), Clock()
    post(tracer, bookinfo(13, now_us() - 1_000_000, trace_id="d4" * 8))
    first = tail_once(source, state, CONFIG, clock).completed
    assert [e["summary"]["traceId"] for e in first] == ["d4" * 8]
    assert first[0]["facts"]["duration_us"] == 9000
    clock.offset += 1.5
    assert tail_once(source, state, CONFIG, clock).completed == []


def test_a_root_whose_caller_sidecar_has_not_reported_waits_for_quiet(tracer):
    # The gateway's root and the callees' spans are in, productpage's sidecar (its server half
    # and its two client halves) has not flushed yet: the trace is not whole at first sight.
    source = ZipkinTraceSource(tracer.url, 5)
    config = TailConfig(interval_s=1.0, quiet_s=10.0, window_s=120.0, limit=100)
    state, clock = MemoryPollState(), Clock()
    spans = bookinfo(14, now_us() - 1_000_000, trace_id="c3" * 8)
    productpage = [spans[1], spans[2], spans[4]]
    post(tracer, [s for s in spans if s not in productpage])
    assert tail_once(source, state, config, clock).completed == []
    clock.offset += 11
    quiet = tail_once(source, state, config, clock).completed
    assert [e["summary"]["spanCount"] for e in quiet] == [5]
    post(tracer, productpage)
    clock.offset += 1
    whole = tail_once(source, state, config, clock).completed
    assert [e["summary"]["spanCount"] for e in whole] == [8]


def test_source_down_then_behind_then_catching_up(tracer, tracer_down):
    state, clock = MemoryPollState(), Clock()
    good, bad = ZipkinTraceSource(tracer.url, 5), ZipkinTraceSource(tracer_down, 1)
    assert tail_once(good, state, CONFIG, clock).status["source_down"] is False
    clock.offset += 1.0
    down = tail_once(bad, state, CONFIG, clock).status
    assert down["source_down"] is True and down["error"] and down["behind"] is False
    assert 1.0 <= down["cursor_age_s"] < 3.0
    clock.offset += 4.0
    assert tail_once(bad, state, CONFIG, clock).status["behind"] is True
    # Spans of a trace that started during the outage are still found when the source is back.
    post(tracer, bookinfo(12, now_us() + int((clock.offset - 3.0) * 1e6), trace_id="f6" * 8))
    clock.offset += 1.0
    back = tail_once(good, state, CONFIG, clock)
    assert back.status == {"behind": False, "source_down": False, "error": None, "cursor_age_s": 0.0}
    assert [e["summary"]["traceId"] for e in back.completed] == ["f6" * 8]


def test_a_read_that_hits_the_limit_says_behind(tracer):
    state, clock = MemoryPollState(), Clock()
    start = now_us() - 3_000_000
    post(tracer, [s for i in range(3) for s in bookinfo(20 + i, start + i * 1000)])
    result = tail_once(ZipkinTraceSource(tracer.url, 5), state, TailConfig(limit=2), clock)
    assert result.status["behind"] is True
    assert len(result.completed) == 2 and len(state.load(TAIL_KEY)["done"]) == 2


ORIGIN = (b"origin", b"http://127.0.0.1")


async def drain(ws: WebsocketCommunicator) -> list[dict]:
    """Every message waiting now (a receive that times out would cancel the application)."""
    messages = []
    while not await ws.receive_nothing(timeout=0.3):
        messages.append(await ws.receive_json_from())
    return messages


@pytest.mark.django_db(transaction=True)
async def test_anonymous_tail_is_refused(application):
    ws = WebsocketCommunicator(application, "/ws/traces/", headers=[ORIGIN])
    connected, code = await ws.connect()
    assert not connected and code == 4401


@pytest.mark.django_db(transaction=True)
async def test_task_publishes_and_the_consumer_filters_by_subscription(
    application, session_cookie, tracer, settings, redis_server
):
    import redis

    from dashboard.traces.tasks import tail_and_publish

    settings.TRACES_TAIL_QUIET_SECONDS = 0.2
    everything = WebsocketCommunicator(application, "/ws/traces/", headers=[ORIGIN, session_cookie])
    ratings_only = WebsocketCommunicator(application, "/ws/traces/", headers=[ORIGIN, session_cookie])
    for ws in (everything, ratings_only):
        assert (await ws.connect())[0]
        hello = await ws.receive_json_from(timeout=5)  # whether the tail runs, at once
        assert hello == {
            "type": "traces.status",
            "data": {
                "behind": True,
                "source_down": False,
                "error": "the live tail has not run yet",
                "cursor_age_s": 0.0,
            },
        }
    await ratings_only.send_json_to({"subscribe": {"limit": "oops", "minDuration": "soon"}})
    error = await ratings_only.receive_json_from(timeout=5)
    assert error["type"] == "traces.error"
    assert sorted(e["path"] for e in error["data"]["errors"]) == ["limit", "minDuration"]
    await ratings_only.send_json_to({"subscribe": {"service": RATINGS, "tags": "error"}})
    subscribed = await ratings_only.receive_json_from(timeout=5)
    assert subscribed == {"type": "traces.subscribed", "data": {"query": subscribed["data"]["query"]}}
    assert subscribed["data"]["query"]["service"] == RATINGS

    start = now_us() - 1_000_000
    await sync_to_async(post)(tracer, bookinfo(31, start, trace_id="a7" * 8, reviews_version="v1"))
    await sync_to_async(post)(tracer, bookinfo(32, start + 10, trace_id="b8" * 8, error=True))
    state = RedisTailState(redis.Redis.from_url(redis_server.url))
    announced: list[str] = []
    deadline = time.monotonic() + 30
    while len(announced) < 2 and time.monotonic() < deadline:
        await sync_to_async(tail_and_publish)(state=state)
        for message in await drain(everything):
            if message["type"] == "traces.completed":
                announced.append(message["data"]["traceId"])
            else:
                assert message["type"] == "traces.status" and message["data"]["source_down"] is False
    assert sorted(announced) == ["a7" * 8, "b8" * 8]
    got = [m["data"]["traceId"] for m in await drain(ratings_only) if m["type"] == "traces.completed"]
    assert got == ["b8" * 8]  # only the erroring trace that reached ratings
    late = WebsocketCommunicator(application, "/ws/traces/", headers=[ORIGIN, session_cookie])
    assert (await late.connect())[0]
    status = await late.receive_json_from(timeout=5)
    assert status["type"] == "traces.status" and status["data"]["error"] is None
    assert status["data"]["source_down"] is False and status["data"]["cursor_age_s"] < 30
    await late.disconnect()
    for ws in (everything, ratings_only):
        await ws.disconnect()


def test_the_tail_runs_on_the_beat_schedule():
    from django.conf import settings

    from dashboard.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["traces-tail"]
    assert entry["task"] == "traces.tail" and entry["schedule"] == settings.TRACES_TAIL_INTERVAL_SECONDS
    app.loader.import_default_modules()
    assert "traces.tail" in app.tasks


def test_status_says_behind_when_the_tail_stopped_reading():
    from dashboard.traces.tail import tail_status

    assert tail_status(None, 100.0, CONFIG)["behind"] is True
    saved = {"last_ok_s": 100.0, "read_at_s": 100.0, "hit_limit": False, "error": None}
    assert tail_status(saved, 101.0, CONFIG) == {
        "behind": False,
        "source_down": False,
        "error": None,
        "cursor_age_s": 1.0,
    }
    assert tail_status(saved, 104.0, CONFIG)["behind"] is True  # no worker read for 4 s
    assert tail_status({**saved, "hit_limit": True}, 100.0, CONFIG)["behind"] is True
    never_ok = {"last_ok_s": None, "read_at_s": 100.0, "hit_limit": False, "error": "refused"}
    assert tail_status(never_ok, 100.5, CONFIG) == {
        "behind": False,
        "source_down": True,
        "error": "refused",
        "cursor_age_s": 0.5,
    }
