"""BookInfo traffic as Istio's standard metrics would report it, and the map it should give.

Shared by the real-Prometheus tests and the recorder of the pure tests' fixture. Rates are
requests/s; each flow is one series of `istio_requests_total` (see tests.support.prometheus).
"""

from __future__ import annotations

from tests.support.prometheus import Flow

GATEWAY = "istio-ingressgateway"
# rate() window of the tests: ten 1 s scrapes.
WINDOW = "10s"


def both_reporters(source: str, service: str, workload: str, rps: float, **kwargs) -> list[Flow]:
    """A request seen by both sidecars: the caller's (source) and the workload's (destination)."""
    return [
        Flow("source", source, service, workload, rps, **kwargs),
        Flow("destination", source, service, workload, rps, **kwargs),
    ]


def bookinfo_flows() -> list[Flow]:
    """Gateway -> productpage -> details/reviews -> ratings, with one plaintext edge (reviews-v3 ->
    ratings), 5xx and timeouts into reviews-v3, and callers outside the mesh (no sidecar, so only
    the destination reports them): 2 rps into productpage, 1 rps refused by details' RBAC."""
    flows = [
        *both_reporters(GATEWAY, "productpage", "productpage-v1", 10.0, source_namespace="istio-system"),
        *both_reporters("productpage-v1", "details", "details-v1", 10.0, latency_ms=8.0),
        *both_reporters("productpage-v1", "reviews", "reviews-v1", 4.0, latency_ms=30.0),
        *both_reporters("productpage-v1", "reviews", "reviews-v2", 3.0, latency_ms=30.0),
        *both_reporters("productpage-v1", "reviews", "reviews-v3", 2.5, latency_ms=30.0),
        # Failing fast: the 503s land in a lower bucket than the rest, so the latencies of both
        # reviews edges interpolate over a bucket with requests below it.
        *both_reporters("productpage-v1", "reviews", "reviews-v3", 0.5, code="503", latency_ms=3.0),
        # Timed out at the caller: the caller's sidecar answered 504 itself.
        Flow(
            "source", "productpage-v1", "reviews", "reviews-v3", 0.2, code="504", flags="UT", latency_ms=30.0
        ),
        *both_reporters("reviews-v2", "ratings", "ratings-v1", 3.0, latency_ms=3.0),
        *both_reporters("reviews-v3", "ratings", "ratings-v1", 3.0, mtls=False, latency_ms=3.0),
        Flow("destination", "unknown", "productpage", "productpage-v1", 2.0, mtls=False),
        Flow("destination", "unknown", "details", "details-v1", 1.0, code="403", flags="RBAC", mtls=False),
    ]
    return flows


# edge id -> (rps, 5xx %, mTLS) the map must show for bookinfo_flows().
EXPECTED_EDGES = {
    f"gw:{GATEWAY}->svc:productpage": (10.0, 0.0, True),
    "svc:productpage->wl:productpage-v1": (12.0, 0.0, True),
    "unknown->svc:productpage": (2.0, 0.0, False),
    "wl:productpage-v1->svc:details": (10.0, 0.0, True),
    "svc:details->wl:details-v1": (10.0, 0.0, True),
    "unknown->svc:details": (1.0, 0.0, False),
    "wl:productpage-v1->svc:reviews": (10.2, 100.0 * 0.7 / 10.2, True),
    "svc:reviews->wl:reviews-v1": (4.0, 0.0, True),
    "svc:reviews->wl:reviews-v2": (3.0, 0.0, True),
    "svc:reviews->wl:reviews-v3": (3.0, 100.0 * 0.5 / 3.0, True),
    "wl:reviews-v2->svc:ratings": (3.0, 0.0, True),
    "wl:reviews-v3->svc:ratings": (3.0, 0.0, False),
    "svc:ratings->wl:ratings-v1": (6.0, 0.0, True),
}
