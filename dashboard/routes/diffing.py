"""Diffs for the preview and the audit log: YAML documents, and Envoy route tables per proxy group.

The Envoy side comes from the control plane's dry run (its own translation, never re-done here):
for each group of proxies receiving the same change, every RouteConfiguration before and after.
Only the virtual hosts that differ are shown, as YAML, so a one-service edit reads as one small
hunk rather than the whole mesh's table. Pure; no Django.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

Document = Mapping[str, Any]


def to_yaml(documents: Document | Sequence[Document] | None) -> str:
    """Block-style YAML in document key order (`---` between several); "" for None."""
    if documents is None:
        return ""
    items = [documents] if isinstance(documents, Mapping) else list(documents)
    return yaml.safe_dump_all(
        [dict(d) for d in items], sort_keys=False, default_flow_style=False, allow_unicode=True
    )


@dataclass(frozen=True)
class DiffLine:
    """One line of a unified diff; `kind` is "add", "remove", "context" or "hunk"."""

    kind: str
    text: str


def unified_diff(
    before: str, after: str, before_name: str = "before", after_name: str = "after"
) -> list[DiffLine]:
    """The unified diff of two texts as typed lines ([] when equal)."""
    lines = []
    for line in difflib.unified_diff(
        before.splitlines(), after.splitlines(), before_name, after_name, lineterm="", n=3
    ):
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "remove"}.get(line[:1], "context")
        lines.append(DiffLine(kind, line))
    return lines


def _virtual_hosts(route_config: Mapping[str, Any] | None) -> dict[str, Any]:
    return {host.get("name", ""): host for host in (route_config or {}).get("virtual_hosts", [])}


@dataclass(frozen=True)
class EnvoyDiff:
    """The route change one group of proxies would receive."""

    proxies: list[str]
    route_config: str
    lines: list[DiffLine]
    clusters: Mapping[str, list[str]]
    listeners: list[str]


def envoy_diffs(changes: Sequence[Mapping[str, Any]]) -> list[EnvoyDiff]:
    """Per proxy group and RouteConfiguration: the diff of the virtual hosts that change."""
    diffs = []
    for change in changes:
        proxies = list(change.get("proxies") or change.get("node_ids") or [])
        clusters = change.get("clusters") or {}
        listeners = list(change.get("listeners") or [])
        routes = change.get("routes") or {}
        for name, pair in sorted(routes.items()):
            before, after = _virtual_hosts(pair.get("current")), _virtual_hosts(pair.get("proposed"))
            changed = sorted(h for h in set(before) | set(after) if before.get(h) != after.get(h))
            lines = unified_diff(
                to_yaml([before[h] for h in changed if h in before]) if changed else "",
                to_yaml([after[h] for h in changed if h in after]) if changed else "",
            )
            diffs.append(EnvoyDiff(proxies, name, lines, clusters, listeners))
        if not routes and (any(clusters.values()) or listeners):
            diffs.append(EnvoyDiff(proxies, "", [], clusters, listeners))
    return diffs
