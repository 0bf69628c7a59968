"""The live badge in a real Chromium: it turns "stale since hh:mm:ss" when the poller stops (no
update for 3 poll intervals) on the map, the service page and the sidecar page alike, and back to
"live" when the poller returns; /api/topology and the health page say the same, and the health
page's own badge follows its refreshes. Real Daphne +
Celery worker + beat + Redis against the fake mesh (moving counters, no Envoy needed)."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.fakemesh import FakeMesh
from tests.dashboard.procs import Dashboard, get_json, start_beat
from tests.dashboard.routes.test_routes_browser import browser, log_in  # noqa: F401 - fixture
from tests.support.processes import stop_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser
STALE_TEXT = re.compile(r"^◐ stale since \d\d:\d\d:\d\d$")


@pytest.fixture(scope="module")
def mesh():
    fake = FakeMesh(rate=5.0).start()
    yield fake
    fake.stop()


def badge(page) -> tuple[str | None, str]:
    return page.get_attribute("#connection", "data-state"), page.text_content("#connection") or ""


def test_badge_turns_stale_when_the_poller_stops_and_live_when_it_returns(browser, dashboard):  # noqa: F811
    context, map_page, errors = log_in(browser, dashboard, Dashboard.USER, Dashboard.PASSWORD)
    map_page.wait_for_selector("#map .main-svg", timeout=30_000)
    wait_until(lambda: badge(map_page)[0] == "live", timeout=30, what="map live")
    opener = dashboard.login()
    # A fresh feed first: the snapshot is younger than 3 intervals.
    wait_until(
        lambda: get_json(opener, dashboard.url + "/api/topology")["snapshot_age_s"] < 3,
        timeout=30,
        what="a fresh snapshot",
    )

    stop_process(dashboard.beat)
    try:
        wait_until(lambda: badge(map_page)[0] == "stale", timeout=30, what="map badge stale")
        text = badge(map_page)[1]
        assert STALE_TEXT.match(text), text
        # The other live pages show the same badge (the sidecar page used to say "not live").
        others = []
        for path in ("/services/productpage/", "/services/sidecars/reviews-v1/"):
            page = context.new_page()
            page.goto(dashboard.url + path)
            others.append(page)
        for page in others:
            wait_until(lambda page=page: badge(page)[0] == "stale", timeout=30, what=f"stale on {page.url}")
            assert STALE_TEXT.match(badge(page)[1]), badge(page)
        topology = get_json(opener, dashboard.url + "/api/topology")
        assert topology["snapshot_age_s"] > 3
        health = get_json(opener, dashboard.url + "/api/health")
        poller = next(c for c in health["checks"] if c["name"] == "poller")
        assert poller["state"] == "down" and "last poll" in poller["error"]
        health_page = context.new_page()
        health_page.goto(dashboard.url + "/health/")
        assert health_page.get_attribute('tr[data-check="poller"]', "data-state") == "down"
    finally:
        dashboard.beat = start_beat(
            dashboard.env, dashboard.tmp / "beat.log", dashboard.tmp / "beat-schedule"
        )
    try:
        wait_until(lambda: badge(map_page)[0] == "live", timeout=60, what="map badge live again")
    except TimeoutError:
        raise AssertionError(dashboard.logs()) from None
    for page in others:
        wait_until(lambda page=page: badge(page)[0] == "live", timeout=30, what=f"live on {page.url}")
    # The health page refreshes itself: the poller comes back up without a reload.
    wait_until(
        lambda: health_page.get_attribute('tr[data-check="poller"]', "data-state") == "up",
        timeout=30,
        what="poller up on the health page",
    )
    # Its badge follows its own refreshes: live while they succeed, stale when one fails.
    assert badge(health_page)[0] == "live", badge(health_page)
    health_page.route("**/health/?fragment=1", lambda route: route.abort())
    wait_until(lambda: badge(health_page)[0] == "stale", timeout=15, what="health badge stale")
    assert STALE_TEXT.match(badge(health_page)[1]), badge(health_page)
    health_page.unroute("**/health/?fragment=1")
    wait_until(lambda: badge(health_page)[0] == "live", timeout=15, what="health badge live again")
    context.close()
    assert errors == [], errors
