"""Blocking JSON-over-HTTP with a deadline, shared by the adapters (stdlib only: no pool to leak)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from dashboard.sources.errors import SourceError


def get_bytes(url: str, timeout: float) -> bytes:
    """GET `url`; raise SourceError on any failure or non-2xx status. `timeout` in seconds."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise SourceError(f"GET {url}: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(f"GET {url}: {reason}") from None


def get_json(url: str, timeout: float) -> Any:
    body = get_bytes(url, timeout)
    try:
        return json.loads(body)
    except ValueError as error:
        raise SourceError(f"GET {url}: invalid JSON ({error})") from None
