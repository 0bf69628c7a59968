"""Mutual TLS on real Envoy: Istio's auto mTLS, PeerAuthentication modes, Istio's all-mTLS sample.

The direct clients (tests/support/tls.py) stand for callers a user cares about: a workload outside
the mesh (plaintext), an impostor (a certificate with the right SPIFFE name from another CA) and,
as the control that proves the refusals are about the certificate, a client holding a certificate
from the mesh's own CA.
"""

from __future__ import annotations

import ssl

import pytest

from dashboard.sources.http import endpoint_json
from meshcore.controlplane.ca import CertificateAuthority
from tests.support.mesh import DETAILS_UNAVAILABLE, RATINGS_UNAVAILABLE, REVIEWS_UNAVAILABLE
from tests.support.samples import sample
from tests.support.tls import client_certificate, get_status, mesh_authority

pytestmark = pytest.mark.mesh

PRODUCTPAGE_ID = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
UNAVAILABLE = (DETAILS_UNAVAILABLE, REVIEWS_UNAVAILABLE, RATINGS_UNAVAILABLE)
REFUSED_WITHOUT_CERTIFICATE = "CERTIFICATE_REQUIRED|EOF occurred"
REFUSED_FOREIGN_CA = "UNKNOWN_CA|EOF occurred"


def mesh_wide(mode: str) -> str:
    return (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        f"metadata: {{name: default, namespace: istio-system}}\nspec:\n  mtls: {{mode: {mode}}}\n"
    )


def workload(mesh, name: str) -> dict:
    return next(w for w in mesh.registry()["workloads"] if w["name"] == name)


def counter(mesh, workload_name: str, name: str) -> int:
    return mesh.envoy_counter(workload_name, name)


def tls_warnings(apply_answer: dict) -> list[dict]:
    """The apply's TLS warnings (route checks also warn, e.g. about BookInfo's undeployed subsets)."""
    return [w for w in apply_answer["warnings"] if w["path"].endswith(".tls.mode")]


def assert_bookinfo_works(mesh, pages: int = 6) -> None:
    for _ in range(pages):
        page = mesh.page()
        assert page.status_code == 200
        assert not [text for text in UNAVAILABLE if text in page.text], page.text[:300]
        assert "reviews-v" in page.text


@pytest.fixture
def certificates(tmp_path, mesh):
    """(a certificate from the mesh's CA, one with the same name from another CA)."""
    ours = client_certificate(tmp_path / "ours", mesh_authority(mesh.state_dir), PRODUCTPAGE_ID)
    theirs = client_certificate(tmp_path / "theirs", CertificateAuthority.self_signed(), PRODUCTPAGE_ID)
    return ours, theirs


def test_without_policies_sidecars_talk_mtls_and_accept_plaintext(clean_mesh):
    mesh = clean_mesh
    handshakes = "cluster.outbound|9080||details.default.svc.cluster.local.ssl.handshake"
    before = counter(mesh, "productpage-v1", handshakes)
    plaintext_before = counter(mesh, "details-v1", "http.inbound_0.0.0.0_9080_plaintext.downstream_rq_total")
    assert_bookinfo_works(mesh)
    details = workload(mesh, "details-v1")
    # Istio's default is PERMISSIVE: a plaintext caller outside the mesh is still served...
    assert get_status(details["inbound_port"], "/details/0", use_tls=False) == 200
    assert counter(mesh, "details-v1", "http.inbound_0.0.0.0_9080_plaintext.downstream_rq_total") == (
        plaintext_before + 1
    )
    # ...while sidecars use mTLS (auto mTLS): productpage's details cluster did TLS handshakes
    # at some point (connections are reused, so this poll may add none; the total is > 0).
    assert counter(mesh, "productpage-v1", handshakes) >= max(before, 1)
    assert counter(mesh, "details-v1", "http.inbound_0.0.0.0_9080_mtls.downstream_rq_total") > 0


def test_strict_mesh_wide_refuses_plaintext_and_foreign_certificates(clean_mesh, certificates):
    mesh = clean_mesh
    ours, theirs = certificates
    mesh.apply_ok(mesh_wide("STRICT"))
    assert_bookinfo_works(mesh)
    port = workload(mesh, "details-v1")["inbound_port"]
    with pytest.raises(OSError):  # no filter chain matches plaintext: the connection is reset
        get_status(port, "/details/0", use_tls=False)
    # The server's alert (certificate required, unknown CA) can lose the race with its close.
    with pytest.raises(ssl.SSLError, match=REFUSED_WITHOUT_CERTIFICATE):
        get_status(port, "/details/0")
    with pytest.raises(ssl.SSLError, match=REFUSED_FOREIGN_CA):
        get_status(port, "/details/0", certificate=theirs)
    # The same request with the mesh CA's certificate is served: the refusals are the policy's.
    assert get_status(port, "/details/0", certificate=ours) == 200


def test_permissive_mesh_wide_accepts_both_and_counts_them_apart(clean_mesh, certificates):
    mesh = clean_mesh
    ours, theirs = certificates
    mesh.apply_ok(mesh_wide("PERMISSIVE"))
    port = workload(mesh, "ratings-v1")["inbound_port"]
    mtls = "http.inbound_0.0.0.0_9080_mtls.downstream_rq_total"
    plaintext = "http.inbound_0.0.0.0_9080_plaintext.downstream_rq_total"
    before = (counter(mesh, "ratings-v1", mtls), counter(mesh, "ratings-v1", plaintext))
    assert get_status(port, "/ratings/0", use_tls=False) == 200
    assert get_status(port, "/ratings/0", certificate=ours) == 200
    with pytest.raises(ssl.SSLError, match=REFUSED_FOREIGN_CA):
        get_status(port, "/ratings/0", certificate=theirs)
    assert (counter(mesh, "ratings-v1", mtls), counter(mesh, "ratings-v1", plaintext)) == (
        before[0] + 1,
        before[1] + 1,
    )


def test_istios_all_mtls_destination_rules_with_strict_keep_bookinfo_working(clean_mesh):
    mesh = clean_mesh
    body = mesh.apply_ok(sample("destination-rule-all-mtls"))
    assert tls_warnings(body) == []
    mesh.apply_ok(mesh_wide("STRICT"))
    assert_bookinfo_works(mesh, pages=12)
    # Every outbound cluster of the gateway now originates mTLS with Istio's SNI.
    dump = endpoint_json(
        mesh.admin_address("istio-ingressgateway"), "/config_dump?resource=dynamic_active_clusters", 5
    )
    sockets = {
        c["cluster"]["name"]: c["cluster"].get("transport_socket", {})
        for c in dump["configs"]
        if "cluster" in c
    }
    outbound = {name: socket for name, socket in sockets.items() if name.startswith("outbound|")}
    assert outbound and all(s.get("name") == "envoy.transport_sockets.tls" for s in outbound.values())
    assert outbound["outbound|9080|v2|reviews.default.svc.cluster.local"]["typed_config"]["sni"] == (
        "outbound_.9080_.v2_.reviews.default.svc.cluster.local"
    )


def test_disabling_mtls_for_one_workload_keeps_it_reachable_and_a_contradicting_rule_is_warned(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: details}\n"
        "spec:\n  selector: {matchLabels: {app: details}}\n  mtls: {mode: DISABLE}\n"
    )
    # Auto mTLS follows the server: clients now send plaintext to details, and pages still work.
    assert_bookinfo_works(mesh)
    # Forcing mTLS towards it contradicts the policy: accepted, with Kiali's warning, and it breaks.
    body = mesh.apply_ok(sample("destination-rule-all-mtls"))
    assert [w["path"] for w in tls_warnings(body)] == ["DestinationRule/details.spec.trafficPolicy.tls.mode"]
    assert tls_warnings(body)[0]["message"].startswith(
        "KIA0206: DestinationRule/details makes clients send mTLS"
    )
    assert DETAILS_UNAVAILABLE in mesh.page().text
