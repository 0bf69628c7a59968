"""Steady synthetic load at the ingress gateway: BookInfo product page views by a mix of users.

The generator is open-loop: request k is due at `start + k / rate`, whether or not earlier requests
have been answered, because a real user population does not slow down when the site does (a
closed loop would hide exactly the latency a route change causes). To keep a stalled backend from
piling up unbounded work, at most `max_in_flight` requests are outstanding; a request that falls
due while the cap is reached is not sent and is counted in `skipped`.

Each request is anonymous or signed in as one of `users`, drawn by weight. Signed-in requests carry
the cookie `user=<name>`, exactly what productpage's POST /login sets, so productpage sends
`end-user: <name>` on and user-based routes (Istio's "jason" rule) apply.

CLI:  python -m meshcore.traffic --url http://127.0.0.1:8080 --rate 10 --duration 30 [--user jason=0.3]
prints the report as JSON when the duration is over or on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from types import MappingProxyType
from typing import Any

import aiohttp

DEFAULT_USERS: Mapping[str | None, float] = MappingProxyType({None: 0.7, "jason": 0.3})
ANONYMOUS = "anonymous"  # how the user None is spelled in reports
KNOWN_REVIEWS_VERSIONS = ("v1", "v2", "v3")
USER_COOKIE = "user"
# Latencies kept for the percentiles in report(): the most recent ones, bounded memory.
LATENCY_WINDOW = 10_000

_REVIEWS_VERSION = re.compile(rb'data-reviews-version="([A-Za-z0-9._-]{1,32})"')


def reviews_version_of(page: bytes) -> str:
    """The reviews version a product page shows (its `data-reviews-version`), "unknown" if none."""
    match = _REVIEWS_VERSION.search(page)
    return match.group(1).decode() if match else "unknown"


def user_cookie(name: str) -> str:
    """The Cookie header value for `name`, encoded as productpage's Set-Cookie encodes it."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[USER_COOKIE] = name
    return f"{USER_COOKIE}={cookie[USER_COOKIE].coded_value}"


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class TrafficGenerator:
    """Open-loop load: `rate` GETs per second of `base_url + path`, as a weighted mix of users.

    Contract
      - `start()`, `stop()` and `set_rate()` must be called on the event loop that runs the
        generator (from another thread use `asyncio.run_coroutine_threadsafe` /
        `loop.call_soon_threadsafe`). `report()` may be called from any thread at any time; it
        returns a consistent snapshot.
      - Counting: `sent` = requests started; each ends as `completed` (an HTTP response of any
        status arrived), `errors` (connection error or `timeout` seconds passed) or `cancelled`
        (still open when stop() gave up waiting); `sent == completed + errors + cancelled +
        in_flight`. `skipped` requests were due but not sent because `max_in_flight` were open.
      - `by_reviews_version` counts completed responses by the page's `data-reviews-version`
        ("unknown" when the page has none, e.g. reviews was unavailable or the status not 200).
      - Latencies are milliseconds from send to the last byte of the body.
    """

    def __init__(
        self,
        base_url: str,
        rate: float,
        users: Mapping[str | None, float] = DEFAULT_USERS,
        path: str = "/productpage",
        timeout: float = 10.0,
        max_in_flight: int = 200,
        seed: int | None = None,
    ) -> None:
        _check_rate(rate)
        if not users or any(weight < 0 for weight in users.values()) or sum(users.values()) <= 0:
            raise ValueError("users: weights must be >= 0 and at least one must be > 0")
        if timeout <= 0:
            raise ValueError(f"timeout: must be > 0 seconds, got {timeout}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight: must be >= 1, got {max_in_flight}")
        self.url = base_url.rstrip("/") + "/" + path.lstrip("/")
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self._rate = float(rate)
        self._users = list(users.keys())
        self._weights = list(users.values())
        self._random = random.Random(seed)

        self._lock = threading.Lock()  # guards the counters below against report() from other threads
        self._sent = self._completed = self._errors = self._skipped = self._cancelled = 0
        self._in_flight = 0
        self._by_status: Counter[str] = Counter()
        self._by_version: Counter[str] = Counter({version: 0 for version in KNOWN_REVIEWS_VERSIONS})
        self._by_version["unknown"] = 0
        self._by_user: Counter[str] = Counter()
        self._errors_by_kind: Counter[str] = Counter()
        self._latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)

        self._started_wall: datetime | None = None
        self._started: float | None = None
        self._stopped: float | None = None
        self._session: aiohttp.ClientSession | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()
        self._wakeup: asyncio.Event | None = None
        self._rate_changed = False

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def running(self) -> bool:
        return self._scheduler is not None and not self._scheduler.done()

    async def start(self) -> None:
        """Begin sending; the first request goes out at once. RuntimeError if already started."""
        if self._started is not None:
            raise RuntimeError("TrafficGenerator.start(): already started (a generator runs once)")
        self._session = aiohttp.ClientSession(
            # As many connections as requests may be open, so none waits in the pool queue.
            connector=aiohttp.TCPConnector(limit=self.max_in_flight),
            # Each request states its user explicitly; a jar would leak cookies between users.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._wakeup = asyncio.Event()
        self._started_wall = datetime.now(UTC)
        self._started = time.monotonic()
        self._scheduler = asyncio.create_task(self._schedule(), name="traffic-scheduler")

    async def stop(self, grace: float = 2.0) -> None:
        """Stop sending, wait up to `grace` seconds for open requests, cancel the rest. Idempotent."""
        if self._scheduler is None or self._stopped is not None:
            return
        self._scheduler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._scheduler
        if self._requests:
            await asyncio.wait(set(self._requests), timeout=grace)
        for task in list(self._requests):
            task.cancel()
        if self._requests:
            await asyncio.gather(*self._requests, return_exceptions=True)
        self._stopped = time.monotonic()
        if self._session is not None:
            await self._session.close()

    def set_rate(self, rate: float) -> None:
        """Change the target rate (requests/s, >= 0; 0 pauses). Takes effect at once: the next
        request is due 1/rate seconds from now."""
        _check_rate(rate)
        self._rate = float(rate)
        self._rate_changed = True
        if self._wakeup is not None:
            self._wakeup.set()

    def report(self) -> dict[str, Any]:
        """A JSON-serializable snapshot of the counters (see the class docstring for meanings)."""
        with self._lock:
            latencies = sorted(self._latencies_ms)
            snapshot: dict[str, Any] = {
                "url": self.url,
                "rate": self._rate,
                "started_at": self._started_wall.isoformat() if self._started_wall else None,
                "elapsed_s": round(self._elapsed(), 3),
                "sent": self._sent,
                "completed": self._completed,
                "in_flight": self._in_flight,
                "skipped": self._skipped,
                "errors": self._errors,
                "errors_by_kind": dict(self._errors_by_kind),
                "cancelled": self._cancelled,
                "by_status": dict(sorted(self._by_status.items())),
                "by_reviews_version": dict(self._by_version),
                "by_user": dict(self._by_user),
            }
        snapshot["latency_ms"] = (
            {
                "p50": round(_percentile(latencies, 0.50), 2),
                "p95": round(_percentile(latencies, 0.95), 2),
                "p99": round(_percentile(latencies, 0.99), 2),
                "max": round(latencies[-1], 2),
            }
            if latencies
            else None
        )
        return snapshot

    def _elapsed(self) -> float:
        if self._started is None:
            return 0.0
        return (self._stopped or time.monotonic()) - self._started

    async def _schedule(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        anchor, index = loop.time(), 0
        while True:
            now = loop.time()
            if self._rate_changed:
                # Re-anchor so the new rate applies from now on, without a burst to "catch up"
                # on the old schedule.
                self._rate_changed = False
                anchor, index = now, 1
            if self._rate <= 0:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            due = anchor + index / self._rate
            if due > now:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), due - now)
                continue
            # Due (or overdue, if the loop was busy): send now. Overdue requests are sent too, so
            # the count over time matches the rate even when the loop lags.
            self._launch()
            index += 1
            if index % 64 == 0:
                await asyncio.sleep(0)  # let responses be processed during a catch-up burst

    def _launch(self) -> None:
        user = self._random.choices(self._users, self._weights)[0]
        with self._lock:
            if self._in_flight >= self.max_in_flight:
                self._skipped += 1
                return
            self._sent += 1
            self._in_flight += 1
            self._by_user[ANONYMOUS if user is None else user] += 1
        task = asyncio.create_task(self._request(user))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _request(self, user: str | None) -> None:
        assert self._session is not None
        headers = {"Cookie": user_cookie(user)} if user is not None else {}
        started = time.monotonic()
        outcome = "cancelled"
        status = version = ""
        try:
            async with self._session.get(
                self.url,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                body = await response.read()
            outcome, status, version = "completed", str(response.status), reviews_version_of(body)
        except TimeoutError:
            outcome, status = "error", "timeout"
        except aiohttp.ClientError:
            outcome, status = "error", "connection"
        except Exception:
            # Anything else (a malformed response the client rejects, ...) is still a failed
            # request, not a reason to lose the count.
            outcome, status = "error", "other"
        finally:
            latency_ms = (time.monotonic() - started) * 1000.0
            with self._lock:
                self._in_flight -= 1
                if outcome == "completed":
                    self._completed += 1
                    self._by_status[status] += 1
                    self._by_version[version] += 1
                    self._latencies_ms.append(latency_ms)
                elif outcome == "error":
                    self._errors += 1
                    self._errors_by_kind[status] += 1
                else:
                    self._cancelled += 1


def _check_rate(rate: float) -> None:
    if not rate >= 0:  # also rejects NaN
        raise ValueError(f"rate: must be >= 0 requests/s, got {rate}")


def parse_users(specs: Sequence[str]) -> dict[str | None, float]:
    """`["jason=0.3", ...]` -> `{None: 0.7, "jason": 0.3}`: anonymous users get what the named
    users leave of 1.0 (nothing if their weights add up to 1 or more). No specs: DEFAULT_USERS."""
    if not specs:
        return dict(DEFAULT_USERS)
    users: dict[str | None, float] = {}
    for spec in specs:
        name, sep, weight_text = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--user: expected NAME=WEIGHT, got {spec!r}")
        try:
            weight = float(weight_text)
        except ValueError:
            raise ValueError(f"--user {name}: weight must be a number, got {weight_text!r}") from None
        if not weight >= 0:
            raise ValueError(f"--user {name}: weight must be >= 0, got {weight}")
        users[name] = weight
    named = sum(weight for weight in users.values())
    users[None] = max(0.0, 1.0 - named)
    return users


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m meshcore.traffic", description="Open-loop BookInfo traffic; prints a JSON report."
    )
    parser.add_argument("--url", required=True, help="gateway base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second (default 10)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds; 0 runs until Ctrl-C")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME=WEIGHT",
        help="signed-in user and its share (repeatable); default jason=0.3, the rest anonymous",
    )
    parser.add_argument("--path", default="/productpage")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    parser.add_argument("--max-in-flight", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None, help="seed of the user draw (reproducible mix)")
    return parser


async def run(generator: TrafficGenerator, duration: float) -> dict[str, Any]:
    """Run `generator` for `duration` seconds (0: until SIGINT/SIGTERM) and return its report."""
    finished = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, finished.set)
    try:
        await generator.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), duration if duration > 0 else None)
    finally:
        await generator.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return generator.report()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.duration < 0:
            raise ValueError(f"--duration: must be >= 0 seconds, got {args.duration}")
        generator = TrafficGenerator(
            args.url,
            args.rate,
            users=parse_users(args.user),
            path=args.path,
            timeout=args.timeout,
            max_in_flight=args.max_in_flight,
            seed=args.seed,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = asyncio.run(run(generator, args.duration))
    print(json.dumps(report, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
