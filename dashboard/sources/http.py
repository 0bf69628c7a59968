"""Blocking JSON-over-HTTP with a deadline, shared by the adapters (stdlib only: no pool to leak).

Every failure becomes a SourceError carrying the HTTP status and, when the server answered with the
project's error body (`{"error", "errors": [{path, message}]}`), its message and field errors.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from dashboard.sources.errors import SourceError
from meshcore.model.errors import FieldError


def _error_from_body(method: str, url: str, status: int, body: bytes) -> SourceError:
    """A SourceError for an HTTP error answer, keeping the server's own message and field errors."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        raw_errors = document.get("errors") or []
        errors = [
            FieldError(str(e.get("path", "")), str(e.get("message", "")))
            for e in raw_errors
            if isinstance(e, dict)
        ]
        return SourceError(f"{method} {url}: HTTP {status}: {document['error']}", status, errors)
    return SourceError(f"{method} {url}: HTTP {status}", status)


def request_bytes(
    method: str,
    url: str,
    timeout: float,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """Send one request; return the body of a 2xx answer, raise SourceError otherwise.

    `timeout` is in seconds and bounds connecting and each read.
    """
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Accept": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise _error_from_body(method, url, error.code, error.read()) from None
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(f"{method} {url}: {reason}") from None


def request_json(
    method: str,
    url: str,
    timeout: float,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """`request_bytes`, decoded as JSON (SourceError when the answer is not JSON)."""
    answer = request_bytes(method, url, timeout, body, headers)
    try:
        return json.loads(answer)
    except ValueError as error:
        raise SourceError(f"{method} {url}: invalid JSON ({error})") from None


def get_bytes(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> bytes:
    """GET `url`; raise SourceError on any failure or non-2xx status. `timeout` in seconds."""
    return request_bytes("GET", url, timeout, headers=headers)


def get_json(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> Any:
    return request_json("GET", url, timeout, headers=headers)
