"""The pure halves of the cluster route store: API objects <-> the store's documents, API server
errors -> SourceError, and the control plane's checks run without a control plane (no I/O)."""

from __future__ import annotations

import json

from dashboard.sources import kubeobjects, routecheck
from dashboard.sources.registry import GatewayInfo, MeshRegistry, ServiceInfo, WorkloadInfo

SERVED = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {
        "name": "reviews",
        "namespace": "default",
        "resourceVersion": "417",
        "uid": "5f0c2b9e-3c1d-4d55-8f0e-0d7c8d6d2a11",
        "generation": 3,
        "creationTimestamp": "2026-12-01T16:00:00Z",
        "selfLink": "/apis/networking.istio.io/v1/namespaces/default/virtualservices/reviews",
        "managedFields": [{"manager": "kubectl", "operation": "Update"}],
        "labels": {"team": "books"},
        "annotations": {"owner": "alice"},
    },
    "spec": {
        "hosts": ["reviews"],
        "http": [{"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}],
    },
    "status": {"observedGeneration": 3},
}

REGISTRY = MeshRegistry(
    services=(ServiceInfo("reviews"), ServiceInfo("ratings")),
    workloads=(
        WorkloadInfo("reviews-v1", "reviews", "reviews", "v1"),
        WorkloadInfo("reviews-v2", "reviews", "reviews", "v2"),
        WorkloadInfo("ratings-v1", "ratings", "ratings", "v1"),
    ),
    gateway=GatewayInfo(),
)


def rule(subsets: list[str]) -> dict:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "reviews", "namespace": "default"},
        "spec": {"host": "reviews", "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]},
    }


def test_served_objects_lose_the_server_bookkeeping_and_keep_their_version():
    document = kubeobjects.from_api(SERVED)
    kept = ("name", "namespace", "resourceVersion", "labels", "annotations")
    assert document == {
        "apiVersion": SERVED["apiVersion"],
        "kind": SERVED["kind"],
        "metadata": {key: SERVED["metadata"][key] for key in kept},
        "spec": SERVED["spec"],
    }
    document["spec"]["hosts"].append("changed")
    assert SERVED["spec"]["hosts"] == ["reviews"]  # a deep copy


def test_write_bodies_carry_only_the_version_they_require():
    assert "resourceVersion" not in kubeobjects.to_api(SERVED)["metadata"]
    assert kubeobjects.to_api(SERVED, "420")["metadata"]["resourceVersion"] == "420"
    assert "uid" not in kubeobjects.to_api(SERVED)["metadata"]
    no_namespace = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "g"},
        "spec": {},
    }
    assert kubeobjects.to_api(no_namespace)["metadata"] == {"name": "g", "namespace": "default"}


def test_unchanged_means_same_spec_labels_annotations_and_api_version():
    document = kubeobjects.from_api(SERVED)
    assert kubeobjects.same_content(
        document, dict(document, metadata={**document["metadata"], "resourceVersion": "1"})
    )
    assert not kubeobjects.same_content(document, dict(document, spec={"hosts": ["reviews"]}))
    assert not kubeobjects.same_content(document, dict(document, apiVersion="networking.istio.io/v1beta1"))
    assert not kubeobjects.same_content(document, dict(document, metadata={"name": "reviews"}))


def test_the_location_keeps_a_documents_own_version_of_the_right_group():
    where = kubeobjects.location("virtualservices", dict(SERVED, apiVersion="networking.istio.io/v1beta1"))
    assert (where.group, where.version, where.namespace, where.name) == (
        "networking.istio.io",
        "v1beta1",
        "default",
        "reviews",
    )
    # A document of another group (refused by validation anyway) never picks the URL's group.
    assert (
        kubeobjects.location("virtualservices", dict(SERVED, apiVersion="security.istio.io/v1")).version
        == "v1"
    )
    assert kubeobjects.location("envoyfilters", {"metadata": {"name": "f"}}).version == "v1alpha3"


def test_the_revision_token_follows_every_key_and_version_in_any_order():
    a = kubeobjects.from_api(SERVED)
    b = dict(a, kind="DestinationRule")
    token = kubeobjects.revision_token([a, b])
    assert token == kubeobjects.revision_token([b, a])
    bumped = dict(a, metadata={**a["metadata"], "resourceVersion": "418"})
    assert kubeobjects.revision_token([bumped, b]) != token
    assert kubeobjects.revision_token([a]) != token  # one deleted
    assert kubeobjects.revision_token([]) == kubeobjects.revision_token([])


def status_body(code: int, reason: str, message: str, causes: list[dict] | None = None) -> str:
    """A `Status` as kube-apiserver 1.20 answers it (shape of k8s.io/apimachinery metav1.Status)."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if causes is not None:
        body["details"] = {"name": "reviews", "kind": "virtualservices", "causes": causes}
    return json.dumps(body)


def test_api_errors_keep_the_statuses_the_views_handle():
    what = "VirtualService default/reviews"
    conflict = kubeobjects.api_error(409, status_body(409, "Conflict", "the object has been modified"), what)
    assert conflict.status == 409 and "get it again" in str(conflict)
    invalid = kubeobjects.api_error(
        422,
        status_body(
            422,
            "Invalid",
            'VirtualService.networking.istio.io "reviews" is invalid: metadata.labels: Invalid value',
            [{"reason": "FieldValueInvalid", "message": 'Invalid value: "a b"', "field": "metadata.labels"}],
        ),
        what,
    )
    assert invalid.status == 422
    assert [(e.path, e.message) for e in invalid.errors] == [("metadata.labels", 'Invalid value: "a b"')]
    assert kubeobjects.api_error(404, status_body(404, "NotFound", "not found"), what).status == 404
    missing_namespace = kubeobjects.api_error(
        404,
        json.dumps(
            {
                **json.loads(status_body(404, "NotFound", 'namespaces "nope" not found')),
                "details": {"name": "nope", "kind": "namespaces"},
            }
        ),
        what,
        creating=True,
    )
    assert missing_namespace.status == 422 and missing_namespace.errors[0].path == "metadata.namespace"
    # No such CRD: kube-apiserver 1.20 answers a bare "404 page not found".
    unserved = kubeobjects.api_error(404, "404 page not found\n", what, creating=True)
    assert unserved.status == 422 and unserved.errors[0].path == "apiVersion"
    forbidden = kubeobjects.api_error(403, status_body(403, "Forbidden", "cannot create"), what)
    assert forbidden.status == 403 and "cannot create" in str(forbidden)
    # Bad credentials and server failures: the cluster is not usable, as if unreachable.
    assert kubeobjects.api_error(401, status_body(401, "Unauthorized", "Unauthorized"), what).unreachable
    assert kubeobjects.api_error(500, "<html>oops</html>", what).unreachable
    assert kubeobjects.api_error(422, "not json", what).errors[0].message == "HTTP 422"


def test_the_checks_find_what_the_control_plane_would():
    vs = kubeobjects.from_api(SERVED)
    errors, _ = routecheck.check([vs], [], REGISTRY)
    assert [e.path for e in errors] == ["spec.http[0].route[0].destination.subset"]  # no subset v1 yet
    errors, warnings = routecheck.check([vs, rule(["v1", "v2", "v3"])], [], REGISTRY)
    assert errors == []
    assert any(
        "v3" in w.message and w.path == "DestinationRule/reviews.spec.subsets[2].labels" for w in warnings
    ), warnings
    errors, _ = routecheck.check([vs], [rule(["v1"])], REGISTRY)  # the stored rule counts
    assert errors == []
    unknown = dict(
        vs, spec={"hosts": ["nowhere"], "http": [{"route": [{"destination": {"host": "nowhere"}}]}]}
    )
    errors, _ = routecheck.check([unknown], [], REGISTRY)
    assert errors and errors[0].path == "spec.hosts[0]"
    errors, _ = routecheck.check([dict(vs, kind="Pod")], [], REGISTRY)
    assert [e.path for e in errors] == ["kind"]


def test_without_a_registry_only_the_structure_is_checked_and_a_warning_says_so():
    vs = kubeobjects.from_api(SERVED)
    errors, warnings = routecheck.check([vs], [], None)
    assert errors == [] and [w.message for w in warnings] == [routecheck.NO_REGISTRY]
    broken = dict(vs, spec={"hosts": "reviews"})
    errors, _ = routecheck.check([broken], [], None)
    assert [e.path for e in errors] == ["spec.hosts"]


def test_the_registry_becomes_the_model_the_validation_reads():
    model = routecheck.model_registry(REGISTRY)
    assert [s.name for s in model.services] == ["reviews", "ratings"]
    assert model.services[0].ports[0].number == 9080
    reviews = model.service("reviews")
    assert [w.version for w in model.workloads_of(reviews)] == ["v1", "v2"]
    assert model.gateway.backend_service == "productpage"
    no_version = MeshRegistry((ServiceInfo("a"),), (WorkloadInfo("a", "a", "a", ""),))
    assert routecheck.model_registry(no_version).workloads[0].labels == {"app": "a"}
