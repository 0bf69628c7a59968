"""The adapters named by settings (one place to swap in Kubernetes or recorded sources)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from dashboard.sources.envoy import EnvoyAdmin, HttpEnvoyAdmin
from dashboard.sources.http import TokenSource
from dashboard.sources.registry import ControlPlaneRegistry, RegistrySource
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


def trace_source() -> TraceSource:
    return ZipkinTraceSource(settings.MESHCORE_TRACER_URL, settings.SOURCE_TIMEOUT_SECONDS)
