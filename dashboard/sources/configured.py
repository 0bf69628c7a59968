"""The adapters named by settings (one place to swap in Kubernetes or recorded sources)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.conf import settings

from dashboard.sources.envoy import EnvoyAdmin, HttpEnvoyAdmin
from dashboard.sources.http import TokenSource
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


@lru_cache(maxsize=4)
def kube_api_client(kubeconfig: str, context: str):
    """One Kubernetes ApiClient per process and configuration (its connections are reused);
    SourceError, not cached, when the configuration cannot be loaded."""
    from dashboard.sources.kubeclient import api_client

    return api_client(kubeconfig, context)


def registry_source() -> RegistrySource:
    if settings.REGISTRY_SOURCE == "controlplane":
        return ControlPlaneRegistry(
            settings.MESHCORE_API_URL, settings.SOURCE_TIMEOUT_SECONDS, token=mesh_api_token()
        )
    if settings.REGISTRY_SOURCE == "kubernetes":
        from dashboard.sources.kubernetes import KubernetesRegistry
        from dashboard.topology.state import redis_poll_state

        return KubernetesRegistry(
            lambda: kube_api_client(settings.KUBECONFIG, settings.KUBE_CONTEXT),
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


def trace_source(timeout: float | None = None) -> TraceSource:
    """`timeout` (seconds) defaults to MESHSCOPE_SOURCE_TIMEOUT (long reads pass their own)."""
    return ZipkinTraceSource(settings.MESHCORE_TRACER_URL, timeout or settings.SOURCE_TIMEOUT_SECONDS)


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
