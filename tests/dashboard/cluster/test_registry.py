"""The cluster registry on a real kube-apiserver loaded with BookInfo (tests/support/kubebookinfo.py).

Only the API server runs (no controllers, no kubelet): the test makes the ReplicaSets, Pods,
their Ready status and the Endpoints a cluster's controllers would (see kubebookinfo). Each test
loads BookInfo into its own namespace and limits the registry to it, since a test worker's API
server is shared by its whole session.
"""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client

from dashboard.sources.envoy import RecordedEnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.kubernetes import VIEW_KEY, KubernetesRegistry
from dashboard.topology.poll import PollConfig, poll_once
from dashboard.topology.state import MemoryPollState
from meshcore.bookinfo.topology import BOOKINFO_WORKLOADS
from tests.support import kubebookinfo
from tests.support.kubeapi import restart_apiserver, start_kube, stop_kube

# The API server answers a watch at once on an idle machine; 1 s of quiet before a watch step ends
# leaves room for a loaded 2-core one (an event later than that is read by the next step anyway).
WATCH_IDLE = 1.0
TIMEOUT = 20.0


def registry_for(kube, namespace: str, state=None, user: str = "admin") -> KubernetesRegistry:
    return KubernetesRegistry(
        kube.client(user),
        state or MemoryPollState(),
        timeout=TIMEOUT,
        watch_idle=WATCH_IDLE,
        namespaces=[namespace],
    )


@pytest.fixture
def bookinfo(kube):
    api = kube.client()
    namespace = kubebookinfo.fresh_namespace(api)
    return kubebookinfo.load_bookinfo(api, namespace)


def test_the_registry_lists_bookinfos_services_and_versioned_workloads(kube, bookinfo):
    registry = registry_for(kube, bookinfo.namespace).registry()

    assert sorted(s.name for s in registry.services) == ["details", "productpage", "ratings", "reviews"]
    assert {s.namespace for s in registry.services} == {bookinfo.namespace}
    assert sorted((w.name, w.service, w.version) for w in registry.workloads) == sorted(
        (f"{app}-{version}", app, version) for app, version in BOOKINFO_WORKLOADS
    )
    reviews_v2 = registry.workload("reviews-v2")
    (pod,) = bookinfo.pods["reviews-v2"]
    assert reviews_v2.address == pod.ip
    assert reviews_v2.spiffe_id == f"spiffe://cluster.local/ns/{bookinfo.namespace}/sa/bookinfo-reviews"
    assert reviews_v2.sidecar and reviews_v2.ready
    assert reviews_v2.pod == f"{bookinfo.namespace}/{pod.name}"
    # Nothing polls Envoys in cluster mode: no workload gives an admin address.
    assert all(w.admin_address == "" for w in registry.workloads)


def test_readiness_sidecars_and_the_gateway_follow_the_cluster(kube, bookinfo):
    api = kube.client()
    state = MemoryPollState()
    source = registry_for(kube, bookinfo.namespace, state)
    assert source.registry().workload("ratings-v1").ready
    (ratings,) = bookinfo.pods["ratings-v1"]
    kubebookinfo.set_pod_status(api, bookinfo.namespace, ratings.name, ratings.ip, ready=False)
    # A workload without a sidecar, labelled the Kubernetes way (app.kubernetes.io/*).
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(
        bookinfo.namespace, kubebookinfo.service_account("bookinfo-legacy", bookinfo.namespace)
    )
    spec = kubebookinfo.pod_spec("legacy", "v9", "bookinfo-legacy", sidecar=False)
    labels = {"app.kubernetes.io/name": "legacy", "app.kubernetes.io/version": "v9"}
    core.create_namespaced_pod(
        bookinfo.namespace, kubebookinfo.pod("legacy-0", bookinfo.namespace, labels, spec, sidecar=False)
    )
    gateway = kubebookinfo.load_ingress_gateway(api)

    registry = wait_for(
        source, lambda r: r.workload("legacy-0") is not None and not r.workload("ratings-v1").ready
    )

    legacy = registry.workload("legacy-0")
    assert (legacy.app, legacy.version, legacy.sidecar) == ("legacy", "v9", False)
    assert registry.workload("reviews-v1").ready
    assert registry.gateway is not None
    gateway_ips = {
        p.status.pod_ip
        for p in core.list_pod_for_all_namespaces(
            label_selector="istio=ingressgateway", _request_timeout=30
        ).items
    }
    assert gateway.ip in gateway_ips  # other tests of the session may have started gateways too
    assert registry.gateway.address in gateway_ips
    assert registry.gateway.name == "istio-ingressgateway"
    assert source.last_sync["pods"] == "watched"  # the change came from the watch, not a re-list


def wait_for(source: KubernetesRegistry, condition, polls: int = 10):
    """The registry once `condition` holds, syncing at most `polls` times (each a bounded watch step)."""
    registry = None
    for _ in range(polls):
        registry = source.registry()
        if condition(registry):
            return registry
        time.sleep(0.2)
    raise AssertionError(f"condition not met after {polls} syncs: {registry}")


def test_a_deleted_pod_leaves_the_map_within_two_polls(kube, bookinfo):
    source = registry_for(kube, bookinfo.namespace)
    state = MemoryPollState()
    envoy = RecordedEnvoyAdmin({})  # cluster mode reads no Envoy: the registry alone makes the nodes
    config = PollConfig(read_tls=False)
    first = poll_once(source, envoy, state, config)
    assert "wl:ratings-v1" in first.nodes and "svc:ratings" in first.nodes

    kubebookinfo.delete_pod(kube.client(), bookinfo, bookinfo.pods["ratings-v1"][0])

    maps = [poll_once(source, envoy, state, config) for _ in range(2)]
    assert any("wl:ratings-v1" not in m.nodes for m in maps), [sorted(m.nodes) for m in maps]
    assert "wl:ratings-v1" not in maps[-1].nodes
    assert "svc:ratings" in maps[-1].nodes  # the Service itself still exists
    assert not maps[-1].stale_sources


@pytest.fixture
def private_kube(kube, tmp_path):
    """A cluster of this test's own (it restarts its API server); `kube` only for the skip policy."""
    cluster = start_kube(tmp_path / "kube")
    yield cluster
    stop_kube(cluster)


def test_an_expired_watch_relists_by_itself(private_kube):
    api = private_kube.client()
    loaded = kubebookinfo.load_bookinfo(api, kubebookinfo.fresh_namespace(api))
    state = MemoryPollState()
    source = registry_for(private_kube, loaded.namespace, state)
    source.registry()
    assert source.last_sync["pods"] == "listed"
    stored = state.load(VIEW_KEY)["pods"]["resource_version"]
    kubebookinfo.delete_pod(api, loaded, loaded.pods["details-v1"][0])
    # An API server restart (an upgrade, a long outage) rebuilds its watch cache from etcd's
    # current revision: a watch from the stored, older resourceVersion is answered 410 Gone.
    restart_apiserver(private_kube)
    answer = client.CoreV1Api(private_kube.client()).list_pod_for_all_namespaces(
        watch=True,
        resource_version=stored,
        timeout_seconds=1,
        _preload_content=False,
        _request_timeout=TIMEOUT,
    )
    first_event = json.loads(answer.data.decode().splitlines()[0])
    assert (first_event["type"], first_event["object"]["code"]) == (
        "ERROR",
        410,
    )  # the premise: this really is an expired watch

    source = registry_for(private_kube, loaded.namespace, state)  # a new connection, same view
    registry = source.registry()

    assert source.last_sync["pods"] == "relisted"
    assert registry.workload("details-v1") is None
    assert registry.workload("productpage-v1") is not None
    assert state.load(VIEW_KEY)["pods"]["resource_version"] != stored
    source.registry()
    assert source.last_sync["pods"] in ("watched", "unchanged")  # back to watching


def test_several_workers_share_one_view(kube, bookinfo):
    state = MemoryPollState()
    registry_for(kube, bookinfo.namespace, state).registry()
    second = registry_for(kube, bookinfo.namespace, state)  # another worker process, same Redis

    registry = second.registry()

    assert all(outcome in ("watched", "unchanged") for outcome in second.last_sync.values())
    assert registry.workload("reviews-v3") is not None


def test_an_unreachable_api_server_is_a_source_error_and_the_poll_keeps_the_last_registry(kube, bookinfo):
    state = MemoryPollState()
    envoy = RecordedEnvoyAdmin({})
    config = PollConfig(read_tls=False)
    poll_once(registry_for(kube, bookinfo.namespace, state), envoy, state, config)
    configuration = client.Configuration()
    configuration.host = "https://127.0.0.1:9"  # nothing listens on the discard port
    configuration.ssl_ca_cert = str(kube.ca_cert)
    down = KubernetesRegistry(
        client.ApiClient(configuration), state, timeout=2.0, namespaces=[bookinfo.namespace]
    )
    with pytest.raises(SourceError) as error:
        down.registry()
    assert error.value.unreachable

    traffic_map = poll_once(down, envoy, state, config)

    assert "registry" in traffic_map.stale_sources
    assert "wl:reviews-v2" in traffic_map.nodes
