"""Traffic through the gateway counted while a test does something else (bounded in count and time)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests


@dataclass
class GatewayWatch:
    """GET `url` back to back in a thread until stopped (at most `max_requests` or `max_seconds`).

    `statuses` counts the answers (0: no answer within 10 s). Use as a context manager.
    """

    url: str
    max_requests: int = 20_000
    max_seconds: float = 300.0
    statuses: Counter = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> GatewayWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=15)

    def _run(self) -> None:
        session = requests.Session()
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline and self.total < self.max_requests:
            try:
                self.statuses[session.get(self.url, timeout=10).status_code] += 1
            except requests.RequestException:
                self.statuses[0] += 1
        session.close()

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return self.statuses[200]
