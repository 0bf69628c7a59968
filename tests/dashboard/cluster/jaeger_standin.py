"""A STAND-IN Jaeger query service for tests (Jaeger cannot run on this machine): a real aiohttp
app answering in the shapes Jaeger's source defines, with one BookInfo trace.

Shapes, from jaegertracing/jaeger: `/api/v3` is the api_v3 HTTP gateway
(cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/http_gateway.go, query_parser.go and its
snapshots/GetTrace.json, GetServices.json): OTLP JSON under `result`, hex ids, enum kinds as
numbers, `query.serviceName` + RFC 3339 `query.startTimeMin`/`query.startTimeMax` required (400
without), Go durations, 404 `{"error": {"httpCode": 404, "message": "No traces found"}}` for no
match or an unknown trace. The classic `/api` answers the structured response `{data, total,
limit, offset, errors}` of the classic query handler, times in µs.
"""

from __future__ import annotations

import datetime as dt
import json

from aiohttp import web

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
START_US = 1_764_590_000_000_000
SPANS = [
    # (span id, parent, service, name, kind (OTLP enum), start offset µs, duration µs, attributes, error)
    (
        "00f067aa0ba902b7",
        None,
        "istio-ingressgateway",
        "GET /productpage",
        2,
        0,
        9_000,
        {"http.status_code": 200},
        False,
    ),
    (
        "00f067aa0ba902b8",
        "00f067aa0ba902b7",
        "productpage",
        "GET /reviews/0",
        3,
        2_000,
        6_000,
        {"http.status_code": 200},
        False,
    ),
    (
        "00f067aa0ba902b9",
        "00f067aa0ba902b8",
        "reviews",
        "GET /ratings/0",
        3,
        2_500,
        3_000,
        {"http.status_code": 500},
        True,
    ),
]
KIND_TAGS = {2: "server", 3: "client"}


def otlp_value(value):
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # OTLP JSON writes 64-bit integers as strings
    return {"stringValue": value}


def otlp_traces(spans=SPANS, trace_id=TRACE_ID, start_us=START_US) -> dict:
    """The trace as /api/v3 answers it: one resourceSpans per service."""
    by_service: dict[str, list] = {}
    for span_id, parent, service, name, kind, offset, duration, attrs, error in spans:
        start_ns = (start_us + offset) * 1000
        span = {
            "traceId": trace_id,
            "spanId": span_id,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": str(start_ns),
            "endTimeUnixNano": str(start_ns + duration * 1000),
            "attributes": [{"key": k, "value": otlp_value(v)} for k, v in attrs.items()],
            "events": [{"timeUnixNano": str(start_ns + 100_000), "name": "retry"}] if error else [],
            "status": {"code": 2, "message": "upstream 500"} if error else {},
        }
        if parent:
            span["parentSpanId"] = parent
        by_service.setdefault(service, []).append(span)
    return {
        "result": {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s}}]},
                    "scopeSpans": [{"scope": {}, "spans": items}],
                }
                for s, items in by_service.items()
            ]
        }
    }


def classic_trace(spans=SPANS, trace_id=TRACE_ID, start_us=START_US) -> dict:
    """The trace as the classic /api/traces/{id} answers it (inside the `data` envelope)."""
    processes = {
        f"p{i}": {"serviceName": s, "tags": []} for i, s in enumerate(dict.fromkeys(x[2] for x in spans))
    }
    process_of = {p["serviceName"]: key for key, p in processes.items()}
    out = []
    for span_id, parent, service, name, kind, offset, duration, attrs, error in spans:
        tags = [{"key": "span.kind", "type": "string", "value": KIND_TAGS[kind]}]
        tags += [
            {"key": k, "type": "int64" if isinstance(v, int) else "string", "value": v}
            for k, v in attrs.items()
        ]
        if error:
            tags.append({"key": "error", "type": "string", "value": "upstream 500"})
        out.append(
            {
                "traceID": trace_id,
                "spanID": span_id,
                "operationName": name,
                "references": [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent}]
                if parent
                else [],
                "startTime": start_us + offset,
                "duration": duration,
                "tags": tags,
                "logs": [
                    {"timestamp": start_us + offset + 100, "fields": [{"key": "event", "value": "retry"}]}
                ]
                if error
                else [],
                "processID": process_of[service],
                "warnings": None,
            }
        )
    return {"traceID": trace_id, "spans": out, "processes": processes, "warnings": None}


def envelope(data) -> dict:
    return {
        "data": data,
        "total": len(data) if isinstance(data, list) else 0,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }


def not_found() -> web.Response:
    body = json.dumps({"error": {"httpCode": 404, "message": "No traces found"}})
    return web.Response(status=404, text=body, content_type="application/json")


def stand_in_jaeger(api: str) -> tuple[web.Application, list]:
    """A stand-in Jaeger query service with the BookInfo trace; `api` "v3" also serves the classic
    trace and dependencies endpoints (as jaeger#9260 left them), "classic" serves only /api."""
    seen: list = []
    app = web.Application()

    async def v3_services(request):
        return web.json_response({"services": ["istio-ingressgateway", "productpage", "reviews"]})

    async def v3_find(request):
        seen.append(dict(request.query))
        q = request.query
        try:
            low = dt.datetime.fromisoformat(q["query.startTimeMin"].replace("Z", "+00:00"))
            high = dt.datetime.fromisoformat(q["query.startTimeMax"].replace("Z", "+00:00"))
        except (KeyError, ValueError):
            return web.json_response(
                {
                    "error": {
                        "httpCode": 400,
                        "message": "query.startTimeMin and query.startTimeMax are required",
                    }
                },
                status=400,
            )
        start = dt.datetime.fromtimestamp(START_US / 1e6, tz=dt.UTC)
        services = {s[2] for s in SPANS}
        if q.get("query.serviceName") not in services or not low <= start <= high:
            return not_found()
        return web.json_response(otlp_traces())

    async def v3_trace(request):
        if request.match_info["trace_id"] != TRACE_ID:
            return not_found()
        return web.json_response(otlp_traces())

    async def classic_services(request):
        return web.json_response(envelope(["istio-ingressgateway", "productpage", "reviews"]))

    async def classic_find(request):
        seen.append(dict(request.query))
        q = request.query
        start, end = int(q.get("start", 0)), int(q.get("end", 0))
        found = q.get("service") in {s[2] for s in SPANS} and start <= START_US <= end
        return web.json_response(envelope([classic_trace()] if found else []))

    async def classic_trace_handler(request):
        if request.match_info["trace_id"] != TRACE_ID:
            body = {
                "data": None,
                "total": 0,
                "limit": 0,
                "offset": 0,
                "errors": [{"code": 404, "msg": "trace not found"}],
            }
            return web.json_response(body, status=404)
        return web.json_response(envelope([classic_trace()]))

    async def dependencies(request):
        seen.append(dict(request.query))
        return web.json_response(envelope([{"parent": "productpage", "child": "reviews", "callCount": 7}]))

    if api == "v3":
        app.router.add_get("/api/v3/services", v3_services)
        app.router.add_get("/api/v3/traces", v3_find)
        app.router.add_get("/api/v3/traces/{trace_id}", v3_trace)
    else:
        app.router.add_get("/api/services", classic_services)
        app.router.add_get("/api/traces", classic_find)
    app.router.add_get("/api/traces/{trace_id}", classic_trace_handler)
    app.router.add_get("/api/dependencies", dependencies)
    return app, seen
