"""The security page and the PeerAuthentication form in a real Chromium, against real Daphne +
Celery + Redis and the real mesh.

An operator opens the security page (every workload PERMISSIVE, Istio's default), then in another
tab makes the mesh STRICT from the form (preview, apply); the security page still open updates
without a reload and shows STRICT on every workload. Set MESHSCOPE_SCREENSHOTS=<dir> to keep
screenshots of every page.
"""

from __future__ import annotations

import pytest

from tests.dashboard.procs import Dashboard
from tests.dashboard.routes.test_routes_browser import browser, log_in, shot
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mesh, pytest.mark.browser]
__all__ = ["browser"]
MODES_JS = """() => Object.fromEntries([...document.querySelectorAll('#workloads tr[data-workload]')]
  .map(row => [row.dataset.workload, row.querySelector('[data-mode]').dataset.mode]))"""


@pytest.fixture(scope="module")
def mesh(mesh):
    mesh.reset()
    yield mesh
    mesh.reset()


def test_strict_from_the_form_shows_live_on_the_open_security_page(browser, dashboard, mesh):
    context, page, errors = log_in(browser, dashboard, Dashboard.USER, Dashboard.PASSWORD)
    page.goto(dashboard.url + "/services/workloads/reviews-v1/")
    page.click("#security-page-link")
    page.wait_for_selector("#workloads tr[data-workload]")
    workloads = {w["name"] for w in mesh.registry()["workloads"]}
    assert page.evaluate(MODES_JS) == dict.fromkeys(workloads, "PERMISSIVE")
    page.evaluate("() => { window.__sameDocument = true; }")
    shot(page, "security-before")

    form = context.new_page()
    form.on("pageerror", lambda error: errors.append(str(error)))
    form.goto(dashboard.url + "/security/")
    form.click("#new-peerauthentications")
    form.select_option("select[name=scope]", "mesh")
    form.select_option("select[name=mode]", "STRICT")
    form.fill("input[name=reason]", "mTLS everywhere")
    shot(form, "peer-authentication-form")
    form.click("#preview")
    form.wait_for_selector("text=Preview: nothing is applied yet")
    assert "mode: STRICT" in form.text_content("main")
    changes = form.text_content("#security-changes tr[data-workload='details-v1']")
    assert "PERMISSIVE (default)" in changes and "STRICT (PeerAuthentication/istio-system/default)" in changes
    shot(form, "peer-authentication-preview")
    form.click("#apply")
    form.wait_for_selector("#applied", timeout=30_000)
    assert "ACK" in form.text_content("#applied")
    assert "PeerAuthentication istio-system/default" in form.text_content("h1")

    try:
        wait_until(
            lambda: page.evaluate(MODES_JS) == dict.fromkeys(workloads, "STRICT"),
            timeout=30,
            interval=0.5,
            what="the open security page shows STRICT everywhere",
        )
    except TimeoutError:
        raise AssertionError(dashboard.logs()) from None
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    assert "istio-system/default" in page.text_content("#peer-authentications tr[data-object]")
    shot(page, "security-after")
    assert mesh.page().status_code == 200  # BookInfo still works through the gateway
    assert errors == [], errors
    context.close()
