"""Security page benchmark: the cost of rendering /security/ for a large mesh.

A synthetic mesh of 100 workloads (25 services x 4 versions in 5 namespaces) and 50 security
policies (20 PeerAuthentications at every level, some with portLevelMtls; 25 AuthorizationPolicies
with rules; 5 local rate limits) plus 25 DestinationRules with TLS modes, some contradicting a
STRICT or DISABLE policy (so the KIA0205-0208 warnings are computed and shown). The figure is the
page's own work, median over RUNS renders: resolving every workload's effective mode, policies and
certificate (`security_posture`) and rendering the template, i.e. the view minus the three reads
from the control plane (store, registry, identities), which are served from memory here. The
BookInfo-sized page (4 workloads, 3 policies) is measured in the same run as the baseline.

MESHSCOPE_BENCH_QUICK=1: 5 renders (a smoke run, not a figure).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

from benchmarks.harness import Figure, median  # noqa: E402

QUICK = os.environ.get("MESHSCOPE_BENCH_QUICK") == "1"
RUNS = 5 if QUICK else 30
TARGET_MS = 200.0
NAMESPACES = ("default", "shop", "billing", "search", "auth")
MODES = ("STRICT", "PERMISSIVE", "DISABLE", "UNSET")


def synthetic_mesh(services: int, versions: int, policies: int) -> tuple[Any, list[dict], dict]:
    """(registry, stored documents, identities) of a mesh with `services` x `versions` workloads."""
    from dashboard.sources.registry import GatewayInfo, MeshRegistry, ServiceInfo, WorkloadInfo

    infos, workloads, identities = [], [], {}
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=20)).isoformat()
    for s in range(services):
        namespace = NAMESPACES[s % len(NAMESPACES)]
        name = f"svc{s}"
        infos.append(ServiceInfo(name, namespace))
        for v in range(1, versions + 1):
            workload = f"{name}-v{v}"
            workloads.append(WorkloadInfo(workload, name, name, f"v{v}", namespace))
            identities[workload] = {
                "spiffe_id": f"spiffe://cluster.local/ns/{namespace}/sa/{name}",
                "certificate": {"serial": f"{s:x}{v:x}", "not_after": expires},
            }
    registry = MeshRegistry(tuple(infos), tuple(workloads), GatewayInfo())

    def document(kind: str, name: str, namespace: str, spec: dict, api: str = "security.istio.io/v1") -> dict:
        return {
            "apiVersion": api,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }

    peers = max(1, policies * 2 // 5)
    authorizations = max(1, policies // 2)
    limits = max(0, policies - peers - authorizations)
    documents = [document("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}})]
    for i in range(1, peers):
        service = infos[i % len(infos)]
        spec: dict[str, Any] = {"mtls": {"mode": MODES[i % len(MODES)]}}
        if i % 3:  # workload-level, some with a per-port mode
            spec["selector"] = {"matchLabels": {"app": service.name}}
            if i % 2:
                spec["portLevelMtls"] = {"15000": {"mode": "DISABLE"}}
            documents.append(
                document("PeerAuthentication", f"pa-{service.name}-{i}", service.namespace, spec)
            )
        else:  # namespace-wide (UNSET would be a no-op there)
            spec["mtls"]["mode"] = spec["mtls"]["mode"].replace("UNSET", "PERMISSIVE")
            documents.append(document("PeerAuthentication", f"ns-{i}", service.namespace, spec))
    for i in range(authorizations):
        service = infos[i % len(infos)]
        caller = infos[(i + 1) % len(infos)]
        rule = {
            "from": [{"source": {"principals": [f"cluster.local/ns/{caller.namespace}/sa/{caller.name}"]}}],
            "to": [{"operation": {"methods": ["GET"], "paths": ["/api/*"]}}],
            "when": [{"key": "request.headers[end-user]", "values": ["jason"]}],
        }
        spec = {
            "selector": {"matchLabels": {"app": service.name}},
            "action": "DENY" if i % 4 == 0 else "ALLOW",
        }
        spec["rules"] = [rule]
        documents.append(document("AuthorizationPolicy", f"ap-{i}", service.namespace, spec))
    for i in range(limits):
        service = infos[i % len(infos)]
        from dashboard.security.documents import set_rate_limit

        documents.append(set_rate_limit(None, f"rl-{i}", "istio-system", {"app": service.name}, 10, 10, "1s"))
    for i, service in enumerate(infos):
        tls = {"mode": "DISABLE" if i % 3 == 0 else "ISTIO_MUTUAL"}
        documents.append(
            document(
                "DestinationRule",
                service.name,
                service.namespace,
                {"host": service.name, "trafficPolicy": {"tls": tls}},
                "networking.istio.io/v1",
            )
        )
    return registry, documents, identities


def render_times(registry: Any, documents: list[dict], identities: dict) -> tuple[list[float], Any]:
    """ms per render (posture + template), and the last posture (to check what was rendered)."""
    from django.contrib.auth.models import User
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    from dashboard.security.forms import FORMS
    from dashboard.security.posture import security_posture

    request = RequestFactory().get("/security/")
    request.user = User(username="bench", is_superuser=True)
    times, posture = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        posture = security_posture(documents, registry, identities)
        html = render_to_string(
            "security/page.html",
            {"posture": posture, "problems": [], "can_edit": True, "forms": FORMS},
            request=request,
        )
        times.append((time.perf_counter() - started) * 1000)
        assert html.count("data-workload=") == len(registry.workloads)
    return times, posture


def run() -> list[Figure]:
    import django

    django.setup()
    large = synthetic_mesh(25, 4, 50)
    small = synthetic_mesh(4, 1, 3)
    render_times(*small)  # warm the template cache and imports
    large_ms, posture = render_times(*large)
    small_ms, _ = render_times(*small)
    policies = (
        len(posture.peer_authentications) + len(posture.authorization_policies) + len(posture.rate_limits)
    )
    value = median(large_ms)
    note = (
        f"{len(posture.workloads)} workloads, {policies} policies, {len(posture.warnings)} warnings shown; "
        f"median of {RUNS}; sources in memory; load {os.getloadavg()[0]:.1f}"
    )
    return [
        Figure(
            "page render, 100 workloads x 50 policies",
            value,
            "ms",
            f"<= {TARGET_MS:g} ms",
            value <= TARGET_MS,
            note,
        ),
        Figure(
            "page render, 4 workloads x 3 policies (baseline)",
            median(small_ms),
            "ms",
            "",
            None,
            f"median of {RUNS}",
        ),
        Figure("large / baseline", value / median(small_ms), "x", "", None, "same run"),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure)
