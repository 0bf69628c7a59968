"""The security page and forms against the real mesh: what the page says is what the real Envoys
enforce (plaintext refused under STRICT, 403 from RBAC), and every write is an audited revision.

The dashboard runs in-process (Django's test client) against the session's mesh; calls "from a
workload" go through that workload's own sidecar, so they carry its real mTLS identity.
"""

from __future__ import annotations

import html
import re

import pytest

from dashboard.routes.models import Revision
from tests.dashboard.routes.conftest import stored
from tests.meshcore.e2e.test_authorization import call_from, workload
from tests.support.mesh import DETAILS_UNAVAILABLE, RATINGS_UNAVAILABLE, REVIEWS_UNAVAILABLE
from tests.support.tls import get_status
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mesh, pytest.mark.django_db(transaction=True)]
UNAVAILABLE = (DETAILS_UNAVAILABLE, REVIEWS_UNAVAILABLE, RATINGS_UNAVAILABLE)
ROW = re.compile(r'<tr data-workload="(?P<name>[^"]+)">(?P<row>.*?)</tr>', re.S)
MODE = re.compile(r'data-mode="(\w+)"')
PRODUCTPAGE = "cluster.local/ns/default/sa/bookinfo-productpage"


def page_rows(client) -> dict[str, str]:
    """Workload name -> its row's HTML on the security page."""
    response = client.get("/security/")
    assert response.status_code == 200
    return {m["name"]: m["row"] for m in ROW.finditer(response.content.decode())}


def page_modes(client) -> dict[str, str]:
    return {name: MODE.search(row).group(1) for name, row in page_rows(client).items()}


def assert_bookinfo_works(mesh, pages: int = 8) -> None:
    for _ in range(pages):
        page = mesh.page()
        assert page.status_code == 200
        assert not [text for text in UNAVAILABLE if text in page.text], page.text[:300]


def rules(*items: dict[str, str], **fields: str) -> dict[str, str]:
    data = {
        "rule-TOTAL_FORMS": str(len(items)),
        "rule-INITIAL_FORMS": "0",
        "rule-MIN_NUM_FORMS": "0",
        "rule-MAX_NUM_FORMS": "50",
        **fields,
    }
    for index, item in enumerate(items):
        data.update({f"rule-{index}-{key}": value for key, value in item.items()})
    return data


def test_strict_from_the_form_shows_on_the_page_and_traffic_keeps_flowing(routes_mesh, operator_client):
    mesh = routes_mesh
    before = page_modes(operator_client)
    assert set(before) == {w["name"] for w in mesh.registry()["workloads"]}
    assert set(before.values()) == {"PERMISSIVE"}  # Istio's default, nothing stored
    response = operator_client.post(
        "/security/new/peerauthentications/",
        {"scope": "mesh", "name": "default", "mode": "STRICT", "reason": "lock the mesh", "apply": "1"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].startswith("/routes/peerauthentications/istio-system/default/")
    assert stored(mesh, "peerauthentications", "default?namespace=istio-system")["spec"] == {
        "mtls": {"mode": "STRICT"}
    }
    object_page = operator_client.get(response["Location"]).content.decode()
    assert 'href="/security/peerauthentications/istio-system/default/edit/"' in object_page
    api = operator_client.get("/api/istio/istio-system/peerauthentications/default")
    assert api.status_code == 200 and api.json()["spec"] == {"mtls": {"mode": "STRICT"}}
    [revision] = Revision.objects.filter(kind="PeerAuthentication")
    assert (revision.username, revision.reason, revision.action) == ("alice", "lock the mesh", "created")
    assert revision.push["acked"] and not revision.push["rejected"]

    rows = page_rows(operator_client)
    assert page_modes(operator_client) == dict.fromkeys(before, "STRICT")
    assert all("mesh: PeerAuthentication/istio-system/default" in row for row in rows.values())
    assert not [name for name, row in rows.items() if "disagrees" in row]  # the control plane agrees
    # Identity and certificate, as the control plane issued them.
    assert "spiffe://cluster.local/ns/default/sa/bookinfo-reviews" in rows["reviews-v2"]
    assert " UTC" in rows["reviews-v2"] and "(in " in rows["reviews-v2"]
    # What the page says is enforced: BookInfo works over mTLS, a plaintext caller is refused.
    assert_bookinfo_works(mesh)
    with pytest.raises(OSError):
        get_status(workload(mesh, "details-v1")["inbound_port"], "/details/0", use_tls=False)
    # Undo from the audit log: the policy is gone, the page and the sidecars are back to PERMISSIVE.
    undo = operator_client.post(f"/routes/revisions/{revision.id}/rollback/", {"undo": "1"})
    assert undo.status_code == 302, undo.content.decode()[:2000]
    assert stored(mesh, "peerauthentications", "default?namespace=istio-system") is None
    assert page_modes(operator_client) == before
    wait_until(
        lambda: get_status(workload(mesh, "details-v1")["inbound_port"], "/details/0", use_tls=False) == 200,
        timeout=20,
        what="plaintext accepted again",
    )


def test_only_productpage_may_call_reviews_from_the_authorization_form(routes_mesh, operator_client):
    mesh = routes_mesh
    data = rules(
        {"principals": PRODUCTPAGE, "methods": "GET"},
        name="reviews-viewer",
        namespace="default",
        selector="app=reviews",
        preset="rules",
        action="ALLOW",
        apply="1",
    )
    preview = operator_client.post(
        "/security/new/authorizationpolicies/", {**data, "apply": "", "preview": "1"}
    )
    assert preview.status_code == 200, preview.content.decode()[:2000]
    changed = re.findall(
        r'<tr data-workload="([^"]+)"><td>[^<]*</td><td>authorization policies', preview.content.decode()
    )
    assert changed == ["reviews-v1", "reviews-v2", "reviews-v3"]
    response = operator_client.post("/security/new/authorizationpolicies/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    # Pooled connections from before the policy drain within Envoy's drain time.
    wait_until(
        lambda: call_from(mesh, "ratings-v1", "reviews", "/reviews/0").status_code == 403,
        timeout=20,
        what="the policy in force",
    )
    for caller in ("ratings-v1", "details-v1", "reviews-v1"):
        denied = call_from(mesh, caller, "reviews", "/reviews/0")
        assert (denied.status_code, denied.text) == (403, "RBAC: access denied"), caller
    assert_bookinfo_works(mesh)  # productpage's own calls to reviews are allowed
    rows = page_rows(operator_client)
    for name, row in rows.items():
        assert ("AuthorizationPolicy/reviews-viewer" in row) == name.startswith("reviews-"), name
    body = html.unescape(operator_client.get("/security/").content.decode())
    assert f"ALLOW from principals {PRODUCTPAGE} · to methods GET" in body
    # The edit form opens on the stored rule, tied to it (so saving edits that rule in place).
    edit = operator_client.get(
        "/security/authorizationpolicies/default/reviews-viewer/edit/"
    ).content.decode()
    assert f'name="rule-0-principals" value="{PRODUCTPAGE}"' in edit
    assert 'name="rule-0-source" value="0"' in edit and 'name="rule-0-methods" value="GET"' in edit


def test_editing_in_place_keeps_other_fields_and_a_stale_form_is_a_conflict(routes_mesh, operator_client):
    mesh = routes_mesh
    mesh.apply_ok(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        "metadata: {name: ratings, labels: {team: books}}\n"
        "spec:\n  selector: {matchLabels: {app: ratings}}\n  mtls: {mode: PERMISSIVE}\n"
    )
    url = "/security/peerauthentications/default/ratings/edit/"
    form_page = operator_client.get(url).content.decode()
    version = re.search(r'name="base_version" value="(\d+)"', form_page).group(1)
    data = {
        "selector": "app=ratings",
        "mode": "STRICT",
        "port_modes": "",
        "base_version": version,
        "apply": "1",
    }
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    after = stored(mesh, "peerauthentications", "ratings")
    assert after["metadata"]["labels"] == {"team": "books"}
    assert after["spec"]["mtls"] == {"mode": "STRICT"}
    assert page_modes(operator_client)["ratings-v1"] == "STRICT"
    # The same form again, opened on the old version: a conflict screen, nothing overwritten.
    conflict = operator_client.post(url, {**data, "mode": "DISABLE"})
    assert conflict.status_code == 409
    assert stored(mesh, "peerauthentications", "ratings")["spec"]["mtls"] == {"mode": "STRICT"}


def test_a_tls_mode_contradicting_strict_is_warned_on_the_preview_and_the_page(routes_mesh, operator_client):
    mesh = routes_mesh
    mesh.apply_ok(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        "metadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n"
    )
    preview = operator_client.post(
        "/routes/services/ratings/traffic-policy/", {"tls_mode": "DISABLE", "preview": "1"}
    )
    assert preview.status_code == 200, preview.content.decode()[:2000]
    assert "KIA0208" in preview.content.decode()
    applied = operator_client.post(
        "/routes/services/ratings/traffic-policy/", {"tls_mode": "DISABLE", "apply": "1"}
    )
    assert applied.status_code == 302, applied.content.decode()[:2000]
    assert stored(mesh, "destinationrules", "ratings")["spec"]["trafficPolicy"]["tls"] == {"mode": "DISABLE"}
    page = operator_client.get("/security/").content.decode()
    assert 'data-code="KIA0208"' in page and "DestinationRule/ratings" in page
    # And the mesh does what the warning says: ratings' clients send plaintext, STRICT refuses it.
    wait_until(
        lambda: RATINGS_UNAVAILABLE in mesh.page().text, timeout=20, what="ratings refused over plaintext"
    )


def test_bad_input_is_a_field_error_and_viewers_cannot_write(routes_mesh, operator_client, viewer_client):
    refused = operator_client.post(
        "/security/new/envoyfilters/",
        {
            "name": "rl",
            "namespace": "istio-system",
            "selector": "app=details",
            "max_tokens": "0",
            "fill_interval": "1s",
            "apply": "1",
        },
    )
    assert refused.status_code == 422
    assert b"Ensure this value is greater than or equal to 1" in refused.content
    assert (
        routes_mesh.session.get(f"{routes_mesh.api_url}/api/v1/envoyfilters", timeout=10).json()["items"]
        == []
    )
    assert viewer_client.get("/security/").status_code == 200
    assert viewer_client.get("/security/?namespace=default").status_code == 200
    unknown = viewer_client.get("/security/?namespace=nowhere")
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["path"] == "namespace"
    assert b'id="new-peerauthentications"' not in viewer_client.get("/security/").content
    denied = viewer_client.post(
        "/security/new/peerauthentications/",
        {"scope": "mesh", "name": "default", "mode": "STRICT", "apply": "1"},
    )
    assert denied.status_code == 403
    assert (
        routes_mesh.session.get(f"{routes_mesh.api_url}/api/v1/peerauthentications", timeout=10).json()[
            "items"
        ]
        == []
    )


def test_a_rate_limit_from_the_form_answers_the_excess_with_429(routes_mesh, operator_client):
    mesh = routes_mesh
    data = {
        "name": "ratelimit-details",
        "namespace": "istio-system",
        "selector": "app=details",
        "max_tokens": "2",
        "fill_interval": "1m",  # no refill within the test: the third call in a row is over the limit
        "apply": "1",
    }
    response = operator_client.post("/security/new/envoyfilters/", data)
    assert response.status_code == 302, response.content.decode()[:2000]

    def over_the_limit():
        # The new inbound listener takes new connections at once; pooled ones drain within 1 s.
        responses = [call_from(mesh, "productpage-v1", "details", "/details/0") for _ in range(4)]
        return [r for r in responses if r.status_code == 429]  # (a 4xx Response itself is falsy)

    [limited, *_] = wait_until(over_the_limit, timeout=30, what="the limit in force")
    assert (limited.status_code, limited.text) == (429, "local_rate_limited")
    assert limited.headers.get("x-local-rate-limit") == "true"
    rows = page_rows(operator_client)
    for name, row in rows.items():
        assert ("EnvoyFilter/istio-system/ratelimit-details" in row) == (name == "details-v1"), name
    body = operator_client.get("/security/").content.decode()
    assert "2 tokens, 2 per 60s" in body
    edit = operator_client.get("/security/envoyfilters/istio-system/ratelimit-details/edit/").content.decode()
    assert 'name="max_tokens" value="2"' in edit and 'name="fill_interval" value="60s"' in edit
