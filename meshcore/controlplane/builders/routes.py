"""Route builders (RDS): Istio VirtualService http routes -> Envoy routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshcore.controlplane.builders.proto import FAULT_TYPE, PREVIOUS_HOSTS_TYPE, duration, percent
from meshcore.model.istio import (
    Destination,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRoute,
    StringMatch,
)

# Resolves a VirtualService destination to the Envoy cluster name that serves it.
ClusterResolver = Callable[[Destination], str]
# The route hash_policy a destination's DestinationRule asks for (consistent hash), or None.
HashPolicyResolver = Callable[[Destination], list[dict[str, Any]] | None]

# Istio's retry policy for routes that set none: 2 attempts on connection-level failures and 503.
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
DEFAULT_RETRY_ATTEMPTS = 2

# Span tags naming the VirtualService rule that routed a request (literal values on every route
# built from a VirtualService http rule): the trace explorer reads them to link a hop to its rule.
ROUTE_NAMESPACE_TAG = "meshscope.route.namespace"
ROUTE_NAME_TAG = "meshscope.route.name"
ROUTE_RULE_TAG = "meshscope.route.rule"


@dataclass(frozen=True)
class RuleOrigin:
    """Where a route comes from: VirtualService `namespace`/`name`, rule `rule` (index in spec.http)."""

    namespace: str
    name: str
    rule: int


def make_route_tracing(origin: RuleOrigin, sampling_percent: float) -> dict[str, Any]:
    """Envoy route `tracing`: literal custom tags naming `origin`, added to the span of every request
    the route handles.

    A route's tracing block replaces the connection manager's sampling (its own default is 100 %),
    so it repeats the mesh's `sampling_percent` (0..100) to keep one sampling rate for all routes.
    Routes the mesh builds without a VirtualService (a service's default route, the inbound route)
    carry no tracing block and so no route tags: their spans name no rule, because none applied.
    """
    literals = {
        ROUTE_NAMESPACE_TAG: origin.namespace,
        ROUTE_NAME_TAG: origin.name,
        ROUTE_RULE_TAG: str(origin.rule),
    }
    return {
        "random_sampling": percent(sampling_percent),
        "custom_tags": [{"tag": tag, "literal": {"value": value}} for tag, value in literals.items()],
    }


def make_string_matcher(match: StringMatch, ignore_case: bool = False) -> dict[str, Any]:
    """Envoy StringMatcher (exact/prefix/safe_regex)."""
    matcher: dict[str, Any] = (
        {"safe_regex": {"regex": match.value}} if match.kind == "regex" else {match.kind: match.value}
    )
    if ignore_case and match.kind != "regex":
        matcher["ignore_case"] = True
    return matcher


def make_route_match(match: HTTPMatchRequest | None) -> dict[str, Any]:
    """RouteMatch from an Istio HTTPMatchRequest; None matches every request (prefix "/")."""
    if match is None:
        return {"prefix": "/"}
    result: dict[str, Any] = {}
    if match.uri is None:
        result["prefix"] = "/"
    elif match.uri.kind == "exact":
        result["path"] = match.uri.value
    elif match.uri.kind == "prefix":
        result["prefix"] = match.uri.value
    else:
        result["safe_regex"] = {"regex": match.uri.value}
    if match.ignore_uri_case:
        result["case_sensitive"] = False
    headers = [{"name": name, "string_match": make_string_matcher(value)} for name, value in match.headers]
    # Istio matches method and authority through Envoy's pseudo-headers.
    if match.method is not None:
        headers.append({"name": ":method", "string_match": make_string_matcher(match.method)})
    if match.authority is not None:
        headers.append({"name": ":authority", "string_match": make_string_matcher(match.authority)})
    if headers:
        result["headers"] = headers
    if match.query_params:
        result["query_parameters"] = [
            {"name": name, "string_match": make_string_matcher(value)} for name, value in match.query_params
        ]
    return result


def make_retry_policy(retries: HTTPRetry | None) -> dict[str, Any] | None:
    """Envoy retry_policy from Istio retries (None -> Istio's default; attempts 0 -> no retries)."""
    if retries is None:
        attempts, retry_on, per_try = DEFAULT_RETRY_ATTEMPTS, DEFAULT_RETRY_ON, None
    else:
        if retries.attempts == 0:
            return None
        attempts, retry_on, per_try = (
            retries.attempts,
            retries.retry_on or DEFAULT_RETRY_ON,
            retries.per_try_timeout_s,
        )
    conditions = [part.strip() for part in retry_on.split(",") if part.strip()]
    codes = [int(part) for part in conditions if part.isdigit()]
    names = [part for part in conditions if not part.isdigit()]
    if codes and "retriable-status-codes" not in names:
        names.append("retriable-status-codes")
    if "retriable-status-codes" in names and not codes:
        codes = [503]
    policy: dict[str, Any] = {
        "retry_on": ",".join(names),
        "num_retries": attempts,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {"@type": PREVIOUS_HOSTS_TYPE},
            }
        ],
        "host_selection_retry_max_attempts": "5",
    }
    if codes:
        policy["retriable_status_codes"] = codes
    if per_try is not None:
        policy["per_try_timeout"] = duration(per_try)
    return policy


def make_fault(fault: HTTPFaultInjection) -> dict[str, Any]:
    """The fault filter's per-route HTTPFault config."""
    config: dict[str, Any] = {"@type": FAULT_TYPE}
    if fault.delay is not None:
        config["delay"] = {
            "fixed_delay": duration(fault.delay.fixed_delay_s),
            "percentage": percent(fault.delay.percentage),
        }
    if fault.abort is not None:
        config["abort"] = {
            "http_status": fault.abort.http_status,
            "percentage": percent(fault.abort.percentage),
        }
    return config


def make_route_action(
    http: HTTPRoute, resolve: ClusterResolver, hash_policy: HashPolicyResolver | None = None
) -> dict[str, Any]:
    """RouteAction: one cluster or weighted clusters, timeout, retries, mirroring, rewrite, and the
    consistent-hash key of the first destination's DestinationRule (as Istio does)."""
    action: dict[str, Any]
    if len(http.route) == 1:
        action = {"cluster": resolve(http.route[0].destination)}
    else:
        action = {
            "weighted_clusters": {
                "clusters": [
                    {"name": resolve(target.destination), "weight": target.weight or 0}
                    for target in http.route
                    # Envoy rejects zero-weight entries only when all are zero; Istio drops them.
                    if (target.weight or 0) > 0
                ]
            }
        }
    # Istio disables Envoy's 15 s default: no timeout unless the VirtualService sets one.
    action["timeout"] = duration(http.timeout_s or 0.0)
    retry = make_retry_policy(http.retries)
    if retry is not None:
        action["retry_policy"] = retry
    if http.mirror is not None:
        mirror: dict[str, Any] = {"cluster": resolve(http.mirror)}
        if http.mirror_percentage is not None:
            mirror["runtime_fraction"] = {"default_value": percent(http.mirror_percentage)}
        action["request_mirror_policies"] = [mirror]
    hashing = hash_policy(http.route[0].destination) if hash_policy and http.route else None
    if hashing:
        action["hash_policy"] = hashing
    if http.rewrite is not None:
        if http.rewrite.uri is not None:
            action["prefix_rewrite"] = http.rewrite.uri
        if http.rewrite.authority is not None:
            action["host_rewrite_literal"] = http.rewrite.authority
    return action


def make_routes(
    http: HTTPRoute,
    resolve: ClusterResolver,
    name_prefix: str,
    hash_policy: HashPolicyResolver | None = None,
    origin: RuleOrigin | None = None,
    sampling_percent: float | None = None,
) -> list[dict[str, Any]]:
    """One Envoy route per match clause (a route without match clauses matches everything).

    With `origin` and `sampling_percent` (tracing on), every route tags its spans with the rule it
    was built from (see `make_route_tracing`).
    """
    action = make_route_action(http, resolve, hash_policy)
    matches: list[HTTPMatchRequest | None] = list(http.match) or [None]
    routes = []
    for index, match in enumerate(matches):
        route: dict[str, Any] = {
            "name": f"{name_prefix}.{http.name or 'route'}.{index}",
            "match": make_route_match(match),
            "route": action,
        }
        if http.fault is not None:
            route["typed_per_filter_config"] = {"envoy.filters.http.fault": make_fault(http.fault)}
        if origin is not None and sampling_percent is not None:
            route["tracing"] = make_route_tracing(origin, sampling_percent)
        routes.append(route)
    return routes


def make_default_route(
    cluster: str, name: str, hash_policy: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What a service gets without a VirtualService: everything to the whole service, Istio's retries."""
    action: dict[str, Any] = {"cluster": cluster, "timeout": "0s", "retry_policy": make_retry_policy(None)}
    if hash_policy:
        action["hash_policy"] = hash_policy
    return {"name": name, "match": {"prefix": "/"}, "route": action}
