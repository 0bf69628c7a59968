"""Envoy's admin API through the Kubernetes API server's pod proxy, as Kiali reads sidecars.

Addresses are `kube:<namespace>/<pod>` (the registry's `inspect_address` in cluster mode); each
read is `GET /api/v1/namespaces/<ns>/pods/<pod>:15000/proxy/<endpoint>?<query>` on the API
client's own connection and credentials (the request `connect_get_namespaced_pod_proxy_with_path`
makes, with the admin endpoint's query string, which that generated method cannot pass). The
caller needs `get` on `pods/proxy` (deploy/kubernetes/clusterrole.yaml). Thread-safe: the API
client's connection pool is.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import urllib3
from kubernetes import client

from dashboard.sources.envoy import HttpEnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.registry import POD_PROXY_SCHEME

ADMIN_PORT = 15000  # istio-proxy's admin listener (localhost-only inside the pod)
PROXY_PATH = "/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}"


def pod_of(address: str) -> tuple[str, str]:
    """(namespace, pod) of a `kube:<namespace>/<pod>` address; SourceError for any other."""
    namespace, _, name = address.removeprefix(POD_PROXY_SCHEME).partition("/")
    if not address.startswith(POD_PROXY_SCHEME) or not namespace or not name or "/" in name:
        raise SourceError(f"not a pod address (kube:<namespace>/<pod>): {address!r}")
    return namespace, name


def _status_message(body: bytes) -> str:
    """The message of the API server's `Status` answer, else the start of whatever answered."""
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace").strip()


class PodProxyEnvoyAdmin(HttpEnvoyAdmin):
    """`EnvoyAdmin` whose requests go through the API server. `api` is a
    `kubernetes.client.ApiClient` or a callable building one at first use; `timeout` in seconds.
    Addresses that are not `kube:` ones are read directly, as HttpEnvoyAdmin does."""

    def __init__(self, api, timeout: float) -> None:
        super().__init__(timeout)
        self._api = api

    @property
    def api(self) -> client.ApiClient:
        if not isinstance(self._api, client.ApiClient):
            self._api = self._api()
        return self._api

    def _bytes(self, address: str, path: str, timeout: float) -> bytes:
        if not address.startswith(POD_PROXY_SCHEME):  # an admin API the registry gave directly
            return super()._bytes(address, path, timeout)
        namespace, pod = pod_of(address)
        endpoint, _, query = path.lstrip("/").partition("?")
        method, url, headers, _, _ = self.api.param_serialize(
            method="GET",
            resource_path=PROXY_PATH,
            path_params={"namespace": namespace, "name": f"{pod}:{ADMIN_PORT}", "path": endpoint},
            # keep_blank_values: Envoy's flags such as `usedonly` have no value.
            query_params=parse_qsl(query, keep_blank_values=True),
            header_params={"Accept": "*/*"},
            auth_settings=["BearerToken"],
        )
        where = f"{address} /{endpoint}"
        try:
            response = self.api.call_api(method, url, header_params=headers, _request_timeout=timeout)
            response.read()
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise SourceError(f"GET {where} through the API server: {error}") from None
        if not 200 <= response.status < 300:
            detail = _status_message(response.data)
            raise SourceError(
                f"GET {where} through the API server: HTTP {response.status} {detail}", status=response.status
            )
        return response.data
