"""The routes JSON API (session + CSRF like every form; the same service functions as the forms).

  GET    /api/istio/<namespace>/<plural>                  {"items": [...]}
  GET    /api/istio/<namespace>/<plural>/<name>           the object
  PUT    /api/istio/<namespace>/<plural>/<name>           YAML (application/yaml) or JSON body; 201
                                                          created, 200 updated (`metadata.resourceVersion`
                                                          set: 409 when stale)
  DELETE /api/istio/<namespace>/<plural>/<name>[?resourceVersion=N]
  POST   /api/routes/preview                              YAML/JSON body: diffs, Envoy diffs, what-if
  GET    /api/routes/revisions[?kind=&namespace=&name=&service=&source=&limit=]
  GET    /api/routes/revisions/<id>
  POST   /api/routes/revisions/<id>/rollback[?undo=1]     restore the object as after (or before) it
  GET    /api/routes/sync                                 every proxy's xDS state
Errors use the project's body `{"error", "errors": [{path, message}]}`: 400 unparsable, 403 not an
operator or view-only, 404, 409 stale resourceVersion, 422 invalid (field paths), 502 mesh unreachable.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.routes import service
from dashboard.routes.models import Revision
from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.sources.routestore import PLURALS
from meshcore.model.errors import FieldError, error_body

MAX_REVISIONS = 1000


def _error(status: int, message: str, errors: list[FieldError] | tuple = ()) -> JsonResponse:
    return JsonResponse(error_body(message, errors), status=status)


def _source_error(error: SourceError) -> JsonResponse:
    status = error.status if error.status in (400, 403, 404, 409, 422) else 502
    return _error(status, str(error), error.errors)


def _guard(view):
    """Map the service's failures to the documented statuses (never a 500 for bad input)."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if "plural" in kwargs and kwargs["plural"] not in PLURALS:
            return _error(
                404, f"unknown resource type {kwargs['plural']!r}; expected one of {', '.join(PLURALS)}"
            )
        try:
            return view(request, *args, **kwargs)
        except service.WriteForbidden as error:
            return _error(403, str(error))
        except Http404 as error:
            return _error(404, str(error) or "not found")
        except SourceError as error:
            return _source_error(error)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _body_text(request: HttpRequest) -> str:
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceError("unparsable input", 400, [FieldError("body", f"not UTF-8 text: {error}")]) from None


@require_GET
@_guard
def list_objects(request: HttpRequest, namespace: str, plural: str) -> JsonResponse:
    return JsonResponse({"items": configured.route_store().list(plural, namespace)})


def _put(request: HttpRequest, namespace: str, plural: str, name: str) -> JsonResponse:
    service.check_can_edit(request.user)
    documents = service.parse_yaml(_body_text(request))
    expected = (PLURALS[plural], namespace, name)
    if len(documents) != 1 or service.key_of(documents[0]) != expected:
        found = ", ".join("/".join(service.key_of(d)) for d in documents)
        message = (
            f"the body must be exactly one {expected[0]} named {name} in namespace {namespace} (got {found})"
        )
        return _error(422, "invalid resources", [FieldError("metadata.name", message)])
    applied = service.apply(request.user, documents, request.GET.get("reason", ""))
    stored = applied.outcome.objects[0]
    return JsonResponse(
        {
            "object": {k: v for k, v in stored.items() if k != "action"},
            "action": stored.get("action"),
            "warnings": [w.to_dict() for w in applied.outcome.warnings],
            "push": applied.outcome.sync,
            "revision": applied.revisions[0].id if applied.revisions else None,
        },
        status=201 if stored.get("action") == "created" else 200,
    )


def _delete(request: HttpRequest, namespace: str, plural: str, name: str) -> JsonResponse:
    revision = service.delete(
        request.user,
        PLURALS[plural],
        namespace,
        name,
        request.GET.get("resourceVersion", ""),
        request.GET.get("reason", ""),
    )
    return JsonResponse({"deleted": revision.to_dict(), "revision": revision.id, "push": revision.push})


@require_http_methods(["GET", "PUT", "DELETE"])
@_guard
def object_view(request: HttpRequest, namespace: str, plural: str, name: str) -> JsonResponse:
    if request.method == "PUT":
        return _put(request, namespace, plural, name)
    if request.method == "DELETE":
        return _delete(request, namespace, plural, name)
    return JsonResponse(configured.route_store().get(plural, namespace, name))


@require_POST
@_guard
def preview(request: HttpRequest) -> JsonResponse:
    """Dry run + YAML diff + Envoy diff + what-if; 422 (with field errors) when it would be refused."""
    result = service.preview(service.parse_yaml(_body_text(request)))
    if result.errors or result.error:
        return _error(result.status if result.status in (400, 409, 422) else 502, result.error, result.errors)
    return JsonResponse(result.to_dict())


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_REVISIONS:
        raise SourceError(
            "invalid parameter",
            400,
            [FieldError("limit", f"must be a whole number from 1 to {MAX_REVISIONS}")],
        )
    return int(raw)


@require_GET
@_guard
def revisions(request: HttpRequest) -> JsonResponse:
    """Newest first; filters: kind, namespace, name, source (dashboard|external), service."""
    found = Revision.objects.all()
    for key in ("kind", "namespace", "name", "source"):
        if request.GET.get(key):
            found = found.filter(**{key: request.GET[key]})
    wanted = request.GET.get("service")
    limit = _limit(request)
    items = []
    for item in found.iterator():  # `services` is a JSON list: filtered here, on every database
        if not wanted or wanted in item.services:
            items.append(item.to_dict())
            if len(items) == limit:
                break
    return JsonResponse({"items": items})


@require_GET
@_guard
def revision(request: HttpRequest, revision_id: int) -> JsonResponse:
    return JsonResponse(get_object_or_404(Revision, id=revision_id).to_dict())


@require_POST
@_guard
def rollback(request: HttpRequest, revision_id: int) -> JsonResponse:
    target = get_object_or_404(Revision, id=revision_id)
    restored = service.rollback(request.user, target, undo=request.GET.get("undo") in ("1", "true"))
    if restored is None:
        return JsonResponse({"revision": None, "unchanged": True})
    return JsonResponse({"revision": restored.to_dict()}, status=201)


@require_GET
@_guard
def impact(request: HttpRequest, revision_id: int) -> JsonResponse:
    """?service=NAME (default: the first the revision touches), ?minutes=N (1..30, default 5)."""
    import datetime as dt

    from dashboard.routes.impact import impact as measure
    from dashboard.topology.models import TopologySnapshot

    target = get_object_or_404(Revision, id=revision_id)
    wanted = request.GET.get("service") or (target.services[0] if target.services else "")
    raw = request.GET.get("minutes", "5")
    if not raw.isdigit() or not 1 <= int(raw) <= 30:
        raise SourceError(
            "invalid parameter", 400, [FieldError("minutes", "must be a whole number from 1 to 30")]
        )
    minutes = int(raw)
    window = dt.timedelta(minutes=minutes)
    snapshots = TopologySnapshot.objects.filter(
        taken_at__gte=target.created_at - window, taken_at__lte=target.created_at + window
    ).order_by("taken_at")
    documents = [s.data for s in snapshots]
    return JsonResponse(
        {"revision": target.id, **measure(documents, wanted, target.created_at.timestamp(), minutes)}
    )


@require_GET
@_guard
def sync(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"proxies": [asdict(s) for s in configured.route_store().sync_status()]})
