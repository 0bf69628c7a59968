"""Istio's BookInfo sample files (meshcore/bookinfo/networking/) and a Resource factory for tests."""

from __future__ import annotations

from typing import Any

from meshcore.model.resources import Resource
from meshcore.model.yaml_io import parse_documents
from tests.support.samples import SAMPLES

SAMPLE_FILES = sorted(path.name for path in SAMPLES.glob("*.yaml"))


def load_sample(name: str) -> list[Resource]:
    return parse_documents((SAMPLES / name).read_text())


def make_resource(kind: str, name: str, spec: dict[str, Any], namespace: str = "default") -> Resource:
    return Resource(
        api_version="networking.istio.io/v1", kind=kind, name=name, namespace=namespace, spec=spec
    )
