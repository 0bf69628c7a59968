"""The trace explorer's JSON API (login required, like every API; GET only).

  GET /api/traces?service=&operation=&tags=&minDuration=&maxDuration=&lookback=&start=&end=&limit=&sort=&q=
      -> {"traces": [Summary], "query": {normalized parameters}, "source": {"ok", "error"}}
  GET /api/traces/<trace_id>[?download=zipkin]
      -> spans in the source-neutral model with flags, route rule and self time, the critical path
         (span ids, and `criticalSections`: [spanId, start_us, end_us] stretches in time order),
         statistics, call graph, warnings; `download=zipkin` gives the raw Zipkin v2 JSON file.
         A `Server-Timing` header gives the phases in ms: read (from the source, decoded),
         model (conversion), analysis (the document), json (serialization).
  GET /api/traces/compare?a=<id>&b=<id>
      -> {"a": Summary, "b": Summary, "onlyA", "onlyB", "both"}
Errors use the project's body `{"error", "errors": [{path, message}]}` with `path` the parameter:
400 bad parameter, 404 unknown trace, 503 trace source down (with the reason), never 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from dashboard.core.errors import json_error
from dashboard.core.memory import gc_paused
from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.traces import service
from dashboard.traces.search import parse_query
from meshcore.model.errors import FieldError
from meshcore.tracer.model import dumps
from meshcore.tracer.validation import SpanFieldError, normalize_trace_id

# A 200,000-span trace takes seconds to read and convert; searches stay within the usual deadline.
TRACE_READ_TIMEOUT_S = 30.0


class BadParameter(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def route_url(namespace: str, name: str) -> str:
    """The /routes/ page of a VirtualService."""
    return reverse("routes:object", args=("virtualservices", namespace, name))


def json_response(document: Any, status: int = 200) -> HttpResponse:
    # orjson: the document of a 50,000-span trace is tens of MB (4x faster than ujson here).
    return HttpResponse(orjson.dumps(document), status=status, content_type="application/json")


def parse_trace_id(value: str, name: str) -> str:
    """A normalized trace id, or BadParameter naming `name`."""
    try:
        return normalize_trace_id(value.strip(), name)
    except SpanFieldError as error:
        raise BadParameter([FieldError(name, error.reason)]) from None


def source_failure(error: SourceError) -> HttpResponse:
    """503 when the source is unreachable, 502 when it answered something we could not use."""
    if error.unreachable:
        return json_error(503, f"trace source unavailable: {error}")
    return json_error(502, f"trace source failed: {error}")


def guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Map failures to the documented statuses."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadParameter as error:
            return json_error(400, f"invalid parameter: {error}", error.errors)
        except service.TraceNotFound as error:
            return json_error(404, str(error))
        except SourceError as error:
            return source_failure(error)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@require_GET
@guarded
def search(request: HttpRequest) -> HttpResponse:
    query, errors = parse_query(request.GET)
    if errors:
        raise BadParameter(errors)
    try:
        rows = service.search(configured.trace_source(), query)
    except SourceError as error:
        if not error.unreachable:
            raise
        # The page keeps its form and says the source is down; the status says it too.
        return json_response(
            {"traces": [], "query": query.normalized(), "source": {"ok": False, "error": str(error)}}, 503
        )
    return json_response({"traces": rows, "query": query.normalized(), "source": {"ok": True, "error": None}})


@require_GET
@guarded
def trace(request: HttpRequest, trace_id: str) -> HttpResponse:
    trace_id = parse_trace_id(trace_id, "trace_id")
    download = request.GET.get("download")
    if download not in (None, "", "zipkin"):
        raise BadParameter([FieldError("download", f"must be 'zipkin', got {download!r}")])
    phases: dict[str, float] = {}
    with gc_paused():  # hundreds of thousands of cycle-free objects for a large trace
        response = trace_response(trace_id, download == "zipkin", phases)
    if phases:
        response["Server-Timing"] = server_timing(phases)
    return response


def trace_response(trace_id: str, download: bool, phases: dict[str, float]) -> HttpResponse:
    """The answer of GET /api/traces/<id>, recording the phases (ms) of the document in `phases`.

    A function of its own so that the trace, its model and the document are freed when it returns:
    the caller's `gc_paused` block is still open then. Freed after the collector resumes, the
    million objects of a 50,000-span trace would first be counted as survivors and traversed by
    the next collection (about a third of the request's time in bench_traces_api).
    """
    raw, model = service.load_trace(configured.trace_source(TRACE_READ_TIMEOUT_S), trace_id, phases)
    if download:
        phases.clear()  # a file, not the document: no phases worth a header
        response = HttpResponse(dumps(raw), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="trace-{trace_id}.json"'
        return response
    began = time.perf_counter()
    document = service.trace_detail(model, route_url)
    phases["analysis"] = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    response = json_response(document)
    phases["json"] = (time.perf_counter() - began) * 1000
    return response


def server_timing(phases: dict[str, float]) -> str:
    """A Server-Timing header value (`name;dur=<ms>`, comma separated) for the phases (ms)."""
    return ", ".join(f"{name};dur={ms:.1f}" for name, ms in phases.items())


@require_GET
@guarded
def compare(request: HttpRequest) -> HttpResponse:
    errors: list[FieldError] = []
    ids: dict[str, str] = {}
    for name in ("a", "b"):
        value = request.GET.get(name, "")
        if not value.strip():
            errors.append(FieldError(name, "is required: a trace id"))
            continue
        try:
            ids[name] = parse_trace_id(value, name)
        except BadParameter as error:
            errors.extend(error.errors)
    if errors:
        raise BadParameter(errors)
    return json_response(
        service.compare_traces(configured.trace_source(TRACE_READ_TIMEOUT_S), ids["a"], ids["b"])
    )
