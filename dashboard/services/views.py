"""Service and workload pages, and the metrics API."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.core.errors import json_error
from dashboard.routes.service import can_edit
from dashboard.services.inventory import registry_listing
from dashboard.services.metrics import RATE_WINDOW_S, known_service, service_series, workload_series
from dashboard.services.security import workload_security
from dashboard.services.sidecar import sidecar_view
from dashboard.services.tracelinks import proxy_trace_links, service_trace_links
from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.topology.params import BadParameter, int_param
from dashboard.topology.snapshots import history, latest_snapshot


def _latest_map() -> dict:
    snapshot = latest_snapshot()
    return snapshot.data if snapshot else {"nodes": [], "edges": []}


def _documents(minutes: int, max_points: int) -> list[dict]:
    return [s.data for s in history(minutes, max_points)]


@require_GET
def service_list(request: HttpRequest) -> HttpResponse:
    current = _latest_map()
    services = sorted((n for n in current["nodes"] if n["kind"] == "service"), key=lambda n: n["name"])
    workloads = sorted((n for n in current["nodes"] if n["kind"] == "workload"), key=lambda n: n["name"])
    return render(request, "services/list.html", {"services": services, "workloads": workloads})


@require_GET
def service_page(request: HttpRequest, name: str) -> HttpResponse:
    current = _latest_map()
    if not known_service([current], name):
        raise Http404(f"unknown service {name!r}")
    workloads = [n for n in current["nodes"] if n["kind"] == "workload" and n.get("service") == name]
    node = next(n for n in current["nodes"] if n["id"] == f"svc:{name}")
    links = service_trace_links(name, node.get("namespace") or "default")
    return render(
        request, "services/service.html", {"name": name, "workloads": workloads, "trace_links": links}
    )


@require_GET
def workload_page(request: HttpRequest, name: str) -> HttpResponse:
    current = _latest_map()
    node = next((n for n in current["nodes"] if n["id"] == f"wl:{name}"), None)
    if node is None:
        raise Http404(f"unknown workload {name!r}")
    context = {
        "name": name,
        "node": node,
        "security": _security_of(name),
        "can_edit": can_edit(request.user),
        "trace_links": _proxy_links(name, node.get("service") or name, node.get("namespace") or "default"),
    }
    return render(request, "services/workload.html", context)


def _proxy_links(name: str, service: str, namespace: str) -> list[dict[str, str]]:
    """Trace links of workload `name`'s sidecar; the service's when the registry cannot say its node id."""
    try:
        workload = configured.registry_source().registry().workload(name)
    except SourceError:
        workload = None
    return proxy_trace_links(service, namespace, workload.node_id if workload else "")


def _security_of(name: str) -> dict:
    """The workload's identity, certificate and policies; the registry failing is an error shown."""
    try:
        address, _, _ = _admin_address_and_status(name)
    except SourceError as error:
        return {"identity": "", "certificate": None, "policy": None, "errors": [str(error)]}
    if address is None:
        return {
            "identity": "",
            "certificate": None,
            "policy": None,
            "errors": [f"{name} is not in the registry"],
        }
    return workload_security(configured.envoy_admin(), address, configured.security_source(), name)


def _admin_address_and_status(name: str):
    source = configured.registry_source()
    registry = source.registry()
    workload = registry.workload(name)
    if workload is not None:
        address = workload.inspect_address
    elif registry.gateway is not None and registry.gateway.name == name:
        address = registry.gateway.inspect_address
    else:
        return None, None, registry
    try:
        status = next((s for s in source.status() if s.name == name), None)
    except SourceError:
        status = None
    return address, status, registry


@require_GET
def sidecar_page(request: HttpRequest, name: str) -> HttpResponse:
    try:
        address, status, registry = _admin_address_and_status(name)
    except SourceError as error:
        return render(
            request, "services/sidecar.html", {"name": name, "view": None, "error": str(error)}, status=200
        )
    if address is None:
        raise Http404(f"unknown sidecar {name!r}")
    view = sidecar_view(configured.envoy_admin(), address, status, registry)
    workload = registry.workload(name)
    if workload is not None:
        links = proxy_trace_links(workload.service, workload.namespace, workload.node_id)
    else:  # the gateway
        links = proxy_trace_links(registry.gateway.name, registry.gateway.namespace, registry.gateway.node_id)
    context = {"name": name, "view": view, "error": None, "trace_links": links}
    return render(request, "services/sidecar.html", context)


def _window(request: HttpRequest) -> tuple[int, int, int]:
    minutes = int_param(request.GET, "minutes", 10, 1, settings.SNAPSHOT_RETENTION_MINUTES)
    max_points = int_param(request.GET, "max_points", 300, 1, 3600)
    window_s = int_param(request.GET, "window", int(RATE_WINDOW_S), 0, 300)
    return minutes, max_points, window_s


@require_GET
def api_service_metrics(request: HttpRequest, name: str) -> JsonResponse:
    """?minutes=N (1..retention, default 10), ?max_points=M, ?window=S (rate window in seconds,
    0..300, default 10; 0 gives each poll's own rates): per-version golden-signal series."""
    try:
        minutes, max_points, window_s = _window(request)
    except BadParameter as error:
        return json_error(400, str(error))
    documents = _documents(minutes, max_points)
    if not known_service(documents or [_latest_map()], name):
        return json_error(404, f"unknown service {name!r}")
    return JsonResponse({"minutes": minutes, **service_series(documents, name, window_s or None)})


@require_GET
def api_workload_metrics(request: HttpRequest, name: str) -> JsonResponse:
    """The workload's series; parameters as for a service."""
    try:
        minutes, max_points, window_s = _window(request)
    except BadParameter as error:
        return json_error(400, str(error))
    documents = _documents(minutes, max_points)
    if not any(n["id"] == f"wl:{name}" for d in documents or [_latest_map()] for n in d.get("nodes", [])):
        return json_error(404, f"unknown workload {name!r}")
    return JsonResponse({"minutes": minutes, **workload_series(documents, name, window_s or None)})


@require_GET
def api_registry(request: HttpRequest) -> JsonResponse:
    """The mesh's services and workloads as the configured registry source gives them now."""
    try:
        registry = configured.registry_source().registry()
    except SourceError as error:
        return json_error(502, f"registry unavailable: {error}")
    return JsonResponse(registry_listing(registry))
