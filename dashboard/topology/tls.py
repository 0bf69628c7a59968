"""Which of an Envoy's clusters originate TLS, from its config dump (for the mTLS flag of edges).

Pure functions. Accepts a full `/config_dump` or `/config_dump?resource=dynamic_active_clusters`.
A cluster counts as TLS when its transport socket (or any transport_socket_matches entry) is
Envoy's TLS socket (`envoy.transport_sockets.tls` / an `UpstreamTlsContext`), as Istio configures
for ISTIO_MUTUAL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _clusters(config_dump: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for config in config_dump.get("configs", []):
        if "cluster" in config:  # resource=dynamic_active_clusters: one entry per cluster
            yield config["cluster"]
        for key in ("static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters"):
            for entry in config.get(key, []):
                if "cluster" in entry:
                    yield entry["cluster"]


def _is_tls(socket: dict[str, Any] | None) -> bool:
    if not socket:
        return False
    typed = (socket.get("typed_config") or {}).get("@type", "")
    return "tls" in socket.get("name", "").lower() or typed.endswith("UpstreamTlsContext")


def tls_cluster_names(config_dump: dict[str, Any]) -> set[str]:
    names = set()
    for cluster in _clusters(config_dump):
        sockets = [cluster.get("transport_socket")]
        sockets += [m.get("transport_socket") for m in cluster.get("transport_socket_matches", [])]
        if any(_is_tls(s) for s in sockets):
            names.add(cluster.get("name", ""))
    return names
