"""Which incoming headers a BookInfo app copies onto every call it makes, and the copy itself.

Envoy sidecars report the spans, but only the application knows that the call it is about to make
belongs to the request it is serving. Istio therefore asks every app to copy the trace context of
the incoming request onto its outgoing requests; without this, each hop starts a new trace. The
list follows Istio's BookInfo (productpage.py, LibertyRestEndpoint.java): x-request-id, the B3
headers, Lightstep's x-ot-span-context and W3C trace context, plus the two application headers
BookInfo forwards, `end-user` (routes match on it) and `user-agent`.
"""

from __future__ import annotations

from collections.abc import Mapping

TRACING_HEADERS: tuple[str, ...] = (
    # Istio logs it and bases consistent sampling decisions on it.
    "x-request-id",
    # Zipkin B3 multi-header form: what the local mesh's Envoys use.
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-ot-span-context",
    # W3C trace context, for OpenTelemetry-configured meshes.
    "traceparent",
    "tracestate",
)

APPLICATION_HEADERS: tuple[str, ...] = (
    # VirtualServices route the signed-in user "jason" on this header.
    "end-user",
    "user-agent",
)

PROPAGATED_HEADERS: tuple[str, ...] = TRACING_HEADERS + APPLICATION_HEADERS


def forward_headers(incoming: Mapping[str, str]) -> dict[str, str]:
    """The headers to send on an outgoing call made while serving a request with `incoming` headers.

    `incoming` should be case-insensitive (aiohttp's `request.headers` is); with a plain dict the
    names must be lower-case. Only headers present are returned, under their lower-case names;
    nothing else (cookies, Host, hop-by-hop headers) is copied. Pure function.
    """
    forwarded: dict[str, str] = {}
    for name in PROPAGATED_HEADERS:
        value = incoming.get(name)
        if value is not None:
            forwarded[name] = value
    return forwarded
