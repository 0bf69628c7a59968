"""The sidecar view's reduction of real /clusters answers (recorded from productpage-v1's Envoy)."""

from __future__ import annotations

from dashboard.services.sidecar import cluster_rows, config_sections, listener_rows
from tests.dashboard.conftest import load_fixture
from tests.dashboard.helpers import registry_of


def test_hosts_of_a_service_cluster_name_their_workloads(bookinfo_recording):
    registry = registry_of(bookinfo_recording)
    by_address = {f"{w.address}:{w.inbound_port}": w.name for w in registry.workloads}
    rows = {row["name"]: row for row in cluster_rows(bookinfo_recording["clusters_productpage"], by_address)}
    reviews = rows["outbound|9080||reviews.default.svc.cluster.local"]
    # No DestinationRule subsets: one cluster, three hosts, told apart by their inbound ports.
    assert sorted(h["workload"] for h in reviews["hosts"]) == ["reviews-v1", "reviews-v2", "reviews-v3"]
    assert all(h["health"] == "healthy" for h in reviews["hosts"])
    assert sum(h["rq_total"] for h in reviews["hosts"]) > 0


def test_listeners_and_config_sections_from_a_real_envoy():
    admin = load_fixture("standalone_admin.json")
    assert {row["name"] for row in listener_rows(admin["listeners"])} == {"out", "in"}
    titles = [section["title"] for section in config_sections(admin["config_dump"])]
    assert "ClustersConfigDump" in titles and "ListenersConfigDump" in titles
