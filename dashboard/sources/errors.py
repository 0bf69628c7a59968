"""The one failure type of every source adapter."""

from __future__ import annotations

from collections.abc import Iterable

from meshcore.model.errors import FieldError


class SourceError(Exception):
    """A source could not answer or refused a request; the message says which and why.

    `status` is the HTTP status the source answered (None when it gave no answer: timeout,
    connection refused, bad JSON); `errors` are the field problems it reported (for example the
    control plane's 422 `{path, message}` list), as data, so callers never parse the message.
    """

    def __init__(self, message: str, status: int | None = None, errors: Iterable[FieldError] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.errors: list[FieldError] = list(errors)

    @property
    def unreachable(self) -> bool:
        """True when the source gave no HTTP answer at all (down, timed out, unparsable)."""
        return self.status is None
