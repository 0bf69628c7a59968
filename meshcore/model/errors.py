"""Validation errors that name the offending field by its path (``spec.http[0].route[1].weight``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem with one field. ``path`` uses dots for object keys and ``[i]`` for list items."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def prefixed(self, prefix: str) -> FieldError:
        """The same error with ``prefix`` in front of its path (``document[1]`` + ``spec.hosts``)."""
        if not prefix:
            return self
        return FieldError(join_path(prefix, self.path), self.message)

    def to_dict(self) -> dict[str, str]:
        """JSON form used by the resource API's 422 responses."""
        return {"path": self.path, "message": self.message}


def join_path(prefix: str, path: str) -> str:
    """Join two path fragments: ``join_path("spec", "hosts")`` -> ``spec.hosts``; ``[0]`` joins tight."""
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


class ValidationError(ValueError):
    """Raised when input is refused; ``errors`` lists every problem found, not just the first."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


def error_body(message: str, errors: Iterable[FieldError] = ()) -> dict[str, Any]:
    """The one JSON error shape of every API in the project (resource API, tracer, dashboard):

    ``{"error": "<what went wrong>", "errors": [{"path": "...", "message": "..."}]}``

    ``errors`` lists the field problems (empty when the failure is not about a field). Build error
    bodies only with this function and serialize them with a JSON encoder, never by formatting
    strings: user input inside a message must not be able to break the JSON.
    """
    return {"error": message, "errors": [error.to_dict() for error in errors]}
