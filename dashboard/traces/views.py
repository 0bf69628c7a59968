"""Pages of the trace explorer; the data comes from the JSON API (dashboard/traces/api.py).

GET /traces/                   traces/search.html  {"query", "errors", "query_string", "service_names"}
                               (400 with the field errors when a parameter is invalid; a trace id
                               or x-request-id in `q` redirects to that trace's page)
GET /traces/<trace_id>/        traces/trace.html   {"trace_id"} (404 unknown, 400 malformed id,
                               503 with "source_error" when the trace source is down)
GET /traces/compare/?a=&b=     traces/compare.html {"a", "b"} (400 naming a bad id)
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.traces import service, suggestions
from dashboard.traces.api import BadParameter, parse_trace_id
from dashboard.traces.search import parse_query
from meshcore.model.errors import FieldError


def _errors(errors: list[FieldError]) -> list[dict[str, str]]:
    return [error.to_dict() for error in errors]


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    query, errors = parse_query(request.GET)
    status = 400 if errors else 200
    if query.q and not errors:
        try:
            trace_id = service.resolve_q(configured.trace_source(), query.q, query.end_ms)
        except SourceError as error:
            errors.append(FieldError("q", f"cannot look up this id: trace source unavailable ({error})"))
            status = 503
        else:
            if trace_id is not None:
                return redirect(reverse("traces:trace", args=(trace_id,)))
            errors.append(FieldError("q", "no trace has this trace id or x-request-id"))
            status = 404
    context = {
        "query": query.normalized(),
        "errors": _errors(errors),
        "query_string": query.query_string(),
        # Suggestions for the service field (a datalist); none when the source is down.
        "service_names": suggestions.service_names(
            lambda: configured.trace_source(suggestions.TIMEOUT_S),
            settings.TRACES_URL or settings.MESHCORE_TRACER_URL,
        ),
    }
    return render(request, "traces/search.html", context, status=status)


@require_GET
def trace_page(request: HttpRequest, trace_id: str) -> HttpResponse:
    try:
        trace_id = parse_trace_id(trace_id, "trace_id")
    except BadParameter as error:
        return render(
            request, "traces/trace.html", {"trace_id": trace_id, "errors": _errors(error.errors)}, status=400
        )
    try:
        found = configured.trace_source().exists(trace_id)
    except SourceError as error:
        context = {"trace_id": trace_id, "source_error": str(error)}
        return render(request, "traces/trace.html", context, status=503 if error.unreachable else 502)
    if not found:
        raise Http404(f"trace {trace_id} not found")
    return render(request, "traces/trace.html", {"trace_id": trace_id})


@require_GET
def compare_page(request: HttpRequest) -> HttpResponse:
    ids = {"a": request.GET.get("a", "").strip(), "b": request.GET.get("b", "").strip()}
    errors: list[FieldError] = []
    for name, value in ids.items():
        if not value:
            continue  # the page lets the user pick the missing trace
        try:
            ids[name] = parse_trace_id(value, name)
        except BadParameter as error:
            errors.extend(error.errors)
    context = {**ids, "errors": _errors(errors)}
    return render(request, "traces/compare.html", context, status=400 if errors else 200)
