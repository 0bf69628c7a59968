"""Route editing in cluster mode (MESHSCOPE_CLUSTER=kubernetes): the routes pages, through Django's
test client, write Istio's custom objects in a real kube-apiserver; each test reads the objects
back with the official client, and makes "someone else's" changes straight in the API server, as
`kubectl apply` / `kubectl delete` would.

The registry (services and versions the forms offer, and the checks use) is read from the same
API server, loaded with BookInfo's Kubernetes objects (tests/support/kubebookinfo.py).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pytest
import yaml
from django.test import Client

from dashboard.routes import tasks
from dashboard.routes.models import Revision
from dashboard.routes.views import NO_SYNC_VIEW
from tests.dashboard.routes.conftest import make_operator
from tests.support import kubebookinfo
from tests.support.kubeapi import KubeCluster
from tests.support.kubeistio import custom_api, delete_all_istio_objects, read_object, virtual_service
from tests.support.kuberoles import bind_shipped_role
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
SHIFT = "/routes/services/reviews/traffic-shifting/"
NETWORKING = ("networking.istio.io", "v1")


@dataclass(frozen=True)
class BookInfoCluster:
    kube: KubeCluster
    namespace: str  # where BookInfo's objects are


@pytest.fixture
def cluster(settings, kube, redis_layer):
    """The dashboard in cluster mode: BookInfo's objects in a fresh namespace of the test API server
    (the registry's source), no Istio object anywhere, and the dashboard's own account bound to
    exactly the shipped ClusterRole."""
    api = kube.client()
    delete_all_istio_objects(kube)
    loaded = kubebookinfo.load_bookinfo(api, kubebookinfo.fresh_namespace(api))
    bind_shipped_role(kube, "meshscope-dashboard", "meshscope-dashboard")
    settings.CLUSTER_MODE = "kubernetes"
    settings.REGISTRY_SOURCE = "kubernetes"
    settings.KUBECONFIG = str(kube.kubeconfig("meshscope-dashboard"))
    settings.KUBE_CONTEXT = ""
    settings.KUBE_NAMESPACES = [loaded.namespace]
    # Generous for a loaded 2-core machine (as the registry's own tests): the events come at once.
    settings.KUBE_WATCH_IDLE_SECONDS = 1.0
    settings.SOURCE_TIMEOUT_SECONDS = 20.0
    settings.ROUTE_STORE_TIMEOUT_SECONDS = 20.0
    settings.VIEW_ONLY = False
    yield BookInfoCluster(kube, loaded.namespace)
    delete_all_istio_objects(kube)


@pytest.fixture
def operator_client(django_user_model) -> Client:
    client = Client()
    client.force_login(make_operator(django_user_model, "alice"))
    return client


def shift(client: Client, v1: int = 0, v2: int = 0, v3: int = 0, **extra: str):
    return client.post(SHIFT, {"weight_v1": v1, "weight_v2": v2, "weight_v3": v3, "apply": "1", **extra})


def weights(served: dict) -> dict[str, int]:
    """subset -> weight of the first HTTP route of a served VirtualService (absent weight = 100)."""
    return {
        d["destination"]["subset"]: d.get("weight", 100)
        for d in served["spec"]["http"][0]["route"]
        if d.get("weight", 100)
    }


def base_version(client: Client) -> str:
    page = client.get(SHIFT).content.decode()
    return page.split('name="base_virtual_service" value="')[1].split('"')[0]


def test_a_form_edit_creates_then_replaces_the_virtual_service(cluster, operator_client):
    response = shift(operator_client, v3=100, reason="canary done")
    assert response.status_code == 302, response.content.decode()[:3000]
    served = read_object(cluster.kube, "virtualservices", "reviews", cluster.namespace)
    assert weights(served) == {"v3": 100}
    rule = read_object(cluster.kube, "destinationrules", "reviews", cluster.namespace)
    assert [s["name"] for s in rule["spec"]["subsets"]] == ["v3"]  # the subset the route needs
    created = Revision.objects.get(kind="VirtualService", name="reviews")
    assert (created.username, created.reason, created.action, created.push) == (
        "alice",
        "canary done",
        "created",
        None,
    )
    assert created.resource_version_after == served["metadata"]["resourceVersion"]
    page = operator_client.get(response["Location"]).content.decode()
    assert html.escape(NO_SYNC_VIEW) in page

    assert base_version(operator_client) == served["metadata"]["resourceVersion"]
    again = shift(operator_client, v1=50, v2=50)
    assert again.status_code == 302, again.content.decode()[:3000]
    replaced = read_object(cluster.kube, "virtualservices", "reviews", cluster.namespace)
    assert weights(replaced) == {"v1": 50, "v2": 50}
    assert replaced["metadata"]["uid"] == served["metadata"]["uid"]  # replaced, not re-created
    configured = Revision.objects.filter(kind="VirtualService", name="reviews").order_by("-id").first()
    assert configured.action == "configured"
    assert (configured.resource_version_before, configured.resource_version_after) == (
        served["metadata"]["resourceVersion"],
        replaced["metadata"]["resourceVersion"],
    )


def test_a_replace_made_meanwhile_in_the_api_server_gives_the_conflict_screen(cluster, operator_client):
    assert shift(operator_client, v1=100).status_code == 302
    seen = base_version(operator_client)
    # kubectl-style: someone replaces the object in the cluster while the form is open.
    theirs = read_object(cluster.kube, "virtualservices", "reviews", cluster.namespace)
    theirs["spec"]["http"][0]["route"][0]["destination"]["subset"] = "v2"
    custom_api(cluster.kube).replace_namespaced_custom_object(
        *NETWORKING, cluster.namespace, "virtualservices", "reviews", theirs
    )
    conflict = shift(operator_client, v3=100, base_virtual_service=seen)
    assert conflict.status_code == 409, conflict.content.decode()[:3000]
    text = conflict.content.decode()
    assert "Someone else changed this meanwhile" in text
    assert "subset: v2" in text and "subset: v3" in text  # theirs and mine
    assert weights(read_object(cluster.kube, "virtualservices", "reviews", cluster.namespace)) == {
        "v2": 100
    }  # nothing lost
    overwrite = html.unescape(text.split('name="yaml" hidden>')[1].split("</textarea>")[0])
    done = operator_client.post("/routes/apply/", {"yaml": overwrite, "back": SHIFT})
    assert done.status_code == 302, done.content.decode()[:3000]
    assert weights(read_object(cluster.kube, "virtualservices", "reviews", cluster.namespace)) == {"v3": 100}


def sync_until(predicate, what: str):
    """Run the sync task until `predicate()` holds: the store's revision reads the API server's
    watch cache, which may trail a write by a few milliseconds (30 s covers a loaded machine)."""

    def attempt():
        tasks.sync_routes()
        return predicate()

    return wait_until(attempt, timeout=30, interval=0.2, what=what)


def test_a_change_made_directly_in_the_api_server_is_recorded_as_external(cluster, operator_client):
    ratings = virtual_service("ratings", "ratings", namespace=cluster.namespace)
    served = custom_api(cluster.kube).create_namespaced_custom_object(
        *NETWORKING, cluster.namespace, "virtualservices", ratings
    )
    found = sync_until(
        lambda: Revision.objects.filter(name="ratings", source=Revision.SOURCE_EXTERNAL).first(),
        "the external creation in the audit log",
    )
    assert (found.kind, found.action, found.username) == ("VirtualService", "created", "")
    assert found.resource_version_after == served["metadata"]["resourceVersion"]
    assert "ratings" in found.services
    assert tasks.sync_routes() == 0  # idempotent

    assert shift(operator_client, v2=100).status_code == 302
    assert tasks.sync_routes() == 0  # the dashboard's own change is not external
    assert not Revision.objects.filter(name="reviews", source=Revision.SOURCE_EXTERNAL).exists()

    custom_api(cluster.kube).delete_namespaced_custom_object(
        *NETWORKING, cluster.namespace, "virtualservices", "ratings"
    )
    gone = sync_until(
        lambda: Revision.objects.filter(name="ratings", action="deleted").first(),
        "the external deletion in the audit log",
    )
    assert (gone.source, gone.yaml_after) == (Revision.SOURCE_EXTERNAL, "")
    listed = operator_client.get("/routes/revisions/?source=external").content.decode()
    assert "ratings" in listed


def ratings_rule(namespace: str, labels: str = "") -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: ratings\n"
        f"  namespace: {namespace}\n{labels}spec:\n  host: ratings\n"
    )


BAD_LABEL = "  labels:\n    team: not a label value!\n"


def test_the_api_servers_dry_run_refusals_show_as_field_errors(cluster, operator_client):
    for button in ("preview", "apply"):
        response = operator_client.post(
            "/routes/import/", {"yaml": ratings_rule(cluster.namespace, BAD_LABEL), button: "1"}
        )
        assert response.status_code == 422, (button, response.content.decode()[:3000])
        text = html.unescape(response.content.decode())
        assert "<code>metadata.labels</code>: Invalid value" in text, text[:3000]
    elsewhere = ratings_rule("nowhere")
    response = operator_client.post("/routes/import/", {"yaml": elsewhere, "preview": "1"})
    assert response.status_code == 422
    assert "<code>metadata.namespace</code>" in response.content.decode()
    assert read_object(cluster.kube, "destinationrules", "ratings", cluster.namespace) is None
    assert not Revision.objects.exists()


def test_rollback_puts_the_object_back_in_the_cluster(cluster, operator_client):
    assert shift(operator_client, v3=100).status_code == 302
    assert shift(operator_client, v1=100).status_code == 302
    first = Revision.objects.filter(kind="VirtualService").order_by("id").first()
    response = operator_client.post(f"/routes/revisions/{first.id}/rollback/")
    assert response.status_code == 302, response.content.decode()[:3000]
    assert weights(read_object(cluster.kube, "virtualservices", "reviews", cluster.namespace)) == {"v3": 100}
    restored = Revision.objects.order_by("-id").first()
    assert restored.rollback_of_id == first.id and restored.source == Revision.SOURCE_DASHBOARD
    undo = operator_client.post(f"/api/routes/revisions/{restored.id}/rollback?undo=1")
    assert undo.status_code == 201, undo.content
    assert weights(read_object(cluster.kube, "virtualservices", "reviews", cluster.namespace)) == {"v1": 100}
    # Undoing the creation deletes the object in the cluster.
    gone = operator_client.post(f"/routes/revisions/{first.id}/rollback/", {"undo": "1"})
    assert gone.status_code == 302
    assert read_object(cluster.kube, "virtualservices", "reviews", cluster.namespace) is None


def test_with_the_view_only_role_pages_read_and_writes_are_a_403(cluster, settings, operator_client):
    bind_shipped_role(cluster.kube, "meshscope-viewer", "meshscope-viewer")
    settings.KUBECONFIG = str(cluster.kube.kubeconfig("meshscope-viewer"))
    assert operator_client.get("/routes/").status_code == 200
    rule = ratings_rule(cluster.namespace)
    response = operator_client.post("/routes/import/", {"yaml": rule, "apply": "1"})
    assert response.status_code == 403, response.content.decode()[:3000]
    assert "forbidden" in response.content.decode().lower()
    api = operator_client.put(
        f"/api/istio/{cluster.namespace}/destinationrules/ratings", rule, content_type="application/yaml"
    )
    assert api.status_code == 403 and "forbidden" in api.json()["error"].lower()


def test_the_list_preview_and_json_api_read_and_write_the_cluster(cluster, operator_client):
    custom_api(cluster.kube).create_namespaced_custom_object(
        *NETWORKING,
        cluster.namespace,
        "virtualservices",
        virtual_service("ratings", "ratings", namespace=cluster.namespace),
    )
    listing = operator_client.get("/routes/")
    assert (
        listing.status_code == 200
        and f"/routes/virtualservices/{cluster.namespace}/ratings/" in listing.content.decode()
    )

    text = sample("destination-rule-all") + "\n---\n" + reviews_weights(v3=100)
    documents = [d for d in yaml.safe_load_all(text) if d]
    for document in documents:
        document["metadata"]["namespace"] = cluster.namespace
    proposal = yaml.safe_dump_all(documents)
    preview = operator_client.post("/api/routes/preview", proposal, content_type="application/yaml")
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert {(d["kind"], d["name"], d["action"]) for d in body["diffs"]} >= {
        ("DestinationRule", "reviews", "created"),
        ("VirtualService", "reviews", "created"),
    }
    assert body["envoy"] == []  # no Envoy route diff without our control plane
    assert (
        read_object(cluster.kube, "virtualservices", "reviews", cluster.namespace) is None
    )  # a preview stores nothing

    url = f"/api/istio/{cluster.namespace}/destinationrules/reviews"
    rule = ratings_rule(cluster.namespace).replace("ratings", "reviews")
    created = operator_client.put(url, rule, content_type="application/yaml")
    assert created.status_code == 201, created.content
    version = created.json()["object"]["metadata"]["resourceVersion"]
    assert (
        read_object(cluster.kube, "destinationrules", "reviews", cluster.namespace)["metadata"][
            "resourceVersion"
        ]
        == version
    )
    changed = rule + "  trafficPolicy:\n    loadBalancer:\n      simple: RANDOM\n"
    assert operator_client.put(url, changed, content_type="application/yaml").status_code == 200
    stale = rule.replace("  name: reviews\n", f"  name: reviews\n  resourceVersion: '{version}'\n")
    assert operator_client.put(url, stale, content_type="application/yaml").status_code == 409
    assert operator_client.get(url).json()["spec"]["trafficPolicy"]["loadBalancer"]["simple"] == "RANDOM"
