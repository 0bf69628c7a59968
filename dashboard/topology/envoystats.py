"""Parse Envoy admin `/stats?format=json` answers into per-cluster counter samples.

Pure functions, no I/O. Cluster names follow Istio: `outbound|<port>|<subset>|<host>` and
`inbound|<port>||`. Latency quantiles come from the histogram's `interval` values, i.e. over
Envoy's last stats flush window (5 s by default), in milliseconds; counters are read live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Counter stat suffix -> short name used in samples.
COUNTERS = {
    "upstream_rq_total": "total",
    "upstream_rq_2xx": "2xx",
    "upstream_rq_3xx": "3xx",
    "upstream_rq_4xx": "4xx",
    "upstream_rq_5xx": "5xx",
    "upstream_rq_timeout": "timeout",
    "upstream_rq_retry": "retry",
    "upstream_cx_connect_fail": "connect_fail",
    # Answers of RBAC (403) and of the local rate limit (429), and mTLS connections opened.
    "upstream_rq_403": "denied",
    "upstream_rq_429": "rate_limited",
    "ssl.handshake": "tls_handshakes",
}
# Inbound HCM stats of a sidecar's mTLS and plaintext filter chains (see the control plane's
# builders/security.py): `http.inbound_0.0.0.0_9080_mtls.downstream_rq_total` -> "mtls".
_INBOUND_STAT = re.compile(
    r"^http\.inbound_.*_(?P<chain>mtls|plaintext)\.(?P<stat>downstream_rq_total|rbac\.(allow|deny)_\.denied)$"
)
HISTOGRAM = "upstream_rq_time"
QUANTILES = {50.0: "p50", 95.0: "p95", 99.0: "p99"}
# Sub-scopes Envoy adds under a cluster (`cluster.X.external.upstream_rq_2xx`): duplicates, skipped.
_SUBSCOPE_ENDINGS = (".external", ".internal", ".canary")


@dataclass(frozen=True)
class ClusterName:
    direction: str  # "outbound" | "inbound"
    port: int
    subset: str
    host: str  # service FQDN for outbound, "" for inbound

    @classmethod
    def parse(cls, name: str) -> ClusterName | None:
        parts = name.split("|")
        if len(parts) != 4 or parts[0] not in ("outbound", "inbound"):
            return None
        try:
            port = int(parts[1])
        except ValueError:
            return None
        return cls(direction=parts[0], port=port, subset=parts[2], host=parts[3])


@dataclass
class ClusterSample:
    """Counters (cumulative since the Envoy started) and interval latency quantiles of one cluster."""

    counters: dict[str, int] = field(default_factory=dict)
    quantiles: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"c": self.counters, "q": self.quantiles}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterSample:
        return cls(counters=dict(data.get("c", {})), quantiles=dict(data.get("q", {})))


@dataclass
class NodeSample:
    """Everything read from one Envoy in one poll; `taken_at` is epoch seconds of the read.
    `inbound` holds the sidecar's inbound request counters (see `parse_inbound_counters`)."""

    taken_at: float
    clusters: dict[str, ClusterSample]
    inbound: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "t": self.taken_at,
            "clusters": {k: v.to_dict() for k, v in self.clusters.items()},
        }
        if self.inbound:
            data["i"] = dict(self.inbound)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeSample:
        return cls(
            taken_at=float(data["t"]),
            clusters={k: ClusterSample.from_dict(v) for k, v in data.get("clusters", {}).items()},
            inbound=dict(data.get("i", {})),
        )


def _split(stat_name: str, suffixes: dict[str, str] | set[str]) -> tuple[str, str] | None:
    """`cluster.<cluster>.<suffix>` -> (cluster, suffix) for Istio-named clusters, else None."""
    if not stat_name.startswith("cluster."):
        return None
    head, dot, suffix = stat_name[len("cluster.") :].rpartition(".")
    if suffix == "handshake" and head.endswith(".ssl"):
        head, suffix = head[: -len(".ssl")], "ssl.handshake"
    if not dot or suffix not in suffixes:
        return None
    parsed = ClusterName.parse(head)
    if parsed is None:
        return None
    # Envoy repeats some stats under sub-scopes (`cluster.X.external.upstream_rq_2xx`); a service
    # host never looks like that, so these are duplicates.
    host = parsed.host
    if host.startswith(".") or host.endswith(_SUBSCOPE_ENDINGS) or ".zone." in host:
        return None
    return head, suffix


def parse_stats(document: dict[str, Any]) -> dict[str, ClusterSample]:
    """Samples per Istio-named cluster from one `/stats?format=json` answer."""
    samples: dict[str, ClusterSample] = {}
    for entry in document.get("stats", []):
        if "name" in entry:
            split = _split(entry["name"], COUNTERS)
            if split is None:
                continue
            cluster, suffix = split
            value = entry.get("value", 0)
            samples.setdefault(cluster, ClusterSample()).counters[COUNTERS[suffix]] = int(value or 0)
        elif "histograms" in entry:
            histograms = entry["histograms"]
            supported = [float(q) for q in histograms.get("supported_quantiles", [])]
            for histogram in histograms.get("computed_quantiles", []):
                split = _split(histogram.get("name", ""), {HISTOGRAM})
                if split is None:
                    continue
                cluster = split[0]
                values = histogram.get("values", [])
                quantiles: dict[str, float | None] = {}
                for quantile, key in QUANTILES.items():
                    if quantile in supported and supported.index(quantile) < len(values):
                        quantiles[key] = values[supported.index(quantile)].get("interval")
                samples.setdefault(cluster, ClusterSample()).quantiles = quantiles
    return samples


def parse_inbound_counters(document: dict[str, Any]) -> dict[str, int]:
    """A sidecar's inbound counters, summed over its ports: requests that arrived over mTLS
    (``mtls``) and in plaintext (``plaintext``), and requests RBAC denied (``rbac_denied``)."""
    counters: dict[str, int] = {}
    for entry in document.get("stats", []):
        match = _INBOUND_STAT.match(entry.get("name", ""))
        if match is None:
            continue
        key = match["chain"] if match["stat"] == "downstream_rq_total" else "rbac_denied"
        counters[key] = counters.get(key, 0) + int(entry.get("value") or 0)
    return counters


def counter_deltas(previous: ClusterSample | None, current: ClusterSample, reset: bool) -> dict[str, int]:
    """Increments since `previous`. With `reset` (the Envoy restarted) or no previous sample of this
    cluster (it appeared since the last poll), the current values are the increments."""
    if previous is None or reset:
        return dict(current.counters)
    return {
        name: value - previous.counters.get(name, 0) if value >= previous.counters.get(name, 0) else value
        for name, value in current.counters.items()
    }


def node_was_reset(previous: NodeSample | None, current: NodeSample) -> bool:
    """True when any counter of any cluster went down: the Envoy restarted and every counter of it
    started again from 0 (so all its current values are increments, not just the ones that fell)."""
    if previous is None:
        return False
    for name, sample in current.clusters.items():
        before = previous.clusters.get(name)
        if before is None:
            continue
        if any(value < before.counters.get(key, 0) for key, value in sample.counters.items()):
            return True
    # Clusters that vanished with counters also indicate a restart (usedonly drops unused ones).
    return any(
        name not in current.clusters and sample.counters.get("total", 0) > 0
        for name, sample in previous.clusters.items()
    )
