"""Building and editing Istio routing documents for the route forms. Pure: no Django, no I/O.

Every editor takes the stored document (or None when the object does not exist yet) and returns a
new document; the input is never mutated. Editors change only what their form shows and keep every
other field exactly as it was (rule order, names, matches, retries, rewrites, labels, unknown
fields), so they work on any VirtualService or DestinationRule, hand-written or not.

Versions are the workloads' `version` label; a version is routed through the DestinationRule subset
whose labels select exactly that version (whatever its name), and `ensure_subsets` adds a subset
named after the version when none exists.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "networking.istio.io/v1"
VERSION_LABEL = "version"
# Istio's "suspend traffic" (Kiali models it as a fault): every request answered 503.
SUSPEND_STATUS = 503
# Fields `kubectl get -o yaml` adds that an exported document must not carry.
_SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink")
Document = dict[str, Any]


def new_document(kind: str, name: str, namespace: str, spec: Mapping[str, Any]) -> Document:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": copy.deepcopy(dict(spec)),
    }


def copy_document(document: Mapping[str, Any]) -> Document:
    return copy.deepcopy(dict(document))


def resource_version(document: Mapping[str, Any] | None) -> str:
    return str((document or {}).get("metadata", {}).get("resourceVersion") or "")


def with_resource_version(document: Mapping[str, Any], version: str) -> Document:
    """A copy whose metadata.resourceVersion is `version` (removed when empty)."""
    result = copy_document(document)
    result.setdefault("metadata", {}).pop("resourceVersion", None)
    if version:
        result["metadata"]["resourceVersion"] = version
    return result


def for_export(document: Mapping[str, Any]) -> Document:
    """The document as `kubectl apply -f` takes it: no status, no server-assigned metadata."""
    result = {key: copy.deepcopy(value) for key, value in document.items() if key != "status"}
    metadata = result.get("metadata", {})
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    return result


# --- subsets ---------------------------------------------------------------------------------


def subset_for_version(rule: Mapping[str, Any] | None, version: str) -> str | None:
    """The name of the subset selecting exactly `version`, or None."""
    for subset in (rule or {}).get("spec", {}).get("subsets", []):
        if subset.get("labels") == {VERSION_LABEL: version}:
            return subset.get("name")
    return None


def version_of_subset(rule: Mapping[str, Any] | None, subset_name: str | None) -> str | None:
    for subset in (rule or {}).get("spec", {}).get("subsets", []):
        if subset.get("name") == subset_name:
            return (subset.get("labels") or {}).get(VERSION_LABEL)
    return None


def ensure_subsets(
    rule: Mapping[str, Any] | None, service: str, namespace: str, versions: Iterable[str]
) -> Document | None:
    """The DestinationRule with a subset for every version, or None when nothing is missing."""
    missing = sorted(v for v in set(versions) if subset_for_version(rule, v) is None)
    if not missing:
        return None
    result = (
        copy_document(rule)
        if rule
        else new_document("DestinationRule", service, namespace, {"host": service})
    )
    subsets = result["spec"].setdefault("subsets", [])
    taken = {subset.get("name") for subset in subsets}
    for version in missing:
        name = version if version not in taken else f"{version}-subset"
        subsets.append({"name": name, "labels": {VERSION_LABEL: version}})
        taken.add(name)
    return result


def subset_names(rule: Mapping[str, Any] | None, versions: Iterable[str]) -> dict[str, str]:
    """version -> subset name, for a rule that has them all (after `ensure_subsets`)."""
    return {v: subset_for_version(rule, v) or v for v in versions}


# --- VirtualService pieces ---------------------------------------------------------------------


def _virtual_service(document: Mapping[str, Any] | None, service: str, namespace: str) -> Document:
    if document is not None:
        return copy_document(document)
    return new_document("VirtualService", service, namespace, {"hosts": [service], "http": []})


def _http(document: Document) -> list[dict[str, Any]]:
    return document["spec"].setdefault("http", [])


def catch_all_index(http: Sequence[Mapping[str, Any]]) -> int | None:
    """The last rule without match conditions (where requests no other rule takes end up)."""
    for index in range(len(http) - 1, -1, -1):
        if not http[index].get("match"):
            return index
    return None


def destinations(
    host: str, weights: Mapping[str, int | None], subsets: Mapping[str, str], original: Sequence[Mapping] = ()
) -> list[dict[str, Any]]:
    """Route destinations for `weights` (version -> weight; a single version takes no weight).

    Versions with weight 0 are left out. Fields of an original destination to the same subset
    (its port, say) are kept.
    """
    kept = [(v, w) for v, w in weights.items() if w is None or w > 0]
    by_subset = {d.get("destination", {}).get("subset"): d for d in original}
    result = []
    for version, weight in kept:
        subset = subsets[version]
        item = copy.deepcopy(dict(by_subset.get(subset, {})))
        item["destination"] = {
            **item.get("destination", {}),
            "host": item.get("destination", {}).get("host", host),
            "subset": subset,
        }
        item.pop("weight", None)
        if len(kept) > 1:
            item["weight"] = weight
        result.append(item)
    return result


def even_weights(versions: Sequence[str]) -> dict[str, int]:
    """Integer weights summing to 100, as even as possible (the first ones get the remainder)."""
    if not versions:
        return {}
    base, extra = divmod(100, len(versions))
    return {v: base + (1 if i < extra else 0) for i, v in enumerate(versions)}


def shift_traffic(
    document: Mapping[str, Any] | None,
    service: str,
    namespace: str,
    weights: Mapping[str, int],
    subsets: Mapping[str, str],
    mirror: tuple[str, float] | None = None,
) -> Document:
    """Set the catch-all rule's split to `weights` (version -> percent) and its mirror.

    The catch-all rule is created (last) when the VirtualService has none; rules with matches keep
    their own destinations. `mirror` is (subset name, percent) or None to remove mirroring.
    """
    result = _virtual_service(document, service, namespace)
    http = _http(result)
    index = catch_all_index(http)
    if index is None:
        http.append({})
        index = len(http) - 1
    rule = http[index]
    rule["route"] = destinations(service, weights, subsets, rule.get("route", ()))
    rule.pop("mirror", None)
    rule.pop("mirrorPercentage", None)
    if mirror is not None:
        rule["mirror"] = {"host": service, "subset": mirror[0]}
        rule["mirrorPercentage"] = {"value": mirror[1]}
    return result


@dataclass(frozen=True)
class Fault:
    """A fault to inject: delay (duration string, percent) and/or abort (HTTP status, percent)."""

    delay: tuple[str, float] | None = None
    abort: tuple[int, float] | None = None

    def to_spec(self) -> dict[str, Any] | None:
        spec: dict[str, Any] = {}
        if self.delay is not None:
            spec["delay"] = {"fixedDelay": self.delay[0], "percentage": {"value": self.delay[1]}}
        if self.abort is not None:
            spec["abort"] = {"httpStatus": self.abort[0], "percentage": {"value": self.abort[1]}}
        return spec or None


@dataclass(frozen=True)
class RuleEdit:
    """One rule of the request-routing form.

    `source` is the index of the rule it edits in the stored document (None for a new rule);
    `matches` are Istio match clauses (OR of ANDs; empty = every request); `weights` version ->
    weight (None for a single destination); `fault` and `timeout` replace the rule's own.
    """

    source: int | None
    matches: list[dict[str, Any]] = field(default_factory=list)
    weights: dict[str, int | None] = field(default_factory=dict)
    fault: Fault | None = None
    timeout: str | None = None


def _set_or_drop(rule: dict[str, Any], key: str, value: Any) -> None:
    if value is None or value == [] or value == {}:
        rule.pop(key, None)
    else:
        rule[key] = value


def set_rules(
    document: Mapping[str, Any] | None,
    service: str,
    namespace: str,
    rules: Sequence[RuleEdit],
    subsets: Mapping[str, str],
) -> Document:
    """Replace the rule list by `rules`, in their order; each keeps the fields the form does not show."""
    result = _virtual_service(document, service, namespace)
    original = list(_http(result))
    http = []
    for edit in rules:
        base = (
            copy.deepcopy(original[edit.source])
            if edit.source is not None and edit.source < len(original)
            else {}
        )
        _set_or_drop(base, "match", copy.deepcopy(edit.matches))
        base["route"] = destinations(service, edit.weights, subsets, base.get("route", ()))
        _set_or_drop(base, "fault", edit.fault.to_spec() if edit.fault else None)
        _set_or_drop(base, "timeout", edit.timeout)
        http.append(base)
    result["spec"]["http"] = http
    return result


def _default_route(service: str) -> dict[str, Any]:
    return {"route": [{"destination": {"host": service}}]}


def _edit_rules(
    document: Mapping[str, Any] | None, service: str, namespace: str, indexes: Iterable[int] | None
) -> tuple[Document, list[dict[str, Any]]]:
    """The document and the rules to edit (`indexes`, or all when None); a missing VirtualService
    gets one rule sending everything to the service, as it went without one."""
    result = _virtual_service(document, service, namespace)
    http = _http(result)
    if not http:
        http.append(_default_route(service))
    chosen = range(len(http)) if indexes is None else [i for i in indexes if 0 <= i < len(http)]
    return result, [http[i] for i in chosen]


def set_fault(
    document: Mapping[str, Any] | None,
    service: str,
    namespace: str,
    fault: Fault | None,
    indexes: Iterable[int] | None = None,
) -> Document:
    """Set (or with None remove) the fault injection of the chosen rules (all by default)."""
    result, rules = _edit_rules(document, service, namespace, indexes)
    for rule in rules:
        _set_or_drop(rule, "fault", fault.to_spec() if fault else None)
    return result


def suspend(document: Mapping[str, Any] | None, service: str, namespace: str) -> Document:
    """Every rule answers 503 to every request (Istio's way to suspend a service's traffic)."""
    return set_fault(document, service, namespace, Fault(abort=(SUSPEND_STATUS, 100.0)))


def set_timeouts(
    document: Mapping[str, Any] | None,
    service: str,
    namespace: str,
    timeout: str | None,
    retries: dict[str, Any] | None,
    indexes: Iterable[int] | None = None,
) -> Document:
    """Set the timeout and retries (Istio `retries` object, None removes) of the chosen rules."""
    result, rules = _edit_rules(document, service, namespace, indexes)
    for rule in rules:
        _set_or_drop(rule, "timeout", timeout)
        _set_or_drop(rule, "retries", copy.deepcopy(retries))
    return result


# --- DestinationRule traffic policy ----------------------------------------------------------


def set_traffic_policy(
    document: Mapping[str, Any] | None,
    service: str,
    namespace: str,
    load_balancer: dict[str, Any] | None,
    connection_pool: dict[str, Any] | None,
    outlier_detection: dict[str, Any] | None,
) -> Document:
    """Set the rule-wide load balancer, connection pool and outlier detection (None removes one).

    Fields of the existing connection pool / outlier detection that the form does not show are
    kept; subsets and their own policies are untouched.
    """
    result = (
        copy_document(document)
        if document
        else new_document("DestinationRule", service, namespace, {"host": service})
    )
    policy = result["spec"].setdefault("trafficPolicy", {})
    _set_or_drop(policy, "loadBalancer", copy.deepcopy(load_balancer))
    for key, value in (("connectionPool", connection_pool), ("outlierDetection", outlier_detection)):
        if value is None:
            policy.pop(key, None)
            continue
        merged = copy.deepcopy(policy.get(key, {}))
        for section, settings in value.items():
            if isinstance(settings, dict):
                target = merged.setdefault(section, {})
                target.update(settings)
            else:
                merged[section] = settings
        policy[key] = merged
    if not policy:
        result["spec"].pop("trafficPolicy")
    return result


def set_tls_mode(document: Mapping[str, Any], mode: str | None) -> Document:
    """Set the rule-wide client TLS mode (`trafficPolicy.tls.mode`: ISTIO_MUTUAL, DISABLE); None
    removes it (Istio's auto mTLS). Other tls fields and the subsets' own policies are kept."""
    result = copy_document(document)
    policy = result["spec"].setdefault("trafficPolicy", {})
    tls = dict(policy.get("tls") or {})
    _set_or_drop(tls, "mode", mode)
    _set_or_drop(policy, "tls", tls or None)
    if not policy:
        result["spec"].pop("trafficPolicy")
    return result


# --- reading documents for the pages -----------------------------------------------------------


def hosts_of(document: Mapping[str, Any]) -> list[str]:
    spec = document.get("spec", {})
    if document.get("kind") == "DestinationRule":
        return [spec.get("host", "")]
    if document.get("kind") == "Gateway":
        return sorted({h for server in spec.get("servers", []) for h in server.get("hosts", [])})
    return list(spec.get("hosts", []))


def short_host(host: str) -> str:
    """`reviews.default.svc.cluster.local` -> `reviews` (what the registry calls the service)."""
    return host.split(".", 1)[0]


def services_touched(document: Mapping[str, Any], services: Iterable[str]) -> list[str]:
    """Registry services the document names as host or destination."""
    known = set(services)
    names = {short_host(h) for h in hosts_of(document)}
    for rule in document.get("spec", {}).get("http", []) or []:
        for item in rule.get("route", []) or []:
            names.add(short_host(item.get("destination", {}).get("host", "")))
        if rule.get("mirror"):
            names.add(short_host(rule["mirror"].get("host", "")))
    return sorted(names & known)
