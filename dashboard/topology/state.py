"""Poller state shared by every worker, in Redis: the last counters of each Envoy, node positions,
the last good registry and the last map. Several Celery workers may poll; none keeps this in memory.

`PollState` is the Protocol; `RedisPollState` the real one; `MemoryPollState` for tests/benchmarks.
"""

from __future__ import annotations

import json
from contextlib import contextmanager, suppress
from typing import Any, Protocol

from dashboard.topology.envoystats import NodeSample

PREFIX = "meshscope:topology:"


class PollState(Protocol):
    """What a poll keeps between runs. Values are JSON-serializable; every method may be called
    from several workers at once (`lock` serializes the polls themselves)."""

    def swap_samples(self, current: dict[str, NodeSample]) -> dict[str, NodeSample]:
        """Store `current` and return the samples stored before for the same nodes."""
        ...

    def load(self, key: str) -> Any | None:
        """The value saved under `key`, or None when there is none."""
        ...

    def save(self, key: str, value: Any) -> None:
        """Store `value` under `key`, replacing what was there."""
        ...

    def lock(self, timeout: float):
        """Context manager yielding True when this caller holds the poll lock, False if another does."""
        ...


class MemoryPollState:
    """`PollState` in this process's memory, for tests and benchmarks: one process, one thread."""

    def __init__(self) -> None:
        self.samples: dict[str, dict] = {}
        self.values: dict[str, str] = {}
        self.locked = False

    def swap_samples(self, current: dict[str, NodeSample]) -> dict[str, NodeSample]:
        previous = {
            name: NodeSample.from_dict(self.samples[name]) for name in current if name in self.samples
        }
        for name, sample in current.items():
            self.samples[name] = sample.to_dict()
        return previous

    def load(self, key: str) -> Any | None:
        raw = self.values.get(key)
        return None if raw is None else json.loads(raw)

    def save(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)

    @contextmanager
    def lock(self, timeout: float):
        if self.locked:
            yield False
            return
        self.locked = True
        try:
            yield True
        finally:
            self.locked = False


class RedisPollState:
    """State in one Redis; `client` is a redis.Redis. Samples live in one hash (field per Envoy)."""

    def __init__(self, client) -> None:
        self.client = client

    def swap_samples(self, current: dict[str, NodeSample]) -> dict[str, NodeSample]:
        names = list(current)
        if not names:
            return {}
        pipe = self.client.pipeline()
        pipe.hmget(PREFIX + "samples", names)
        pipe.hset(PREFIX + "samples", mapping={n: json.dumps(s.to_dict()) for n, s in current.items()})
        stored, _ = pipe.execute()
        return {
            name: NodeSample.from_dict(json.loads(raw))
            for name, raw in zip(names, stored, strict=True)
            if raw
        }

    def load(self, key: str) -> Any | None:
        raw = self.client.get(PREFIX + key)
        return None if raw is None else json.loads(raw)

    def save(self, key: str, value: Any) -> None:
        self.client.set(PREFIX + key, json.dumps(value))

    def lock(self, timeout: float):
        return try_lock(self.client, PREFIX + "poll-lock", timeout)


@contextmanager
def try_lock(client, name: str, timeout: float):
    """Context manager over the Redis lock `name` (expiring after `timeout` s), taken without
    waiting: yields True when this caller holds it, False when someone else does."""
    lock = client.lock(name, timeout=timeout, blocking=False)
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            with suppress(Exception):
                lock.release()


def redis_poll_state() -> RedisPollState:
    """The Redis-backed state of settings.REDIS_URL, with 2 s socket timeouts."""
    import redis
    from django.conf import settings

    return RedisPollState(
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    )
