"""BookInfo end to end through a sidecar test double.

The apps run in-process on loopback ports and call each other by name through SidecarDouble, which
stands in for the Envoy sidecars' outbound listeners (routing on the Host header, recording the
headers it sees, injecting delays and aborts). It is not Envoy: the real path, with Envoy sidecars
configured by the control plane, is covered by the mesh end-to-end tests.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from meshcore.bookinfo.productpage_html import DETAILS_UNAVAILABLE, RATINGS_UNAVAILABLE, REVIEWS_UNAVAILABLE
from meshcore.bookinfo.propagation import TRACING_HEADERS
from meshcore.traffic import TrafficGenerator
from tests.meshcore.bookinfo.conftest import Bookinfo
from tests.support.waiting import async_wait_until

REVIEW_1 = "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"
REVIEW_2 = "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."


def holds(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()

    return check


def stars(page: str, color: str, kind: str) -> int:
    return len(re.findall(rf'class="star star-{color} star-{kind}"', page))


@pytest.mark.parametrize(
    ("version", "color"),
    [("v1", None), ("v2", "black"), ("v3", "red")],
)
async def test_page_shows_the_reviews_version_and_its_stars(
    bookinfo: Bookinfo, version: str, color: str | None
) -> None:
    bookinfo.use_reviews(version)

    status, page = await bookinfo.page()

    assert status == 200
    assert "The Comedy of Errors" in page
    assert "one of <b>William Shakespeare's</b> early plays" in page
    assert "PublisherA" in page and "1234567890" in page and "paperback" in page
    assert REVIEW_1 in page and REVIEW_2 in page
    assert f"Reviews served by: reviews-{version}" in page
    assert f'data-reviews-version="{version}"' in page
    if color is None:
        assert 'class="star ' not in page
        assert bookinfo.double.to("ratings") == []
    else:
        other = "red" if color == "black" else "black"
        # Reviewer1 gave 5 stars, Reviewer2 4: nine full and one empty star, all of one color.
        assert (stars(page, color, "full"), stars(page, color, "empty")) == (9, 1)
        assert stars(page, other, "full") + stars(page, other, "empty") == 0
        assert len(bookinfo.double.to("ratings")) == 1


async def test_login_sets_the_cookie_and_end_user_reaches_reviews_and_ratings(bookinfo: Bookinfo) -> None:
    async with bookinfo.session.post(
        bookinfo.productpage_url + "/login", data={"username": "jason"}, allow_redirects=False
    ) as response:
        assert response.status == 302
        assert response.headers["Location"] == "/productpage"
        assert response.cookies["user"].value == "jason"

    status, page = await bookinfo.page()

    assert status == 200
    assert "signed in as <strong>jason</strong>" in page
    assert 'href="/logout"' in page
    assert bookinfo.double.to("reviews")[-1].headers.get("end-user") == "jason"
    assert bookinfo.double.to("ratings")[-1].headers.get("end-user") == "jason"

    async with bookinfo.session.get(bookinfo.productpage_url + "/logout") as response:
        # Redirected back to the page, now anonymous.
        assert response.status == 200
        page = await response.text()
    assert "signed in as" not in page
    assert 'action="/login"' in page
    assert "end-user" not in bookinfo.double.to("reviews")[-1].headers


async def test_every_tracing_header_is_forwarded_hop_by_hop(bookinfo: Bookinfo) -> None:
    incoming = {name: f"value-of-{name}" for name in TRACING_HEADERS}
    incoming["user-agent"] = "tracing-test/1.0"

    status, _ = await bookinfo.page(headers=incoming)

    assert status == 200
    assert set(TRACING_HEADERS) >= {"x-request-id", "traceparent", "x-b3-traceid", "x-ot-span-context"}
    # productpage -> details and reviews; reviews -> ratings.
    for service in ("details", "reviews", "ratings"):
        (received,) = bookinfo.double.to(service)
        for name, value in incoming.items():
            assert received.headers.get(name) == value, f"{name} not forwarded to {service}"
        assert received.headers["Host"] == f"{service}:9080"


async def test_an_end_user_header_from_the_browser_is_not_trusted(bookinfo: Bookinfo) -> None:
    await bookinfo.page(headers={"end-user": "jason"})

    assert "end-user" not in bookinfo.double.to("reviews")[-1].headers


async def test_the_username_is_escaped(bookinfo: Bookinfo) -> None:
    async with bookinfo.session.post(
        bookinfo.productpage_url + "/login", data={"username": "<script>alert('x')</script>"}
    ) as response:
        page = await response.text()

    assert response.status == 200
    assert "<script>alert" not in page
    assert "signed in as <strong>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</strong>" in page


@pytest.mark.parametrize("username", ["", "   ", "a\r\nX-Evil: 1", "x" * 65])
async def test_login_rejects_unusable_names(bookinfo: Bookinfo, username: str) -> None:
    async with bookinfo.session.post(
        bookinfo.productpage_url + "/login", data={"username": username}, allow_redirects=False
    ) as response:
        assert response.status == 400
        assert (await response.text()).startswith("username:")
        assert "user" not in response.cookies


async def test_details_down_shows_the_details_message(bookinfo: Bookinfo) -> None:
    del bookinfo.double.routes["details"]

    status, page = await bookinfo.page()

    assert status == 200
    assert DETAILS_UNAVAILABLE in page
    assert "PublisherA" not in page
    assert 'data-reviews-version="v2"' in page


async def test_ratings_down_shows_the_ratings_message(bookinfo: Bookinfo) -> None:
    bookinfo.double.aborts["ratings"] = 503

    status, page = await bookinfo.page()

    assert status == 200
    assert page.count(RATINGS_UNAVAILABLE) == 2
    assert 'class="star ' not in page
    assert REVIEW_1 in page and "Reviews served by: reviews-v2" in page


async def test_slow_reviews_show_the_reviews_message_after_two_attempts(
    bookinfo: Bookinfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOKINFO_REVIEWS_TIMEOUT", "0.2")
    await bookinfo.start_productpage()
    bookinfo.double.delays["reviews"] = 1.0

    status, page = await bookinfo.page()

    assert status == 200
    assert REVIEWS_UNAVAILABLE in page
    assert "data-reviews-version" not in page
    assert "PublisherA" in page
    # BookInfo's deliberate second attempt.
    assert len(bookinfo.double.to("reviews")) == 2


async def test_reviews_failing_once_is_retried_and_the_page_is_complete(bookinfo: Bookinfo) -> None:
    bookinfo.double.fail_next["reviews"] = 1

    status, page = await bookinfo.page()

    assert status == 200
    assert 'data-reviews-version="v2"' in page
    assert len(bookinfo.double.to("reviews")) == 2


async def test_api_returns_bookinfo_json(bookinfo: Bookinfo) -> None:
    base = bookinfo.productpage_url + "/api/v1/products"
    async with bookinfo.session.get(base) as response:
        products = await response.json()
    assert products[0]["id"] == 0 and products[0]["title"] == "The Comedy of Errors"

    async with bookinfo.session.get(base + "/0") as response:
        assert response.status == 200
        assert (await response.json())["author"] == "William Shakespeare"
    async with bookinfo.session.get(base + "/0/reviews") as response:
        assert (await response.json())["podname"] == "reviews-v2"
    async with bookinfo.session.get(base + "/0/ratings") as response:
        assert await response.json() == {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}


async def test_api_passes_the_upstream_failure_status_through(bookinfo: Bookinfo) -> None:
    bookinfo.double.aborts["details"] = 503
    del bookinfo.double.routes["ratings"]
    base = bookinfo.productpage_url + "/api/v1/products/0"

    async with bookinfo.session.get(base) as response:
        assert response.status == 503
        assert await response.json() == {"error": DETAILS_UNAVAILABLE}
    async with bookinfo.session.get(base + "/ratings") as response:
        assert response.status == 503
        assert await response.json() == {
            "error": "Sorry, product ratings are currently unavailable for this book."
        }


async def test_api_reports_details_rejecting_a_bad_id(bookinfo: Bookinfo) -> None:
    async with bookinfo.session.get(bookinfo.productpage_url + "/api/v1/products/abc") as response:
        # details rejects a non-numeric id with 400, which productpage reports as is.
        assert response.status == 400
        assert await response.json() == {"error": DETAILS_UNAVAILABLE}
    assert bookinfo.double.to("details")[-1].path == "/details/abc"


async def test_every_app_answers_health(bookinfo: Bookinfo) -> None:
    for url in [bookinfo.productpage_url, *bookinfo.urls.values()]:
        async with bookinfo.session.get(url + "/health") as response:
            assert response.status == 200, url


async def test_index_links_to_the_product_page(bookinfo: Bookinfo) -> None:
    async with bookinfo.session.get(bookinfo.productpage_url + "/") as response:
        assert response.status == 200
        assert 'href="/productpage"' in await response.text()


async def test_traffic_generator_against_productpage_sees_versions_and_users(bookinfo: Bookinfo) -> None:
    bookinfo.use_reviews("v3")
    generator = TrafficGenerator(bookinfo.productpage_url, rate=50, seed=11)

    await generator.start()
    await async_wait_until(holds(lambda: generator.report()["completed"] >= 30), timeout=15, what="pages")
    await generator.stop()
    report = generator.report()

    assert report["by_status"] == {"200": report["completed"]}
    assert report["by_reviews_version"]["v3"] == report["completed"]
    # Every signed-in page view reached reviews as end-user "jason", anonymous ones without it.
    end_users = Counter(r.headers.get("end-user", "anonymous") for r in bookinfo.double.to("reviews"))
    assert dict(end_users) == report["by_user"]
