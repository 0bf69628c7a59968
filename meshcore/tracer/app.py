"""aiohttp routes of the tracer: thin handlers over `ingest`, `queries` and `TraceStore`.

Endpoints (Zipkin v2 API, https://zipkin.io/zipkin-api/zipkin2-api.yaml, plus OTLP/HTTP):
  POST /api/v2/spans            Zipkin v2 JSON list (gzip or chunked accepted) -> 202
  POST /v1/traces               OTLP/HTTP protobuf or JSON -> 200 ExportTraceServiceResponse
  GET  /api/v2/services, /spans, /remoteServices, /traces, /trace/{traceId}, /traceMany,
       /dependencies, /autocompleteKeys, /autocompleteValues
  GET  /metrics (Prometheus text), /health

Status codes: 400 for bad parameters or bad spans (the error names the parameter, or the span and
field), 403 for a request from another site, 404 for an unknown trace, 413 for a body above
`max_body_bytes` (after decompression), more spans than `max_spans_per_request` or than the write
queue can ever hold, 415 for an unsupported content type, 503 + Retry-After when the write queue
is full for now. Every error body is the project's `{"error", "errors": [{path, message}]}`
(`meshcore.model.errors.error_body`); OTLP/JSON errors also carry google.rpc.Status's `code` and
`message`, and OTLP/protobuf errors are a google.rpc.Status, as the OTLP/HTTP spec asks.

Browsers: the tracer only answers requests whose `Host` is a loopback name (or one of
`allowed_hosts`), so a DNS-rebinding page cannot read traces; CORS headers are sent only to the
origins in `cors_origins` (none by default), and ingest requests from other origins are refused.
Span uploads must be `application/json` (Zipkin, OTLP/JSON) or `application/x-protobuf` (OTLP),
optionally gzip-encoded: the content types a web page can send cross-site without asking never
reach the parser.
Queries run in a small thread pool so the event loop keeps accepting spans while they run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from meshcore.controlplane.auth import LOOPBACK_HOSTS, host_name
from meshcore.httperrors import error_response as _error
from meshcore.httperrors import json_errors
from meshcore.model.errors import FieldError, error_body
from meshcore.tracer import otlp
from meshcore.tracer.counting import more_items_than
from meshcore.tracer.metrics import CONTENT_TYPE_LATEST, TracerMetrics
from meshcore.tracer.model import dumps, loads
from meshcore.tracer.queries import (
    QueryError,
    parse_dependencies_request,
    parse_query_request,
    parse_trace_id,
    parse_trace_ids,
)
from meshcore.tracer.store import TraceStore
from meshcore.tracer.validation import SpanProblem, normalize_batch

T = TypeVar("T")

STORE_KEY = web.AppKey("store", TraceStore)
METRICS_KEY = web.AppKey("metrics", TracerMetrics)
EXECUTOR_KEY = web.AppKey("executor", ThreadPoolExecutor)
MAX_BODY_KEY = web.AppKey("max_body_bytes", int)
MAX_SPANS_KEY = web.AppKey("max_spans_per_request", int)
INGEST_SLOTS_KEY = web.AppKey("ingest_slots", asyncio.Semaphore)

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
# Envoy flushes at most a few dozen spans at a time and OpenTelemetry's batch exporter 512: a
# request with far more is a mistake or an attack, refused before any per-span work.
DEFAULT_MAX_SPANS_PER_REQUEST = 10_000
# Bodies above this size have their items counted before they are decoded (see counting.py);
# below it a full decode is cheaper than the count.
COUNT_FIRST_BYTES = 256 * 1024
RETRY_AFTER_SECONDS = "1"
# At most this many problems are itemized in a 400 answer; the count of the rest follows.
MAX_LISTED_PROBLEMS = 10
CORS_METHODS = "GET, POST, OPTIONS"

_JSON = "application/json"


def _json_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type=_JSON)


def _bad_request(message: str, errors: list[FieldError] | None = None) -> web.Response:
    return _error(400, message, errors or ())


def _overloaded(transport: str) -> web.Response:
    return _error(
        503,
        f"tracer overloaded: {transport} spans not accepted, retry later",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _too_large(request: web.Request, transport: str, message: str, reason: str) -> web.Response:
    metrics = request.app[METRICS_KEY]
    metrics.bad_requests.labels(transport, reason).inc()
    metrics.requests.labels(transport, "413").inc()
    return _error(413, message)


def _over_span_limit(request: web.Request, transport: str, count: int | None = None) -> web.Response:
    """The 413 for more spans in one request than `max_spans_per_request` (count None: not counted)."""
    limit = request.app[MAX_SPANS_KEY]
    shown = "more than" if count is None else f"{count} spans,"
    return _too_large(
        request, transport, f"{shown} {limit} spans in one request; send smaller batches", "too_many"
    )


def _too_many_spans(request: web.Request, transport: str, count: int) -> web.Response | None:
    """The 413 for a batch above the per-request cap or above what the write queue can ever hold."""
    if count > request.app[MAX_SPANS_KEY]:
        return _over_span_limit(request, transport, count)
    capacity = request.app[STORE_KEY].max_pending_spans
    if count > capacity:
        return _too_large(
            request,
            transport,
            f"{count} spans in one request can never fit the write queue ({capacity} spans); "
            "send smaller batches",
            "too_many",
        )
    return None


def _json_error_detail(body: bytes) -> str:
    """The stdlib parser's message (line/column) for a body ujson refused; failure path only."""
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        return str(error)
    except RecursionError:
        return "nested too deeply"
    return "invalid JSON"


def problems_summary(problems: list[SpanProblem], total: int) -> str:
    """The 400 message: how many spans were rejected and how many accepted."""
    accepted = total - len(problems)
    return f"rejected {len(problems)} of {total} spans ({accepted} valid spans were accepted and stored)"


def problem_errors(problems: list[SpanProblem]) -> list[FieldError]:
    """The first MAX_LISTED_PROBLEMS problems as field errors (`span[3].traceId`), then a count."""
    errors = [problem.field_error() for problem in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        errors.append(FieldError("", f"... and {len(problems) - MAX_LISTED_PROBLEMS} more rejected spans"))
    return errors


async def _read_body(request: web.Request, transport: str) -> bytes | web.Response:
    """The decoded body, or the 413 answer. Callers hold the app's ingest slot (see create_app)."""
    try:
        # aiohttp decodes chunked transfer and gzip/deflate Content-Encoding, and enforces
        # client_max_size on the decoded bytes (so a gzip bomb is cut off too).
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _too_large(
            request,
            transport,
            f"request body larger than {request.app[MAX_BODY_KEY]} bytes; send smaller batches",
            "too_large",
        )


async def post_zipkin_spans(request: web.Request) -> web.Response:
    """POST /api/v2/spans: Zipkin v2 JSON; 202 when every span was queued (see validation policy)."""
    async with request.app[INGEST_SLOTS_KEY]:
        return await _post_zipkin_spans(request)


async def _post_zipkin_spans(request: web.Request) -> web.Response:
    metrics = request.app[METRICS_KEY]
    if request.content_type != _JSON:
        metrics.requests.labels("zipkin", "415").inc()
        return _error(415, "only Zipkin v2 JSON is accepted: send Content-Type: application/json")
    body = await _read_body(request, "zipkin")
    if isinstance(body, web.Response):
        return body
    # A large body may hold millions of tiny items: count them before decoding them all.
    if len(body) > COUNT_FIRST_BYTES and more_items_than(body, request.app[MAX_SPANS_KEY]):
        return _over_span_limit(request, "zipkin")
    try:
        decoded = loads(body)
    except ValueError:
        metrics.bad_requests.labels("zipkin", "malformed").inc()
        metrics.requests.labels("zipkin", "400").inc()
        return _bad_request(f"malformed JSON, nothing stored: {_json_error_detail(body)}")
    if not isinstance(decoded, list):
        metrics.bad_requests.labels("zipkin", "malformed").inc()
        metrics.requests.labels("zipkin", "400").inc()
        return _bad_request("expected a JSON list of Zipkin v2 spans, nothing stored")
    too_many = _too_many_spans(request, "zipkin", len(decoded))
    if too_many is not None:
        return too_many
    return _ingest(request, "zipkin", decoded, _may_hold_surrogates(body))


def _may_hold_surrogates(body: bytes) -> bool:
    """Could JSON escapes in `body` decode to lone surrogates? (cheap byte search, no copy)"""
    return b"\\ud" in body or b"\\uD" in body


def _ingest(
    request: web.Request, transport: str, raw_spans: list[Any], check_unicode: bool = False
) -> web.Response:
    metrics = request.app[METRICS_KEY]
    store = request.app[STORE_KEY]
    spans, problems = normalize_batch(raw_spans, check_unicode=check_unicode)
    metrics.received.labels(transport).inc(len(raw_spans))
    if spans and not store.submit(spans):
        metrics.dropped.labels(transport).inc(len(spans))
        metrics.rejected.labels(transport).inc(len(problems))
        metrics.requests.labels(transport, "503").inc()
        return _overloaded(transport)
    metrics.accepted.labels(transport).inc(len(spans))
    if problems:
        metrics.rejected.labels(transport).inc(len(problems))
        metrics.requests.labels(transport, "400").inc()
        if transport == "otlp":
            return _otlp_error(
                request,
                problems_summary(problems, len(raw_spans)),
                problem_errors(problems),
                rejected=len(problems),
            )
        return _bad_request(problems_summary(problems, len(raw_spans)), problem_errors(problems))
    metrics.requests.labels(transport, "202" if transport == "zipkin" else "200").inc()
    if transport == "zipkin":
        return web.Response(status=202)
    return _otlp_success(request)


def _is_protobuf(request: web.Request) -> bool:
    return request.content_type in ("application/x-protobuf", "application/protobuf")


def _otlp_success(request: web.Request) -> web.Response:
    if _is_protobuf(request):
        return web.Response(body=otlp.export_response_protobuf(), content_type="application/x-protobuf")
    return _json_response("{}")


def _otlp_error(
    request: web.Request, message: str, errors: list[FieldError] | None = None, rejected: int = 0
) -> web.Response:
    """400 with a google.rpc.Status body (OTLP/HTTP spec) in the request's encoding.

    The JSON form is also the project's error body: `error`/`errors` beside Status's `code` and
    `message` (the same text, with the listed problems, for OTLP clients that show only that).
    """
    text = "\n".join([message + (":" if errors else ""), *map(str, errors or ())])
    if _is_protobuf(request):
        from google.rpc import status_pb2

        status = status_pb2.Status(code=3, message=text)  # 3 = INVALID_ARGUMENT
        return web.Response(
            status=400, body=status.SerializeToString(), content_type="application/x-protobuf"
        )
    body: dict[str, Any] = {**error_body(message, errors or ()), "code": 3, "message": text}
    if rejected:
        body["details"] = [{"rejectedSpans": rejected}]
    return _json_response(dumps(body), status=400)


async def post_otlp_traces(request: web.Request) -> web.Response:
    """POST /v1/traces: OTLP/HTTP ExportTraceServiceRequest, protobuf or JSON."""
    async with request.app[INGEST_SLOTS_KEY]:
        return await _post_otlp_traces(request)


async def _post_otlp_traces(request: web.Request) -> web.Response:
    metrics = request.app[METRICS_KEY]
    if not (_is_protobuf(request) or request.content_type == _JSON):
        metrics.requests.labels("otlp", "415").inc()
        return _error(415, "Content-Type must be application/x-protobuf or application/json")
    body = await _read_body(request, "otlp")
    if isinstance(body, web.Response):
        return body
    limit = request.app[MAX_SPANS_KEY]
    try:
        raw = (
            otlp.spans_from_otlp_protobuf(body, limit)
            if _is_protobuf(request)
            else otlp.spans_from_otlp_json(body, limit)
        )
    except otlp.TooManySpans:
        return _over_span_limit(request, "otlp")
    except otlp.OtlpDecodeError as error:
        metrics.bad_requests.labels("otlp", "malformed").inc()
        metrics.requests.labels("otlp", "400").inc()
        message = str(error)
        if message.startswith("malformed JSON"):
            message = f"malformed JSON: {_json_error_detail(body)}"
        return _otlp_error(request, message + "; nothing stored")
    too_many = _too_many_spans(request, "otlp", len(raw))
    if too_many is not None:
        return too_many
    return _ingest(request, "otlp", raw, not _is_protobuf(request) and _may_hold_surrogates(body))


async def _query(request: web.Request, endpoint: str, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    try:
        return await asyncio.get_running_loop().run_in_executor(request.app[EXECUTOR_KEY], work)
    finally:
        request.app[METRICS_KEY].query_latency.labels(endpoint).observe(time.perf_counter() - started)


def _required(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise QueryError(f"{name} parameter is required")
    return value


async def get_services(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    return _json_response(await _query(request, "services", lambda: dumps(store.services())))


async def get_span_names(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    service = _required(request, "serviceName")
    return _json_response(await _query(request, "spans", lambda: dumps(store.span_names(service))))


async def get_remote_services(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    service = _required(request, "serviceName")
    return _json_response(
        await _query(request, "remoteServices", lambda: dumps(store.remote_services(service)))
    )


async def get_traces(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    query = parse_query_request(request.query)
    return _json_response(await _query(request, "traces", lambda: dumps(store.find_traces(query))))


async def get_trace(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    trace_id = parse_trace_id(request.match_info["trace_id"])
    body = await _query(request, "trace", lambda: store.get_trace_json(trace_id))
    if body is None:
        return _error(404, f"trace {trace_id} not found")
    return web.Response(body=body, content_type=_JSON, charset="utf-8")


async def head_trace(request: web.Request) -> web.Response:
    """HEAD of /api/v2/trace/{id}: 200 when the trace exists, 404 otherwise, without reading it."""
    store = request.app[STORE_KEY]
    trace_id = parse_trace_id(request.match_info["trace_id"])
    if not await _query(request, "trace", lambda: store.has_trace(trace_id)):
        return web.Response(status=404)
    return web.Response(status=200, content_type="application/json")


async def get_trace_many(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    trace_ids = parse_trace_ids(request.query.get("traceIds"))
    return _json_response(await _query(request, "traceMany", lambda: dumps(store.get_traces(trace_ids))))


async def get_dependencies(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    end_ts, lookback = parse_dependencies_request(request.query)
    return _json_response(
        await _query(request, "dependencies", lambda: dumps(store.dependencies(end_ts, lookback)))
    )


async def get_autocomplete_keys(request: web.Request) -> web.Response:
    return _json_response(dumps(list(request.app[STORE_KEY].autocomplete_keys)))


async def get_autocomplete_values(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    key = _required(request, "key")
    return _json_response(
        await _query(request, "autocompleteValues", lambda: dumps(store.autocomplete_values(key)))
    )


async def get_metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS_KEY].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def get_health(request: web.Request) -> web.Response:
    """Zipkin's /health shape; DOWN (503) while the span writer is down (spans would be refused
    or wait), with the writer's details: pid, restarts, accepted spans lost with a dead writer."""
    writer = request.app[STORE_KEY].writer_state()
    status = writer["status"]
    body = {"status": status, "zipkin": {"status": status, "details": {"writer": writer}}}
    return _json_response(json.dumps(body), status=200 if status == "UP" else 503)


@web.middleware
async def query_errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """QueryError -> 400 with its message (never a 500 for bad parameters)."""
    try:
        return await handler(request)
    except QueryError as error:
        return _bad_request(str(error))


def browser_guard(
    allowed_hosts: frozenset[str], cors_origins: frozenset[str]
) -> Callable[[web.Request, Callable[[web.Request], Any]], Any]:
    """Refuse DNS rebinding (a `Host` not in `allowed_hosts`) and span uploads from web pages of
    other origins; send CORS headers (and answer preflights) only for `cors_origins`."""

    @web.middleware
    async def guard(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if host_name(request.headers.get("Host", "")) not in allowed_hosts:
            return _error(403, f"Host {request.headers.get('Host', '')!r} is not served here")
        origin = request.headers.get("Origin")
        allowed = origin is not None and origin in cors_origins
        if origin is not None and not allowed and request.method not in ("GET", "HEAD"):
            return _error(403, f"requests from web pages of other origins are refused (Origin {origin!r})")
        cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if allowed else {}
        if allowed and request.method == "OPTIONS":
            return web.Response(
                status=204,
                headers={
                    **cors,
                    "Access-Control-Allow-Methods": CORS_METHODS,
                    "Access-Control-Allow-Headers": "Content-Type, Content-Encoding",
                    "Access-Control-Max-Age": "600",
                },
            )
        response = await handler(request)
        response.headers.update(cors)
        return response

    return guard


def create_app(
    store: TraceStore,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_spans_per_request: int = DEFAULT_MAX_SPANS_PER_REQUEST,
    query_threads: int = 4,
    ingest_slots: int = 16,
    close_store: bool = False,
    allowed_hosts: Iterable[str] = (),
    cors_origins: Iterable[str] = (),
) -> web.Application:
    """The tracer application over `store`.

    `max_body_bytes` bounds each ingest body after decompression and `max_spans_per_request` the
    spans in it (413 above either); at most
    `ingest_slots` ingest requests read and decode their bodies at once (the others wait, their
    bytes held back by TCP flow control), so ingest memory is bounded by about
    ingest_slots x max_body_bytes plus the store's queue, however many senders connect.
    With `close_store` the store is closed (queued spans committed) when the app shuts down.
    Requests must name a loopback host or one of `allowed_hosts`; `cors_origins` lists the web
    origins (`http://host:port`) allowed to read the API from a browser (none by default).
    """
    guard = browser_guard(LOOPBACK_HOSTS | frozenset(allowed_hosts), frozenset(cors_origins))
    app = web.Application(client_max_size=max_body_bytes, middlewares=[json_errors, guard, query_errors])
    app[MAX_BODY_KEY] = max_body_bytes
    app[MAX_SPANS_KEY] = max_spans_per_request
    app[INGEST_SLOTS_KEY] = asyncio.Semaphore(ingest_slots)
    app[STORE_KEY] = store
    app[METRICS_KEY] = TracerMetrics(store)
    executor = ThreadPoolExecutor(max_workers=query_threads, thread_name_prefix="tracer-query")
    app[EXECUTOR_KEY] = executor

    async def shutdown(app: web.Application) -> None:
        executor.shutdown(wait=True)
        if close_store:
            await asyncio.get_running_loop().run_in_executor(None, store.close)

    app.on_cleanup.append(shutdown)
    app.router.add_post("/api/v2/spans", post_zipkin_spans)
    app.router.add_post("/v1/traces", post_otlp_traces)
    app.router.add_get("/api/v2/services", get_services)
    app.router.add_get("/api/v2/spans", get_span_names)
    app.router.add_get("/api/v2/remoteServices", get_remote_services)
    app.router.add_get("/api/v2/traces", get_traces)
    app.router.add_get("/api/v2/trace/{trace_id}", get_trace, allow_head=False)
    app.router.add_route("HEAD", "/api/v2/trace/{trace_id}", head_trace)
    app.router.add_get("/api/v2/traceMany", get_trace_many)
    app.router.add_get("/api/v2/dependencies", get_dependencies)
    app.router.add_get("/api/v2/autocompleteKeys", get_autocomplete_keys)
    app.router.add_get("/api/v2/autocompleteValues", get_autocomplete_values)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/health", get_health)
    return app
