"""KubernetesRouteStore against a real kube-apiserver with Istio's CRDs (tests/support/kubeapi.py):
what it writes is read back with the official client, as `kubectl get` would show it.

The registry the checks use is given as data (a MeshRegistry), since the store takes it as input.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from dashboard.sources import kubeobjects
from dashboard.sources.errors import SourceError
from dashboard.sources.kuberoutes import KubernetesRouteStore
from dashboard.sources.registry import MeshRegistry, ServiceInfo, WorkloadInfo
from tests.support.kubeistio import custom_api, delete_all_istio_objects, read_object, virtual_service
from tests.support.ports import free_port

NETWORKING = ("networking.istio.io", "v1")
REGISTRY = MeshRegistry(
    services=(ServiceInfo("reviews"), ServiceInfo("ratings"), ServiceInfo("details")),
    workloads=(
        WorkloadInfo("reviews-v1", "reviews", "reviews", "v1"),
        WorkloadInfo("reviews-v2", "reviews", "reviews", "v2"),
        WorkloadInfo("ratings-v1", "ratings", "ratings", "v1"),
        WorkloadInfo("details-v1", "details", "details", "v1"),
    ),
)


@pytest.fixture
def store(kube):
    delete_all_istio_objects(kube)
    yield KubernetesRouteStore(kube.client(), 10.0, registry=lambda: REGISTRY)
    delete_all_istio_objects(kube)


def reviews_rule(*subsets: str) -> dict:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "reviews", "namespace": "default"},
        "spec": {"host": "reviews", "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]},
    }


def to_subset(subset: str) -> dict:
    return virtual_service(
        "reviews",
        "reviews",
        {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews", "subset": subset}}]}]},
    )


def test_apply_creates_then_replaces_and_documents_keep_only_the_store_fields(kube, store):
    created = store.apply([reviews_rule("v1", "v2"), to_subset("v1")], wait_s=5.0)
    assert [o["action"] for o in created.objects] == ["created", "created"]
    assert created.sync is None  # no ACKs to wait for in a cluster
    served = read_object(kube, "virtualservices", "reviews")
    assert served["spec"]["http"][0]["route"][0]["destination"]["subset"] == "v1"
    assert served["metadata"]["uid"] and served["metadata"]["managedFields"]
    [listed] = store.list("virtualservices")
    assert listed == kubeobjects.from_api(served)
    assert set(listed["metadata"]) == {"name", "namespace", "resourceVersion"}
    assert listed["metadata"]["resourceVersion"] == served["metadata"]["resourceVersion"]

    again = store.apply([to_subset("v1")])
    assert again.objects[0]["action"] == "unchanged"
    assert (
        read_object(kube, "virtualservices", "reviews")["metadata"]["resourceVersion"]
        == (served["metadata"]["resourceVersion"])
    )
    pinned = kubeobjects.to_api(to_subset("v2"), served["metadata"]["resourceVersion"])
    [replaced] = store.apply([pinned]).objects
    assert replaced["action"] == "configured"
    now = read_object(kube, "virtualservices", "reviews")
    assert now["spec"]["http"][0]["route"][0]["destination"]["subset"] == "v2"
    assert replaced["metadata"]["resourceVersion"] == now["metadata"]["resourceVersion"]
    assert store.get("virtualservices", "default", "reviews") == kubeobjects.from_api(now)


def test_a_stale_resource_version_is_a_conflict_and_changes_nothing(kube, store):
    store.apply([reviews_rule("v1", "v2"), to_subset("v1")])
    seen = store.get("virtualservices", "default", "reviews")
    # Someone else replaces it meanwhile, straight in the API server.
    theirs = read_object(kube, "virtualservices", "reviews")
    theirs["spec"]["http"][0]["timeout"] = "3s"
    custom_api(kube).replace_namespaced_custom_object(
        *NETWORKING, "default", "virtualservices", "reviews", theirs
    )
    mine = kubeobjects.to_api(to_subset("v2"), seen["metadata"]["resourceVersion"])
    with pytest.raises(SourceError) as stale:
        store.apply([mine])
    assert stale.value.status == 409 and "stale" in str(stale.value)
    with pytest.raises(SourceError) as dry:
        store.dry_run([mine])
    assert dry.value.status == 409
    assert read_object(kube, "virtualservices", "reviews")["spec"]["http"][0]["timeout"] == "3s"
    # An object the editor saw absent ("0") but that exists now is a conflict too.
    with pytest.raises(SourceError) as appeared:
        store.apply([kubeobjects.to_api(reviews_rule("v1"), "0")])
    assert appeared.value.status == 409


def test_a_batch_that_fails_half_way_puts_back_what_it_wrote(kube, store):
    """The race is made real with a hook between the store's dry run and its writes: the second
    object is changed in the API server right before the store writes it, so the server's own 409
    (not our check) refuses that write."""
    store.apply([reviews_rule("v1", "v2"), to_subset("v1")])
    before_rule = read_object(kube, "destinationrules", "reviews")
    writes = []

    class Racing(KubernetesRouteStore):
        def _write(self, step, dry_run=False):
            if not dry_run and step.document["kind"] == "VirtualService":
                theirs = read_object(kube, "virtualservices", "reviews")
                theirs["spec"]["http"][0]["timeout"] = "9s"
                custom_api(kube).replace_namespaced_custom_object(
                    *NETWORKING, "default", "virtualservices", "reviews", theirs
                )
            if not dry_run:
                writes.append(step.document["kind"])
            return super()._write(step, dry_run)

    racing = Racing(kube.client(), 10.0, registry=lambda: REGISTRY)
    seen = store.get("virtualservices", "default", "reviews")["metadata"]["resourceVersion"]
    batch = [reviews_rule("v1", "v2", "v3"), kubeobjects.to_api(to_subset("v2"), seen)]
    with pytest.raises(SourceError) as failed:
        racing.apply(batch)
    assert failed.value.status == 409 and "put back" in str(failed.value)
    assert writes[:2] == ["DestinationRule", "VirtualService"]
    assert read_object(kube, "destinationrules", "reviews")["spec"] == before_rule["spec"]
    assert read_object(kube, "virtualservices", "reviews")["spec"]["http"][0]["timeout"] == "9s"


def test_dry_run_stores_nothing_and_reports_the_servers_refusals_as_field_errors(kube, store):
    planned = store.dry_run([reviews_rule("v1", "v2"), to_subset("v1")])
    assert [o["action"] for o in planned.objects] == ["created", "created"]
    assert planned.changes == [] and store.list("virtualservices") == []
    # Our checks pass (labels are any strings to Istio's model); the API server refuses the value.
    labelled = reviews_rule("v1")
    labelled["metadata"]["labels"] = {"team": "not a label value!"}
    with pytest.raises(SourceError) as refused:
        store.dry_run([labelled])
    assert refused.value.status == 422
    assert [e.path for e in refused.value.errors] == ["metadata.labels"]
    elsewhere = reviews_rule("v1")
    elsewhere["metadata"]["namespace"] = "no-such-namespace"
    with pytest.raises(SourceError) as missing:
        store.apply([elsewhere])
    assert missing.value.status == 422 and missing.value.errors[0].path == "metadata.namespace"
    # Our own checks run first: an unknown subset never reaches the server.
    with pytest.raises(SourceError) as invalid:
        store.dry_run([to_subset("v9")])
    assert invalid.value.status == 422
    assert invalid.value.errors[0].path == "spec.http[0].route[0].destination.subset"
    assert store.list("destinationrules") == []


def test_delete_honours_the_precondition_and_what_still_uses_the_object(kube, store):
    store.apply([reviews_rule("v1", "v2"), to_subset("v1")])
    with pytest.raises(SourceError) as used:
        store.delete("destinationrules", "default", "reviews")
    assert used.value.status == 422 and "VirtualService" in str(used.value.errors)
    seen = store.get("virtualservices", "default", "reviews")["metadata"]["resourceVersion"]
    store.apply([to_subset("v2")])  # a plain overwrite moves the version on
    with pytest.raises(SourceError) as stale:
        store.delete("virtualservices", "default", "reviews", resource_version=seen)
    assert stale.value.status == 409
    deleted = store.delete("virtualservices", "default", "reviews")
    assert deleted["spec"]["http"][0]["route"][0]["destination"]["subset"] == "v2"
    assert read_object(kube, "virtualservices", "reviews") is None
    with pytest.raises(SourceError) as gone:
        store.get("virtualservices", "default", "reviews")
    assert gone.value.status == 404


def test_the_revision_changes_with_every_change_made_anywhere(kube, store):
    from tests.support.waiting import wait_until

    empty = store.revision()
    assert store.revision() == empty
    store.apply([reviews_rule("v1")])
    # The revision reads the API server's watch cache, which trails a write by milliseconds.
    created = wait_until(lambda: (r := store.revision()) != empty and r, timeout=30, what="revision moves")
    served = read_object(kube, "destinationrules", "reviews")
    served["spec"]["subsets"].append({"name": "v2", "labels": {"version": "v2"}})
    custom_api(kube).replace_namespaced_custom_object(
        *NETWORKING, "default", "destinationrules", "reviews", served
    )
    wait_until(lambda: store.revision() != created, timeout=30, what="revision moves on a direct change")


def test_kinds_the_cluster_does_not_serve_list_empty_and_unknown_plurals_are_404(store):
    assert store.list("envoyfilters") == []  # no EnvoyFilter CRD in this cluster
    with pytest.raises(SourceError) as unknown:
        store.list("pods")
    assert unknown.value.status == 404
    assert store.sync_status() == ()


def test_rbac_refusals_are_403_and_an_unreachable_server_has_no_status(kube, store):
    viewer = KubernetesRouteStore(kube.client("nobody"), 10.0, registry=lambda: REGISTRY)
    with pytest.raises(SourceError) as refused:
        viewer.list("virtualservices")
    assert refused.value.status == 403 and "forbidden" in str(refused.value).lower()
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    configuration.retries = False
    down = KubernetesRouteStore(client.ApiClient(configuration), 2.0)
    with pytest.raises(SourceError) as unreachable:
        down.revision()
    assert unreachable.value.unreachable


def test_the_configured_store_shares_one_client_per_kubeconfig(kube, settings):
    from dashboard.sources import configured

    settings.CLUSTER_MODE = "kubernetes"
    settings.KUBECONFIG = str(kube.kubeconfig("admin"))
    first, second = configured.route_store(), configured.route_store()
    assert isinstance(first, KubernetesRouteStore)
    assert first.custom.api_client is second.custom.api_client  # one connection pool
    assert isinstance(first.list("virtualservices"), list)
    settings.KUBECONFIG = str(kube.kubeconfig("nobody"))
    viewer = configured.route_store()
    assert viewer.custom.api_client is not first.custom.api_client
    with pytest.raises(SourceError) as refused:
        viewer.list("virtualservices")
    assert refused.value.status == 403
