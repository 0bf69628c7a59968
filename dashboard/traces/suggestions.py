"""Service-name suggestions for the trace search form, cached briefly per source (no Django).

The names are the source's /api/v2/services. A search page is drawn often and the list changes
rarely, so one answer serves every page drawn within `TTL_S` seconds of it. A failing source
gives no suggestions (the form works without them) and is asked again for the next page: failures
are not cached. Thread-safe: pages are drawn from several threads at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dashboard.sources.errors import SourceError
from dashboard.sources.traces import TraceSource

TTL_S = 30.0
# The page waits for the suggestions: a source that hangs costs each page at most this (seconds).
TIMEOUT_S = 1.0
# A datalist of thousands of names helps nobody and weighs on every page.
MAX_NAMES = 500


class NameCache:
    """Lists of names per key, each kept `ttl_s` seconds after it was loaded (`clock` in seconds)."""

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, list[str]]] = {}

    def get(self, key: str, load: Callable[[], list[str]]) -> list[str]:
        """The names cached for `key`, or `load()`'s (then cached). `load`'s errors propagate."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl_s:
            return entry[1]
        names = load()  # outside the lock: a slow source must not hold up other keys' pages
        with self._lock:
            self._entries[key] = (now, names)
        return names


_cache = NameCache()


def service_names(source: Callable[[], TraceSource], key: str, cache: NameCache = _cache) -> list[str]:
    """At most MAX_NAMES service names (sorted, as the source lists them) of the source that
    `source()` gives, [] when it fails. `source` is called only when the cache has nothing fresh (a
    source may probe its server to be built); `key` names the source in the cache (its URL)."""
    try:
        return cache.get(key, lambda: source().services()[:MAX_NAMES])
    except SourceError:
        return []
