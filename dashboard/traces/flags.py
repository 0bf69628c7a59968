"""What Envoy did to a request, in words: response flags and the route rule that handled the hop.

Envoy writes `%RESPONSE_FLAGS%` into the span tag `response_flags`: short codes separated by
commas, "-" when there is none. The meanings follow Envoy's access-log documentation
(configuration/observability/access_log/usage, "%RESPONSE_FLAGS%"). The control plane tags every
route it builds with the VirtualService that produced it (`meshscope.route.*`, route
`tracing.custom_tags` literals). No Django here: the caller supplies how to link a VirtualService.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

RESPONSE_FLAGS_TAG = "response_flags"
ROUTE_NAMESPACE_TAG = "meshscope.route.namespace"
ROUTE_NAME_TAG = "meshscope.route.name"
ROUTE_RULE_TAG = "meshscope.route.rule"

FLAG_MEANINGS: dict[str, str] = {
    "UH": "no healthy upstream host in the upstream cluster (503)",
    "UF": "upstream connection failure (503)",
    "UO": "upstream overflow: a circuit breaker tripped (503)",
    "NR": "no route configured for the request (404), or no matching filter chain for a connection",
    "URX": "retry limit exceeded: the request was rejected after the last retry (or connect attempt)",
    "NC": "upstream cluster not found",
    "DT": "the request or connection exceeded its maximum duration",
    "DC": "the downstream connection terminated",
    "LH": "the local service failed its health check (503)",
    "UT": "upstream request timeout (504)",
    "LR": "the connection was reset locally (503)",
    "UR": "the upstream reset the connection (503)",
    "UC": "upstream connection terminated (503)",
    "DI": "the request was delayed by fault injection",
    "FI": "the request was aborted by fault injection",
    "RL": "rate limited locally by the HTTP rate limit filter (429)",
    "UAEX": "denied by the external authorization service",
    "RLSE": "rejected because the rate limit service failed",
    "IH": "rejected for an invalid value of a strictly checked header (400)",
    "SI": "stream idle timeout (408 or 504)",
    "DPE": "the downstream request had an HTTP protocol error",
    "UPE": "the upstream response had an HTTP protocol error",
    "UMSDR": "the upstream request reached its maximum stream duration",
    "RFCF": "the response was served from Envoy's cache filter",
    "NFCF": "no filter configuration arrived within the warming deadline",
    "OM": "the overload manager terminated the request",
    "DF": "DNS resolution failed",
    "DO": "dropped by the cluster's drop-overload setting",
    "DR": "the downstream reset the stream",
    "UDO": "dropped unconditionally by the cluster's drop-overload setting",
}


def explain_flags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """`[{"code", "meaning"}]` for the span's `response_flags` tag ([] when absent or "-").

    Unknown codes are kept, with a meaning that says so, rather than hidden.
    """
    raw = tags.get(RESPONSE_FLAGS_TAG, "")
    result: list[dict[str, str]] = []
    for code in (part.strip() for part in raw.split(",")):
        if not code or code == "-":
            continue
        result.append(
            {"code": code, "meaning": FLAG_MEANINGS.get(code, f"unknown Envoy response flag {code}")}
        )
    return result


def route_rule(
    tags: Mapping[str, str], virtual_service_url: Callable[[str, str], str] | None = None
) -> dict[str, object] | None:
    """`{"namespace", "name", "rule", "url"}` from the route tags, None unless all three are valid.

    `rule` is the index into the VirtualService's `spec.http`; `url` comes from
    `virtual_service_url(namespace, name)` ("" without one).
    """
    namespace = tags.get(ROUTE_NAMESPACE_TAG)
    name = tags.get(ROUTE_NAME_TAG)
    raw_rule = tags.get(ROUTE_RULE_TAG)
    if not namespace or not name or raw_rule is None:
        return None
    try:
        rule = int(raw_rule)
    except ValueError:
        return None
    if rule < 0:
        return None
    url = virtual_service_url(namespace, name) if virtual_service_url is not None else ""
    return {"namespace": namespace, "name": name, "rule": rule, "url": url}
