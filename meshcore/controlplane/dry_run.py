"""What a change would do to the Envoy config: per proxy, the route configs and clusters that differ.

`config_changes(current, proposed)` compares the snapshots being served with the ones a dry run
built, and groups proxies that would receive exactly the same change (every sidecar shares the
outbound route tables, so one edit typically changes the same RouteConfiguration on all of them).
Route configurations are given in full, before and after, in protobuf JSON (Envoy's own field
names, as `/config_dump` shows them), so a client can diff them without knowing meshcore.
Pure; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from meshcore.controlplane.builders.proto import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from meshcore.controlplane.snapshot import Snapshot


@dataclass(frozen=True)
class ConfigChange:
    """One change shared by the proxies in `node_ids`.

    `routes` maps a RouteConfiguration name to {"current": doc | None, "proposed": doc | None};
    clusters and listeners are listed by name (added / removed / changed).
    """

    node_ids: tuple[str, ...]
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, list[str]] = field(default_factory=dict)
    listeners: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_ids": list(self.node_ids),
            "routes": self.routes,
            "clusters": self.clusters,
            "listeners": self.listeners,
        }


class _Renderer:
    """Protobuf -> JSON, memoized per message object (sidecars share their outbound route messages)."""

    def __init__(self) -> None:
        self._done: dict[int, tuple[Message, dict[str, Any]]] = {}

    def __call__(self, message: Message) -> dict[str, Any]:
        cached = self._done.get(id(message))
        if cached is None or cached[0] is not message:
            cached = (message, json_format.MessageToDict(message, preserving_proto_field_name=True))
            self._done[id(message)] = cached
        return cached[1]


def _resources(snapshot: Snapshot | None, type_url: str) -> Mapping[str, Message]:
    return snapshot.resources(type_url) if snapshot is not None else {}


def _named_changes(before: Mapping[str, Message], after: Mapping[str, Message]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(name for name in set(before) & set(after) if before[name] != after[name]),
    }


def _node_change(current: Snapshot | None, proposed: Snapshot, render: _Renderer) -> dict[str, Any] | None:
    routes_before, routes_after = _resources(current, ROUTE_TYPE), _resources(proposed, ROUTE_TYPE)
    routes = {
        name: {
            "current": render(routes_before[name]) if name in routes_before else None,
            "proposed": render(routes_after[name]) if name in routes_after else None,
        }
        for name in sorted(set(routes_before) | set(routes_after))
        if routes_before.get(name) != routes_after.get(name)
    }
    clusters = _named_changes(_resources(current, CLUSTER_TYPE), _resources(proposed, CLUSTER_TYPE))
    listener_changes = _named_changes(_resources(current, LISTENER_TYPE), _resources(proposed, LISTENER_TYPE))
    listeners = sorted(name for names in listener_changes.values() for name in names)
    if not routes and not any(clusters.values()) and not listeners:
        return None
    return {"routes": routes, "clusters": clusters, "listeners": listeners}


def config_changes(
    current: Mapping[str, Snapshot | None], proposed: Mapping[str, Snapshot]
) -> list[ConfigChange]:
    """The config changes per group of proxies (node ids sorted; groups in order of their first node)."""
    render = _Renderer()
    groups: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for node_id in sorted(proposed):
        change = _node_change(current.get(node_id), proposed[node_id], render)
        if change is None:
            continue
        key = json.dumps(change, sort_keys=True)
        groups.setdefault(key, ([], change))[0].append(node_id)
    return [
        ConfigChange(tuple(node_ids), change["routes"], change["clusters"], change["listeners"])
        for node_ids, change in groups.values()
    ]
