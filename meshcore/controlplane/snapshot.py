"""Immutable, versioned, consistency-checked per-node snapshots and the cache that publishes them.

go-control-plane's model: the transport (xds_server) depends only on SnapshotCache; translation
produces resources; a snapshot is published only when it is internally consistent.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2
from google.protobuf.message import Message

from meshcore.controlplane.builders.proto import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
)


class InconsistentSnapshot(ValueError):
    """A snapshot names a resource it does not contain; it is never published."""


@dataclass(frozen=True)
class TypedResources:
    """The resources of one type in a snapshot and their content hash (used as version_info)."""

    resources: Mapping[str, Message]
    version: str

    @classmethod
    def of(cls, resources: Mapping[str, Message]) -> TypedResources:
        digest = hashlib.sha256()
        for name in sorted(resources):
            digest.update(name.encode())
            digest.update(resources[name].SerializeToString(deterministic=True))
        return cls(MappingProxyType(dict(resources)), digest.hexdigest()[:12])


@dataclass(frozen=True)
class Snapshot:
    """Everything one proxy is configured with at one generation of the mesh config."""

    generation: int
    types: Mapping[str, TypedResources] = field(default_factory=dict)

    @classmethod
    def build(cls, generation: int, resources: Mapping[str, Mapping[str, Message]]) -> Snapshot:
        snapshot = cls(
            generation, MappingProxyType({t: TypedResources.of(resources.get(t, {})) for t in PUSH_ORDER})
        )
        errors = snapshot.consistency_errors()
        if errors:
            raise InconsistentSnapshot("; ".join(errors))
        return snapshot

    def resources(self, type_url: str) -> Mapping[str, Message]:
        return self.types[type_url].resources

    def with_resources(self, type_url: str, resources: Mapping[str, Message]) -> Snapshot:
        """The same snapshot (same generation) with the resources of one type replaced; used to
        push rotated SDS secrets without touching the rest of the configuration."""
        types = dict(self.types)
        types[type_url] = TypedResources.of(resources)
        return Snapshot(self.generation, MappingProxyType(types))

    def consistency_errors(self) -> list[str]:
        """Every EDS cluster has endpoints, every RDS name a listener uses exists, every cluster a
        route names exists."""
        errors: list[str] = []
        clusters = self.resources(CLUSTER_TYPE)
        endpoints = self.resources(ENDPOINT_TYPE)
        routes = self.resources(ROUTE_TYPE)
        for name, cluster in clusters.items():
            assert isinstance(cluster, cluster_pb2.Cluster)
            if (
                cluster.type == cluster_pb2.Cluster.EDS
                and cluster.eds_cluster_config.service_name not in endpoints
            ):
                errors.append(f"cluster {name} has no endpoints")
        for route_name in referenced_route_names(self.resources(LISTENER_TYPE).values()):
            if route_name not in routes:
                errors.append(f"route configuration {route_name} is referenced but missing")
        for route_name, route_config in routes.items():
            for cluster_name in referenced_clusters(route_config):
                if cluster_name not in clusters:
                    errors.append(f"route configuration {route_name} names unknown cluster {cluster_name}")
        return errors


def referenced_route_names(listeners) -> set[str]:
    names: set[str] = set()
    for listener in listeners:
        assert isinstance(listener, listener_pb2.Listener)
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                manager = http_connection_manager_pb2.HttpConnectionManager()
                if network_filter.typed_config.Unpack(manager) and manager.HasField("rds"):
                    names.add(manager.rds.route_config_name)
    return names


def referenced_clusters(route_config) -> set[str]:
    names: set[str] = set()
    for host in route_config.virtual_hosts:
        for route in host.routes:
            action = route.route
            if action.cluster:
                names.add(action.cluster)
            names.update(weighted.name for weighted in action.weighted_clusters.clusters)
            names.update(mirror.cluster for mirror in action.request_mirror_policies)
    return names


class SnapshotCache:
    """The latest snapshot of every node, with change notification.

    Lives on one asyncio event loop; `set_snapshots` and `watch` must be called from that loop.
    """

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._watchers: dict[str, set[asyncio.Queue[Snapshot]]] = {}

    def set_snapshots(self, snapshots: Mapping[str, Snapshot]) -> None:
        """Publish new snapshots (already consistency-checked) and wake every stream of those nodes."""
        for node_id, snapshot in snapshots.items():
            self._snapshots[node_id] = snapshot
            for queue in self._watchers.get(node_id, ()):
                queue.put_nowait(snapshot)

    def get(self, node_id: str) -> Snapshot | None:
        return self._snapshots.get(node_id)

    def node_ids(self) -> list[str]:
        return sorted(self._snapshots)

    def watch(self, node_id: str) -> asyncio.Queue[Snapshot]:
        """A queue receiving every snapshot published for `node_id` from now on."""
        queue: asyncio.Queue[Snapshot] = asyncio.Queue()
        self._watchers.setdefault(node_id, set()).add(queue)
        return queue

    def unwatch(self, node_id: str, queue: asyncio.Queue[Snapshot]) -> None:
        self._watchers.get(node_id, set()).discard(queue)
