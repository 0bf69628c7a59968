"""The security page's pure module: effective mTLS mode per workload and port, with known answers.

Each case is a set of Istio objects on BookInfo and the mode Istio would enforce on every
workload (worked out by hand from Istio's precedence: workload selector > namespace > mesh-wide,
portLevelMtls over the policy's own mode, UNSET inheriting, PERMISSIVE by default).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from dashboard.security.posture import WorkloadChange, proposed_changes, security_posture
from dashboard.sources.registry import GatewayInfo, MeshRegistry, ServiceInfo, WorkloadInfo
from tests.support.samples import sample

BOOKINFO = MeshRegistry(
    services=tuple(ServiceInfo(name) for name in ("productpage", "details", "reviews", "ratings")),
    workloads=(
        WorkloadInfo("productpage-v1", "productpage", "productpage", "v1"),
        WorkloadInfo("details-v1", "details", "details", "v1"),
        WorkloadInfo("reviews-v1", "reviews", "reviews", "v1"),
        WorkloadInfo("reviews-v2", "reviews", "reviews", "v2"),
        WorkloadInfo("reviews-v3", "reviews", "reviews", "v3"),
        WorkloadInfo("ratings-v1", "ratings", "ratings", "v1"),
    ),
    gateway=GatewayInfo(),
)
NAMES = [w.name for w in BOOKINFO.workloads]


def peer(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def mesh_wide(mode: str) -> dict[str, Any]:
    return peer("default", "istio-system", mtls={"mode": mode})


def modes(documents: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    posture = security_posture(documents, BOOKINFO)
    return {w.name: (w.mode.mode, w.mode.level) for w in posture.workloads}


def every(mode: str, level: str, **overrides: tuple[str, str]) -> dict[str, tuple[str, str]]:
    return {name: overrides.get(name.replace("-", "_"), (mode, level)) for name in NAMES}


CASES = {
    "nothing: Istio's default": ([], every("PERMISSIVE", "default")),
    "mesh-wide STRICT": ([mesh_wide("STRICT")], every("STRICT", "mesh")),
    "namespace PERMISSIVE over mesh STRICT": (
        [mesh_wide("STRICT"), peer("default", mtls={"mode": "PERMISSIVE"})],
        every("PERMISSIVE", "namespace"),
    ),
    "namespace UNSET inherits mesh STRICT": (
        [mesh_wide("STRICT"), peer("default", mtls={"mode": "UNSET"})],
        every("STRICT", "mesh"),
    ),
    "namespace policy of another namespace does not apply": (
        [mesh_wide("STRICT"), peer("default", "other", mtls={"mode": "DISABLE"})],
        every("STRICT", "mesh"),
    ),
    "workload selector over namespace": (
        [
            peer("default", mtls={"mode": "STRICT"}),
            peer("reviews", selector={"matchLabels": {"app": "reviews"}}, mtls={"mode": "DISABLE"}),
        ],
        every(
            "STRICT",
            "namespace",
            reviews_v1=("DISABLE", "workload"),
            reviews_v2=("DISABLE", "workload"),
            reviews_v3=("DISABLE", "workload"),
        ),
    ),
    "workload selector on one version only": (
        [
            mesh_wide("STRICT"),
            peer(
                "reviews-v2",
                selector={"matchLabels": {"app": "reviews", "version": "v2"}},
                mtls={"mode": "PERMISSIVE"},
            ),
        ],
        every("STRICT", "mesh", reviews_v2=("PERMISSIVE", "workload")),
    ),
    "portLevelMtls over the policy's unset mode": (
        [
            mesh_wide("STRICT"),
            peer(
                "ratings",
                selector={"matchLabels": {"app": "ratings"}},
                portLevelMtls={"9080": {"mode": "DISABLE"}},
            ),
        ],
        every("STRICT", "mesh", ratings_v1=("DISABLE", "workload")),
    ),
    "workload policy with only another port's mode inherits on the service port": (
        [
            mesh_wide("STRICT"),
            peer(
                "ratings",
                selector={"matchLabels": {"app": "ratings"}},
                portLevelMtls={"15000": {"mode": "DISABLE"}},
            ),
        ],
        every("STRICT", "mesh"),
    ),
    "a selector in the root namespace selects only root-namespace workloads": (
        [
            peer(
                "reviews",
                "istio-system",
                selector={"matchLabels": {"app": "reviews"}},
                mtls={"mode": "DISABLE"},
            )
        ],
        every("PERMISSIVE", "default"),
    ),
    "two namespace policies: the first by name decides": (
        [peer("b-strict", mtls={"mode": "STRICT"}), peer("a-disable", mtls={"mode": "DISABLE"})],
        every("DISABLE", "namespace"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_effective_mode_per_workload(case: str) -> None:
    documents, expected = CASES[case]
    assert modes(documents) == expected


def test_port_level_modes_are_listed_per_port_with_their_source() -> None:
    documents = [
        mesh_wide("PERMISSIVE"),
        peer(
            "details",
            selector={"matchLabels": {"app": "details"}},
            mtls={"mode": "STRICT"},
            portLevelMtls={"15000": {"mode": "DISABLE"}},
        ),
    ]
    details = next(w for w in security_posture(documents, BOOKINFO).workloads if w.name == "details-v1")
    assert [(p.port, p.mode, p.level, p.source) for p in details.ports] == [
        (9080, "STRICT", "workload", "PeerAuthentication/details"),
        (15000, "DISABLE", "workload", "PeerAuthentication/details"),
    ]
    assert [p.port for p in details.port_overrides] == [15000]


def test_each_peer_authentication_lists_the_workloads_whose_mode_it_decides() -> None:
    documents = [
        mesh_wide("STRICT"),
        peer("reviews", selector={"matchLabels": {"app": "reviews"}}, mtls={"mode": "PERMISSIVE"}),
    ]
    rows = {r.ref: r for r in security_posture(documents, BOOKINFO).peer_authentications}
    assert rows["PeerAuthentication/reviews"].workloads == ("reviews-v1", "reviews-v2", "reviews-v3")
    assert rows["PeerAuthentication/reviews"].scope == "workloads app=reviews in default"
    assert rows["PeerAuthentication/istio-system/default"].workloads == (
        "productpage-v1",
        "details-v1",
        "ratings-v1",
    )
    assert rows["PeerAuthentication/istio-system/default"].scope == "mesh-wide"


AUTHORIZATION = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/reviews/*"]}}]
    when: [{key: "request.headers[end-user]", values: ["jason"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: istio-system}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all-ratings}
spec:
  selector: {matchLabels: {app: ratings}}
  action: DENY
  rules: [{}]
"""


def test_authorization_policies_select_workloads_and_say_what_they_allow() -> None:
    posture = security_posture(list(yaml.safe_load_all(AUTHORIZATION)), BOOKINFO)
    by_name = {w.name: [(p.ref, p.detail) for p in w.policies] for w in posture.workloads}
    assert by_name["reviews-v2"] == [
        ("AuthorizationPolicy/reviews-viewer", "ALLOW"),
        ("AuthorizationPolicy/istio-system/allow-nothing", "ALLOW"),
    ]
    assert by_name["ratings-v1"] == [
        ("AuthorizationPolicy/deny-all-ratings", "DENY"),
        ("AuthorizationPolicy/istio-system/allow-nothing", "ALLOW"),
    ]
    assert by_name["details-v1"] == [("AuthorizationPolicy/istio-system/allow-nothing", "ALLOW")]
    rows = {r.name: r for r in posture.authorization_policies}
    assert rows["reviews-viewer"].summary == (
        "ALLOW from principals cluster.local/ns/default/sa/bookinfo-productpage · to methods GET; "
        "paths /reviews/* · when request.headers[end-user] in jason",
    )
    assert rows["allow-nothing"].summary == ("ALLOW nothing: every request is denied",)
    assert rows["allow-nothing"].workloads == tuple(NAMES)
    assert rows["deny-all-ratings"].summary == ("DENY every request",)


def test_tls_conflicts_are_warned_once_with_kialis_codes() -> None:
    rules = [
        d
        for d in yaml.safe_load_all(sample("destination-rule-all-mtls"))
        if d and d["metadata"]["name"] == "ratings"
    ]
    documents = [
        *rules,
        peer("ratings", selector={"matchLabels": {"app": "ratings"}}, mtls={"mode": "DISABLE"}),
    ]
    warnings = security_posture(documents, BOOKINFO).warnings
    assert [(w.code, w.ref, w.path) for w in warnings] == [
        ("KIA0206", "DestinationRule/ratings", "spec.trafficPolicy.tls.mode")
    ]
    assert "ratings-v1" in warnings[0].message
    plaintext = [{**rules[0], "spec": {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}}]
    warnings = security_posture([*plaintext, mesh_wide("STRICT")], BOOKINFO).warnings
    assert [w.code for w in warnings] == ["KIA0208"]


def test_identity_and_certificate_expiry_come_from_the_issued_identities() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    identities = {
        "reviews-v1": {
            "spiffe_id": "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
            "certificate": {"serial": "1f", "not_after": "2026-01-01T12:00:20+00:00"},
        }
    }
    rows = {w.name: w for w in security_posture([], BOOKINFO, identities, now).workloads}
    assert rows["reviews-v1"].spiffe_id == "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    assert (rows["reviews-v1"].certificate_serial, rows["reviews-v1"].expires_in_s) == ("1f", 20)
    assert rows["ratings-v1"].expires_at is None


def test_an_unreadable_object_is_named_and_the_rest_still_resolves() -> None:
    broken = peer("broken", mtls={"mode": "SOMETIMES"})
    posture = security_posture([broken, mesh_wide("STRICT")], BOOKINFO)
    assert posture.malformed == ("PeerAuthentication/default/broken",)
    assert {w.mode.mode for w in posture.workloads} == {"STRICT"}


def test_a_mode_the_control_plane_reports_differently_is_flagged() -> None:
    identities = {
        "ratings-v1": {"mtls": {"mode": "STRICT"}},
        "details-v1": {"mtls": {"mode": "PERMISSIVE"}},
    }
    rows = {w.name: w for w in security_posture([], BOOKINFO, identities).workloads}
    assert (rows["ratings-v1"].disagrees, rows["details-v1"].disagrees, rows["reviews-v1"].disagrees) == (
        True,
        False,
        False,
    )


def test_the_preview_says_what_changes_for_each_workload() -> None:
    stored = [mesh_wide("PERMISSIVE")]
    proposed = [
        mesh_wide("STRICT"),
        peer(
            "ratings",
            selector={"matchLabels": {"app": "ratings"}},
            portLevelMtls={"9080": {"mode": "DISABLE"}},
        ),
        *yaml.safe_load_all(AUTHORIZATION.split("---")[0]),
    ]
    changes = proposed_changes(stored, proposed, BOOKINFO)
    mesh = "PeerAuthentication/istio-system/default"
    assert (
        WorkloadChange("details-v1", "mTLS port 9080", f"PERMISSIVE ({mesh})", f"STRICT ({mesh})") in changes
    )
    assert (
        WorkloadChange(
            "ratings-v1", "mTLS port 9080", f"PERMISSIVE ({mesh})", "DISABLE (PeerAuthentication/ratings)"
        )
        in changes
    )
    assert (
        WorkloadChange(
            "reviews-v3", "authorization policies", "none", "ALLOW AuthorizationPolicy/reviews-viewer"
        )
        in changes
    )
    assert len(changes) == 6 + 3  # every workload's mode, and the three reviews versions' policies
    assert proposed_changes(stored, stored, BOOKINFO) == ()


def test_one_namespace_keeps_its_workloads_and_the_objects_that_can_apply_to_them() -> None:
    registry = MeshRegistry(
        services=(*BOOKINFO.services, ServiceInfo("cart", "shop")),
        workloads=(*BOOKINFO.workloads, WorkloadInfo("cart-v1", "cart", "cart", "v1", "shop")),
    )
    documents = [
        mesh_wide("STRICT"),
        peer("default", "shop", mtls={"mode": "PERMISSIVE"}),
        peer("x", mtls={"mode": "DISABLE"}),
    ]
    posture = security_posture(documents, registry)
    assert posture.namespaces() == ["default", "shop"]
    shop = posture.in_namespace("shop")
    assert [(w.name, w.mode.mode) for w in shop.workloads] == [("cart-v1", "PERMISSIVE")]
    assert [r.ref for r in shop.peer_authentications] == [
        "PeerAuthentication/istio-system/default",
        "PeerAuthentication/shop/default",
    ]
