"""Route editing in a real Chromium against real Daphne + Celery + Redis and the real mesh.

An operator shifts reviews to 100 % v3 from the form; the map open in another tab shows the
traffic moving to v3 (and the configured 100 %) without a reload, and the reviews chart open in a
third tab draws a change marker. A viewer sees no edit controls and the API answers 403.
Set MESHSCOPE_SCREENSHOTS=<dir> to keep screenshots of every page.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dashboard.procs import REPO, Dashboard
from tests.dashboard.test_browser import CHROMIUM_ARGS
from tests.support.samples import sample
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mesh, pytest.mark.browser]
VIEWER, VIEWER_PASSWORD = "vera", "vera-viewer-pass-1"
EDGE_RPS_JS = """(edgeId) => {
  const div = document.getElementById('map');
  if (!div || !div.data) return null;
  const labels = div.data.find(t => t.meta && t.meta.role === 'labels');
  const i = labels ? labels.customdata.findIndex(cd => cd[0] === edgeId) : -1;
  return i < 0 ? null : labels.text[i];
}"""


@pytest.fixture(scope="module")
def mesh(mesh):
    mesh.reset()
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.set_traffic(6)
    yield mesh
    mesh.set_traffic(0)
    mesh.reset()


@pytest.fixture(scope="module")
def viewer_account(dashboard):
    code = (
        "from django.contrib.auth.models import Group, User; "
        f"u = User.objects.create_user({VIEWER!r}, password={VIEWER_PASSWORD!r}); "
        "u.groups.add(Group.objects.get_or_create(name='viewer')[0])"
    )
    subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "shell", "-c", code],
        env={**os.environ, **dashboard.env},
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return VIEWER


def shot(page, name: str) -> None:
    folder = os.environ.get("MESHSCOPE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(browser, dashboard, user: str, password: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(dashboard.url + "/accounts/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(dashboard.url + "/")
    return context, page, errors


def rps(page, edge: str) -> float | None:
    text = page.evaluate(EDGE_RPS_JS, edge)
    if not text or "rps" not in text:
        return None
    return float(text.split()[0])


def test_operator_shifts_reviews_to_v3_and_the_open_map_and_chart_follow(browser, dashboard, mesh):
    context, map_page, errors = log_in(browser, dashboard, Dashboard.USER, Dashboard.PASSWORD)
    map_page.wait_for_selector("#map .main-svg", timeout=30_000)
    wait_until(
        lambda: (rps(map_page, "svc:reviews->wl:reviews-v1") or 0) > 0.5,
        timeout=40,
        what="traffic to reviews v1",
    )
    map_page.evaluate("() => { window.__sameDocument = true; }")
    chart_page = context.new_page()
    chart_page.on("pageerror", lambda error: errors.append(str(error)))
    chart_page.goto(dashboard.url + "/services/reviews/")
    chart_page.wait_for_selector("#in-rps .main-svg", timeout=20_000)
    chart_page.evaluate("() => { window.__sameDocument = true; }")
    markers_before = int(chart_page.evaluate("() => document.body.dataset.routeMarkers || '0'"))

    form = context.new_page()
    form.goto(dashboard.url + "/routes/services/reviews/traffic-shifting/")
    shot(form, "traffic-shifting-form")
    form.fill("input[name=weight_v1]", "0")
    form.fill("input[name=weight_v2]", "0")
    form.fill("input[name=weight_v3]", "100")
    form.fill("input[name=reason]", "all on v3")
    form.click("#preview")
    form.wait_for_selector("text=Preview: nothing is applied yet")
    shot(form, "preview")
    form.click("#apply")
    form.wait_for_selector("#applied", timeout=30_000)
    assert "ACK" in form.text_content("#applied")
    shot(form, "applied")

    def moved() -> bool:
        v3, v1, v2 = (rps(map_page, f"svc:reviews->wl:reviews-{v}") for v in ("v3", "v1", "v2"))
        return (v3 or 0) > 0.5 and v1 == 0 and v2 == 0

    try:
        wait_until(moved, timeout=40, interval=0.5, what="the map shows reviews traffic on v3 only")
    except TimeoutError:
        raise AssertionError(dashboard.logs()) from None
    assert "100%" in map_page.evaluate(EDGE_RPS_JS, "svc:reviews->wl:reviews-v3")
    assert map_page.evaluate("() => window.__sameDocument === true"), "the map was reloaded"
    shot(map_page, "map-after-shift")

    wait_until(
        lambda: int(chart_page.evaluate("() => document.body.dataset.routeMarkers || '0'")) > markers_before,
        timeout=20,
        what="a change marker on the reviews chart",
    )
    shapes = chart_page.evaluate("() => (document.getElementById('in-rps').layout.shapes || []).length")
    assert shapes >= 1
    assert chart_page.evaluate("() => window.__sameDocument === true")
    chart_page.wait_for_selector("#route-changes table", timeout=20_000)
    shot(chart_page, "reviews-chart-marker")
    form.goto(dashboard.url + "/routes/")
    shot(form, "routes-list-operator")
    assert errors == [], errors
    context.close()


def test_viewer_sees_no_edit_controls_and_the_api_refuses_writes(browser, dashboard, mesh, viewer_account):
    context, page, errors = log_in(browser, dashboard, VIEWER, VIEWER_PASSWORD)
    page.goto(dashboard.url + "/routes/")
    page.wait_for_selector("h1")
    shot(page, "routes-list-viewer")
    body = page.text_content("main")
    assert "reviews" in body and "view only" in body
    for control in ("Traffic shifting", "New / import", "Edit YAML", "Delete"):
        assert control not in body
    status = page.evaluate(
        """async () => {
            const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
            const r = await fetch('/api/istio/default/virtualservices/reviews', {method: 'PUT',
                headers: {'Content-Type': 'application/yaml', 'X-CSRFToken': token},
                body: 'apiVersion: networking.istio.io/v1\\nkind: VirtualService\\nmetadata: {name: reviews}\\nspec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: v1}}]}]}\\n'});
            return [r.status, (await r.json()).error];
        }"""
    )
    assert status == [403, "changing routes needs the operator role"]
    page.goto(dashboard.url + "/routes/services/reviews/traffic-shifting/")
    assert "needs the operator role" in page.text_content("#forbidden")
    assert errors == [], errors
    context.close()
