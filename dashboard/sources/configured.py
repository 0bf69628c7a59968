"""The adapters named by settings (one place to swap in Kubernetes or recorded sources)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from dashboard.sources.envoy import EnvoyAdmin, HttpEnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.http import TokenSource
from dashboard.sources.jaeger import CLASSIC, JAEGER_V3, V3, ZIPKIN, JaegerTraceSource, detect_trace_kind
from dashboard.sources.prometheus import PrometheusSource
from dashboard.sources.registry import ControlPlaneRegistry, RegistrySource
from dashboard.sources.routestore import ControlPlaneRouteStore, RouteStore
from dashboard.sources.security import ControlPlaneSecurity, SecuritySource
from dashboard.sources.traces import TraceSource, ZipkinTraceSource
from meshcore.apitoken import read_token


def mesh_api_token() -> TokenSource:
    """The resource API's token: the setting, else a reader of the token file (None while absent)."""
    if settings.MESHCORE_API_TOKEN:
        return settings.MESHCORE_API_TOKEN
    path = Path(settings.MESHCORE_API_TOKEN_FILE)

    def from_file() -> str | None:
        return read_token(path) if path.exists() else None

    return from_file


def registry_source() -> RegistrySource:
    if settings.REGISTRY_SOURCE == "controlplane":
        return ControlPlaneRegistry(
            settings.MESHCORE_API_URL, settings.SOURCE_TIMEOUT_SECONDS, token=mesh_api_token()
        )
    raise ValueError(f"unsupported MESHSCOPE_REGISTRY_SOURCE {settings.REGISTRY_SOURCE!r}")


def envoy_admin() -> EnvoyAdmin:
    return HttpEnvoyAdmin(settings.SOURCE_TIMEOUT_SECONDS)


def prometheus_source() -> PrometheusSource:
    """Prometheus at MESHSCOPE_PROMETHEUS_URL; each query waits at most MESHSCOPE_PROMETHEUS_TIMEOUT."""
    return PrometheusSource(settings.PROMETHEUS_URL, settings.PROMETHEUS_TIMEOUT_SECONDS)


# Trace server URL -> what `detect_trace_kind` found there (detected once per process).
_TRACE_KINDS: dict[str, str] = {}


def trace_source(timeout: float | None = None) -> TraceSource:
    """The trace server at MESHSCOPE_TRACES_URL (default: the local tracer) as MESHSCOPE_TRACES_KIND
    says: zipkin, jaeger (its API version detected), or auto (Jaeger or Zipkin detected; a server
    that cannot be reached raises SourceError, and is probed again next time).

    `timeout` (seconds) defaults to MESHSCOPE_SOURCE_TIMEOUT (long reads pass their own).
    """
    timeout = timeout or settings.SOURCE_TIMEOUT_SECONDS
    url, kind = settings.TRACES_URL or settings.MESHCORE_TRACER_URL, settings.TRACES_KIND
    if kind == "zipkin":
        return ZipkinTraceSource(url, timeout)
    if url not in _TRACE_KINDS:
        _TRACE_KINDS[url] = detect_trace_kind(url, timeout)
    detected = _TRACE_KINDS[url]
    if detected == ZIPKIN:
        if kind == "jaeger":
            raise SourceError(f"MESHSCOPE_TRACES_KIND=jaeger but {url} is a Zipkin server")
        return ZipkinTraceSource(url, timeout)
    return JaegerTraceSource(url, timeout, api=V3 if detected == JAEGER_V3 else CLASSIC)


def route_store(timeout: float | None = None) -> RouteStore:
    """Where route edits go: the local control plane's resource API (Istio CRDs in cluster mode).

    `timeout` (seconds) defaults to MESHSCOPE_ROUTE_STORE_TIMEOUT.
    """
    return ControlPlaneRouteStore(
        settings.MESHCORE_API_URL, timeout or settings.ROUTE_STORE_TIMEOUT_SECONDS, token=mesh_api_token()
    )


def security_source() -> SecuritySource:
    return ControlPlaneSecurity(
        settings.MESHCORE_API_URL, settings.SOURCE_TIMEOUT_SECONDS, token=mesh_api_token()
    )
