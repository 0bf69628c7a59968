"""Layered (left-to-right) layout with positions that stay put between updates.

Columns are the longest path from the roots (gateway, unknown, nodes nobody calls) over the traffic
edges plus the registry's service -> workload relation, so a workload sits right of its service even
before it has traffic. Rows are ordered by the mean row of a node's predecessors, then by id.

Nodes that already have a position keep it; only new nodes are placed, below their column — as
long as the kept columns still hold. When traffic shows a node further right than it sits (the
first polls see the registry's service -> workload links before any request, so every service is
a root then), the whole map is laid out again, each node at the larger of its kept and its new
column. Columns only grow, so a route that goes idle and comes back moves nothing.
Pure and deterministic.
"""

from __future__ import annotations

from collections import defaultdict

from dashboard.topology.trafficmap import TrafficMap, service_id

Position = tuple[float, float]
COLUMN_WIDTH = 1.0
ROW_HEIGHT = 1.0


def _links(traffic_map: TrafficMap) -> list[tuple[str, str]]:
    """(source, target) of every traffic edge, then of every registry service -> workload pair not
    already among them, each once and in map order (a set's order would change row means' sums
    from one process to the next)."""
    links = dict.fromkeys((e.source, e.target) for e in traffic_map.edges.values())
    for node in traffic_map.nodes.values():
        if node.kind == "workload" and node.service:
            links.setdefault((service_id(node.service), node.id))
    return list(links)


def _columns(traffic_map: TrafficMap, links: list[tuple[str, str]]) -> dict[str, int]:
    nodes = traffic_map.nodes
    successors: dict[str, list[str]] = defaultdict(list)
    remaining: dict[str, int] = dict.fromkeys(nodes, 0)
    for source, target in links:
        if source != target and source in nodes and target in nodes:
            successors[source].append(target)
            remaining[target] += 1
    column = dict.fromkeys(nodes, 0)
    # Kahn's algorithm gives longest paths on the acyclic part; nodes on cycles keep the column
    # they had reached when the cycle blocked them. Which nodes the walk visits, and so every
    # column, does not depend on the order it visits them in: nothing needs sorting.
    queue = [n for n, d in remaining.items() if d == 0]
    while queue:
        current = queue.pop()
        next_column = column[current] + 1
        for nxt in successors[current]:
            if column[nxt] < next_column:
                column[nxt] = next_column
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                queue.append(nxt)
    return column


def assign_positions(
    traffic_map: TrafficMap, previous: dict[str, Position] | None = None
) -> dict[str, Position]:
    """Positions (x, y) for every node; sets node.x/node.y too. `previous` ones are kept unless
    the columns they encode (x / COLUMN_WIDTH) no longer hold (see the module's rules)."""
    previous = previous or {}
    positions: dict[str, Position] = {n: previous[n] for n in traffic_map.nodes if n in previous}
    links = _links(traffic_map)
    columns = _columns(traffic_map, links)
    kept_columns = {n: round(x / COLUMN_WIDTH) for n, (x, _) in positions.items()}
    if any(columns[n] > column for n, column in kept_columns.items()):
        for node_id, column in kept_columns.items():
            columns[node_id] = max(columns[node_id], column)
        positions = {}
    new_nodes = [n for n in traffic_map.nodes if n not in positions]
    if new_nodes:
        predecessors: dict[str, list[str]] = defaultdict(list)
        for source, target in links:
            predecessors[target].append(source)
        next_row: dict[float, float] = defaultdict(float)
        for x, y in positions.values():
            next_row[x] = max(next_row[x], -y + ROW_HEIGHT)
        by_column: dict[int, list[str]] = defaultdict(list)
        for node_id in new_nodes:
            by_column[columns[node_id]].append(node_id)
        for col in sorted(by_column):
            x = col * COLUMN_WIDTH

            def order_key(node_id: str) -> tuple[float, str]:
                rows = [-positions[p][1] for p in predecessors[node_id] if p in positions]
                return (sum(rows) / len(rows) if rows else 0.0, node_id)

            for node_id in sorted(by_column[col], key=order_key):
                wanted = order_key(node_id)[0]
                row = max(next_row[x], wanted)
                positions[node_id] = (x, -row)
                next_row[x] = row + ROW_HEIGHT
    for node_id, (x, y) in positions.items():
        node = traffic_map.nodes[node_id]
        node.x, node.y = x, y
    return positions
