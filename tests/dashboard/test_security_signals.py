"""Security signals in the dashboard's pure pipeline: 403/429/handshake counters, the inbound mTLS
share, the lock on the figure, and the workload page's certificate from Envoy's `/certs`.

The Envoy answers below are in the shape Envoy 1.40 gives on the local mesh (checked on the real
mesh by tests/dashboard/test_security_map.py).
"""

from __future__ import annotations

import datetime as dt

from dashboard.services.security import remaining, workload_certificate, workload_security
from dashboard.sources.envoy import RecordedEnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.registry import MeshRegistry, ServiceInfo, WorkloadInfo
from dashboard.topology.appenders import AppenderContext
from dashboard.topology.appenders.security import SecurityAppender
from dashboard.topology.envoystats import NodeSample, parse_inbound_counters, parse_stats
from dashboard.topology.layout import assign_positions
from dashboard.topology.render import edge_labels, lock_images, render_figure
from dashboard.topology.trafficmap import build_traffic_map

DETAILS_CLUSTER = "outbound|9080||details.default.svc.cluster.local"
REGISTRY = MeshRegistry(
    services=(ServiceInfo("details", fqdn="details.default.svc.cluster.local"),),
    workloads=(
        WorkloadInfo("productpage-v1", "productpage", "productpage", "v1", admin_port=1),
        WorkloadInfo("details-v1", "details", "details", "v1", admin_port=2),
    ),
)


def stats(**values: int) -> dict:
    return {"stats": [{"name": name, "value": value} for name, value in values.items()]}


def caller_stats(total: int, denied: int, limited: int, handshakes: int) -> dict:
    prefix = f"cluster.{DETAILS_CLUSTER}"
    return stats(
        **{
            f"{prefix}.upstream_rq_total": total,
            f"{prefix}.upstream_rq_2xx": total - denied - limited,
            f"{prefix}.upstream_rq_4xx": denied + limited,
            f"{prefix}.upstream_rq_403": denied,
            f"{prefix}.upstream_rq_429": limited,
            f"{prefix}.ssl.handshake": handshakes,
            # Envoy repeats counters under `.external.`: they must not count twice.
            f"cluster.{DETAILS_CLUSTER}.external.upstream_rq_429": limited,
        }
    )


def server_stats(total: int, mtls: int, plaintext: int, denied: int) -> dict:
    return stats(
        **{
            "cluster.inbound|9080||.upstream_rq_total": total,
            "cluster.inbound|9080||.upstream_rq_2xx": total,
            "http.inbound_0.0.0.0_9080_mtls.downstream_rq_total": mtls,
            "http.inbound_0.0.0.0_9080_plaintext.downstream_rq_total": plaintext,
            "http.inbound_0.0.0.0_9080_mtls.rbac.deny_.denied": denied,
            "http.inbound_0.0.0.0_9080_plaintext.rbac.allow_.denied": 0,
        }
    )


def sample(taken_at: float, document: dict) -> NodeSample:
    return NodeSample(taken_at, parse_stats(document), parse_inbound_counters(document))


def test_denials_rate_limits_and_handshakes_are_counters_of_their_own():
    counters = parse_stats(caller_stats(total=10, denied=2, limited=3, handshakes=1))[
        DETAILS_CLUSTER
    ].counters
    assert (counters["denied"], counters["rate_limited"], counters["tls_handshakes"]) == (2, 3, 1)
    inbound = parse_inbound_counters(server_stats(total=8, mtls=6, plaintext=4, denied=2))
    assert inbound == {"mtls": 6, "plaintext": 4, "rbac_denied": 2}


def traffic_map():
    previous = {
        "productpage-v1": sample(100.0, caller_stats(10, 0, 0, 1)),
        "details-v1": sample(100.0, server_stats(10, 10, 0, 0)),
    }
    current = {
        "productpage-v1": sample(102.0, caller_stats(30, 4, 6, 1)),
        "details-v1": sample(102.0, server_stats(20, 24, 2, 4)),
    }
    built = build_traffic_map(REGISTRY, current=current, previous=previous, taken_at=102.0)
    SecurityAppender().apply(built, AppenderContext(registry=REGISTRY))
    return built


def test_edges_carry_denied_and_rate_limited_rates_and_the_mtls_share():
    built = traffic_map()
    caller = built.edges["wl:productpage-v1->svc:details"]
    assert (caller.rps, caller.denied_per_s, caller.rate_limited_per_s) == (10.0, 2.0, 3.0)
    server = built.edges["svc:details->wl:details-v1"]
    # 14 mTLS and 2 plaintext requests arrived; RBAC denied 4 of them before the app.
    assert (server.mtls_pct, server.denied_per_s) == (87.5, 2.0)
    assert server.mtls  # at least one mTLS request: the lock, like Kiali's
    assert not caller.mtls  # no TLS cluster in a config dump and no new handshake this poll


def test_the_figure_draws_a_lock_on_mtls_edges_and_names_denials_in_the_error_label():
    built = traffic_map()
    assign_positions(built, None)
    figure = render_figure(built)
    assert [image["name"] for image in figure["layout"]["images"]] == ["svc:details->wl:details-v1"]
    assert lock_images(built)[0]["source"].startswith("data:image/svg+xml;base64,")
    assert (
        edge_labels(built.edges["wl:productpage-v1->svc:details"])["error"]
        == "50.0% err · RBAC 2.0/s · RL 3.0/s"
    )


CERTS = {
    "certificates": [
        {
            "ca_cert": [
                {"serial_number": "01", "subject_alt_names": [], "expiration_time": "2036-01-01T00:00:00Z"}
            ],
            "cert_chain": [
                {
                    "serial_number": "5a3f",
                    "subject_alt_names": [{"uri": "spiffe://cluster.local/ns/default/sa/bookinfo-details"}],
                    "valid_from": "2030-01-01T00:00:00Z",
                    "expiration_time": "2030-01-02T00:00:00Z",
                }
            ],
        }
    ]
}


class Security:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def workloads(self) -> dict:
        if self.fail:
            raise SourceError("control plane: unreachable")
        return {"details-v1": {"spiffe_id": "spiffe://cluster.local/ns/default/sa/bookinfo-details"}}


def test_the_workload_certificate_comes_from_the_proxy_itself():
    found = workload_certificate(CERTS)
    assert found["spiffe_id"] == "spiffe://cluster.local/ns/default/sa/bookinfo-details"
    assert found["expires_at"] == dt.datetime(2030, 1, 2, tzinfo=dt.UTC)
    assert workload_certificate({"certificates": []}) is None
    now = dt.datetime(2030, 1, 1, 0, 1, tzinfo=dt.UTC)
    view = workload_security(RecordedEnvoyAdmin({"a": {"certs": CERTS}}), "a", Security(), "details-v1", now)
    assert view["certificate"]["expires_in"] == "23 h 59 min" and view["errors"] == []


def test_a_failing_source_is_named_and_the_rest_still_shows():
    view = workload_security(
        RecordedEnvoyAdmin({"a": {"certs": CERTS}}), "a", Security(fail=True), "details-v1"
    )
    assert view["certificate"]["serial"] == "5a3f"
    assert view["errors"] == ["policies: control plane: unreachable"]
    assert (remaining(0), remaining(75), remaining(12)) == ("expired", "1 min 15 s", "12 s")
