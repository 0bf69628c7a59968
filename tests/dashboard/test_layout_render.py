"""Layered layout (left to right, stable between updates) and the Plotly figure."""

from __future__ import annotations

import json

import pytest

from dashboard.topology.appenders import AppenderContext, run_appenders
from dashboard.topology.layout import assign_positions
from dashboard.topology.render import HEALTH_COLORS, render_figure
from dashboard.topology.trafficmap import Node, build_traffic_map
from tests.dashboard.helpers import registry_of, samples_of


@pytest.fixture
def traffic_map(bookinfo_recording):
    polls = [samples_of(p) for p in bookinfo_recording["polls"]]
    registry = registry_of(bookinfo_recording)
    built = build_traffic_map(registry, polls[1], polls[0], taken_at=1.0)
    return run_appenders(built, AppenderContext(registry=registry))


def test_layers_go_left_to_right_along_the_traffic(traffic_map):
    positions = assign_positions(traffic_map)
    x = {node_id: pos[0] for node_id, pos in positions.items()}
    chain = [
        "gw:istio-ingressgateway",
        "svc:productpage",
        "wl:productpage-v1",
        "svc:reviews",
        "wl:reviews-v2",
        "svc:ratings",
        "wl:ratings-v1",
    ]
    assert [x[n] for n in chain] == sorted(x[n] for n in chain)
    assert len({x[n] for n in chain}) == len(chain)
    # Versions of one service share a column and get distinct rows.
    rows = {positions[f"wl:reviews-v{i}"] for i in (1, 2, 3)}
    assert len({r[0] for r in rows}) == 1 and len(rows) == 3


def test_positions_stay_put_when_nodes_come_and_go(traffic_map):
    first = assign_positions(traffic_map)
    traffic_map.add_node(Node(id="svc:newcomer", kind="service", name="newcomer"))
    second = assign_positions(traffic_map, first)
    assert all(second[n] == first[n] for n in first)
    assert second["svc:newcomer"] not in first.values()
    del traffic_map.nodes["wl:reviews-v1"]
    third = assign_positions(traffic_map, second)
    assert all(third[n] == second[n] for n in third)


def test_a_map_laid_out_before_any_traffic_is_laid_out_again_once_traffic_shows_its_layers(traffic_map):
    # The first polls of a new mesh see the registry only: every service is a root, in column 0.
    edges = dict(traffic_map.edges)
    traffic_map.edges.clear()
    before = assign_positions(traffic_map)
    assert before["svc:ratings"][0] == before["svc:productpage"][0] == 0
    traffic_map.edges.update(edges)
    after = assign_positions(traffic_map, before)
    assert after == assign_positions(traffic_map)  # as if the traffic had been there from the start
    # Once laid out along the traffic, the calls to ratings going idle and coming back move nothing.
    into_ratings = [edge_id for edge_id in edges if edge_id.endswith("->svc:ratings")]
    assert into_ratings
    for edge_id in into_ratings:
        del traffic_map.edges[edge_id]
    assert assign_positions(traffic_map, after) == after
    traffic_map.edges.update({edge_id: edges[edge_id] for edge_id in into_ratings})
    assert assign_positions(traffic_map, after) == after


def test_layout_is_deterministic(traffic_map):
    assert assign_positions(traffic_map) == assign_positions(traffic_map)


def test_figure_has_edges_by_health_labels_and_nodes(traffic_map):
    assign_positions(traffic_map)
    traffic_map.edges["svc:ratings->wl:ratings-v1"].health = "failing"
    figure = render_figure(traffic_map)
    json.dumps(figure)  # plain JSON, sent as is to browsers
    roles = [trace["meta"]["role"] for trace in figure["data"]]
    assert roles[-2:] == ["labels", "nodes"]
    edge_traces = {t["meta"]["health"]: t for t in figure["data"] if t["meta"]["role"] == "edges"}
    assert edge_traces["failing"]["line"]["color"] == HEALTH_COLORS["failing"]
    assert ["svc:ratings->wl:ratings-v1", "svc:ratings", "wl:ratings-v1"] in edge_traces["failing"][
        "customdata"
    ]
    nodes = figure["data"][-1]
    assert "reviews v2" in nodes["text"]
    assert {cd[0] for cd in nodes["customdata"]} == set(traffic_map.nodes)
    labels = figure["data"][-2]
    assert len(labels["text"]) == len(traffic_map.edges)
    assert all(text.endswith("rps") for text in labels["text"])
    # Every label variant travels with the figure (rate, error %, p95) so the browser can switch.
    assert all(len(cd) == 6 and cd[4].endswith("% err") for cd in labels["customdata"])
    assert figure["layout"]["uirevision"] == "topology"


def test_label_mode_changes_the_label_text(traffic_map):
    assign_positions(traffic_map)
    labels = render_figure(traffic_map, label_mode="p95")["data"][-2]["text"]
    assert all(text.startswith("p95") or text == "n/a" for text in labels)


def test_large_maps_show_text_on_hover_only():
    from dashboard.topology.render import MAX_EDGE_LABELS
    from dashboard.topology.trafficmap import Edge, TrafficMap

    big = TrafficMap(taken_at=0.0)
    for i in range(MAX_EDGE_LABELS + 1):
        big.add_node(Node(id=f"svc:s{i}", kind="service", name=f"s{i}"))
    for i in range(MAX_EDGE_LABELS + 1):
        edge = Edge(source=f"svc:s{i}", target=f"svc:s{(i + 1) % (MAX_EDGE_LABELS + 1)}", rps=1.0)
        big.edges[edge.id] = edge
    assign_positions(big)
    labels, nodes = render_figure(big)["data"][-2:]
    assert labels["mode"] == "markers" and nodes["mode"] == "markers"
    assert len(labels["hovertext"]) == MAX_EDGE_LABELS + 1
