"""What-if: replay recorded requests through proposed routes and predict the share per version.

Istio's (Envoy's) semantics: the first rule with a matching clause takes the request (a rule
without match takes everything); within a clause every condition must hold. URIs are compared
without the query string; `exact`/`prefix` are plain string comparisons (case-insensitive with
`ignoreUriCase`), `regex` must match the whole value and is evaluated by RE2, Envoy's engine. Headers
and query parameters must be present to match. `method` and `authority` are the `:method` and
`:authority` pseudo-headers. A request no rule takes gets 404 (Envoy's "no route").

Within the chosen rule an abort fault answers its percentage of requests; the rest is split by the
destinations' weights (Envoy picks a weighted cluster independently per request, so the expected
share is weight / 100). A destination subset sends to the workloads its labels select, a destination
without subset to every workload of the host; requests spread evenly over those workloads (round
robin). The prediction is therefore an expectation per request, summed over the recorded requests.

Pure: no Django, no I/O. Deterministic for given inputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dashboard.routes.recorded import RecordedRequest
from meshcore.model.istio import (
    Destination,
    HTTPMatchRequest,
    HTTPRoute,
    StringMatch,
    destination_rule_spec,
    virtual_service_spec,
)
from meshcore.model.regexes import compile_re2
from meshcore.model.resources import Resource

NO_ROUTE = "no route (404)"


def aborted(status: int) -> str:
    return f"aborted ({status})"


@dataclass(frozen=True)
class Workload:
    """A workload of a service: its name, version label and all its labels."""

    name: str
    service: str
    version: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WhatIf:
    """Shares are fractions (0..1) of `total` recorded requests, keyed by outcome: a version of the
    service (`v2`), `<service> <version>` for a destination on another service, `aborted (<status>)`
    or `no route (404)`. `current` is what the recorded requests were really served by."""

    service: str
    total: int
    predicted: dict[str, float]
    current: dict[str, float]
    rule_hits: list[int]  # recorded requests each rule of the proposed VirtualService takes

    def to_dict(self) -> dict[str, Any]:
        outcomes = sorted(set(self.predicted) | set(self.current))
        return {
            "service": self.service,
            "total": self.total,
            "outcomes": [
                {"outcome": o, "predicted": self.predicted.get(o, 0.0), "current": self.current.get(o, 0.0)}
                for o in outcomes
            ],
            "rule_hits": list(self.rule_hits),
        }


def _string_matches(match: StringMatch, value: str, ignore_case: bool = False) -> bool:
    if match.kind == "regex":
        return compile_re2(match.value).fullmatch(value) is not None
    expected = match.value
    if ignore_case:
        value, expected = value.lower(), expected.lower()
    return value == expected if match.kind == "exact" else value.startswith(expected)


def clause_matches(clause: HTTPMatchRequest, request: RecordedRequest) -> bool:
    """Whether every condition of one Istio match clause holds for `request`."""
    if clause.uri is not None and not _string_matches(clause.uri, request.path, clause.ignore_uri_case):
        return False
    if clause.method is not None and not _string_matches(clause.method, request.method):
        return False
    if clause.authority is not None:
        authority = request.headers.get(":authority") or request.headers.get("host")
        if authority is None or not _string_matches(clause.authority, authority):
            return False
    for name, match in clause.headers:
        value = request.headers.get(name)
        if value is None or not _string_matches(match, value):
            return False
    for name, match in clause.query_params:
        value = request.query.get(name)
        if value is None or not _string_matches(match, value):
            return False
    return True


def chosen_rule(rules: Sequence[HTTPRoute], request: RecordedRequest) -> int | None:
    """Index of the rule Envoy would use for `request`, None when no rule matches."""
    for index, rule in enumerate(rules):
        if not rule.match or any(clause_matches(clause, request) for clause in rule.match):
            return index
    return None


class _Destinations:
    """Destination -> {outcome: share}, from the DestinationRules' subsets and the workloads."""

    def __init__(
        self, service: str, workloads: Sequence[Workload], rules: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.service = service
        self.workloads = workloads
        self.subsets: dict[str, dict[str, dict[str, str]]] = {}
        for host, document in rules.items():
            spec = destination_rule_spec(Resource.from_dict(document))
            self.subsets[host] = {subset.name: dict(subset.labels) for subset in spec.subsets}

    def shares(self, destination: Destination) -> dict[str, float]:
        host = destination.host.split(".", 1)[0]
        members = [w for w in self.workloads if w.service == host]
        if destination.subset is not None:
            labels = self.subsets.get(host, {}).get(destination.subset)
            members = [
                w
                for w in members
                if labels is not None and all(w.labels.get(k) == v for k, v in labels.items())
            ]
        if not members:
            return {f"{host} {destination.subset or ''} (no workload: 503)".replace("  ", " "): 1.0}
        prefix = "" if host == self.service else f"{host} "
        return {f"{prefix}{w.version}": 1.0 / len(members) for w in members}


def _rule_outcome(rule: HTTPRoute, destinations: _Destinations) -> dict[str, float]:
    outcome: Counter[str] = Counter()
    remaining = 1.0
    if rule.fault is not None and rule.fault.abort is not None:
        share = rule.fault.abort.percentage / 100.0
        outcome[aborted(rule.fault.abort.http_status)] += share
        remaining -= share
    single = len(rule.route) == 1
    for target in rule.route:
        weight = 1.0 if single else (target.weight or 0) / 100.0
        for name, share in destinations.shares(target.destination).items():
            outcome[name] += remaining * weight * share
    return dict(outcome)


def predict(
    service: str,
    requests: Sequence[RecordedRequest],
    virtual_service: Mapping[str, Any] | None,
    destination_rules: Mapping[str, Mapping[str, Any]],
    workloads: Sequence[Workload],
) -> WhatIf:
    """Replay `requests` (to `service`) through `virtual_service` (None: no VirtualService, i.e.
    round robin over all workloads) with the subsets of `destination_rules` (host -> document)."""
    destinations = _Destinations(service, workloads, destination_rules)
    if virtual_service is None:
        rules: tuple[HTTPRoute, ...] = ()
        default = destinations.shares(Destination(service))
    else:
        rules = virtual_service_spec(Resource.from_dict(virtual_service)).http
        default = {}
    outcomes = [_rule_outcome(rule, destinations) for rule in rules]
    predicted: Counter[str] = Counter()
    hits = [0] * len(rules)
    for request in requests:
        if virtual_service is None:
            chosen = default
        else:
            index = chosen_rule(rules, request)
            if index is None:
                chosen = {NO_ROUTE: 1.0}
            else:
                hits[index] += 1
                chosen = outcomes[index]
        for name, share in chosen.items():
            predicted[name] += share
    version_of = {
        w.name: (w.version if w.service == service else f"{w.service} {w.version}") for w in workloads
    }
    served = Counter(version_of.get(r.served_by or "", "unknown") for r in requests if r.served_by)
    total = len(requests)
    served_total = sum(served.values())
    return WhatIf(
        service=service,
        total=total,
        predicted={k: v / total for k, v in predicted.items()} if total else {},
        current={k: v / served_total for k, v in served.items()} if served_total else {},
        rule_hits=hits,
    )
