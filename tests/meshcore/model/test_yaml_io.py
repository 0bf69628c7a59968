"""YAML/JSON in and out, and the Resource envelope (apiVersion, kind, metadata)."""

from __future__ import annotations

import json

import pytest

from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.resources import KINDS, Resource, kind_from_plural
from meshcore.model.yaml_io import dump_documents, parse_documents
from tests.meshcore.model.bookinfo_samples import SAMPLE_FILES, SAMPLES, load_sample

VS_DOC = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_documents(text)
    return [str(error) for error in caught.value.errors]


def test_samples_parse_into_the_expected_objects() -> None:
    assert [r.key for r in load_sample("destination-rule-all.yaml")] == [
        ("DestinationRule", "default", name) for name in ("productpage", "reviews", "ratings", "details")
    ]
    assert [(r.kind, r.name) for r in load_sample("bookinfo-gateway.yaml")] == [
        ("Gateway", "bookinfo-gateway"),
        ("VirtualService", "bookinfo"),
    ]
    reviews = load_sample("virtual-service-reviews-80-20.yaml")[0]
    assert reviews.api_version == "networking.istio.io/v1"
    assert reviews.namespace == "default"
    assert reviews.resource_version == ""
    assert reviews.spec["http"][0]["route"][0]["weight"] == 80


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_parse_dump_parse_round_trips(name: str) -> None:
    first = parse_documents((SAMPLES / name).read_text())
    assert first
    assert parse_documents(dump_documents(first)) == first


def test_dump_orders_keys_like_kubectl_and_separates_documents() -> None:
    resources = load_sample("destination-rule-all.yaml")
    text = dump_documents(resources)
    assert text.count("\n---\n") == len(resources) - 1
    top_level = [line.split(":")[0] for line in text.splitlines()[:8] if not line.startswith(" ")]
    assert top_level == ["apiVersion", "kind", "metadata", "spec"]
    assert "resourceVersion" not in text
    assert "labels:\n" not in text.split("spec:")[0]  # no empty metadata maps


def test_metadata_round_trips_resource_version_labels_and_annotations() -> None:
    resource = Resource(
        api_version="networking.istio.io/v1beta1",
        kind="DestinationRule",
        name="reviews",
        namespace="shop",
        spec={"host": "reviews"},
        labels={"team": "books"},
        annotations={"meshscope.io/edited-by": "ana"},
    ).with_version("42")
    doc = resource.to_dict()
    assert list(doc) == ["apiVersion", "kind", "metadata", "spec"]
    assert doc["metadata"] == {
        "name": "reviews",
        "namespace": "shop",
        "resourceVersion": "42",
        "labels": {"team": "books"},
        "annotations": {"meshscope.io/edited-by": "ana"},
    }
    assert parse_documents(dump_documents([resource])) == [resource]
    assert resource.key == ("DestinationRule", "shop", "reviews")


def test_spec_is_copied_so_later_edits_of_the_input_do_not_leak_in() -> None:
    doc = json.loads(json.dumps(load_sample("virtual-service-all-v1.yaml")[0].to_dict()))
    resource = Resource.from_dict(doc)
    doc["spec"]["hosts"].append("evil")
    resource.to_dict()["spec"]["hosts"].append("evil")
    assert resource.spec["hosts"] == ["productpage"]


def test_json_object_list_and_kubernetes_list_are_accepted() -> None:
    resources = load_sample("virtual-service-all-v1.yaml")
    docs = [r.to_dict() for r in resources]
    assert parse_documents(json.dumps(docs[0])) == resources[:1]
    assert parse_documents(json.dumps(docs)) == resources
    k8s_list = {"apiVersion": "v1", "kind": "List", "items": docs}
    assert parse_documents(json.dumps(k8s_list)) == resources


def test_empty_documents_are_skipped() -> None:
    assert parse_documents("") == []
    assert parse_documents("---\n---\n# only a comment\n") == []
    assert parse_documents(f"---\n---\n{VS_DOC}---\n\n---\n")[0].name == "reviews"


def test_yaml_syntax_error_names_line_column_and_reason() -> None:
    text = VS_DOC + "---\nkind: VirtualService\nmetadata:\n  name: a: b\n"
    (error,) = errors_of(text)
    # libyaml and pure-Python PyYAML word the reason slightly differently.
    assert error.startswith("yaml: line 13, column 10: mapping values are not allowed")


def test_duplicate_keys_are_refused_instead_of_silently_dropped() -> None:
    (error,) = errors_of(VS_DOC + "  hosts: [ratings]\n")
    assert error.startswith("yaml: line 10, column 3: found duplicate key 'hosts'")


def test_envelope_errors_of_a_single_document_have_no_prefix() -> None:
    text = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {}\nspec: {}\n"
    assert errors_of(text) == ["metadata.name: required"]


def test_envelope_errors_in_a_multi_document_apply_point_at_the_right_document() -> None:
    bad = VS_DOC.replace("name: reviews", "name: Reviews_V2").replace("networking.istio.io/v1", "v1")
    text = "\n---\n".join([VS_DOC, VS_DOC, bad, "kind: Gateway\nspec: {}\n"])
    assert errors_of(text) == [
        'document[2].apiVersion: unsupported apiVersion "v1"; use one of networking.istio.io/v1, '
        "networking.istio.io/v1beta1, networking.istio.io/v1alpha3",
        'document[2].metadata.name: "Reviews_V2" must be a DNS-1123 label: at most 63 lowercase letters, '
        "digits or '-', starting and ending with a letter or digit",
        "document[3].apiVersion: required",
        "document[3].metadata.name: required",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("just a string", 'must be an object (a Kubernetes resource), got "just a string"'),
        (VS_DOC.replace("VirtualService", "ServiceEntry"), 'kind: unsupported kind "ServiceEntry"'),
        (VS_DOC.replace("spec:\n", "spek: {}\nspec:\n"), "spek: unknown field"),
        (VS_DOC.split("spec:")[0], "spec: required"),
        (
            VS_DOC.replace("spec:\n  hosts: [reviews]\n  http:", "spec: [1]\nx:"),
            "spec: must be an object, got a list",
        ),
        (
            VS_DOC.replace("name: reviews", "name: reviews\n  labels: {version: 2}"),
            "metadata.labels.version: must be a string, got 2",
        ),
        (
            VS_DOC.replace("name: reviews", "name: reviews\n  namespace: Prod"),
            'metadata.namespace: "Prod" must be a DNS-1123 label',
        ),
        (
            VS_DOC.replace("name: reviews", "name: " + "a" * 64),
            "metadata.name: must be at most 63 characters, got 64",
        ),
        (VS_DOC + "  since: 2024-01-01\n", "spec.since: must be a JSON value"),
        # Found by the OpenAPI fuzz suite: an object as kind or apiVersion was a TypeError (500).
        (VS_DOC.replace("kind: VirtualService", "kind: {}"), "kind: unsupported kind an object"),
        (
            VS_DOC.replace("apiVersion: networking.istio.io/v1", "apiVersion: [v1]"),
            "apiVersion: unsupported apiVersion a list",
        ),
    ],
)
def test_envelope_problems_are_named(text: str, expected: str) -> None:
    assert any(error.startswith(expected) for error in errors_of(text)), errors_of(text)


def test_status_and_server_metadata_from_kubectl_get_are_accepted() -> None:
    text = (
        VS_DOC.replace(
            "name: reviews", "name: reviews\n  uid: 1234\n  generation: 3\n  resourceVersion: '77'"
        )
        + "status: {observedGeneration: 3}\n"
    )
    (resource,) = parse_documents(text)
    assert resource.resource_version == "77"
    assert "status" not in resource.to_dict()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("virtualservices", "VirtualService"),
        ("virtualservice", "VirtualService"),
        ("vs", "VirtualService"),
        ("VirtualService", "VirtualService"),
        ("VS", "VirtualService"),
        ("destinationrules", "DestinationRule"),
        ("dr", "DestinationRule"),
        ("DestinationRule", "DestinationRule"),
        ("gateways", "Gateway"),
        ("gw", "Gateway"),
        ("Gateway", "Gateway"),
    ],
)
def test_kind_from_plural_accepts_kubectl_names(name: str, kind: str) -> None:
    assert kind_from_plural(name) == kind
    assert KINDS[kind].startswith(kind.lower()[:4])


def test_kind_from_plural_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown resource type 'pods'"):
        kind_from_plural("pods")


def test_errors_render_path_and_message() -> None:
    errors = [
        FieldError("spec.http[0].route", "weights sum to 90, must be 100"),
        FieldError("spec.hosts", "required"),
    ]
    assert str(errors[0]) == "spec.http[0].route: weights sum to 90, must be 100"
    assert (
        str(ValidationError(errors))
        == "spec.http[0].route: weights sum to 90, must be 100\nspec.hosts: required"
    )
    assert isinstance(ValidationError(errors), ValueError)
    assert errors[1].prefixed("document[1]") == FieldError("document[1].spec.hosts", "required")


def test_resource_owns_its_spec_and_hashes_by_key_and_version() -> None:
    spec = {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}
    resource = Resource(
        api_version="networking.istio.io/v1", kind="DestinationRule", name="reviews", spec=spec
    )
    spec["subsets"].clear()
    assert resource.spec["subsets"] == [{"name": "v1", "labels": {"version": "v1"}}]
    assert {resource, resource.with_version("")} == {resource}
    assert resource.with_version("7") != resource
    assert resource.with_version("7").resource_version == "7"
