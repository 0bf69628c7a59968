"""The traffic generator against a small local stand-in for the gateway + productpage.

Rate tolerance: the schedule is anchored to the clock (request k is due at start + k/rate) and
overdue requests are still sent, so the number sent after t seconds is rate*t + 1 up to the
request being dispatched at that instant, whatever the server does. The +-10% bound therefore
only absorbs the event loop and the measurement window drifting apart on a loaded machine, not
sampling noise; a generator that waited for responses (closed loop) or dropped late requests would
miss it by far in the slow-server test.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from meshcore.traffic import TrafficGenerator, parse_users, reviews_version_of, user_cookie
from tests.support.ports import free_port
from tests.support.waiting import async_wait_until

VERSIONS = ("v1", "v2", "v3")


@dataclass
class FakeGateway:
    """Serves /productpage: the reviews version cycles v1, v2, v3; every 7th request is a 503
    without a version. Records what it saw so tests compare the report with the server's view."""

    url: str = ""
    delay: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    users: Counter[str] = field(default_factory=Counter)
    received: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.received += 1
        self.users[request.cookies.get("user", "anonymous")] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.received % 7 == 0:
            self.statuses["503"] += 1
            self.versions["unknown"] += 1
            return web.Response(status=503, text="Sorry, product reviews are currently unavailable")
        version = VERSIONS[self.received % 3]
        self.statuses["200"] += 1
        self.versions[version] += 1
        return web.Response(
            text=f'<html><section class="reviews" data-reviews-version="{version}"></section></html>',
            content_type="text/html",
        )


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway()
    app = web.Application()
    app.router.add_get("/productpage", fake.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    await runner.cleanup()


def holds(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """`predicate` as the coroutine condition async_wait_until expects."""

    async def check() -> bool:
        return predicate()

    return check


async def run_for(generator: TrafficGenerator, seconds: float) -> dict:
    await generator.start()
    # The measurement window itself, not a wait for a condition.
    await asyncio.sleep(seconds)
    await generator.stop()
    return generator.report()


async def test_rate_is_honoured(gateway: FakeGateway) -> None:
    report = await run_for(TrafficGenerator(gateway.url, rate=50, seed=1), 3.0)

    expected = 50 * report["elapsed_s"]
    assert 0.9 * expected <= report["sent"] <= 1.1 * expected + 1, report
    assert report["completed"] == gateway.received == report["sent"]
    assert report["skipped"] == report["errors"] == 0


async def test_slow_responses_do_not_slow_the_schedule(gateway: FakeGateway) -> None:
    gateway.delay = 1.0
    generator = TrafficGenerator(gateway.url, rate=40, seed=2)

    await generator.start()
    await asyncio.sleep(2.0)
    during = generator.report()
    await generator.stop()

    expected = 40 * during["elapsed_s"]
    assert 0.9 * expected <= during["sent"] <= 1.1 * expected + 1, during
    # About one second's worth of requests is waiting for the slow server.
    assert during["in_flight"] >= 20
    assert during["sent"] == during["completed"] + during["errors"] + during["in_flight"]


async def test_in_flight_cap_skips_instead_of_queueing(gateway: FakeGateway) -> None:
    gateway.delay = 30.0
    generator = TrafficGenerator(gateway.url, rate=50, max_in_flight=5, seed=3)

    await generator.start()
    await async_wait_until(
        holds(lambda: generator.report()["skipped"] >= 10), timeout=10, what="requests to be skipped"
    )
    await generator.stop(grace=0.1)
    report = generator.report()

    assert report["sent"] == 5
    assert report["cancelled"] == 5 and report["in_flight"] == 0
    assert report["skipped"] >= 10


async def test_stop_stops_sending(gateway: FakeGateway) -> None:
    generator = TrafficGenerator(gateway.url, rate=100, seed=4)
    await generator.start()
    await async_wait_until(holds(lambda: gateway.received >= 20), timeout=10, what="traffic")

    await generator.stop()
    sent, received = generator.report()["sent"], gateway.received
    await asyncio.sleep(0.3)  # long enough for ~30 more requests if it were still running

    assert generator.report()["sent"] == sent
    assert gateway.received == received
    assert not generator.running


async def test_user_mix_follows_the_weights_and_uses_the_login_cookie(gateway: FakeGateway) -> None:
    report = await run_for(TrafficGenerator(gateway.url, rate=200, seed=5), 2.0)

    users = report["by_user"]
    total = sum(users.values())
    assert total == report["sent"] >= 300
    # Binomial standard deviation for p=0.3 and n>=300 is <= 0.027; 3 sigma.
    assert abs(users["jason"] / total - 0.3) < 0.08, users
    assert set(users) == {"anonymous", "jason"}
    # What the server saw in the `user` cookie is exactly what the report says was sent.
    assert dict(gateway.users) == users


async def test_report_counts_statuses_and_reviews_versions(gateway: FakeGateway) -> None:
    report = await run_for(TrafficGenerator(gateway.url, rate=100, seed=6), 1.0)

    json.dumps(report)  # serializable
    assert report["by_status"] == dict(gateway.statuses)
    assert report["by_reviews_version"] == {v: gateway.versions[v] for v in (*VERSIONS, "unknown")}
    assert report["by_status"]["503"] > 0
    assert all(report["by_reviews_version"][v] > 0 for v in VERSIONS)
    assert report["started_at"] and report["rate"] == 100
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["max"]


async def test_set_rate_changes_the_rate_while_running(gateway: FakeGateway) -> None:
    generator = TrafficGenerator(gateway.url, rate=0, seed=7)
    await generator.start()
    await asyncio.sleep(0.3)
    assert generator.report()["sent"] == 0

    generator.set_rate(50)
    await async_wait_until(holds(lambda: generator.report()["sent"] >= 10), timeout=10, what="traffic")
    await generator.stop()

    assert generator.report()["rate"] == 50
    with pytest.raises(ValueError, match="rate"):
        generator.set_rate(-1)


async def test_connection_errors_and_timeouts_are_counted(gateway: FakeGateway) -> None:
    refused = TrafficGenerator(f"http://127.0.0.1:{free_port()}", rate=50, seed=8)
    report = await run_for(refused, 0.5)
    assert report["errors"] == report["sent"] > 0
    assert report["errors_by_kind"] == {"connection": report["sent"]}
    assert report["by_reviews_version"] == {"v1": 0, "v2": 0, "v3": 0, "unknown": 0}

    gateway.delay = 5.0
    slow = TrafficGenerator(gateway.url, rate=20, timeout=0.2, seed=9)
    await slow.start()
    await async_wait_until(holds(lambda: slow.report()["errors"] >= 3), timeout=10, what="timeouts")
    await slow.stop(grace=0)
    assert slow.report()["errors_by_kind"]["timeout"] >= 3


def test_parse_users_gives_anonymous_the_rest() -> None:
    assert parse_users([]) == {None: 0.7, "jason": 0.3}
    assert parse_users(["jason=0.3"]) == pytest.approx({None: 0.7, "jason": 0.3})
    assert parse_users(["jason=0.5", "ann=0.5"]) == {"jason": 0.5, "ann": 0.5, None: 0.0}
    with pytest.raises(ValueError, match="NAME=WEIGHT"):
        parse_users(["jason"])
    with pytest.raises(ValueError, match="weight"):
        parse_users(["jason=lots"])


def test_user_cookie_is_encoded_like_productpages_set_cookie() -> None:
    for name in ("jason", "Ann Smith", 'quote"d'):
        response = web.Response()
        response.set_cookie("user", name)  # what productpage's /login does
        assert user_cookie(name) == f"user={response.cookies['user'].coded_value}"


def test_reviews_version_of_reads_the_marker() -> None:
    assert reviews_version_of(b'<section data-reviews-version="v3">') == "v3"
    assert reviews_version_of(b"<p>Sorry</p>") == "unknown"


def test_constructor_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rate"):
        TrafficGenerator("http://x", rate=-1)
    with pytest.raises(ValueError, match="users"):
        TrafficGenerator("http://x", rate=1, users={None: 0})
    with pytest.raises(ValueError, match="timeout"):
        TrafficGenerator("http://x", rate=1, timeout=0)


async def test_cli_prints_the_report(gateway: FakeGateway) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "meshcore.traffic",
        "--url",
        gateway.url,
        "--rate",
        "20",
        "--duration",
        "1",
        "--user",
        "jason=0.5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)

    assert process.returncode == 0, stderr.decode()
    report = json.loads(stdout)
    assert report["sent"] > 0 and report["completed"] == gateway.received == report["sent"]
    assert set(report["by_user"]) <= {"anonymous", "jason"}


async def test_cli_stops_early_on_sigint_and_still_reports(gateway: FakeGateway) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "meshcore.traffic", "--url", gateway.url, "--rate", "20", "--duration", "0"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await async_wait_until(holds(lambda: gateway.received >= 5), timeout=20, what="CLI traffic")
        process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, stderr.decode()
    assert json.loads(stdout)["sent"] >= 5
