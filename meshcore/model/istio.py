"""Typed, immutable views of Istio networking specs: what the Envoy config builders consume.

``virtual_service_spec``, ``destination_rule_spec`` and ``gateway_spec`` first check the raw spec
against the schema (``istio_schema``) and raise ``ValidationError`` if it is malformed, so a view
that exists is always well-typed: durations are float seconds, percentages floats in 0..100,
lists are tuples and maps are tuples of (key, value) pairs in the user's order. List positions are
preserved, so ``view.http[i].route[j]`` is ``spec.http[i].route[j]`` of the document.
Cross-resource rules (known hosts, defined subsets) are ``meshcore.model.validation``'s job.
All views are frozen dataclasses and safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from meshcore.model.durations import parse_duration
from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.istio_schema import check_spec
from meshcore.model.resources import Resource
from meshcore.model.security import (
    SECURITY_BUILDERS,
    AuthorizationPolicySpec,
    EnvoyFilterSpec,
    PeerAuthenticationSpec,
)

StringMatchKind = Literal["exact", "prefix", "regex"]
STRING_MATCH_KINDS: tuple[StringMatchKind, ...] = ("exact", "prefix", "regex")


@dataclass(frozen=True)
class StringMatch:
    kind: StringMatchKind
    value: str


@dataclass(frozen=True)
class HTTPMatchRequest:
    """All conditions of one match must hold (AND); the matches of a route are alternatives (OR)."""

    name: str = ""
    uri: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: tuple[tuple[str, StringMatch], ...] = ()
    query_params: tuple[tuple[str, StringMatch], ...] = ()
    ignore_uri_case: bool = False


@dataclass(frozen=True)
class Destination:
    host: str
    subset: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class HTTPRouteDestination:
    """``weight`` is None when the user omitted it (only allowed for a single destination)."""

    destination: Destination
    weight: int | None = None


@dataclass(frozen=True)
class Delay:
    """``percentage`` of requests (0..100) delayed by ``fixed_delay_s`` seconds."""

    fixed_delay_s: float
    percentage: float = 100.0


@dataclass(frozen=True)
class Abort:
    """``percentage`` of requests (0..100) answered with ``http_status`` without reaching the upstream."""

    http_status: int
    percentage: float = 100.0


@dataclass(frozen=True)
class HTTPFaultInjection:
    delay: Delay | None = None
    abort: Abort | None = None


@dataclass(frozen=True)
class HTTPRetry:
    """``attempts`` retries (0 disables retries); ``retry_on`` is Envoy's x-envoy-retry-on list."""

    attempts: int
    per_try_timeout_s: float | None = None
    retry_on: str | None = None


@dataclass(frozen=True)
class HTTPRewrite:
    uri: str | None = None
    authority: str | None = None


@dataclass(frozen=True)
class HTTPRoute:
    name: str = ""
    match: tuple[HTTPMatchRequest, ...] = ()
    route: tuple[HTTPRouteDestination, ...] = ()
    timeout_s: float | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirror_percentage: float | None = None
    rewrite: HTTPRewrite | None = None


@dataclass(frozen=True)
class VirtualServiceSpec:
    hosts: tuple[str, ...]
    gateways: tuple[str, ...] = ()
    http: tuple[HTTPRoute, ...] = ()


@dataclass(frozen=True)
class ConnectionPool:
    max_connections: int | None = None
    connect_timeout_s: float | None = None
    http1_max_pending_requests: int | None = None
    http2_max_requests: int | None = None
    max_requests_per_connection: int | None = None
    max_retries: int | None = None


@dataclass(frozen=True)
class OutlierDetection:
    consecutive_5xx_errors: int | None = None
    consecutive_gateway_errors: int | None = None
    interval_s: float | None = None
    base_ejection_time_s: float | None = None
    max_ejection_percent: int | None = None


@dataclass(frozen=True)
class ConsistentHash:
    """Sticky sessions: requests with the same key go to the same endpoint (exactly one key is set)."""

    http_header_name: str | None = None
    http_cookie_name: str | None = None
    http_cookie_path: str | None = None
    http_cookie_ttl_s: float | None = None
    use_source_ip: bool = False
    http_query_parameter_name: str | None = None
    minimum_ring_size: int | None = None


@dataclass(frozen=True)
class LoadBalancer:
    """Either ``simple`` (ROUND_ROBIN | LEAST_REQUEST | RANDOM | PASSTHROUGH) or ``consistent_hash``."""

    simple: str | None = None
    consistent_hash: ConsistentHash | None = None


@dataclass(frozen=True)
class ClientTLS:
    """``trafficPolicy.tls``: ISTIO_MUTUAL (the mesh's certificates) or DISABLE (plaintext)."""

    mode: str
    sni: str | None = None
    subject_alt_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrafficPolicy:
    connection_pool: ConnectionPool | None = None
    outlier_detection: OutlierDetection | None = None
    load_balancer: LoadBalancer | None = None
    tls: ClientTLS | None = None  # None: Istio's auto mTLS decides


@dataclass(frozen=True)
class Subset:
    name: str
    labels: tuple[tuple[str, str], ...]
    traffic_policy: TrafficPolicy | None = None


@dataclass(frozen=True)
class DestinationRuleSpec:
    host: str
    subsets: tuple[Subset, ...] = ()
    traffic_policy: TrafficPolicy | None = None


@dataclass(frozen=True)
class GatewayServer:
    port_number: int
    port_name: str
    protocol: str
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class GatewaySpec:
    selector: tuple[tuple[str, str], ...]
    servers: tuple[GatewayServer, ...]


# --- builders: raw (already schema-checked) dicts -> views -------------------------------------


def _checked_spec(resource: Resource, kind: str) -> Mapping[str, Any]:
    if resource.kind != kind:
        raise ValidationError([FieldError("kind", f"expected {kind}, got {resource.kind}")])
    errors = check_spec(kind, resource.spec)
    if errors:
        raise ValidationError(errors)
    return resource.spec


def _duration(raw: Mapping[str, Any], key: str) -> float | None:
    return parse_duration(raw[key]) if key in raw else None


def _percentage(raw: Mapping[str, Any]) -> float:
    """Fault percentage; Istio injects into *no* request when neither percentage nor percent is set."""
    if "percentage" in raw:
        return float(raw["percentage"]["value"])
    return float(raw.get("percent", 0))


def _string_match(raw: Mapping[str, Any] | None) -> StringMatch | None:
    if raw is None:
        return None
    # Without rules enforced (see spec_view) the match may set none of the kinds.
    kind = next((kind for kind in STRING_MATCH_KINDS if kind in raw), None)
    return StringMatch(kind, raw[kind]) if kind is not None else None


def _string_matches(raw: Mapping[str, Any] | None) -> tuple[tuple[str, StringMatch], ...]:
    return tuple((name, _string_match(match)) for name, match in (raw or {}).items())  # type: ignore[misc]


def _match_request(raw: Mapping[str, Any]) -> HTTPMatchRequest:
    return HTTPMatchRequest(
        name=raw.get("name", ""),
        uri=_string_match(raw.get("uri")),
        method=_string_match(raw.get("method")),
        authority=_string_match(raw.get("authority")),
        headers=_string_matches(raw.get("headers")),
        query_params=_string_matches(raw.get("queryParams")),
        ignore_uri_case=raw.get("ignoreUriCase", False),
    )


def _destination(raw: Mapping[str, Any]) -> Destination:
    port = raw.get("port")
    return Destination(host=raw["host"], subset=raw.get("subset"), port=port["number"] if port else None)


def _fault(raw: Mapping[str, Any] | None) -> HTTPFaultInjection | None:
    if raw is None:
        return None
    delay, abort = raw.get("delay"), raw.get("abort")
    return HTTPFaultInjection(
        delay=Delay(parse_duration(delay["fixedDelay"]), _percentage(delay)) if delay else None,
        abort=Abort(abort["httpStatus"], _percentage(abort)) if abort else None,
    )


def _retries(raw: Mapping[str, Any] | None) -> HTTPRetry | None:
    if raw is None:
        return None
    # Istio treats a missing attempts as 0, which disables retries.
    return HTTPRetry(raw.get("attempts", 0), _duration(raw, "perTryTimeout"), raw.get("retryOn"))


def _http_route(raw: Mapping[str, Any]) -> HTTPRoute:
    rewrite = raw.get("rewrite")
    return HTTPRoute(
        name=raw.get("name", ""),
        match=tuple(_match_request(match) for match in raw.get("match", ())),
        route=tuple(
            HTTPRouteDestination(_destination(item["destination"]), item.get("weight"))
            for item in raw["route"]
        ),
        timeout_s=_duration(raw, "timeout"),
        retries=_retries(raw.get("retries")),
        fault=_fault(raw.get("fault")),
        mirror=_destination(raw["mirror"]) if "mirror" in raw else None,
        mirror_percentage=float(raw["mirrorPercentage"]["value"]) if "mirrorPercentage" in raw else None,
        rewrite=HTTPRewrite(rewrite.get("uri"), rewrite.get("authority")) if rewrite is not None else None,
    )


def _connection_pool(raw: Mapping[str, Any] | None) -> ConnectionPool | None:
    if raw is None:
        return None
    tcp, http = raw.get("tcp", {}), raw.get("http", {})
    return ConnectionPool(
        max_connections=tcp.get("maxConnections"),
        connect_timeout_s=_duration(tcp, "connectTimeout"),
        http1_max_pending_requests=http.get("http1MaxPendingRequests"),
        http2_max_requests=http.get("http2MaxRequests"),
        max_requests_per_connection=http.get("maxRequestsPerConnection"),
        max_retries=http.get("maxRetries"),
    )


def _outlier_detection(raw: Mapping[str, Any] | None) -> OutlierDetection | None:
    if raw is None:
        return None
    return OutlierDetection(
        consecutive_5xx_errors=raw.get("consecutive5xxErrors"),
        consecutive_gateway_errors=raw.get("consecutiveGatewayErrors"),
        interval_s=_duration(raw, "interval"),
        base_ejection_time_s=_duration(raw, "baseEjectionTime"),
        max_ejection_percent=raw.get("maxEjectionPercent"),
    )


def _load_balancer(raw: Mapping[str, Any] | None) -> LoadBalancer | None:
    if raw is None:
        return None
    hashing = raw.get("consistentHash")
    if hashing is None:
        return LoadBalancer(simple=raw.get("simple"))
    cookie = hashing.get("httpCookie") or {}
    return LoadBalancer(
        consistent_hash=ConsistentHash(
            http_header_name=hashing.get("httpHeaderName"),
            http_cookie_name=cookie.get("name"),
            http_cookie_path=cookie.get("path"),
            http_cookie_ttl_s=_duration(cookie, "ttl"),
            use_source_ip=bool(hashing.get("useSourceIp", False)),
            http_query_parameter_name=hashing.get("httpQueryParameterName"),
            minimum_ring_size=hashing.get("minimumRingSize"),
        )
    )


def _traffic_policy(raw: Mapping[str, Any] | None) -> TrafficPolicy | None:
    if raw is None:
        return None
    tls = raw.get("tls")
    return TrafficPolicy(
        connection_pool=_connection_pool(raw.get("connectionPool")),
        outlier_detection=_outlier_detection(raw.get("outlierDetection")),
        load_balancer=_load_balancer(raw.get("loadBalancer")),
        tls=ClientTLS(tls["mode"], tls.get("sni"), tuple(tls.get("subjectAltNames", ()))) if tls else None,
    )


def _build_virtual_service(spec: Mapping[str, Any]) -> VirtualServiceSpec:
    return VirtualServiceSpec(
        hosts=tuple(spec["hosts"]),
        gateways=tuple(spec.get("gateways", ())),
        http=tuple(_http_route(route) for route in spec.get("http", ())),
    )


def _build_destination_rule(spec: Mapping[str, Any]) -> DestinationRuleSpec:
    return DestinationRuleSpec(
        host=spec["host"],
        subsets=tuple(
            Subset(
                name=subset["name"],
                labels=tuple(subset["labels"].items()),
                traffic_policy=_traffic_policy(subset.get("trafficPolicy")),
            )
            for subset in spec.get("subsets", ())
        ),
        traffic_policy=_traffic_policy(spec.get("trafficPolicy")),
    )


def _build_gateway(spec: Mapping[str, Any]) -> GatewaySpec:
    return GatewaySpec(
        selector=tuple(spec.get("selector", {}).items()),
        servers=tuple(
            GatewayServer(
                port_number=server["port"]["number"],
                port_name=server["port"].get("name", ""),
                protocol=server["port"]["protocol"],
                hosts=tuple(server["hosts"]),
            )
            for server in spec["servers"]
        ),
    )


SpecView = (
    VirtualServiceSpec
    | DestinationRuleSpec
    | GatewaySpec
    | PeerAuthenticationSpec
    | AuthorizationPolicySpec
    | EnvoyFilterSpec
)
_BUILDERS: dict[str, Callable[[Mapping[str, Any]], SpecView]] = {
    "VirtualService": _build_virtual_service,
    "DestinationRule": _build_destination_rule,
    "Gateway": _build_gateway,
    **SECURITY_BUILDERS,
}


def virtual_service_spec(resource: Resource) -> VirtualServiceSpec:
    """The typed view of a VirtualService; raises ValidationError (paths ``spec...``) if malformed."""
    return _build_virtual_service(_checked_spec(resource, "VirtualService"))


def destination_rule_spec(resource: Resource) -> DestinationRuleSpec:
    """The typed view of a DestinationRule; raises ValidationError (paths ``spec...``) if malformed."""
    return _build_destination_rule(_checked_spec(resource, "DestinationRule"))


def gateway_spec(resource: Resource) -> GatewaySpec:
    """The typed view of a Gateway; raises ValidationError (paths ``spec...``) if malformed."""
    return _build_gateway(_checked_spec(resource, "Gateway"))


def spec_view(resource: Resource, *, enforce_rules: bool = True) -> SpecView:
    """The typed view for any supported kind; raises ValidationError if the spec is malformed.

    With ``enforce_rules=False`` only the spec's shape must be valid (see ``schema.Type``): the
    view may then break rules such as weights summing to 100. Validation uses this to report
    semantic problems alongside rule violations; never feed such a view to the Envoy builders.
    """
    errors = check_spec(resource.kind, resource.spec, rules=enforce_rules)
    if errors:
        raise ValidationError(errors)
    return _BUILDERS[resource.kind](resource.spec)
