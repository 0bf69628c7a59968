"""Routes pages: list, object detail with live sidecar state, one form per action, YAML editor,
import/export, preview, conflict screen, revisions with diff and rollback.

Thin: every change goes through dashboard.routes.service (which checks the operator role and the
view-only setting); a refused write renders 403 without edit controls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.routes import diffing, documents, service
from dashboard.routes.forms import ACTIONS, Target, YamlForm
from dashboard.routes.models import Revision
from dashboard.security.preview import security_changes, touches_security
from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.sources.routestore import PLURALS, ROUTING_PLURALS, SECURITY_PLURALS

Document = dict[str, Any]


def forbidden(request: HttpRequest, error: Exception) -> HttpResponse:
    return render(request, "routes/forbidden.html", {"message": str(error)}, status=403)


def unavailable(request: HttpRequest, error: SourceError) -> HttpResponse:
    return render(request, "routes/unavailable.html", {"message": str(error)}, status=502)


def object_url(document: Mapping[str, Any]) -> str:
    kind, namespace, name = service.key_of(document)
    plural = next(p for p, k in PLURALS.items() if k == kind)
    return reverse("routes:object", args=[plural, namespace, name])


def _latest_by_key() -> dict[tuple[str, str, str], Revision]:
    return service.latest_revisions()


NO_SYNC_VIEW = "the Kubernetes API reports no per-proxy config state (Istio pushes config itself)"


def _sync_rows() -> tuple[list[Any], str]:
    try:
        rows = list(configured.route_store().sync_status())
    except SourceError as error:
        return [], str(error)
    return rows, NO_SYNC_VIEW if not rows and settings.CLUSTER_MODE == "kubernetes" else ""


@require_GET
def route_list(request: HttpRequest) -> HttpResponse:
    store = configured.route_store()
    try:
        objects = {plural: store.list(plural) for plural in ROUTING_PLURALS}
        registry = configured.registry_source().registry()
    except SourceError as error:
        return unavailable(request, error)
    latest = _latest_by_key()
    names = [s.name for s in registry.services]
    rows = [
        {
            "plural": plural,
            "document": document,
            "hosts": documents.hosts_of(document),
            "services": documents.services_touched(document, names),
            "last": latest.get(service.key_of(document)),
            "url": object_url(document),
        }
        for plural, items in objects.items()
        for document in items
    ]
    sync, sync_error = _sync_rows()
    return render(
        request,
        "routes/list.html",
        {
            "rows": rows,
            "services": names,
            "actions": ACTIONS,
            "can_edit": service.can_edit(request.user),
            "sync": sync,
            "sync_error": sync_error,
            "out_of_sync": [s for s in sync if s.nack or s.config_version != s.acked_version],
        },
    )


def _object_or_404(plural: str, namespace: str, name: str) -> Document:
    if plural not in PLURALS:
        raise Http404(f"unknown resource type {plural!r}")
    try:
        return configured.route_store().get(plural, namespace, name)
    except SourceError as error:
        if error.status == 404:
            raise Http404(str(error)) from None
        raise


@require_GET
def object_detail(request: HttpRequest, plural: str, namespace: str, name: str) -> HttpResponse:
    try:
        document = _object_or_404(plural, namespace, name)
        registry = configured.registry_source().registry()
    except SourceError as error:
        return unavailable(request, error)
    kind = PLURALS[plural]
    revisions = Revision.objects.filter(kind=kind, namespace=namespace, name=name)[:20]
    applied = None
    if request.GET.get("revision", "").isdigit():
        applied = Revision.objects.filter(id=int(request.GET["revision"])).first()
    sync, sync_error = _sync_rows()
    touched = documents.services_touched(document, [s.name for s in registry.services])
    return render(
        request,
        "routes/object.html",
        {
            "document": document,
            "plural": plural,
            "kind": kind,
            "yaml": diffing.to_yaml(documents.for_export(document)),
            "resource_version": documents.resource_version(document),
            "services": touched,
            "actions": ACTIONS if kind in ("VirtualService", "DestinationRule") else {},
            "form_url": reverse("security:edit", args=[plural, namespace, name])
            if plural in SECURITY_PLURALS
            else "",
            "revisions": revisions,
            "applied": applied,
            "can_edit": service.can_edit(request.user),
            "sync": sync,
            "sync_error": sync_error,
        },
    )


def target_for(service_name: str) -> Target:
    """The service, its versions, the stored VirtualService / DestinationRule that route it and the
    PeerAuthentication selecting exactly its workloads (`app=<service>`)."""
    store = configured.route_store()
    registry = configured.registry_source().registry()
    info = registry.service(service_name)
    if info is None:
        raise Http404(f"unknown service {service_name!r}")
    versions = tuple(sorted({w.version for w in registry.workloads_of(service_name) if w.version}))
    virtual_service = next(
        (
            d
            for d in store.list("virtualservices", info.namespace)
            if service_name in {documents.short_host(h) for h in d["spec"].get("hosts", [])}
            and not service.gateway_only(d)
        ),
        None,
    )
    rule = next(
        (
            d
            for d in store.list("destinationrules", info.namespace)
            if documents.short_host(d["spec"].get("host", "")) == service_name
        ),
        None,
    )
    peer_authentication = next(
        (
            d
            for d in store.list("peerauthentications", info.namespace)
            if ((d["spec"].get("selector") or {}).get("matchLabels") or {}) == {"app": service_name}
        ),
        None,
    )
    return Target(service_name, info.namespace, versions, virtual_service, rule, peer_authentication)


def render_preview(
    request: HttpRequest, preview: service.Preview, reason: str, back: str, status: int = 200
) -> HttpResponse:
    """The preview page; a proposal with security objects also shows what changes per workload."""
    context: dict[str, Any] = {
        "preview": preview,
        "reason": reason,
        "back": back,
        "can_edit": service.can_edit(request.user),
    }
    if touches_security(preview.documents):
        context["security_changes"], context["security_error"] = security_changes(preview.documents)
    return render(request, "routes/preview.html", context, status=status)


def apply_or_error(
    request: HttpRequest, proposed: Sequence[Document], reason: str, back: str
) -> HttpResponse | SourceError:
    """Apply and redirect to the changed object; a conflict renders the conflict screen. Refused
    input (400/422) is returned as the SourceError, for the caller to show next to its form."""
    try:
        applied = service.apply(request.user, proposed, reason)
    except service.WriteForbidden as error:
        return forbidden(request, error)
    except SourceError as error:
        if error.status == 409:
            return conflict_screen(request, proposed, reason, back)
        if error.status == 403:  # the cluster's RBAC or admission refused the dashboard's account
            return forbidden(request, error)
        if error.status in (400, 422):
            return error
        return unavailable(request, error)
    if not applied.revisions:
        return redirect(object_url(applied.outcome.objects[0]) + "?unchanged=1")
    return redirect(object_url(applied.outcome.objects[-1]) + f"?revision={applied.revisions[-1].id}")


def conflict_screen(
    request: HttpRequest, proposed: Sequence[Document], reason: str, back: str
) -> HttpResponse:
    """Both versions of every object someone else changed meanwhile, and the diff between them."""
    store = configured.route_store()
    items = []
    for document in proposed:
        theirs = service.current_document(store, *service.key_of(document))
        mine_yaml = diffing.to_yaml(documents.for_export(document))
        theirs_yaml = diffing.to_yaml(documents.for_export(theirs)) if theirs else ""
        items.append(
            {
                "key": service.key_of(document),
                "mine": mine_yaml,
                "theirs": theirs_yaml,
                "theirs_version": documents.resource_version(theirs),
                "mine_version": documents.resource_version(document),
                "diff": diffing.unified_diff(theirs_yaml, mine_yaml, "theirs", "mine"),
                "overwrite": documents.with_resource_version(document, documents.resource_version(theirs)),
            }
        )
    overwrite = diffing.to_yaml([item["overwrite"] for item in items])
    return render(
        request,
        "routes/conflict.html",
        {"items": items, "overwrite_yaml": overwrite, "reason": reason, "back": back},
        status=409,
    )


@require_http_methods(["GET", "POST"])
def service_action(request: HttpRequest, service_name: str, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404(f"unknown action {action!r}")
    if not service.can_edit(request.user):
        return forbidden(request, service.WriteForbidden("changing routes needs the operator role"))
    title, form_class = ACTIONS[action]
    try:
        target = target_for(service_name)
    except SourceError as error:
        return unavailable(request, error)
    form = form_class(request.POST if request.method == "POST" else None, target=target)
    source_errors = None
    if request.method == "POST" and form.is_valid():
        proposed = form.documents()
        reason = form.cleaned_data.get("reason", "")
        back = request.path
        if "preview" in request.POST:
            preview = service.preview(proposed)
            if not preview.errors and not preview.error:
                return render_preview(request, preview, reason, back)
            source_errors = preview
        else:
            result = apply_or_error(request, proposed, reason, back)
            if isinstance(result, HttpResponse):
                return result
            source_errors = result
    return render(
        request,
        "routes/action.html",
        {
            "form": form,
            "title": title,
            "action": action,
            "target": target,
            "source_errors": source_errors,
            "actions": ACTIONS,
        },
        status=422
        if source_errors is not None or (request.method == "POST" and not form.is_valid())
        else 200,
    )


def _yaml_page(request: HttpRequest, initial: str, title: str, back: str) -> HttpResponse:
    if not service.can_edit(request.user):
        return forbidden(request, service.WriteForbidden("changing routes needs the operator role"))
    form = YamlForm(request.POST or None, request.FILES or None, initial={"yaml": initial})
    errors = None
    if request.method == "POST" and form.is_valid():
        try:
            proposed = service.parse_yaml(form.text())
        except SourceError as error:
            errors = error
        else:
            reason = form.cleaned_data.get("reason", "")
            if "preview" in request.POST:
                preview = service.preview(proposed)
                if not preview.errors and not preview.error:
                    return render_preview(request, preview, reason, back)
                errors = preview
            else:
                result = apply_or_error(request, proposed, reason, back)
                if isinstance(result, HttpResponse):
                    return result
                errors = result
    status = 422 if errors is not None or (request.method == "POST" and not form.is_valid()) else 200
    return render(
        request, "routes/yaml.html", {"form": form, "title": title, "source_errors": errors}, status=status
    )


@require_http_methods(["GET", "POST"])
def yaml_editor(request: HttpRequest, plural: str, namespace: str, name: str) -> HttpResponse:
    try:
        document = _object_or_404(plural, namespace, name)
    except SourceError as error:
        return unavailable(request, error)
    return _yaml_page(
        request, diffing.to_yaml(document), f"Edit {PLURALS[plural]} {namespace}/{name}", request.path
    )


@require_http_methods(["GET", "POST"])
def import_yaml(request: HttpRequest) -> HttpResponse:
    return _yaml_page(request, "", "New objects or import (YAML, as kubectl apply -f takes)", request.path)


@require_POST
def apply_proposal(request: HttpRequest) -> HttpResponse:
    """Apply the YAML a preview or the conflict screen carries (the same path as every form)."""
    back = request.POST.get("back") or reverse("routes:list")
    text = request.POST.get("yaml", "")
    try:
        result = apply_or_error(request, service.parse_yaml(text), request.POST.get("reason", ""), back)
    except SourceError as error:
        result = error
    if isinstance(result, HttpResponse):
        return result
    form = YamlForm(initial={"yaml": text})
    return render(
        request,
        "routes/yaml.html",
        {"form": form, "title": "Fix the YAML", "source_errors": result},
        status=422,
    )


@require_POST
def delete_object(request: HttpRequest, plural: str, namespace: str, name: str) -> HttpResponse:
    if plural not in PLURALS:
        raise Http404(plural)
    try:
        revision = service.delete(
            request.user,
            PLURALS[plural],
            namespace,
            name,
            request.POST.get("resource_version", ""),
            request.POST.get("reason", ""),
        )
    except service.WriteForbidden as error:
        return forbidden(request, error)
    except SourceError as error:
        if error.status == 404:
            raise Http404(str(error)) from None
        return render(
            request,
            "routes/unavailable.html",
            {"message": str(error), "errors": error.errors},
            status=error.status or 502,
        )
    return redirect(reverse("routes:revision", args=[revision.id]))


def _yaml_download(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="application/yaml")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def export_all(request: HttpRequest) -> HttpResponse:
    store = configured.route_store()
    namespace = request.GET.get("namespace") or None
    try:
        items = [documents.for_export(d) for plural in PLURALS for d in store.list(plural, namespace)]
    except SourceError as error:
        return unavailable(request, error)
    return _yaml_download(diffing.to_yaml(items), "meshscope-routes.yaml")


@require_GET
def export_object(request: HttpRequest, plural: str, namespace: str, name: str) -> HttpResponse:
    try:
        document = _object_or_404(plural, namespace, name)
    except SourceError as error:
        return unavailable(request, error)
    return _yaml_download(diffing.to_yaml(documents.for_export(document)), f"{name}.yaml")


@require_GET
def revision_list(request: HttpRequest) -> HttpResponse:
    revisions = Revision.objects.all()
    for key in ("kind", "namespace", "name", "source"):
        if request.GET.get(key):
            revisions = revisions.filter(**{key: request.GET[key]})
    return render(
        request,
        "routes/revisions.html",
        {"revisions": revisions[:200], "can_edit": service.can_edit(request.user)},
    )


@require_GET
def revision_detail(request: HttpRequest, revision_id: int) -> HttpResponse:
    revision = get_object_or_404(Revision, id=revision_id)
    diff = diffing.unified_diff(revision.yaml_before, revision.yaml_after, "before", "after")
    return render(
        request,
        "routes/revision.html",
        {"revision": revision, "diff": diff, "can_edit": service.can_edit(request.user)},
    )


@require_POST
def revision_rollback(request: HttpRequest, revision_id: int) -> HttpResponse:
    revision = get_object_or_404(Revision, id=revision_id)
    try:
        restored = service.rollback(
            request.user,
            revision,
            undo=request.POST.get("undo") == "1",
            reason=request.POST.get("reason", ""),
        )
    except service.WriteForbidden as error:
        return forbidden(request, error)
    except SourceError as error:
        return render(
            request,
            "routes/unavailable.html",
            {"message": str(error), "errors": error.errors},
            status=error.status or 502,
        )
    if restored is None:
        return redirect(reverse("routes:revision", args=[revision.id]) + "?unchanged=1")
    return redirect(reverse("routes:revision", args=[restored.id]))
