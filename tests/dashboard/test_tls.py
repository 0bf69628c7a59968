"""TLS detection from config dumps, and reading them only when a sidecar's xDS version changes."""

from __future__ import annotations

from dashboard.sources.envoy import RecordedEnvoyAdmin
from dashboard.sources.registry import NodeStatus
from dashboard.topology.poll import refresh_tls_clusters
from dashboard.topology.state import MemoryPollState
from dashboard.topology.tls import tls_cluster_names
from tests.dashboard.conftest import load_fixture

TLS_SOCKET = {
    "name": "envoy.transport_sockets.tls",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
    },
}
ACTIVE_CLUSTERS = {
    "configs": [
        {
            "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster",
            "version_info": "3",
            "cluster": {
                "name": "outbound|9080||reviews.default.svc.cluster.local",
                "transport_socket": TLS_SOCKET,
            },
        },
        {
            "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster",
            "version_info": "3",
            "cluster": {
                "name": "outbound|9080|v2|ratings.default.svc.cluster.local",
                "transport_socket_matches": [{"name": "tlsMode-istio", "transport_socket": TLS_SOCKET}],
            },
        },
        {"cluster": {"name": "outbound|9080||details.default.svc.cluster.local"}},
    ]
}


def test_real_config_dump_without_tls():
    assert tls_cluster_names(load_fixture("standalone_admin.json")["config_dump"]) == set()


def test_tls_transport_sockets_are_found():
    assert tls_cluster_names(ACTIVE_CLUSTERS) == {
        "outbound|9080||reviews.default.svc.cluster.local",
        "outbound|9080|v2|ratings.default.svc.cluster.local",
    }


class CountingAdmin(RecordedEnvoyAdmin):
    calls = 0

    def active_clusters(self, address):
        self.calls += 1
        return super().active_clusters(address)


def status(version: str) -> tuple[NodeStatus, ...]:
    return (NodeStatus(node_id="n", name="productpage-v1", kind="sidecar", acked_version=version),)


def test_config_dumps_are_read_once_per_xds_version():
    admin = CountingAdmin({"127.0.0.1:1": {"active_clusters": ACTIVE_CLUSTERS}})
    targets = [("productpage-v1", "127.0.0.1:1")]
    state = MemoryPollState()
    first = refresh_tls_clusters(admin, targets, status("1"), state, unreachable=set())
    assert "outbound|9080||reviews.default.svc.cluster.local" in first["productpage-v1"]
    refresh_tls_clusters(admin, targets, status("1"), state, unreachable=set())
    assert admin.calls == 1
    refresh_tls_clusters(admin, targets, status("2"), state, unreachable=set())
    assert admin.calls == 2
    # An unreachable sidecar keeps its last known answer.
    kept = refresh_tls_clusters(admin, targets, status("3"), state, unreachable={"productpage-v1"})
    assert admin.calls == 2 and kept == first
