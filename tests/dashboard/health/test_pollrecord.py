"""The poll's counters for /metrics (pure)."""

from __future__ import annotations

import pytest

from dashboard.topology.pollrecord import DURATION_BUCKETS, add_failed_poll, add_poll


def test_polls_accumulate_a_cumulative_histogram_and_per_source_counts():
    stats = add_poll(None, 0.04, ["registry", "envoy:a", "envoy:b"], ["envoy:b"], {"envoy": 0.03})
    stats = add_poll(stats, 0.3, ["registry", "envoy:a", "envoy:b"], [])
    stats = add_failed_poll(stats)
    assert stats["polls"] == 2 and stats["failed_polls"] == 1
    assert stats["duration_sum"] == pytest.approx(0.34)
    by_bound = dict(zip(DURATION_BUCKETS, stats["buckets"], strict=True))
    assert (by_bound[0.025], by_bound[0.05], by_bound[0.25], by_bound[0.5], by_bound[10.0]) == (0, 1, 1, 2, 2)
    assert stats["attempts"] == {"registry": 2, "envoy:a": 2, "envoy:b": 2}
    assert stats["errors"] == {"envoy:b": 1}
    assert stats["phases"] == {}  # the last poll's phases only


def test_the_input_is_not_changed():
    first = add_poll(None, 0.1, ["registry"], ["registry"])
    add_poll(first, 0.1, ["registry"], ["registry"])
    assert first["errors"] == {"registry": 1} and first["polls"] == 1
