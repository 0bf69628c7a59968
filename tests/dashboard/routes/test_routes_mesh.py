"""Route forms, YAML, API, conflicts, rollback and roles against the real mesh: each behaviour is
proven by real requests through the gateway and the real Envoys."""

from __future__ import annotations

import html

import pytest
from django.test import Client

from dashboard.routes import service
from dashboard.routes.models import Revision
from tests.dashboard.routes.conftest import make_operator, stored
from tests.support.mesh import RATINGS_UNAVAILABLE, REVIEWS_UNAVAILABLE, star_colors
from tests.support.samples import reviews_weights, sample

pytestmark = [pytest.mark.mesh, pytest.mark.django_db(transaction=True)]
SHIFT = "/routes/services/reviews/traffic-shifting/"


def shift(client: Client, v1: int = 0, v2: int = 0, v3: int = 0, **extra: str):
    return client.post(SHIFT, {"weight_v1": v1, "weight_v2": v2, "weight_v3": v3, "apply": "1", **extra})


def rules(*items: dict[str, str]) -> dict[str, str]:
    data = {
        "rule-TOTAL_FORMS": str(len(items)),
        "rule-INITIAL_FORMS": "0",
        "rule-MIN_NUM_FORMS": "0",
        "rule-MAX_NUM_FORMS": "50",
        "apply": "1",
    }
    for index, item in enumerate(items):
        data.update({f"rule-{index}-{k}": v for k, v in {"ORDER": str(index + 1), **item}.items()})
    return data


def edits_line(client: Client) -> str:
    """The form page's sentence saying which objects it creates or edits, as the user reads it."""
    text = client.get(SHIFT).content.decode()
    paragraph = text[
        text.index('<p class="muted" id="edits">') : text.index("</p>", text.index('id="edits"'))
    ]
    return " ".join(html.unescape(paragraph.split(">", 1)[1]).split())


def test_shift_everything_to_v3_from_the_form(routes_mesh, operator_client):
    assert edits_line(operator_client).startswith(
        "Creates VirtualService default/reviews: none routes reviews yet, so it gets Istio's default"
    )
    response = shift(operator_client, v3=100, reason="canary done")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert set(routes_mesh.versions_seen(15)) == {"v3"}
    assert star_colors(routes_mesh.page().text) == {"red"}
    [revision] = Revision.objects.filter(kind="VirtualService", name="reviews")
    assert (revision.username, revision.reason, revision.action) == ("alice", "canary done", "created")
    assert revision.push["acked"] and not revision.push["rejected"] and not revision.push["pending"]
    assert "reviews" in revision.services
    page = operator_client.get(response["Location"])
    assert b"ACK</span> from" in page.content and b"Undo" in page.content
    version = stored(routes_mesh, "virtualservices", "reviews")["metadata"]["resourceVersion"]
    assert edits_line(operator_client).startswith(
        f"Edits VirtualService default/reviews (resourceVersion {version}) and DestinationRule default/reviews"
    )


def test_jason_goes_to_v2_from_the_request_routing_form(routes_mesh, operator_client):
    data = rules({"conditions": "header end-user exact jason", "route": "v2"}, {"route": "v1"})
    response = operator_client.post("/routes/services/reviews/request-routing/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert set(routes_mesh.versions_seen(10, user="jason")) == {"v2"}
    assert set(routes_mesh.versions_seen(10)) == {"v1"}


@pytest.fixture
def jason_on_v2(routes_mesh):
    routes_mesh.apply_ok(sample("virtual-service-all-v1"))
    routes_mesh.apply_ok(sample("virtual-service-reviews-test-v2"))
    return routes_mesh


def test_a_7s_delay_for_jason_from_the_form(jason_on_v2, operator_client):
    data = rules(
        {"conditions": "header end-user exact jason", "route": "v1", "delay": "7s", "delay_percent": "100"},
        {"route": "v1"},
    )
    # The form edits the stored ratings VirtualService (from virtual-service-all-v1) in place.
    response = operator_client.post("/routes/services/ratings/request-routing/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    # 7 s outlasts productpage's 3 s reviews timeout (tried twice): jason's reviews fail, others' not.
    assert REVIEWS_UNAVAILABLE in jason_on_v2.page(user="jason").text
    assert REVIEWS_UNAVAILABLE not in jason_on_v2.page().text


def test_abort_500_from_the_fault_form(jason_on_v2, operator_client):
    response = operator_client.post(
        "/routes/services/ratings/fault-injection/",
        {"rule": "all", "abort_status": "500", "abort_percent": "100", "apply": "1"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    page = jason_on_v2.page(user="jason")
    assert "reviews-v2" in page.text and RATINGS_UNAVAILABLE in page.text


RATINGS_DELAY_2S = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault: {delay: {percentage: {value: 100}, fixedDelay: 2s}}
    route: [{destination: {host: ratings, subset: v1}}]
"""


def test_half_second_timeout_on_reviews_from_the_form(routes_mesh, operator_client):
    routes_mesh.apply_ok(RATINGS_DELAY_2S)
    routes_mesh.apply_ok(reviews_weights(v2=100))
    assert star_colors(routes_mesh.page().text) == {"black"}  # reviews v2 waits out the 2 s
    response = operator_client.post(
        "/routes/services/reviews/timeouts/", {"rule": "all", "timeout": "0.5s", "apply": "1"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert REVIEWS_UNAVAILABLE in routes_mesh.page().text
    # Edited in place: the weights the API set are still there.
    assert (
        stored(routes_mesh, "virtualservices", "reviews")["spec"]["http"][0]["route"][0]["destination"][
            "subset"
        ]
        == "v2"
    )


def test_editing_a_hand_written_virtual_service_keeps_its_other_rules(jason_on_v2, operator_client):
    assert shift(operator_client, v3=100).status_code == 302
    assert set(jason_on_v2.versions_seen(8, user="jason")) == {"v2"}
    assert set(jason_on_v2.versions_seen(8)) == {"v3"}


BAD_INPUT = [
    (SHIFT, {"weight_v1": "50", "weight_v2": "0", "weight_v3": "40"}, "weights sum to 90, must be 100"),
    (SHIFT, {"weight_v1": "-5", "weight_v2": "5", "weight_v3": "100"}, "greater than or equal to 0"),
    (SHIFT, {"weight_v1": "x", "weight_v2": "0", "weight_v3": "100"}, "Enter a whole number"),
    (
        SHIFT,
        {"weight_v1": "0", "weight_v2": "0", "weight_v3": "100", "mirror": "v2", "mirror_percent": "150"},
        "less than or equal to 100",
    ),
    (
        "/routes/services/reviews/fault-injection/",
        {"rule": "all", "delay": "0s", "delay_percent": "50"},
        "must be greater than 0",
    ),
    (
        "/routes/services/reviews/fault-injection/",
        {"rule": "all", "delay": "-3s", "delay_percent": "50"},
        "negative durations are not allowed",
    ),
    (
        "/routes/services/reviews/fault-injection/",
        {"rule": "all", "delay": "7 seconds", "delay_percent": "50"},
        "invalid duration",
    ),
    (
        "/routes/services/reviews/fault-injection/",
        {"rule": "all", "delay": "1s", "delay_percent": "101"},
        "less than or equal to 100",
    ),
    (
        "/routes/services/reviews/fault-injection/",
        {"rule": "all", "abort_status": "700", "abort_percent": "10"},
        "less than or equal to 599",
    ),
    (
        "/routes/services/reviews/fault-injection/",
        {"rule": "9", "abort_status": "500", "abort_percent": "10"},
        "Select a valid choice",
    ),
    ("/routes/services/reviews/timeouts/", {"rule": "all", "timeout": "0ms"}, "must be greater than 0"),
    ("/routes/services/reviews/timeouts/", {"rule": "all", "attempts": "-1"}, "greater than or equal to 0"),
    (
        "/routes/services/reviews/timeouts/",
        {"rule": "all", "attempts": "2", "per_try_timeout": "abc"},
        "invalid duration",
    ),
    (
        "/routes/services/reviews/timeouts/",
        {"rule": "all", "attempts": "2", "retry_on": "sometimes"},
        "unknown retry condition",
    ),
    (
        "/routes/services/reviews/traffic-policy/",
        {"load_balancer": "HASH_HEADER"},
        "name the header or cookie",
    ),
    ("/routes/services/reviews/traffic-policy/", {"max_connections": "0"}, "greater than or equal to 1"),
    (
        "/routes/services/reviews/traffic-policy/",
        {"interval": "0s", "consecutive_5xx_errors": "3"},
        "must be greater than 0",
    ),
    (
        "/routes/services/reviews/traffic-policy/",
        {"max_ejection_percent": "120", "consecutive_5xx_errors": "3"},
        "less than or equal to 100",
    ),
    ("/routes/services/reviews/suspend/", {}, "This field is required"),
    (
        "/routes/services/reviews/request-routing/",
        rules({"conditions": "header end-user regex (?=jason)", "route": "v2"}),
        "not supported by RE2",
    ),
    (
        "/routes/services/reviews/request-routing/",
        rules({"conditions": "header end-user equals jason", "route": "v2"}),
        "unknown operator",
    ),
    ("/routes/services/reviews/request-routing/", rules({"route": "v1=50 v2=20"}), "weights sum to 70"),
    ("/routes/services/reviews/request-routing/", rules({"route": "v7"}), "unknown version"),
    (
        "/routes/services/reviews/request-routing/",
        rules({"route": "v1", "timeout": "-1s"}),
        "negative durations",
    ),
    (
        "/routes/services/reviews/request-routing/",
        rules({"route": "v1"}, {"conditions": "header end-user exact jason", "route": "v2"}),
        "unreachable",
    ),
]


def test_bad_input_on_every_field_is_refused_inline_and_nothing_changes(routes_mesh, operator_client):
    routes_mesh.apply_ok(reviews_weights(v1=100))
    before = stored(routes_mesh, "virtualservices", "reviews")
    for url, data, message in BAD_INPUT:
        response = operator_client.post(url, {**data, "apply": "1"})
        assert response.status_code == 422, (url, data, response.status_code)
        assert message in response.content.decode(), (url, data, message)
        assert stored(routes_mesh, "virtualservices", "reviews") == before, (url, data)
    assert set(routes_mesh.versions_seen(10)) == {"v1"}
    assert not Revision.objects.exists()


def test_two_operators_editing_one_virtual_service_get_the_conflict_screen(
    routes_mesh, operator_client, django_user_model
):
    routes_mesh.apply_ok(reviews_weights(v1=100))
    bob = Client()
    bob.force_login(make_operator(django_user_model, "bob"))
    # Both open the form on the same version; the form carries that version.
    seen = stored(routes_mesh, "virtualservices", "reviews")["metadata"]["resourceVersion"]
    for client in (operator_client, bob):
        page = client.get(SHIFT).content.decode()
        assert f'name="base_virtual_service" value="{seen}"' in page
    assert shift(operator_client, v2=100, base_virtual_service=seen).status_code == 302
    conflict = shift(bob, v3=100, base_virtual_service=seen)
    assert conflict.status_code == 409
    text = conflict.content.decode()
    assert "Someone else changed this meanwhile" in text
    assert "subset: v2" in text and "subset: v3" in text  # theirs and mine, both shown
    assert set(routes_mesh.versions_seen(8)) == {"v2"}  # alice's change stands, nothing lost
    overwrite = html.unescape(text.split('name="yaml" hidden>')[1].split("</textarea>")[0])
    done = bob.post("/routes/apply/", {"yaml": overwrite, "back": SHIFT})
    assert done.status_code == 302
    assert set(routes_mesh.versions_seen(8)) == {"v3"}
    assert [r.username for r in Revision.objects.filter(kind="VirtualService").order_by("id")] == [
        "alice",
        "bob",
    ]


def test_rollback_restores_the_previous_behaviour_and_the_audit_log_holds_both(routes_mesh, operator_client):
    assert shift(operator_client, v3=100).status_code == 302
    assert shift(operator_client, v1=100).status_code == 302
    assert set(routes_mesh.versions_seen(8)) == {"v1"}
    first, second = Revision.objects.order_by("id")
    response = operator_client.post(f"/routes/revisions/{first.id}/rollback/")
    assert response.status_code == 302
    assert set(routes_mesh.versions_seen(10)) == {"v3"}
    log = list(Revision.objects.order_by("id"))
    assert [r.id for r in log[:2]] == [first.id, second.id] and log[2].rollback_of_id == first.id
    # Undo the rollback from the API: back to v1.
    undo = operator_client.post(f"/api/routes/revisions/{log[2].id}/rollback?undo=1")
    assert undo.status_code == 201, undo.content
    assert set(routes_mesh.versions_seen(8)) == {"v1"}
    listed = operator_client.get("/api/routes/revisions?name=reviews&kind=VirtualService").json()["items"]
    assert len(listed) == 4


def test_changes_made_outside_the_dashboard_are_recorded_as_external(routes_mesh, operator_client):
    assert service.sync_external()  # the DestinationRules the fixture applied
    result = routes_mesh.cli("apply", "-f", "-", stdin=reviews_weights(v2=100))
    assert result.returncode == 0, result.stderr
    [revision] = service.sync_external()
    assert (revision.source, revision.kind, revision.name, revision.username) == (
        "external",
        "VirtualService",
        "reviews",
        "",
    )
    assert service.sync_external() == []  # idempotent
    assert shift(operator_client, v3=100).status_code == 302
    assert service.sync_external() == []  # the dashboard's own change is not external
    assert routes_mesh.delete("virtualservices", "reviews").status_code == 200
    [gone] = service.sync_external()
    assert (gone.action, gone.yaml_after) == ("deleted", "")


def test_json_api_statuses(routes_mesh, operator_client):
    url = "/api/istio/default/virtualservices/reviews"
    created = operator_client.put(url, reviews_weights(v3=100), content_type="application/yaml")
    assert created.status_code == 201, created.content
    version = created.json()["object"]["metadata"]["resourceVersion"]
    assert set(routes_mesh.versions_seen(5)) == {"v3"}
    as_json = operator_client.get(url).json()
    as_json["spec"]["http"][0]["route"][0]["destination"]["subset"] = "v1"
    updated = operator_client.put(url, as_json, content_type="application/json")
    assert updated.status_code == 200, updated.content
    stale = operator_client.put(
        url,
        {**as_json, "metadata": {**as_json["metadata"], "resourceVersion": version}},
        content_type="application/json",
    )
    assert stale.status_code == 409
    bad = operator_client.put(url, reviews_weights(v1=50, v3=40), content_type="application/yaml")
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"path": "spec.http[0].route", "message": "weights sum to 90, must be 100"}
    ]
    wrong_name = operator_client.put(
        "/api/istio/default/virtualservices/other", reviews_weights(v1=100), content_type="application/yaml"
    )
    assert wrong_name.status_code == 422 and wrong_name.json()["errors"][0]["path"] == "metadata.name"
    assert operator_client.put(url, b"kind: [", content_type="application/yaml").status_code == 400
    assert operator_client.get("/api/istio/default/pods").status_code == 404
    listed = operator_client.get("/api/istio/default/virtualservices").json()["items"]
    assert [d["metadata"]["name"] for d in listed] == ["reviews"]
    assert set(routes_mesh.versions_seen(5)) == {"v1"}
    deleted = operator_client.delete(url)
    assert deleted.status_code == 200 and operator_client.get(url).status_code == 404


def test_csrf_is_required_for_api_writes(routes_mesh, operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.put(
        "/api/istio/default/virtualservices/reviews", reviews_weights(v3=100), content_type="application/yaml"
    )
    assert response.status_code == 403
    assert stored(routes_mesh, "virtualservices", "reviews") is None


def test_viewers_see_no_edit_controls_and_get_403_on_every_write(routes_mesh, viewer_client, viewer):
    routes_mesh.apply_ok(reviews_weights(v1=100))
    listing = viewer_client.get("/routes/").content.decode()
    assert "reviews" in listing and "Traffic shifting" not in listing and "New / import" not in listing
    detail = viewer_client.get("/routes/virtualservices/default/reviews/").content.decode()
    assert "Edit YAML" not in detail and "Delete" not in detail
    assert viewer_client.get(SHIFT).status_code == 403
    assert shift(viewer_client, v3=100).status_code == 403
    assert viewer_client.post("/routes/apply/", {"yaml": reviews_weights(v3=100)}).status_code == 403
    assert viewer_client.post("/routes/virtualservices/default/reviews/delete/").status_code == 403
    api = viewer_client.put(
        "/api/istio/default/virtualservices/reviews", reviews_weights(v3=100), content_type="application/yaml"
    )
    assert api.status_code == 403 and api.json()["error"] == "changing routes needs the operator role"
    assert viewer_client.delete("/api/istio/default/virtualservices/reviews").status_code == 403
    from dashboard.routes.consumers import run_write

    assert run_write(viewer, {"type": "apply", "yaml": reviews_weights(v3=100)})["status"] == 403
    assert set(routes_mesh.versions_seen(8)) == {"v1"}


def test_view_only_disables_writes_for_operators_too(routes_mesh, operator_client, settings):
    settings.VIEW_ONLY = True
    assert operator_client.get(SHIFT).status_code == 403
    response = operator_client.put(
        "/api/istio/default/virtualservices/reviews", reviews_weights(v3=100), content_type="application/yaml"
    )
    assert response.status_code == 403 and "view-only" in response.json()["error"]
    assert stored(routes_mesh, "virtualservices", "reviews") is None


def test_preview_shows_yaml_diff_envoy_diff_and_warnings_and_applies_nothing(routes_mesh, operator_client):
    response = operator_client.post(SHIFT, {"weight_v1": 0, "weight_v2": 0, "weight_v3": 100, "preview": "1"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "Preview: nothing is applied yet" in text
    assert "VirtualService default/reviews: created" in text
    assert "outbound|9080|v3|reviews.default.svc.cluster.local" in text  # the Envoy route diff
    assert "RouteConfiguration 9080" in text
    assert stored(routes_mesh, "virtualservices", "reviews") is None
    api = operator_client.post(
        "/api/routes/preview", sample("destination-rule-all"), content_type="application/yaml"
    )
    assert api.status_code == 200
    assert "DestinationRule/ratings.spec.subsets[1].labels" in {w["path"] for w in api.json()["warnings"]}


def test_yaml_editor_import_and_export_round_trip(routes_mesh, operator_client):
    imported = operator_client.post("/routes/import/", {"yaml": reviews_weights(v2=100), "apply": "1"})
    assert imported.status_code == 302, imported.content.decode()[:2000]
    assert set(routes_mesh.versions_seen(5)) == {"v2"}
    exported = operator_client.get("/routes/export.yaml").content.decode()
    assert "resourceVersion" not in exported and "kind: VirtualService" in exported
    result = routes_mesh.cli("apply", "--dry-run", "-f", "-", stdin=exported)
    assert result.returncode == 0, result.stderr  # the export is what `apply -f` takes
    editor = operator_client.get("/routes/virtualservices/default/reviews/yaml/")
    assert b"resourceVersion" in editor.content
