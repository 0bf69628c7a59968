"""The recorded-traffic window: incremental reads with an overlap, calls merged by span id, old
calls dropped. The trace source here is a recorded one that logs what it was asked for."""

from __future__ import annotations

from typing import Any

from dashboard.routes.traffic import OVERLAP_MS, recent_requests

NOW_MS = 1_800_000_000_000


class RecordedTraces:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.asked: list[int] = []

    def call(self, number: int, at_ms: int) -> None:
        self.spans.append(
            {
                "traceId": f"{number:016x}",
                "id": f"{number:016x}",
                "kind": "CLIENT",
                "timestamp": at_ms * 1000,
                "tags": {
                    "upstream_cluster": "outbound|9080||reviews.default.svc.cluster.local",
                    "http.url": "http://reviews:9080/reviews/0",
                },
            }
        )

    def traces(self, service: str | None = None, limit: int = 10, lookback_ms: int = 3_600_000):
        self.asked.append(lookback_ms)
        return [[s] for s in self.spans if s["timestamp"] >= (NOW_MS - lookback_ms) * 1000]


def test_reads_are_incremental_and_calls_are_merged_once(redis_layer, settings):
    settings.WHATIF_MINUTES = 5
    source = RecordedTraces()
    source.call(1, NOW_MS - 400_000)  # outside the 5 minute window
    source.call(2, NOW_MS - 200_000)
    first = recent_requests("reviews", source=source, now_ms=NOW_MS)
    assert [r.span_id.split("/")[1] for r in first] == [f"{2:016x}"]
    assert source.asked == [300_000]
    source.call(3, NOW_MS + 5_000)
    later = recent_requests("reviews", source=source, now_ms=NOW_MS + 10_000)
    # Only the last 10 s plus the overlap were read again; call 2 is kept, not duplicated.
    assert source.asked[-1] == 10_000 + OVERLAP_MS
    assert [r.span_id.split("/")[1] for r in later] == [f"{2:016x}", f"{3:016x}"]
    gone = recent_requests("reviews", source=source, now_ms=NOW_MS + 150_000)
    assert [r.span_id.split("/")[1] for r in gone] == [f"{3:016x}"]
