"""Render a positioned TrafficMap as a Plotly figure (plain JSON-able dict, no plotly import).

Traces, in order: one line trace per edge health (colour), the edge-label trace (text at edge
midpoints; customdata carries every label variant so the browser switches rate / error % / p95
without a round trip), and the node trace. Every point's customdata starts with the id of its node
or edge, which is what the browser uses to hide, find and open the side panel.
"""

from __future__ import annotations

import base64
from typing import Any

from dashboard.topology.trafficmap import Edge, Node, TrafficMap

HEALTH_COLORS = {
    "healthy": "#2e9e44",
    "degraded": "#f0a30a",
    "failing": "#d62728",
    "idle": "#b5b5b5",
    "unknown": "#7f7f7f",
}
NODE_SYMBOLS = {"gateway": "diamond", "service": "triangle-right", "workload": "circle", "unknown": "square"}
LABEL_MODES = ("rate", "error", "p95")
# Above these sizes text is drawn only on hover: thousands of SVG text elements cost Chromium
# most of a second per update and are unreadable at that density anyway.
MAX_EDGE_LABELS = 400
MAX_NODE_LABELS = 400
# A padlock drawn as an SVG image (no font has to carry a lock glyph), on every mTLS edge.
LOCK_SVG = (
    "data:image/svg+xml;base64,"
    + base64.b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
        b'<path d="M4.5 7V5a3.5 3.5 0 0 1 7 0v2" fill="none" stroke="#1f5f99" stroke-width="1.8"/>'
        b'<rect x="2.5" y="7" width="11" height="8" rx="1.5" fill="#1f5f99"/>'
        b'<circle cx="8" cy="11" r="1.3" fill="#fff"/></svg>'
    ).decode()
)
LOCK_SIZE = 0.022  # of the drawing's extent


def _fmt_rate(edge: Edge) -> str:
    return "n/a" if edge.rps is None else f"{edge.rps:.2f} rps"


def _fmt_error(edge: Edge) -> str:
    if edge.rps is None:
        return "n/a"
    text = f"{edge.error_5xx_pct + edge.error_4xx_pct:.1f}% err"
    # Denials and rate limits are errors of their own kind: say so where they happen.
    if edge.denied_per_s:
        text += f" · RBAC {edge.denied_per_s:.1f}/s"
    if edge.rate_limited_per_s:
        text += f" · RL {edge.rate_limited_per_s:.1f}/s"
    return text


def _fmt_p95(edge: Edge) -> str:
    return "n/a" if edge.p95_ms is None else f"p95 {edge.p95_ms:.1f} ms"


def _fmt_routing(edge: Edge) -> str:
    """Configured routing (see appenders/routes.py): `100% · rule` or `fault-delay · timeout`."""
    routing = edge.routing or {}
    parts = [f"{routing['weight']:g}%"] if routing.get("weight") is not None else []
    if routing.get("matched"):
        parts.append("rule")
    parts += routing.get("badges") or []
    return " · ".join(parts)


def edge_labels(edge: Edge) -> dict[str, str]:
    labels = {"rate": _fmt_rate(edge), "error": _fmt_error(edge), "p95": _fmt_p95(edge)}
    routing = _fmt_routing(edge)
    if routing:
        labels = {mode: f"{text}<br>{routing}" for mode, text in labels.items()}
    return labels


def _edge_hover(edge: Edge, source: Node, target: Node) -> str:
    lines = [
        f"<b>{source.label} → {target.label}</b>",
        f"{_fmt_rate(edge)}  ({edge.health}{', stale' if edge.stale else ''})",
        f"4xx {edge.error_4xx_pct:.1f}%  5xx {edge.error_5xx_pct:.1f}%",
        "p50/p95/p99 "
        + "/".join("n/a" if v is None else f"{v:.1f}" for v in (edge.p50_ms, edge.p95_ms, edge.p99_ms))
        + " ms",
        f"mTLS {'on' if edge.mtls else 'off'}"
        + ("" if edge.mtls_pct is None else f" ({edge.mtls_pct:.0f}% of requests)"),
    ]
    if edge.routing:
        lines.append(f"route: {_fmt_routing(edge) or 'VirtualService'}")
    if edge.denied_per_s or edge.rate_limited_per_s:
        lines.append(
            f"403 RBAC denied {edge.denied_per_s:.2f}/s  429 rate-limited {edge.rate_limited_per_s:.2f}/s"
        )
    return "<br>".join(lines)


def lock_images(traffic_map: TrafficMap) -> list[dict[str, Any]]:
    """A padlock at 40% along every mTLS edge (Plotly layout images, named by the edge id)."""
    placed = [n for n in traffic_map.nodes.values() if n.x is not None and n.y is not None]
    if not placed:
        return []
    extent = max(
        max(n.x for n in placed) - min(n.x for n in placed),  # type: ignore[type-var,operator]
        max(n.y for n in placed) - min(n.y for n in placed),  # type: ignore[type-var,operator]
        1.0,
    )
    size = LOCK_SIZE * extent
    images = []
    for edge in sorted(traffic_map.edges.values(), key=lambda e: e.id):
        source, target = traffic_map.nodes.get(edge.source), traffic_map.nodes.get(edge.target)
        if not edge.mtls or source is None or target is None or source.x is None or target.x is None:
            continue
        images.append(
            {
                "source": LOCK_SVG,
                "name": edge.id,
                "xref": "x",
                "yref": "y",
                "x": source.x + 0.4 * (target.x - source.x),
                "y": source.y + 0.4 * (target.y - source.y),  # type: ignore[operator]
                "sizex": size,
                "sizey": size,
                "xanchor": "center",
                "yanchor": "middle",
                "layer": "above",
            }
        )
        if len(images) >= MAX_EDGE_LABELS:
            break
    return images


def _node_hover(node: Node) -> str:
    lines = [f"<b>{node.label}</b> ({node.kind})", f"health: {node.health}{' (idle)' if node.idle else ''}"]
    if node.sidecar:
        lines.append(f"sidecar: {node.sidecar.get('state')}")
        if node.sidecar.get("nack"):
            lines.append("config NACKed")
    if node.stale:
        lines.append("stale: sidecar unreachable")
    return "<br>".join(lines)


def render_figure(traffic_map: TrafficMap, label_mode: str = "rate") -> dict[str, Any]:
    """The Plotly figure (`{"data": [...], "layout": {...}}`); nodes must have x/y set."""
    nodes = traffic_map.nodes
    line_traces: dict[str, dict[str, Any]] = {}
    label_x: list[float] = []
    label_y: list[float] = []
    label_text: list[str] = []
    label_custom: list[list[str]] = []
    label_hover: list[str] = []
    for edge in sorted(traffic_map.edges.values(), key=lambda e: e.id):
        source, target = nodes.get(edge.source), nodes.get(edge.target)
        if source is None or target is None or source.x is None or target.x is None:
            continue
        health = edge.health if edge.health in HEALTH_COLORS else "unknown"
        trace = line_traces.setdefault(
            health,
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"edges {health}",
                "x": [],
                "y": [],
                "customdata": [],
                "hoverinfo": "skip",
                "line": {
                    "color": HEALTH_COLORS[health],
                    "width": 1.5 if health == "idle" else 2.5,
                    "dash": "dot" if health == "idle" else "solid",
                },
                "meta": {"role": "edges", "health": health},
            },
        )
        trace["x"].extend([source.x, target.x, None])
        trace["y"].extend([source.y, target.y, None])
        trace["customdata"].extend([[edge.id, edge.source, edge.target]] * 3)
        labels = edge_labels(edge)
        # Put the label at 60% of the way so labels of edges sharing a source do not pile up.
        label_x.append(source.x + 0.6 * (target.x - source.x))
        label_y.append(source.y + 0.6 * (target.y - source.y))
        label_text.append(labels.get(label_mode, labels["rate"]))
        label_custom.append(
            [edge.id, edge.source, edge.target, labels["rate"], labels["error"], labels["p95"]]
        )
        label_hover.append(_edge_hover(edge, source, target))

    ordered_nodes = sorted((n for n in nodes.values() if n.x is not None), key=lambda n: n.id)
    node_trace = {
        "type": "scatter",
        "mode": "markers+text" if len(ordered_nodes) <= MAX_NODE_LABELS else "markers",
        "name": "nodes",
        "x": [n.x for n in ordered_nodes],
        "y": [n.y for n in ordered_nodes],
        "text": [n.label for n in ordered_nodes],
        "textposition": "bottom center",
        "customdata": [[n.id, n.label, n.kind] for n in ordered_nodes],
        "hovertext": [_node_hover(n) for n in ordered_nodes],
        "hoverinfo": "text",
        "marker": {
            "size": 22,
            "symbol": [NODE_SYMBOLS.get(n.kind, "circle") for n in ordered_nodes],
            "color": [HEALTH_COLORS.get(n.health, HEALTH_COLORS["unknown"]) for n in ordered_nodes],
            "line": {
                "width": [3 if n.stale or "nack" in n.flags else 1 for n in ordered_nodes],
                "color": "#333",
            },
            "opacity": [0.45 if n.idle else 1.0 for n in ordered_nodes],
        },
        "meta": {"role": "nodes"},
    }
    label_trace = {
        "type": "scatter",
        "mode": "markers+text" if len(label_text) <= MAX_EDGE_LABELS else "markers",
        "name": "edge labels",
        "x": label_x,
        "y": label_y,
        "text": label_text,
        "textposition": "top center",
        "textfont": {"size": 10, "color": "#444"},
        "customdata": label_custom,
        "hovertext": label_hover,
        "hoverinfo": "text",
        "marker": {"size": 8, "color": "rgba(0,0,0,0.05)"},
        "meta": {"role": "labels"},
    }
    data = [line_traces[h] for h in HEALTH_COLORS if h in line_traces] + [label_trace, node_trace]
    layout = {
        "showlegend": False,
        "hovermode": "closest",
        "dragmode": "pan",
        # Same uirevision on every update: Plotly.react keeps the user's zoom and pan.
        "uirevision": "topology",
        "margin": {"l": 20, "r": 20, "t": 20, "b": 20},
        "xaxis": {"visible": False, "zeroline": False},
        "yaxis": {"visible": False, "zeroline": False},
        "plot_bgcolor": "#fafafa",
        "paper_bgcolor": "#fafafa",
        "images": lock_images(traffic_map),
    }
    return {"data": data, "layout": layout}
