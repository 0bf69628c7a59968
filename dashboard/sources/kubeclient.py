"""The one place that builds Kubernetes API clients for the cluster-mode sources.

Resolution is the client's usual one: an explicit kubeconfig file (`MESHSCOPE_KUBECONFIG`, else
`KUBECONFIG`, else `~/.kube/config` when it exists), optionally a context
(`MESHSCOPE_KUBE_CONTEXT`); without any, the in-cluster service account (the dashboard deployed
inside the cluster). Each call returns a new `ApiClient` with its own `Configuration`, never the
client library's global default, so tests and several clusters do not interfere.

Every request through these clients should pass `_request_timeout` (seconds): the client has no
default timeout, and a source must never hang a poll.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from kubernetes import client, config

from dashboard.sources.errors import SourceError


def kubeconfig_path(explicit: str = "") -> str | None:
    """The kubeconfig file to load, or None for the in-cluster service account."""
    for candidate in (explicit, os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]):
        if candidate:
            return candidate
    default = Path("~/.kube/config").expanduser()
    return str(default) if default.exists() else None


def api_client(kubeconfig: str = "", context: str = "") -> client.ApiClient:
    """A fresh ApiClient; SourceError (no status) when no configuration can be loaded."""
    path = kubeconfig_path(kubeconfig)
    configuration = client.Configuration()
    try:
        if path is not None:
            config.load_kube_config(
                config_file=path, context=context or None, client_configuration=configuration
            )
        else:
            config.load_incluster_config(client_configuration=configuration)
    except (config.ConfigException, OSError) as error:
        where = path or "the in-cluster service account"
        raise SourceError(f"cannot load Kubernetes configuration from {where}: {error}") from error
    return client.ApiClient(configuration)


# A client is rebuilt this often, so credentials that rotate (a projected service-account token, an
# exec plugin's token) are picked up again; within the period requests share its connections.
CLIENT_REUSE_S = 300.0


def shared_api_client(kubeconfig: str = "", context: str = "") -> client.ApiClient:
    """An ApiClient shared by the calls of the next CLIENT_REUSE_S seconds (its connection pool is
    thread-safe): building one per request costs a configuration load and a TLS handshake."""
    return _shared(kubeconfig, context, int(time.monotonic() // CLIENT_REUSE_S))


@functools.lru_cache(maxsize=8)
def _shared(kubeconfig: str, context: str, _period: int) -> client.ApiClient:
    return api_client(kubeconfig, context)
