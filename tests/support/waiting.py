"""Wait with deadlines: poll until a condition holds or time runs out (never fixed sleeps)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """Call `condition` until it returns a truthy value and return that value.

    Exceptions raised by `condition` count as "not yet"; the last one is chained to the
    TimeoutError raised when `timeout` seconds pass.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
            if result:
                return result
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}") from last_error
        time.sleep(interval)


async def async_wait_until(
    condition: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """Async twin of wait_until for coroutine conditions."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = await condition()
            if result:
                return result
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}") from last_error
        await asyncio.sleep(interval)
