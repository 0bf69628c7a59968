"""Layered (left-to-right) layout with positions that stay put between updates.

Columns are the longest path from the roots (gateway, unknown, nodes nobody calls) over the traffic
edges plus the registry's service -> workload relation, so a workload sits right of its service even
before it has traffic. Rows are ordered by the mean row of a node's predecessors, then by id.
Nodes that already have a position keep it; only new nodes are placed, below their column.
Pure and deterministic.
"""

from __future__ import annotations

from collections import defaultdict

from dashboard.topology.trafficmap import TrafficMap

Position = tuple[float, float]
COLUMN_WIDTH = 1.0
ROW_HEIGHT = 1.0


def _columns(traffic_map: TrafficMap) -> dict[str, int]:
    successors: dict[str, set[str]] = defaultdict(set)
    indegree: dict[str, int] = dict.fromkeys(traffic_map.nodes, 0)
    links = {(e.source, e.target) for e in traffic_map.edges.values()}
    for node in traffic_map.nodes.values():
        if node.kind == "workload" and node.service:
            links.add((f"svc:{node.service}", node.id))
    for source, target in links:
        if (
            source in indegree
            and target in indegree
            and source != target
            and target not in successors[source]
        ):
            successors[source].add(target)
            indegree[target] += 1
    column = dict.fromkeys(traffic_map.nodes, 0)
    # Kahn's algorithm gives longest paths on the acyclic part; nodes on cycles keep the column
    # they had reached when the cycle blocked them.
    queue = sorted(n for n, d in indegree.items() if d == 0)
    remaining = dict(indegree)
    while queue:
        current = queue.pop()
        for nxt in sorted(successors[current]):
            column[nxt] = max(column[nxt], column[current] + 1)
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                queue.append(nxt)
    return column


def assign_positions(
    traffic_map: TrafficMap, previous: dict[str, Position] | None = None
) -> dict[str, Position]:
    """Positions (x, y) for every node; sets node.x/node.y too. `previous` ones are kept."""
    previous = previous or {}
    positions: dict[str, Position] = {n: previous[n] for n in traffic_map.nodes if n in previous}
    new_nodes = [n for n in traffic_map.nodes if n not in positions]
    if new_nodes:
        columns = _columns(traffic_map)
        predecessors: dict[str, list[str]] = defaultdict(list)
        for edge in traffic_map.edges.values():
            predecessors[edge.target].append(edge.source)
        for node in traffic_map.nodes.values():
            if node.kind == "workload" and node.service:
                predecessors[node.id].append(f"svc:{node.service}")
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
