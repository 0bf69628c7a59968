"""Security page and the security forms.

Thin: the page reads the store, the registry and the issued identities and hands them to
`posture.security_posture`; the forms build documents and go through the routes app's one write
path (`dashboard.routes.service`: operator role, dry-run preview, resourceVersion conflicts, audit
log, `routes.changed`), rendered by the routes app's preview, conflict and object pages.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from dashboard.core.errors import json_error
from dashboard.routes import service
from dashboard.routes.views import apply_or_error, forbidden, render_preview, unavailable
from dashboard.security.forms import FORMS
from dashboard.security.posture import security_posture
from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.sources.routestore import SECURITY_PLURALS
from meshcore.model.errors import FieldError

# What the page reads from the store: the security kinds and the DestinationRules (their TLS mode).
PAGE_PLURALS = (*SECURITY_PLURALS, "destinationrules")
# Query parameters that prefill a new object's form (links from workload pages).
PREFILL = ("scope", "namespace", "selector", "name", "mode", "action", "preset")


@require_GET
def security_page(request: HttpRequest) -> HttpResponse:
    store = configured.route_store()
    try:
        documents = [d for plural in PAGE_PLURALS for d in store.list(plural)]
        registry = configured.registry_source().registry()
    except SourceError as error:
        return unavailable(request, error)
    problems = []
    try:
        identities = configured.security_source().workloads()
    except SourceError as error:
        identities = None
        problems.append(f"identities and certificates: {error}")
    posture = security_posture(documents, registry, identities)
    namespaces = posture.namespaces()
    namespace = request.GET.get("namespace", "")
    if namespace:
        if namespace not in namespaces:
            problem = FieldError("namespace", f"no workload in {namespace!r}; known: {', '.join(namespaces)}")
            return json_error(400, "unknown namespace", [problem])
        posture = posture.in_namespace(namespace)
    return render(
        request,
        "security/page.html",
        {
            "namespaces": namespaces,
            "namespace": namespace,
            "posture": posture,
            "problems": problems,
            "can_edit": service.can_edit(request.user),
            "forms": FORMS,
        },
    )


def _form_page(request: HttpRequest, plural: str, existing: dict[str, Any] | None) -> HttpResponse:
    if plural not in FORMS:
        raise Http404(f"no form for {plural!r}")
    if not service.can_edit(request.user):
        return forbidden(
            request, service.WriteForbidden("changing security policies needs the operator role")
        )
    title, form_class = FORMS[plural]
    initial = {key: request.GET[key] for key in PREFILL if key in request.GET and existing is None}
    form = form_class(request.POST if request.method == "POST" else None, existing=existing, initial=initial)
    source_errors = None
    if request.method == "POST" and form.is_valid():
        proposed = form.documents()
        reason = form.cleaned_data.get("reason", "")
        if "preview" in request.POST:
            preview = service.preview(proposed)
            if not preview.errors and not preview.error:
                return render_preview(request, preview, reason, request.path)
            source_errors = preview
        else:
            result = apply_or_error(request, proposed, reason, request.path)
            if isinstance(result, HttpResponse):
                return result
            source_errors = result
    invalid = request.method == "POST" and not form.is_valid()
    return render(
        request,
        "security/form.html",
        {
            "form": form,
            "title": title,
            "plural": plural,
            "existing": existing,
            "source_errors": source_errors,
        },
        status=422 if source_errors is not None or invalid else 200,
    )


@require_http_methods(["GET", "POST"])
def new_object(request: HttpRequest, plural: str) -> HttpResponse:
    return _form_page(request, plural, None)


@require_http_methods(["GET", "POST"])
def edit_object(request: HttpRequest, plural: str, namespace: str, name: str) -> HttpResponse:
    if plural not in FORMS:
        raise Http404(f"no form for {plural!r}")
    try:
        existing = service.current_document(
            configured.route_store(), SECURITY_PLURALS[plural], namespace, name
        )
    except SourceError as error:
        return unavailable(request, error)
    if existing is None:
        raise Http404(f"no {SECURITY_PLURALS[plural]} {namespace}/{name}")
    return _form_page(request, plural, existing)
