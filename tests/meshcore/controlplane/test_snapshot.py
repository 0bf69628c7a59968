"""Snapshots are refused when they name resources they do not carry."""

from __future__ import annotations

import pytest

from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.builders.listeners import TracingSettings
from meshcore.controlplane.builders.proto import ENDPOINT_TYPE, ROUTE_TYPE
from meshcore.controlplane.snapshot import InconsistentSnapshot, Snapshot, TypedResources
from meshcore.controlplane.translate import translate

REGISTRY = bookinfo_registry()
NODE = REGISTRY.workload("reviews-v2").node_id


def resources():
    return translate(REGISTRY, [], TracingSettings())[NODE]


def test_missing_endpoints_are_refused():
    broken = resources()
    broken[ENDPOINT_TYPE].pop("outbound|9080||ratings.default.svc.cluster.local")
    with pytest.raises(InconsistentSnapshot, match=r"ratings\.default\.svc\.cluster\.local has no endpoints"):
        Snapshot.build(2, broken)


def test_missing_route_configuration_is_refused():
    broken = resources()
    broken[ROUTE_TYPE].clear()
    with pytest.raises(InconsistentSnapshot, match="route configuration 9080 is referenced but missing"):
        Snapshot.build(2, broken)


def test_content_hash_is_the_version_and_ignores_generation():
    first, second = Snapshot.build(1, resources()), Snapshot.build(2, resources())
    assert first.types[ROUTE_TYPE].version == second.types[ROUTE_TYPE].version
    assert TypedResources.of({}).version != first.types[ROUTE_TYPE].version
