"""Fixtures for the model tests: the local BookInfo registry and a stored BookInfo install."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.model.registry import Registry
from meshcore.model.resources import Resource
from tests.meshcore.model.bookinfo_samples import load_sample


@pytest.fixture(scope="session")
def registry() -> Registry:
    return bookinfo_registry()


@pytest.fixture
def sample() -> Callable[[str], list[Resource]]:
    return load_sample


@pytest.fixture
def baseline() -> list[Resource]:
    """What a BookInfo install stores: every DestinationRule, all-v1 routes and the ingress gateway."""
    return (
        load_sample("destination-rule-all.yaml")
        + load_sample("virtual-service-all-v1.yaml")
        + load_sample("bookinfo-gateway.yaml")
    )
