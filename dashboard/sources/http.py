"""Blocking JSON-over-HTTP with a deadline, shared by the adapters (stdlib only: no pool to leak).

Every failure becomes a SourceError carrying the HTTP status and, when the server answered with the
project's error body (`{"error", "errors": [{path, message}]}`), its message and field errors.
Besides URLs, `endpoint_bytes` reaches an endpoint named `host:port` or `unix:/path/to.sock`
(Envoy admin APIs listen on Unix sockets in the local mesh, out of every web page's reach).
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
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
    return _decode_json(method, url, request_bytes(method, url, timeout, body, headers))


UNIX_PREFIX = "unix:"
# A bearer token, or a callable giving it (or None) at each request.
TokenSource = str | Callable[[], str | None] | None


def auth_headers(token: TokenSource) -> dict[str, str]:
    """`Authorization: Bearer ...` for `token` ({} when there is none); raises SourceError when the
    token cannot be read (the callable's error message is kept)."""
    try:
        value = token() if callable(token) else token
    except (OSError, ValueError) as error:
        raise SourceError(f"no API token: {error}") from None
    return {"Authorization": f"Bearer {value}"} if value else {}


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix stream socket; `timeout` (seconds) bounds connecting and each read."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _unix_request_bytes(
    method: str, socket_path: str, path: str, timeout: float, headers: Mapping[str, str] | None
) -> bytes:
    where = f"{method} {UNIX_PREFIX}{socket_path} {path}"
    connection = UnixHTTPConnection(socket_path, timeout)
    try:
        connection.request(method, path, headers={"Accept": "application/json", **(headers or {})})
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise SourceError(f"{where}: {error}") from None
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise _error_from_body(method, f"{UNIX_PREFIX}{socket_path} {path}", response.status, body)
    return body


def endpoint_bytes(
    endpoint: str, path: str, timeout: float, method: str = "GET", headers: Mapping[str, str] | None = None
) -> bytes:
    """`method path` at `endpoint` (`host:port`, or `unix:/path` for a Unix socket); the body of a
    2xx answer, SourceError otherwise. `path` starts with "/" and may carry a query string."""
    if endpoint.startswith(UNIX_PREFIX):
        return _unix_request_bytes(method, endpoint[len(UNIX_PREFIX) :], path, timeout, headers)
    return request_bytes(method, f"http://{endpoint}{path}", timeout, headers=headers)


def endpoint_json(endpoint: str, path: str, timeout: float) -> Any:
    """GET `path` at `endpoint` (see `endpoint_bytes`), decoded as JSON."""
    return _decode_json("GET", f"{endpoint} {path}", endpoint_bytes(endpoint, path, timeout))


def _decode_json(method: str, where: str, answer: bytes) -> Any:
    try:
        return json.loads(answer)
    except ValueError as error:
        raise SourceError(f"{method} {where}: invalid JSON ({error})") from None


def get_bytes(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> bytes:
    """GET `url`; raise SourceError on any failure or non-2xx status. `timeout` in seconds."""
    return request_bytes("GET", url, timeout, headers=headers)


def get_json(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> Any:
    return request_json("GET", url, timeout, headers=headers)
