"""The resource store: resourceVersion conflicts, all-or-nothing batches, persistence."""

from __future__ import annotations

import pytest

from meshcore.controlplane.store import ConflictError, NotFoundError, ResourceStore
from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.yaml_io import parse_documents
from tests.support.samples import reviews_weights, sample


def accept_all(_candidate, _changed):
    return []


def one(text: str):
    (resource,) = parse_documents(text)
    return resource


def test_apply_assigns_versions_and_reports_actions(tmp_path):
    store = ResourceStore(tmp_path / "resources.json")
    first = store.apply(parse_documents(sample("destination-rule-all")), accept_all)
    assert {r.action for r in first} == {"created"}
    assert {r.resource.resource_version for r in first} == {"1"}
    again = store.apply(parse_documents(sample("destination-rule-all")), accept_all)
    assert {r.action for r in again} == {"unchanged"} and store.revision == 1
    changed = store.apply([one(reviews_weights(v1=100))], accept_all)
    assert changed[0].action == "created" and changed[0].resource.resource_version == "2"


def test_stale_version_conflicts_and_changes_nothing(tmp_path):
    store = ResourceStore(tmp_path / "resources.json")
    store.apply([one(reviews_weights(v1=100))], accept_all)
    store.apply([one(reviews_weights(v2=100))], accept_all)
    stale = one(reviews_weights(v3=100)).with_version("1")
    with pytest.raises(ConflictError, match="resourceVersion 1 is stale"):
        store.apply([stale], accept_all)
    assert store.get(stale.key).spec == one(reviews_weights(v2=100)).spec


def test_a_refused_batch_stores_nothing(tmp_path):
    store = ResourceStore(tmp_path / "resources.json")

    def refuse(_candidate, _changed):
        return [FieldError("spec.hosts", "nope")]

    with pytest.raises(ValidationError):
        store.apply(parse_documents(sample("destination-rule-all")), refuse)
    assert store.list() == [] and store.revision == 0
    assert not (tmp_path / "resources.json").exists()


def test_resources_survive_a_restart(tmp_path):
    path = tmp_path / "resources.json"
    store = ResourceStore(path)
    store.apply(parse_documents(sample("destination-rule-all")), accept_all)
    store.apply([one(reviews_weights(v1=50, v3=50))], accept_all)
    reloaded = ResourceStore(path)
    assert reloaded.revision == store.revision
    assert [r.to_dict() for r in reloaded.list()] == [r.to_dict() for r in store.list()]


def test_delete_checks_version_and_existence(tmp_path):
    store = ResourceStore(tmp_path / "resources.json")
    (created,) = store.apply([one(reviews_weights(v1=100))], accept_all)
    with pytest.raises(NotFoundError):
        store.delete(("VirtualService", "default", "nope"), accept_all)
    with pytest.raises(ConflictError):
        store.delete(created.resource.key, accept_all, resource_version="99")
    store.delete(created.resource.key, accept_all, resource_version=created.resource.resource_version)
    assert store.list() == []
