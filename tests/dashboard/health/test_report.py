"""The health report's pure logic: parallel bounded probes, memory, supervisor files, poll freshness."""

from __future__ import annotations

import threading

import pytest

from dashboard.health.report import (
    Check,
    CheckMemory,
    HealthReport,
    ProbeFailed,
    merge_supervision,
    parts_from_supervisor,
    poll_freshness,
    run_checks,
)


def test_probes_run_at_the_same_time():
    # Each probe waits for all the others: this only completes when they run concurrently.
    barrier = threading.Barrier(5, timeout=5)

    def probe() -> str:
        barrier.wait()
        return "met"

    results = run_checks([Check(f"c{i}", "source", probe) for i in range(5)], deadline=10)
    assert [(r.name, r.state, r.detail) for r in results] == [(f"c{i}", "up", "met") for i in range(5)]


def test_a_probe_that_hangs_is_down_at_the_deadline_and_the_others_still_answer():
    release = threading.Event()

    def hangs() -> str:
        release.wait(30)
        return "late"

    try:
        results = run_checks(
            [Check("slow", "source", hangs), Check("fast", "source", lambda: "ok")], deadline=0.3
        )
    finally:
        release.set()
    by_name = {r.name: r for r in results}
    assert by_name["slow"].state == "down"
    assert by_name["slow"].error == "no answer within 0.3 s"
    assert by_name["fast"].state == "up"


def test_a_failing_probe_reports_its_message_and_the_memory_keeps_last_success_and_error():
    memory = CheckMemory()
    clock = iter([100.0, 200.0, 300.0]).__next__
    healthy = {"value": True}

    def probe() -> str:
        if not healthy["value"]:
            raise ProbeFailed("connection refused")
        return "fine"

    first = run_checks([Check("redis", "dashboard", probe)], 5, memory, clock)[0]
    assert (first.state, first.last_success, first.last_error) == ("up", 100.0, None)
    healthy["value"] = False
    second = run_checks([Check("redis", "dashboard", probe)], 5, memory, clock)[0]
    assert (second.state, second.error) == ("down", "connection refused")
    assert (second.last_success, second.last_error, second.last_error_at) == (
        100.0,
        "connection refused",
        200.0,
    )
    healthy["value"] = True
    third = run_checks([Check("redis", "dashboard", probe)], 5, memory, clock)[0]
    assert (third.state, third.last_success, third.last_error_at) == ("up", 300.0, 200.0)


def test_an_exception_without_a_message_is_named_by_its_type():
    def probe() -> str:
        raise TimeoutError

    assert run_checks([Check("x", "source", probe)], 5)[0].error == "TimeoutError"


SUPERVISOR = {
    "updated_at": 1000.0,
    "parts": {
        "redis": {
            "state": "running",
            "pid": 41,
            "restarts": 2,
            "since": 990.0,
            "last_exit": None,
            "last_error": None,
        },
        "celery-worker": {
            "state": "backoff",
            "pid": None,
            "restarts": 3,
            "since": 995.0,
            "last_exit": {"code": None, "signal": 9, "at": 994.0},
            "last_error": "killed by signal 9",
        },
    },
}


def test_parts_are_read_from_the_supervisor_document():
    parts = {p.name: p for p in parts_from_supervisor(SUPERVISOR, "state/supervisor.json")}
    assert parts["redis"].up and parts["redis"].pid == 41 and parts["redis"].restarts == 2
    worker = parts["celery-worker"]
    assert not worker.up
    assert (worker.state, worker.pid, worker.restarts, worker.last_exit["signal"]) == ("backoff", None, 3, 9)
    assert worker.last_error == "killed by signal 9"


def test_no_supervisor_file_means_not_supervised_and_a_bad_one_is_a_problem():
    absent = merge_supervision([("a.json", None), ("b.json", None)])
    assert not absent.supervised and absent.parts == [] and absent.problems == []
    broken = merge_supervision([("a.json", ValueError("Expecting value: line 1")), ("b.json", {"x": 1})])
    assert not broken.supervised
    assert broken.problems == [
        "a.json: Expecting value: line 1",
        "b.json: not a supervisor state document (no 'parts' object)",
    ]


def test_the_first_file_wins_for_a_part_named_in_two():
    mesh = {"parts": {"redis": {"state": "failed"}, "tracer": {"state": "running"}}}
    merged = merge_supervision([("stack.json", SUPERVISOR), ("mesh.json", mesh)])
    assert merged.files == ["stack.json", "mesh.json"]
    assert {(p.name, p.state, p.source) for p in merged.parts} == {
        ("redis", "running", "stack.json"),
        ("celery-worker", "backoff", "stack.json"),
        ("tracer", "running", "mesh.json"),
    }


def test_the_report_names_what_is_down_and_the_probe_answer_follows_essential_checks():
    results = run_checks(
        [
            Check("database", "dashboard", lambda: "sqlite", essential=True),
            Check("tracer", "source", lambda: (_ for _ in ()).throw(ProbeFailed("status DOWN"))),
        ],
        5,
    )
    report = HealthReport(
        generated_at=1.0, checks=results, supervision=merge_supervision([("s", SUPERVISOR)])
    )
    assert report.down == ["celery-worker", "tracer"]
    assert report.status == "degraded"
    assert report.essential_ok
    body = report.to_dict()
    assert body["supervisor"]["supervised"] is True
    assert [c["name"] for c in body["checks"]] == ["database", "tracer"]


def test_poll_freshness():
    assert (
        poll_freshness({"finished_at": 99.5, "duration_s": 0.02}, 1.0, 100.0)
        == "last poll 0.5 s ago, took 20 ms"
    )
    assert "unreachable: envoy:ratings-v1" in poll_freshness(
        {"finished_at": 99.5, "stale_sources": ["envoy:ratings-v1"]}, 1.0, 100.0
    )
    with pytest.raises(ProbeFailed, match=r"last poll 3\.5 s ago \(polls every 1 s\)"):
        poll_freshness({"finished_at": 96.5}, 1.0, 100.0)
    with pytest.raises(ProbeFailed, match="no poll recorded yet"):
        poll_freshness(None, 1.0, 100.0)
    with pytest.raises(ProbeFailed, match="last poll failed: OperationalError: locked"):
        poll_freshness(
            {"finished_at": 99.0, "error": "OperationalError: locked", "error_at": 99.8}, 1.0, 100.0
        )
