"""Field tables for the specs of VirtualService, DestinationRule and Gateway (Istio networking v1);
the security kinds' tables live in ``security_schema`` and are registered here too.

Every field of Istio's API that meshcore implements is listed with its type; fields Istio has but
meshcore does not implement are listed as ``unsupported`` so the user gets "not supported by
meshcore" instead of a silently ignored setting or a misleading "unknown field".
``check_spec(kind, spec)`` is the single entry point; it returns paths starting with ``spec``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from meshcore.model.errors import FieldError
from meshcore.model.regexes import regex_problem
from meshcore.model.schema import (
    DNS1123_LABEL,
    DNS1123_LABEL_HELP,
    Bool,
    Duration,
    Field,
    Int,
    ListOf,
    MapOf,
    Number,
    Obj,
    Str,
    at_least_one_of,
    at_most_one_of,
    exactly_one_of,
    unsupported,
)
from meshcore.model.security_schema import CLIENT_TLS, SECURITY_SPEC_SCHEMAS

# Envoy's x-envoy-retry-on conditions (HTTP and gRPC) that Istio passes through unchanged.
RETRY_CONDITIONS: frozenset[str] = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "envoy-ratelimited",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
LOAD_BALANCER_POLICIES: tuple[str, ...] = ("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "PASSTHROUGH")
GATEWAY_PROTOCOLS: tuple[str, ...] = ("HTTP",)
_STATUS_CODE = re.compile(r"^[1-5]\d\d$")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")


def retry_on_problem(value: str) -> str | None:
    """Why a retryOn list is refused (unknown conditions), or None."""
    items = [item.strip() for item in value.split(",")]
    bad = [item for item in items if item not in RETRY_CONDITIONS and not _STATUS_CODE.match(item)]
    if not bad:
        return None
    return (
        f"unknown retry condition(s) {', '.join(repr(item) for item in bad)}; use a comma-separated list "
        f"of HTTP status codes or of: {', '.join(sorted(RETRY_CONDITIONS))}"
    )


def _host_problem(value: str) -> str | None:
    if any(char.isspace() for char in value):
        return "must not contain whitespace"
    return None


HOST = Str(non_empty=True, extra=_host_problem)
DNS_LABEL = Str(non_empty=True, pattern=DNS1123_LABEL, pattern_help=DNS1123_LABEL_HELP)
NON_NEGATIVE = Int(minimum=0)
# Timeouts, delays and intervals: zero never means what a user wants, negative is meaningless.
POSITIVE_DURATION = Duration(positive=True)
PERCENT = Obj({"value": Field(Number(0, 100), required=True)})

STRING_MATCH = Obj(
    {
        "exact": Field(Str()),
        "prefix": Field(Str()),
        "regex": Field(Str(extra=regex_problem)),
    },
    checks=(exactly_one_of("exact", "prefix", "regex"),),
)
HEADER_MATCHES = MapOf(
    STRING_MATCH,
    key=Str(
        non_empty=True,
        pattern=_HEADER_NAME,
        pattern_help="must be a lowercase HTTP header name (Istio requires lowercase header keys)",
    ),
)

HTTP_MATCH_REQUEST = Obj(
    {
        "name": Field(Str()),
        "uri": Field(STRING_MATCH),
        "method": Field(STRING_MATCH),
        "authority": Field(STRING_MATCH),
        "headers": Field(HEADER_MATCHES),
        "queryParams": Field(MapOf(STRING_MATCH)),
        "ignoreUriCase": Field(Bool()),
        "scheme": unsupported(),
        "port": unsupported(),
        "sourceLabels": unsupported(),
        "gateways": unsupported(),
        "withoutHeaders": unsupported(),
        "sourceNamespace": unsupported(),
        "statPrefix": unsupported(),
    }
)

PORT_SELECTOR = Obj({"number": Field(Int(1, 65535), required=True)})
DESTINATION = Obj(
    {
        "host": Field(HOST, required=True),
        "subset": Field(DNS_LABEL),
        "port": Field(PORT_SELECTOR),
    }
)
HTTP_ROUTE_DESTINATION = Obj(
    {
        "destination": Field(DESTINATION, required=True),
        "weight": Field(Int(0, 100)),
        "headers": unsupported(),
    }
)

_PERCENT_FIELDS = {"percentage": Field(PERCENT), "percent": Field(Int(0, 100))}
DELAY = Obj(
    {
        "fixedDelay": Field(POSITIVE_DURATION, required=True),
        **_PERCENT_FIELDS,
        "exponentialDelay": unsupported(),
    },
    checks=(at_most_one_of("percentage", "percent"),),
)
ABORT = Obj(
    {
        "httpStatus": Field(Int(200, 599), required=True),
        **_PERCENT_FIELDS,
        "grpcStatus": unsupported(),
        "http2Error": unsupported(),
    },
    checks=(at_most_one_of("percentage", "percent"),),
)
FAULT = Obj({"delay": Field(DELAY), "abort": Field(ABORT)}, checks=(at_least_one_of("delay", "abort"),))
RETRIES = Obj(
    {
        "attempts": Field(NON_NEGATIVE),
        "perTryTimeout": Field(POSITIVE_DURATION),
        "retryOn": Field(Str(non_empty=True, extra=retry_on_problem)),
        "retryRemoteLocalities": unsupported(),
    }
)
REWRITE = Obj({"uri": Field(Str()), "authority": Field(Str()), "uriRegexRewrite": unsupported()})


def _route_weights(route: Mapping[str, Any], path: str) -> list[FieldError]:
    """Several destinations split traffic by integer weights summing to 100; one takes it all."""
    destinations = route.get("route") or []
    if len(destinations) == 1:
        weight = destinations[0].get("weight", 100)
        if weight != 100:
            return [
                FieldError(
                    f"{path}.route[0].weight",
                    f"a single destination receives all traffic: omit weight or set 100, got {weight}",
                )
            ]
        return []
    missing = [
        FieldError(f"{path}.route[{index}].weight", "required when a route has more than one destination")
        for index, destination in enumerate(destinations)
        if "weight" not in destination
    ]
    if missing:
        return missing
    total = sum(destination["weight"] for destination in destinations)
    if destinations and total != 100:
        return [FieldError(f"{path}.route", f"weights sum to {total}, must be 100")]
    return []


HTTP_ROUTE = Obj(
    {
        "name": Field(Str()),
        "match": Field(ListOf(HTTP_MATCH_REQUEST)),
        "route": Field(ListOf(HTTP_ROUTE_DESTINATION, non_empty=True), required=True),
        "timeout": Field(POSITIVE_DURATION),
        "retries": Field(RETRIES),
        "fault": Field(FAULT),
        "mirror": Field(DESTINATION),
        "mirrorPercentage": Field(PERCENT),
        "rewrite": Field(REWRITE),
        "redirect": unsupported(),
        "directResponse": unsupported(),
        "delegate": unsupported(),
        "headers": unsupported("not supported by meshcore (header manipulation)"),
        "corsPolicy": unsupported(),
        "mirrors": unsupported("not supported by meshcore; use mirror and mirrorPercentage"),
        "mirrorPercent": unsupported("not supported by meshcore; use mirrorPercentage"),
    },
    checks=(_route_weights,),
)


def _matches_everything(match: Mapping[str, Any]) -> bool:
    """A match clause with no condition, or only ``uri: {prefix: "/"}``: every request passes it."""
    conditions = {key: value for key, value in match.items() if key not in ("name", "ignoreUriCase")}
    return not conditions or conditions == {"uri": {"prefix": "/"}}


def _unreachable_routes(spec: Mapping[str, Any], path: str) -> list[FieldError]:
    """Routes after a catch-all route can never be chosen (Envoy takes the first route that matches)."""
    routes = spec.get("http") or []
    for index, route in enumerate(routes[:-1]):
        matches = route.get("match") or []
        if not matches or any(_matches_everything(match) for match in matches):
            return [
                FieldError(
                    f"{path}.http[{later}]",
                    f"unreachable: spec.http[{index}] before it matches every request; "
                    "put specific rules first and the catch-all last",
                )
                for later in range(index + 1, len(routes))
            ]
    return []


VIRTUAL_SERVICE_SPEC = Obj(
    {
        "hosts": Field(ListOf(HOST, non_empty=True), required=True),
        "gateways": Field(ListOf(HOST)),
        "http": Field(ListOf(HTTP_ROUTE)),
        "exportTo": Field(ListOf(Str())),
        "tls": unsupported("not supported by meshcore (only http routes)"),
        "tcp": unsupported("not supported by meshcore (only http routes)"),
    },
    checks=(_unreachable_routes,),
)

CONNECTION_POOL = Obj(
    {
        "tcp": Field(
            Obj(
                {
                    "maxConnections": Field(NON_NEGATIVE),
                    "connectTimeout": Field(POSITIVE_DURATION),
                    "tcpKeepalive": unsupported(),
                    "maxConnectionDuration": unsupported(),
                    "idleTimeout": unsupported(),
                }
            )
        ),
        "http": Field(
            Obj(
                {
                    "http1MaxPendingRequests": Field(NON_NEGATIVE),
                    "http2MaxRequests": Field(NON_NEGATIVE),
                    "maxRequestsPerConnection": Field(NON_NEGATIVE),
                    "maxRetries": Field(NON_NEGATIVE),
                    "idleTimeout": unsupported(),
                    "h2UpgradePolicy": unsupported(),
                    "useClientProtocol": unsupported(),
                    "maxConcurrentStreams": unsupported(),
                }
            )
        ),
    }
)
OUTLIER_DETECTION = Obj(
    {
        "consecutive5xxErrors": Field(NON_NEGATIVE),
        "consecutiveGatewayErrors": Field(NON_NEGATIVE),
        "interval": Field(POSITIVE_DURATION),
        "baseEjectionTime": Field(POSITIVE_DURATION),
        "maxEjectionPercent": Field(Int(0, 100)),
        "minHealthPercent": unsupported(),
        "splitExternalLocalOriginErrors": unsupported(),
        "consecutiveLocalOriginFailures": unsupported(),
        "consecutiveErrors": unsupported("not supported by meshcore; use consecutive5xxErrors"),
    }
)
CONSISTENT_HASH = Obj(
    {
        "httpHeaderName": Field(Str(non_empty=True)),
        "httpCookie": Field(
            Obj(
                {
                    "name": Field(Str(non_empty=True), required=True),
                    "path": Field(Str()),
                    "ttl": Field(Duration()),
                }
            )
        ),
        "useSourceIp": Field(Bool()),
        "httpQueryParameterName": Field(Str(non_empty=True)),
        "minimumRingSize": Field(Int(minimum=1)),
        "ringHash": unsupported(),
        "maglev": unsupported(),
    },
    checks=(exactly_one_of("httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"),),
)
LOAD_BALANCER = Obj(
    {
        "simple": Field(Str(choices=LOAD_BALANCER_POLICIES)),
        "consistentHash": Field(CONSISTENT_HASH),
        "localityLbSetting": unsupported(),
        "warmupDurationSecs": unsupported(),
    },
    checks=(exactly_one_of("simple", "consistentHash"),),
)
TRAFFIC_POLICY = Obj(
    {
        "connectionPool": Field(CONNECTION_POOL),
        "outlierDetection": Field(OUTLIER_DETECTION),
        "loadBalancer": Field(LOAD_BALANCER),
        "tls": Field(CLIENT_TLS),
        "portLevelSettings": unsupported(),
        "tunnel": unsupported(),
        "proxyProtocol": unsupported(),
    }
)
SUBSET = Obj(
    {
        "name": Field(DNS_LABEL, required=True),
        "labels": Field(MapOf(Str(), non_empty=True), required=True),
        "trafficPolicy": Field(TRAFFIC_POLICY),
    }
)
DESTINATION_RULE_SPEC = Obj(
    {
        "host": Field(HOST, required=True),
        "subsets": Field(ListOf(SUBSET, unique="name")),
        "trafficPolicy": Field(TRAFFIC_POLICY),
        "exportTo": Field(ListOf(Str())),
        "workloadSelector": unsupported(),
    }
)

GATEWAY_PORT = Obj(
    {
        "number": Field(Int(1, 65535), required=True),
        "protocol": Field(Str(choices=GATEWAY_PROTOCOLS), required=True),
        "name": Field(Str()),
        "targetPort": unsupported(),
    }
)
GATEWAY_SERVER = Obj(
    {
        "port": Field(GATEWAY_PORT, required=True),
        "hosts": Field(ListOf(HOST, non_empty=True), required=True),
        "name": Field(Str()),
        "bind": unsupported(),
        "defaultEndpoint": unsupported(),
        "tls": unsupported("not supported by meshcore (HTTP only)"),
    }
)
GATEWAY_SPEC = Obj(
    {
        "selector": Field(MapOf(Str())),
        "servers": Field(ListOf(GATEWAY_SERVER, non_empty=True), required=True),
    }
)

SPEC_SCHEMAS: dict[str, Obj] = {
    "VirtualService": VIRTUAL_SERVICE_SPEC,
    "DestinationRule": DESTINATION_RULE_SPEC,
    "Gateway": GATEWAY_SPEC,
    **SECURITY_SPEC_SCHEMAS,
}


def check_spec(kind: str, spec: Any, rules: bool = True) -> list[FieldError]:
    """Structural problems of ``spec`` for ``kind``; paths start with ``spec``. [] when well-formed.

    ``rules=False`` checks only the shape (see ``schema.Type``): [] then means a typed view can be built.
    """
    schema = SPEC_SCHEMAS.get(kind)
    if schema is None:
        return [FieldError("kind", f"unsupported kind {kind!r}")]
    return schema.check(spec, "spec", rules)
