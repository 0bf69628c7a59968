"""Refused input never changes the running mesh: field-level errors, 400/409/422, traffic unchanged."""

from __future__ import annotations

import pytest

from tests.support.samples import reviews_weights, sample

pytestmark = pytest.mark.mesh


@pytest.fixture
def pinned_to_v3(clean_mesh):
    clean_mesh.apply_ok(sample("destination-rule-all"))
    clean_mesh.apply_ok(reviews_weights(v3=100))
    return clean_mesh


def assert_still_v3(mesh) -> None:
    assert set(mesh.versions_seen(10)) == {"v3"}
    assert mesh.all_in_sync()


def test_unparsable_yaml_is_refused_with_its_location(pinned_to_v3):
    response = pinned_to_v3.apply("apiVersion: networking.istio.io/v1\nkind: [VirtualService\n")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors and "line" in errors[0]["message"]
    assert_still_v3(pinned_to_v3)


def test_invalid_resource_is_refused_with_field_paths_and_nothing_is_applied(pinned_to_v3):
    mesh = pinned_to_v3
    before = mesh.session.get(f"{mesh.api_url}/api/v1/virtualservices/reviews", timeout=5).json()
    bad_batch = (
        reviews_weights(v1=50, v2=40)
        + "---\n"
        + sample("virtual-service-ratings-test-abort").replace("httpStatus: 500", "httpStatus: 700")
    )
    response = mesh.apply(bad_batch)
    assert response.status_code == 422, response.text
    messages = {e["path"]: e["message"] for e in response.json()["errors"]}
    assert any(path.endswith("spec.http[0].route") and "sum to 90" in m for path, m in messages.items()), (
        messages
    )
    assert any(path.endswith("spec.http[0].fault.abort.httpStatus") for path in messages), messages
    # All or nothing: neither object changed, the ratings one was not created.
    after = mesh.session.get(f"{mesh.api_url}/api/v1/virtualservices/reviews", timeout=5).json()
    assert after == before
    assert mesh.session.get(f"{mesh.api_url}/api/v1/virtualservices/ratings", timeout=5).status_code == 404
    assert_still_v3(mesh)


def test_unknown_subset_is_refused(pinned_to_v3):
    response = pinned_to_v3.apply(reviews_weights(v9=100))
    assert response.status_code == 422
    assert any("unknown subset" in e["message"] for e in response.json()["errors"])
    assert_still_v3(pinned_to_v3)


def with_version(document: str, resource_version: str) -> str:
    return document.replace("name: reviews\n", f"name: reviews\n  resourceVersion: '{resource_version}'\n")


def test_stale_resource_version_gets_409_and_keeps_the_newer_object(pinned_to_v3):
    mesh = pinned_to_v3
    url = f"{mesh.api_url}/api/v1/virtualservices/reviews"
    read_by_both = mesh.session.get(url, timeout=5).json()["metadata"]["resourceVersion"]
    # The first writer changes the object, sending the version it read: accepted.
    assert mesh.apply(with_version(reviews_weights(v2=10, v3=90), read_by_both)).status_code == 200
    newer = mesh.session.get(url, timeout=5).json()
    assert newer["metadata"]["resourceVersion"] != read_by_both
    # The second writer still holds the old version: refused, not a silent lost update.
    response = mesh.apply(with_version(reviews_weights(v1=100), read_by_both))
    assert response.status_code == 409
    assert "stale" in response.json()["error"]
    assert mesh.session.get(url, timeout=5).json() == newer


def test_unknown_kind_plural_and_names_get_404(clean_mesh):
    assert clean_mesh.session.get(f"{clean_mesh.api_url}/api/v1/widgets", timeout=5).status_code == 404
    assert (
        clean_mesh.session.get(f"{clean_mesh.api_url}/api/v1/virtualservices/nope", timeout=5).status_code
        == 404
    )
    assert clean_mesh.delete("virtualservices", "nope").status_code == 404
