"""The adapters named by settings (one place to swap in Kubernetes or recorded sources)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from dashboard.sources.envoy import EnvoyAdmin, HttpEnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.http import TokenSource
from dashboard.sources.jaeger import CLASSIC, JAEGER_V3, V3, ZIPKIN, JaegerTraceSource, detect_trace_kind
from dashboard.sources.prometheus import PrometheusSource
from dashboard.sources.registry import ControlPlaneRegistry, MeshRegistry, RegistrySource
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
    if settings.REGISTRY_SOURCE == "kubernetes":
        from dashboard.sources.kubeclient import shared_api_client
        from dashboard.sources.kubernetes import KubernetesRegistry
        from dashboard.topology.state import redis_poll_state

        return KubernetesRegistry(
            lambda: shared_api_client(str(settings.KUBECONFIG or ""), settings.KUBE_CONTEXT),
            redis_poll_state(),
            timeout=settings.SOURCE_TIMEOUT_SECONDS,
            list_timeout=settings.KUBE_LIST_TIMEOUT_SECONDS,
            watch_idle=settings.KUBE_WATCH_IDLE_SECONDS,
            namespaces=settings.KUBE_NAMESPACES,
            # Pages between two polls read the poller's view rather than each running a watch step.
            fresh_for=settings.TOPOLOGY_POLL_INTERVAL_SECONDS / 2,
        )
    raise ValueError(f"unsupported MESHSCOPE_REGISTRY_SOURCE {settings.REGISTRY_SOURCE!r}")


def envoy_admin() -> EnvoyAdmin:
    """The admin API reader; in cluster mode through the API server's pod proxy (the sidecar
    inspector: nothing polls Envoys there, telemetry comes from Prometheus)."""
    if settings.CLUSTER_MODE == "kubernetes":
        from dashboard.sources.kubeenvoy import PodProxyEnvoyAdmin

        return PodProxyEnvoyAdmin(
            lambda: kube_api_client(settings.KUBECONFIG, settings.KUBE_CONTEXT),
            settings.SOURCE_TIMEOUT_SECONDS,
        )
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
    """Where route edits go: the local control plane's resource API, or Istio's CRDs through the
    Kubernetes API when MESHSCOPE_CLUSTER=kubernetes (checked against the registry source).

    `timeout` (seconds) defaults to MESHSCOPE_ROUTE_STORE_TIMEOUT.
    """
    timeout = timeout or settings.ROUTE_STORE_TIMEOUT_SECONDS
    if settings.CLUSTER_MODE == "kubernetes":
        from dashboard.sources.kubeclient import shared_api_client
        from dashboard.sources.kuberoutes import KubernetesRouteStore

        api = shared_api_client(str(settings.KUBECONFIG or ""), settings.KUBE_CONTEXT)
        return KubernetesRouteStore(api, timeout, registry=registry_or_none)
    return ControlPlaneRouteStore(settings.MESHCORE_API_URL, timeout, token=mesh_api_token())


def registry_or_none() -> MeshRegistry | None:
    """The registry, or None while its source cannot answer."""
    try:
        return registry_source().registry()
    except SourceError:
        return None


def security_source() -> SecuritySource:
    if settings.CLUSTER_MODE == "kubernetes":
        from dashboard.sources.kubesecurity import KubernetesSecurity

        return KubernetesSecurity(route_store(settings.SOURCE_TIMEOUT_SECONDS), registry_or_none)
    return ControlPlaneSecurity(
        settings.MESHCORE_API_URL, settings.SOURCE_TIMEOUT_SECONDS, token=mesh_api_token()
    )
