"""Parsing and validating what users apply, away from the event loop that serves ADS.

The control plane's event loop also streams config to every Envoy, so the CPU spent on a user's
input must not run there. `ProcessChecker` runs `parse_documents` and `validate` in a worker
process (pebble's process pool, started by forkserver rather than fork because the control plane
runs gRPC threads) and gives each call `timeout_s` seconds: a call that takes longer has its worker
killed and replaced and is answered as refused input, so no input can hold the control plane up,
whatever it costs. `InlineChecker` does the same work in the calling thread (unit tests, tools).

Both answer with data, never by raising from the worker: `parse` raises `ValidationError` in the
caller (the API answers 400), `validate` returns the field errors (422). Inputs are bounded
before they are built (`meshcore.model.yaml_limits`), so the time bound is the last line, not the
first.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

import pebble

from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.registry import Registry
from meshcore.model.resources import Resource
from meshcore.model.validation import validate
from meshcore.model.yaml_io import parse_documents

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 5.0
# What the worker imports once (in the fork server), so every replacement worker starts warm.
_PRELOAD = ["meshcore.controlplane.checker"]

ParseResult = tuple[list[Resource], list[FieldError]]


def parse_text(text: str) -> ParseResult:
    """(resources, []) for parsable input, ([], errors) otherwise. Runs in the worker."""
    try:
        return parse_documents(text), []
    except ValidationError as error:
        return [], error.errors


class InputChecker(Protocol):
    """Parses and validates applied input. Each method is safe to call from the event loop."""

    async def parse(self, text: str) -> list[Resource]:
        """The resources in `text`; ValidationError (syntax, envelope, limits, time) otherwise."""
        ...

    async def validate(
        self, resources: Sequence[Resource], registry: Registry, existing: Sequence[Resource]
    ) -> list[FieldError]:
        """`meshcore.model.validation.validate`, bounded in time ([] means valid)."""
        ...

    def close(self) -> None: ...


def _parsed(result: ParseResult) -> list[Resource]:
    resources, errors = result
    if errors:
        raise ValidationError(errors)
    return resources


class InlineChecker:
    """Checks in the calling thread: no time bound, for tests and tools that run no ADS server."""

    async def parse(self, text: str) -> list[Resource]:
        return _parsed(parse_text(text))

    async def validate(
        self, resources: Sequence[Resource], registry: Registry, existing: Sequence[Resource]
    ) -> list[FieldError]:
        return validate(list(resources), registry, list(existing))

    def close(self) -> None:
        pass


class ProcessChecker:
    """Checks in one worker process, `timeout_s` seconds per call (see the module docstring).

    The pool starts on first use; `close` stops it (the control plane calls it on shutdown).
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._pool: pebble.ProcessPool | None = None

    def _ensure_pool(self) -> pebble.ProcessPool:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            self._pool = pebble.ProcessPool(max_workers=1, context=context)
        return self._pool

    async def start(self) -> None:
        """Start the worker now (so the first apply does not pay for it)."""
        await self._run(parse_text, "")

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        future = self._ensure_pool().schedule(function, args, timeout=self.timeout_s)
        try:
            return await asyncio.wrap_future(future)
        except (FutureTimeout, TimeoutError):
            raise ValidationError(
                [
                    FieldError(
                        "", f"checking this input took longer than {self.timeout_s:g} s; nothing was applied"
                    )
                ]
            ) from None
        except (BrokenProcessPool, pebble.ProcessExpired) as error:
            raise ValidationError(
                [FieldError("", f"this input could not be checked ({error}); nothing was applied")]
            ) from None

    async def parse(self, text: str) -> list[Resource]:
        return _parsed(await self._run(parse_text, text))

    async def validate(
        self, resources: Sequence[Resource], registry: Registry, existing: Sequence[Resource]
    ) -> list[FieldError]:
        try:
            return await self._run(validate, list(resources), registry, list(existing))
        except ValidationError as error:
            return error.errors

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=5)
            self._pool = None
