"""Envoy admin API adapter. Addresses are the registry's `admin_address` of an Envoy: `unix:/path`
(the local mesh's admin sockets) or `host:port`. Calls are GET only."""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import quote

from dashboard.sources.errors import SourceError
from dashboard.sources.http import endpoint_bytes

# Only the per-cluster golden-signal stats the TrafficMap needs: keeps each poll's answer small.
# 403 and 429 are the RBAC denials and rate limits; ssl.handshake tells mTLS connections; the
# inbound HCM counters of the mTLS and plaintext filter chains tell which requests were mTLS.
TRAFFIC_STATS_FILTER = (
    r"^cluster\.(outbound|inbound)\|.*\.(upstream_rq_total|upstream_rq_[2345]xx|upstream_rq_timeout"
    r"|upstream_rq_retry|upstream_cx_connect_fail|upstream_rq_time|upstream_rq_403|upstream_rq_429"
    r"|ssl\.handshake)$"
    r"|^http\.inbound_.*_(mtls|plaintext)\.(downstream_rq_total|rbac\.(allow|deny)_\.denied)$"
)


class EnvoyAdmin(Protocol):
    """Read-only view of one Envoy's admin API. Every method raises SourceError on failure."""

    def stats(self, address: str, filter_regex: str = TRAFFIC_STATS_FILTER) -> dict[str, Any]:
        """`/stats?format=json&usedonly&filter=...`: {"stats": [{"name","value"} | {"histograms": ...}]}."""
        ...

    def clusters(self, address: str) -> dict[str, Any]: ...

    def ready(self, address: str) -> str:
        """`/ready`: the server state ("LIVE" when serving); SourceError (status 503) otherwise."""
        ...

    def server_info(self, address: str) -> dict[str, Any]: ...

    def listeners(self, address: str) -> dict[str, Any]: ...

    def config_dump(self, address: str) -> dict[str, Any]: ...

    def active_clusters(self, address: str) -> dict[str, Any]:
        """`/config_dump?resource=dynamic_active_clusters`: the xDS clusters only (small)."""
        ...

    def certs(self, address: str) -> dict[str, Any]:
        """`/certs`: the certificates the Envoy holds (chains with SANs, serials, expiry)."""
        ...


class HttpEnvoyAdmin:
    """The real admin API over HTTP (on a Unix socket or TCP); `timeout` in seconds per call.
    Thread-safe (no shared state). Subclasses change how a request travels (`_bytes`), never
    which admin endpoints are read."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def _bytes(self, address: str, path: str, timeout: float) -> bytes:
        """The body of GET `path` (with its query string) from the Envoy at `address`."""
        return endpoint_bytes(address, path, timeout)

    def _json(self, address: str, path: str, timeout: float | None = None) -> Any:
        body = self._bytes(address, path, timeout or self.timeout)
        try:
            return json.loads(body)
        except ValueError as error:
            raise SourceError(f"GET {address} {path.split('?')[0]}: invalid JSON ({error})") from None

    def stats(self, address: str, filter_regex: str = TRAFFIC_STATS_FILTER) -> dict[str, Any]:
        return self._json(address, f"/stats?format=json&usedonly&filter={quote(filter_regex, safe='')}")

    def clusters(self, address: str) -> dict[str, Any]:
        return self._json(address, "/clusters?format=json")

    def ready(self, address: str) -> str:
        return self._bytes(address, "/ready", self.timeout).decode("utf-8", "replace").strip()

    def server_info(self, address: str) -> dict[str, Any]:
        return self._json(address, "/server_info")

    def listeners(self, address: str) -> dict[str, Any]:
        return self._json(address, "/listeners?format=json")

    def active_clusters(self, address: str) -> dict[str, Any]:
        return self._json(address, "/config_dump?resource=dynamic_active_clusters")

    def certs(self, address: str) -> dict[str, Any]:
        return self._json(address, "/certs")

    def config_dump(self, address: str) -> dict[str, Any]:
        # Config dumps can be large: allow a longer deadline than the per-second poll.
        return self._json(address, "/config_dump", max(self.timeout, 3.0))


class RecordedEnvoyAdmin:
    """Answers from recorded documents keyed by address (tests and the synthetic-mesh benchmark).

    `documents[address]` maps an endpoint name ("stats", "clusters", ...) to its JSON, or to a
    callable returning it (so a test can make counters move). A missing address raises SourceError,
    as an unreachable sidecar would.
    """

    def __init__(self, documents: dict[str, dict[str, Any]]) -> None:
        self.documents = documents

    def _get(self, address: str, endpoint: str) -> dict[str, Any]:
        try:
            value = self.documents[address][endpoint]
        except KeyError:
            raise SourceError(f"{endpoint} from {address}: unreachable") from None
        return value() if callable(value) else value

    def stats(self, address: str, filter_regex: str = TRAFFIC_STATS_FILTER) -> dict[str, Any]:
        return self._get(address, "stats")

    def clusters(self, address: str) -> dict[str, Any]:
        return self._get(address, "clusters")

    def ready(self, address: str) -> str:
        """The recorded `/ready` answer, else the state in the recorded `/server_info`."""
        try:
            return str(self._get(address, "ready"))
        except SourceError:
            return str(self._get(address, "server_info").get("state", "LIVE"))

    def server_info(self, address: str) -> dict[str, Any]:
        return self._get(address, "server_info")

    def listeners(self, address: str) -> dict[str, Any]:
        return self._get(address, "listeners")

    def config_dump(self, address: str) -> dict[str, Any]:
        return self._get(address, "config_dump")

    def certs(self, address: str) -> dict[str, Any]:
        return self._get(address, "certs")

    def active_clusters(self, address: str) -> dict[str, Any]:
        try:
            return self._get(address, "active_clusters")
        except SourceError:
            return self._get(address, "config_dump")
