"""The route appender on the recorded BookInfo map: weights on service -> workload edges, badges on
the callers' edges, nothing where no VirtualService routes; and the map renders them."""

from __future__ import annotations

from dashboard.routes.annotations import route_annotations
from dashboard.topology.appenders import AppenderContext
from dashboard.topology.appenders.routes import RouteAppender
from dashboard.topology.render import edge_labels
from dashboard.topology.trafficmap import build_traffic_map
from meshcore.model.yaml_io import parse_documents
from tests.dashboard.helpers import registry_of, samples_of
from tests.support.samples import reviews_weights, sample


def test_edges_carry_the_configured_split_and_badges(bookinfo_recording):
    polls = [samples_of(p) for p in bookinfo_recording["polls"]]
    traffic_map = build_traffic_map(registry_of(bookinfo_recording), polls[1], polls[0], taken_at=1.0)
    split = reviews_weights(v1=80, v3=20).replace("  - route:\n", "  - timeout: 1s\n    route:\n")
    virtual_services = [
        r.to_dict() for r in parse_documents(split + "---\n" + sample("virtual-service-ratings-test-delay"))
    ]
    rules = [r.to_dict() for r in parse_documents(sample("destination-rule-all"))]
    context = AppenderContext(
        registry=registry_of(bookinfo_recording), routes=route_annotations(virtual_services, rules)
    )
    RouteAppender().apply(traffic_map, context)
    edges = traffic_map.edges
    assert edges["svc:reviews->wl:reviews-v1"].routing == {"weight": 80.0, "matched": False}
    assert edges["svc:reviews->wl:reviews-v2"].routing == {"weight": None, "matched": False}
    assert edges["svc:reviews->wl:reviews-v3"].routing == {"weight": 20.0, "matched": False}
    assert edges["wl:productpage-v1->svc:reviews"].routing == {"badges": ["timeout"], "rules": 1}
    assert edges["wl:reviews-v2->svc:ratings"].routing == {"badges": ["fault-delay"], "rules": 2}
    assert edges["svc:ratings->wl:ratings-v1"].routing == {"weight": 100.0, "matched": True}
    assert edges["gw:istio-ingressgateway->svc:productpage"].routing is None
    assert edge_labels(edges["svc:reviews->wl:reviews-v1"])["rate"].endswith("<br>80%")
    assert "<br>" not in edge_labels(edges["gw:istio-ingressgateway->svc:productpage"])["rate"]
    assert traffic_map.to_dict()["edges"][0].keys() >= {"routing"}


def test_without_route_data_nothing_is_annotated(bookinfo_recording):
    polls = [samples_of(p) for p in bookinfo_recording["polls"]]
    traffic_map = build_traffic_map(registry_of(bookinfo_recording), polls[1], polls[0], taken_at=1.0)
    RouteAppender().apply(traffic_map, AppenderContext(registry=registry_of(bookinfo_recording)))
    assert all(edge.routing is None for edge in traffic_map.edges.values())
