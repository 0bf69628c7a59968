"""The mesh registry read from the Kubernetes API: namespaces, Services, Pods and Endpoints.

`KubernetesRegistry` implements `RegistrySource` the way an informer does, without a thread: the
first call lists each kind (paged) and stores the records and the list's resourceVersion in shared
state; every later call runs one short *watch step* per kind from the stored resourceVersion,
applies the events and stores the result. Several Celery workers therefore share one view (in
Redis, `PollState`), and a poll with no change costs four near-empty watch responses instead of a
list of the whole cluster. A watch the server refuses with 410 Gone (its resourceVersion was
compacted away) re-lists that kind; an API server that cannot be reached, or refuses (401/403),
raises SourceError, so the poll marks the registry stale and keeps the last one.

A watch step reads events until the stream has been idle for `watch_idle` seconds (the server sends
everything after the resourceVersion at once) or `watch_max` seconds have passed; an event that
arrives later is simply read by the next step, since only fully applied events advance the stored
resourceVersion. Every request carries `_request_timeout`.

Thread safety: an instance holds no mutable state of its own (the view is in `state`); concurrent
steps of two processes may both apply the same events, and whichever saves last wins with a view
that is consistent at its own resourceVersion.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import urllib3
from kubernetes import client
from kubernetes.watch.watch import iter_resp_lines

from dashboard.sources.errors import SourceError
from dashboard.sources.kubeparse import PARSERS, build_registry, object_key, parse_object
from dashboard.sources.registry import MeshRegistry, NodeStatus

VIEW_KEY = "kube_registry_view"
SYNCED_AT_KEY = "kube_registry_synced_at"
KINDS = tuple(PARSERS)  # namespaces, services, pods, endpoints
LIST_PAGE = 500  # objects per list page: bounded answers on a large cluster


class ViewState(Protocol):
    """Where the synced view lives (`dashboard.topology.state.PollState` satisfies it)."""

    def load(self, key: str) -> Any | None: ...

    def save(self, key: str, value: Any) -> None: ...


class Gone(Exception):
    """The server no longer has the events after our resourceVersion (HTTP 410): list again."""


def _lister(core: client.CoreV1Api, kind: str) -> Callable[..., Any]:
    return {
        "namespaces": core.list_namespace,
        "services": core.list_service_for_all_namespaces,
        "pods": core.list_pod_for_all_namespaces,
        "endpoints": core.list_endpoints_for_all_namespaces,
    }[kind]


def _source_error(kind: str, error: Exception) -> SourceError:
    if isinstance(error, client.ApiException):
        reason = error.reason or ""
        return SourceError(
            f"Kubernetes API: {kind}: HTTP {error.status} {reason}".strip(), status=error.status
        )
    return SourceError(f"Kubernetes API unreachable ({kind}): {error}")


def _is_idle(error: Exception) -> bool:
    """True for a read that timed out (the watch stream was quiet), not a failed connection."""
    if isinstance(error, urllib3.exceptions.MaxRetryError):
        error = error.reason or error
    return isinstance(error, urllib3.exceptions.ReadTimeoutError | TimeoutError)


def apply_event(records: dict[str, Any], kind: str, event: dict[str, Any]) -> str:
    """Apply one watch event to `records` (key -> record); returns the event's resourceVersion.

    Raises Gone for an ERROR event with code 410, SourceError for any other ERROR.
    """
    kind_of_event = event.get("type")
    obj = event.get("object") or {}
    if kind_of_event == "ERROR":
        if obj.get("code") == 410:
            raise Gone(obj.get("message", "resource version too old"))
        raise SourceError(f"Kubernetes API: {kind} watch: {obj.get('message', obj)}", status=obj.get("code"))
    version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    if kind_of_event == "BOOKMARK":
        return version
    key = object_key(obj)
    record = parse_object(kind, obj) if kind_of_event != "DELETED" else None
    if record is None:
        records.pop(key, None)
    else:
        records[key] = record
    return version


class KubernetesRegistry:
    """`RegistrySource` over the Kubernetes API. `api` is a `kubernetes.client.ApiClient`, or a
    callable building one at first use (dashboard.sources.kubeclient.api_client: a configuration
    that cannot be loaded is then a SourceError of the registry, shown as a stale source).

    `timeout` (seconds) bounds connecting and each watch request; `list_timeout` each list page.
    `namespaces` limits the registry (default: every namespace but the system ones).
    `fresh_for` (seconds): a view synced that recently is returned without a watch step (pages and
    APIs between two polls read the poller's view instead of each running a step).
    """

    def __init__(
        self,
        api: client.ApiClient | Callable[[], client.ApiClient],
        state: ViewState,
        timeout: float = 5.0,
        list_timeout: float = 30.0,
        watch_idle: float = 0.25,
        watch_max: float = 2.0,
        namespaces: Iterable[str] = (),
        fresh_for: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self._core: client.CoreV1Api | None = None
        self.state = state
        self.timeout = timeout
        self.list_timeout = list_timeout
        self.watch_idle = watch_idle
        self.watch_max = watch_max
        self.namespaces = tuple(namespaces)
        self.fresh_for = fresh_for
        self.clock = clock
        self.last_sync: dict[str, Any] = {}  # what the last sync did, per kind (benchmarks, tests)

    @property
    def core(self) -> client.CoreV1Api:
        if self._core is None:
            api = self._api if isinstance(self._api, client.ApiClient) else self._api()
            self._core = client.CoreV1Api(api)
        return self._core

    # -- RegistrySource -------------------------------------------------------------------------

    def registry(self) -> MeshRegistry:
        """The mesh registry as of now; SourceError when the API server fails to answer."""
        view = self.sync()
        return build_registry({kind: view[kind]["items"] for kind in KINDS}, self.namespaces)

    def status(self) -> tuple[NodeStatus, ...]:
        """No xDS status in cluster mode: istiod's sync state is not part of the Kubernetes API."""
        return ()

    def traffic(self) -> dict[str, Any] | None:
        return None

    # -- sync -----------------------------------------------------------------------------------

    def sync(self) -> dict[str, Any]:
        """Bring the stored view up to date and return it: `{kind: {"resource_version", "items":
        {key: record}}}`. The view is written back only when it changed (it is the whole cluster's
        inventory); the sync time is a separate small key."""
        view = self.state.load(VIEW_KEY) or {}
        now = self.clock()
        if view and self.fresh_for > 0 and now - (self.state.load(SYNCED_AT_KEY) or 0) < self.fresh_for:
            self.last_sync = {kind: "fresh" for kind in KINDS}
            return view
        self.core  # noqa: B018 -- build the client here, not in one thread per kind
        with ThreadPoolExecutor(max_workers=len(KINDS)) as pool:
            results = dict(
                zip(KINDS, pool.map(lambda k: self._sync_kind(k, view.get(k)), KINDS), strict=True)
            )
        view = {kind: entry for kind, (entry, _) in results.items()}
        self.last_sync = {kind: outcome for kind, (_, outcome) in results.items()}
        if any(outcome != "unchanged" for outcome in self.last_sync.values()):
            self.state.save(VIEW_KEY, view)
        if self.fresh_for > 0:
            self.state.save(SYNCED_AT_KEY, now)
        return view

    def _sync_kind(self, kind: str, entry: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
        """(the kind's new entry, what happened: listed | relisted | watched | unchanged)."""
        if not entry or not entry.get("resource_version"):
            return self._list(kind), "listed"
        try:
            return self._watch_step(kind, entry)
        except Gone:
            return self._list(kind), "relisted"

    def _list(self, kind: str) -> dict[str, Any]:
        items: dict[str, Any] = {}
        token = None
        lister = _lister(self.core, kind)
        while True:
            try:
                response = lister(
                    limit=LIST_PAGE,
                    _continue=token,
                    _preload_content=False,
                    _request_timeout=(self.timeout, self.list_timeout),
                )
                page = json.loads(response.data)
            except client.ApiException as error:
                if error.status == 410 and token:  # the continue token expired: start over
                    items, token = {}, None
                    continue
                raise _source_error(kind, error) from None
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                raise _source_error(kind, error) from None
            for obj in page.get("items") or []:
                record = parse_object(kind, obj)
                if record is not None:
                    items[object_key(obj)] = record
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                return {"resource_version": str(metadata.get("resourceVersion") or ""), "items": items}

    def _watch_step(self, kind: str, entry: dict[str, Any]) -> tuple[dict[str, Any], str]:
        version = entry["resource_version"]
        items = entry["items"]
        applied = 0
        deadline = time.monotonic() + self.watch_max
        try:
            response = _lister(self.core, kind)(
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, math.ceil(self.watch_max)),
                _preload_content=False,
                _request_timeout=(self.timeout, self.watch_idle),
            )
        except client.ApiException as error:
            if error.status == 410:
                raise Gone(str(error.reason)) from None
            raise _source_error(kind, error) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            if _is_idle(error):  # the server took longer than watch_idle to start: next step
                return entry, "unchanged"
            raise _source_error(kind, error) from None
        try:
            for line in iter_resp_lines(response):
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise SourceError(f"Kubernetes API: {kind} watch: invalid JSON event") from None
                if items is entry["items"]:
                    items = dict(items)  # copy on first write: the caller's entry stays as it was
                version = apply_event(items, kind, event) or version
                applied += 1
                if time.monotonic() > deadline:
                    break
        except (urllib3.exceptions.HTTPError, OSError) as error:
            if not _is_idle(error):
                raise _source_error(kind, error) from None
        finally:
            response.close()
        if not applied:
            return entry, "unchanged"
        return {"resource_version": version, "items": items}, "watched"
