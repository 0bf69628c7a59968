"""Adapters to the systems the dashboard reads, each behind a small Protocol.

registry  services, workloads, sidecar admin addresses, sidecar state (local control plane now,
          Kubernetes later)
envoy     an Envoy's admin API (/stats, /clusters, /server_info, /config_dump, /listeners)
traces    the Zipkin v2 query API (jaeger: Jaeger's /api/v3 or classic /api, same Protocol)
prometheus  PromQL instant queries over Istio's standard metrics (the map in cluster mode)
routestore  Istio routing objects: read, write with resourceVersion, dry run, sync state

Every call has a timeout and raises SourceError on failure; callers mark the data stale.
`configured_*` build the adapters named by settings.
"""

from __future__ import annotations

from dashboard.sources.errors import SourceError

__all__ = ["SourceError"]
