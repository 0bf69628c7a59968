"""What the map shows about routing: per service, the configured split and the rule badges.

`route_annotations(virtual_services, destination_rules)` summarizes mesh VirtualServices (those not
bound to gateways only) per target service (short host name):

  badges    sorted subset of fault-delay, fault-abort, timeout, retries, mirror (any rule sets it)
  weights   version -> percent of the catch-all rule (the requests no specific rule takes)
  matched   versions some rule with match conditions sends requests to
  rules     how many rules the VirtualService has

Pure; no Django, no I/O. The result is JSON-able (it is cached between polls).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dashboard.routes.documents import catch_all_index, short_host, version_of_subset

RouteAnnotations = dict[str, dict[str, Any]]
MESH_GATEWAY = "mesh"


def _badges(rule: Mapping[str, Any]) -> set[str]:
    badges = set()
    fault = rule.get("fault") or {}
    if "delay" in fault:
        badges.add("fault-delay")
    if "abort" in fault:
        badges.add("fault-abort")
    if rule.get("timeout"):
        badges.add("timeout")
    if (rule.get("retries") or {}).get("attempts"):
        badges.add("retries")
    if rule.get("mirror"):
        badges.add("mirror")
    return badges


def _versions(route: Iterable[Mapping[str, Any]], rules: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """version (or `*` for the whole service) -> percent, for one rule's destinations."""
    items = list(route)
    split: dict[str, float] = {}
    for item in items:
        destination = item.get("destination", {})
        rule = rules.get(short_host(destination.get("host", "")))
        subset = destination.get("subset")
        version = version_of_subset(rule, subset) or subset or "*"
        weight = 100.0 if len(items) == 1 else float(item.get("weight", 0))
        split[version] = split.get(version, 0.0) + weight
    return split


def route_annotations(
    virtual_services: Iterable[Mapping[str, Any]], destination_rules: Iterable[Mapping[str, Any]]
) -> RouteAnnotations:
    rules = {short_host(d.get("spec", {}).get("host", "")): d for d in destination_rules}
    result: RouteAnnotations = {}
    for document in virtual_services:
        spec = document.get("spec", {})
        gateways = spec.get("gateways") or [MESH_GATEWAY]
        if MESH_GATEWAY not in gateways:
            continue
        http = spec.get("http") or []
        badges: set[str] = set()
        matched: set[str] = set()
        for rule in http:
            badges |= _badges(rule)
            if rule.get("match"):
                matched |= set(_versions(rule.get("route", []), rules))
        index = catch_all_index(http)
        weights = _versions(http[index].get("route", []), rules) if index is not None else {}
        for host in spec.get("hosts", []):
            result[short_host(host)] = {
                "badges": sorted(badges),
                "weights": weights,
                "matched": sorted(matched),
                "rules": len(http),
            }
    return result
