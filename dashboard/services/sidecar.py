"""The sidecar view: what one Envoy's admin API says, reduced to what an operator reads.

`sidecar_view` never raises: each admin call that fails is reported in `errors` (stale data),
the rest of the page still renders.
"""

from __future__ import annotations

import json
from typing import Any

from dashboard.sources.envoy import EnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.registry import MeshRegistry, NodeStatus


def cluster_rows(
    clusters_document: dict[str, Any], workloads_by_address: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """One row per cluster with its hosts: address, the workload behind it (a host's port is that
    workload's inbound port), health flags and request counters."""
    workloads_by_address = workloads_by_address or {}
    rows = []
    for cluster in clusters_document.get("cluster_statuses", []):
        hosts = []
        for host in cluster.get("host_statuses", []):
            socket = host.get("address", {}).get("socket_address", {})
            stats = {s.get("name"): int(s.get("value", 0) or 0) for s in host.get("stats", [])}
            health = host.get("health_status", {})
            eds = health.get("eds_health_status", "")
            failed = [k for k, v in health.items() if k != "eds_health_status" and v is True]
            hosts.append(
                {
                    "address": f"{socket.get('address', '?')}:{socket.get('port_value', '?')}",
                    "workload": workloads_by_address.get(
                        f"{socket.get('address')}:{socket.get('port_value')}", ""
                    ),
                    "health": ("unhealthy: " + ", ".join(failed)) if failed else (eds or "HEALTHY").lower(),
                    "rq_total": stats.get("rq_total", 0),
                    "rq_success": stats.get("rq_success", 0),
                    "rq_error": stats.get("rq_error", 0),
                    "rq_timeout": stats.get("rq_timeout", 0),
                    "cx_connect_fail": stats.get("cx_connect_fail", 0),
                }
            )
        rows.append(
            {
                "name": cluster.get("name", "?"),
                "added_via_api": cluster.get("added_via_api", False),
                "hosts": hosts,
            }
        )
    return sorted(rows, key=lambda r: r["name"])


def listener_rows(listeners_document: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for listener in listeners_document.get("listener_statuses", []):
        socket = listener.get("local_address", {}).get("socket_address", {})
        rows.append(
            {
                "name": listener.get("name", "?"),
                "address": f"{socket.get('address', '?')}:{socket.get('port_value', '?')}",
            }
        )
    return rows


def config_sections(config_dump: dict[str, Any]) -> list[dict[str, str]]:
    """The config dump split by resource type, pretty-printed, for collapsible sections."""
    sections = []
    for config in config_dump.get("configs", []):
        kind = config.get("@type", "unknown").rsplit(".", 1)[-1]
        sections.append({"title": kind, "text": json.dumps(config, indent=2, sort_keys=True)})
    return sections


def sidecar_view(
    envoy: EnvoyAdmin, admin_address: str, status: NodeStatus | None, registry: MeshRegistry | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {"admin_address": admin_address, "errors": [], "status": status}
    by_address = {f"{w.address}:{w.inbound_port}": w.name for w in registry.workloads} if registry else {}
    calls = {
        "server_info": lambda: envoy.server_info(admin_address),
        "clusters": lambda: cluster_rows(envoy.clusters(admin_address), by_address),
        "listeners": lambda: listener_rows(envoy.listeners(admin_address)),
        "config_sections": lambda: config_sections(envoy.config_dump(admin_address)),
    }
    for key, call in calls.items():
        try:
            view[key] = call()
        except SourceError as error:
            view[key] = None
            view["errors"].append(str(error))
    return view
