"""poll_once with recorded sources: deltas across polls, stale sources, shared state, the lock."""

from __future__ import annotations

import dataclasses

import pytest

from dashboard.sources.envoy import RecordedEnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.registry import StaticRegistry
from dashboard.topology.poll import envoy_targets, poll_once
from dashboard.topology.state import MemoryPollState, RedisPollState
from dashboard.topology.trafficmap import UNKNOWN_ID
from tests.dashboard.helpers import registry_of, status_of


class Clock:
    def __init__(self, times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def recorded_admin(recording, poll_index, drop=()):
    registry = registry_of(recording)
    addresses = dict(envoy_targets(registry))
    return RecordedEnvoyAdmin(
        {
            addresses[name]: {"stats": entry["stats"]}
            for name, entry in recording["polls"][poll_index].items()
            if name not in drop
        }
    )


class FlakyRegistry(StaticRegistry):
    fail = False

    def registry(self):
        if self.fail:
            raise SourceError("control plane down")
        return super().registry()

    def status(self):
        if self.fail:
            raise SourceError("control plane down")
        return super().status()


def test_two_polls_give_rates_and_positions(bookinfo_recording):
    source = StaticRegistry(registry_of(bookinfo_recording), status_of(bookinfo_recording))
    state = MemoryPollState()
    first = poll_once(source, recorded_admin(bookinfo_recording, 0), state, clock=Clock([100.0]))
    assert first.edges["gw:istio-ingressgateway->svc:productpage"].rps is None
    second = poll_once(source, recorded_admin(bookinfo_recording, 1), state, clock=Clock([102.0]))
    edge = second.edges["gw:istio-ingressgateway->svc:productpage"]
    assert edge.rps == pytest.approx(5, rel=0.2)
    assert edge.health == "healthy"
    assert all(node.x is not None for node in second.nodes.values())
    assert state.load("positions")


def test_load_no_known_caller_sent_shows_an_unknown_caller_from_the_second_such_poll(bookinfo_recording):
    # A registry without the gateway: productpage's ~5 rps come from outside the mesh.
    registry = dataclasses.replace(registry_of(bookinfo_recording), gateway=None)
    source = StaticRegistry(registry, status_of(bookinfo_recording))
    state = MemoryPollState()
    maps = [
        poll_once(source, recorded_admin(bookinfo_recording, i), state, clock=Clock([100.0 + 2 * i]))
        for i in range(3)
    ]
    assert [UNKNOWN_ID in m.nodes for m in maps] == [False, False, True]
    assert maps[2].edges[f"{UNKNOWN_ID}->svc:productpage"].rps == pytest.approx(5, rel=0.2)


def test_failed_sidecar_marks_stale_without_failing_the_poll(bookinfo_recording):
    source = StaticRegistry(registry_of(bookinfo_recording), status_of(bookinfo_recording))
    state = MemoryPollState()
    poll_once(source, recorded_admin(bookinfo_recording, 0), state, clock=Clock([100.0]))
    poll_once(source, recorded_admin(bookinfo_recording, 1), state, clock=Clock([102.0]))
    third = poll_once(
        source, recorded_admin(bookinfo_recording, 1, drop={"details-v1"}), state, clock=Clock([103.0])
    )
    assert "envoy:details-v1" in third.stale_sources
    node = third.nodes["wl:details-v1"]
    assert node.stale and node.sidecar["state"] == "unreachable"
    assert third.edges["svc:details->wl:details-v1"].stale


def test_failing_registry_falls_back_to_the_last_good_one(bookinfo_recording):
    source = FlakyRegistry(registry_of(bookinfo_recording), status_of(bookinfo_recording))
    state = MemoryPollState()
    poll_once(source, recorded_admin(bookinfo_recording, 0), state, clock=Clock([100.0]))
    source.fail = True
    later = poll_once(source, recorded_admin(bookinfo_recording, 1), state, clock=Clock([102.0]))
    assert {"registry", "status"} <= set(later.stale_sources)
    assert "wl:reviews-v3" in later.nodes
    assert later.nodes["wl:reviews-v3"].sidecar["status_stale"]


def test_poll_without_any_registry_yields_an_empty_stale_map():
    source = FlakyRegistry(registry_of({"registry": {"services": [], "workloads": []}}))
    source.fail = True
    empty = poll_once(source, RecordedEnvoyAdmin({}), MemoryPollState())
    assert empty.nodes == {} and "registry" in empty.stale_sources


def test_redis_state_is_shared_between_pollers(bookinfo_recording, redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    source = StaticRegistry(registry_of(bookinfo_recording))
    # Two "workers" with their own state objects on the same Redis: the second one's poll
    # computes rates from the first one's counters.
    poll_once(source, recorded_admin(bookinfo_recording, 0), RedisPollState(client), clock=Clock([100.0]))
    second = poll_once(
        source, recorded_admin(bookinfo_recording, 1), RedisPollState(client), clock=Clock([102.0])
    )
    assert second.edges["gw:istio-ingressgateway->svc:productpage"].rps == pytest.approx(5, rel=0.2)


def test_redis_lock_lets_one_poll_run_at_a_time(redis_server):
    import redis

    state = RedisPollState(redis.Redis.from_url(redis_server.url))
    with state.lock(5) as first, RedisPollState(redis.Redis.from_url(redis_server.url)).lock(5) as second:
        assert first and not second
    with state.lock(5) as again:
        assert again


def test_poll_reads_tls_from_config_dumps(bookinfo_recording):
    from tests.dashboard.test_tls import ACTIVE_CLUSTERS

    registry = registry_of(bookinfo_recording)
    source = StaticRegistry(registry, status_of(bookinfo_recording))
    admin = recorded_admin(bookinfo_recording, 1)
    admin.documents[registry.workload("productpage-v1").admin_address]["active_clusters"] = ACTIVE_CLUSTERS
    state = MemoryPollState()
    poll_once(source, recorded_admin(bookinfo_recording, 0), state, clock=Clock([100.0]))
    # The first poll's Envoys had no config dump to read: it is retried, not cached as "no TLS".
    traffic_map = poll_once(source, admin, state, clock=Clock([102.0]))
    assert traffic_map.edges["wl:productpage-v1->svc:reviews"].mtls
    assert not traffic_map.edges["wl:productpage-v1->svc:details"].mtls
