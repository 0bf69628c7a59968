"""details, ratings and reviews on their own: documents, failure modes, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from meshcore.bookinfo import details, ratings
from meshcore.bookinfo.ratings import RatingsBehaviour, RatingsSettings
from meshcore.bookinfo.reviews import RATINGS_UNAVAILABLE, ReviewsSettings, parse_stars, reviews_document

ClientFactory = Callable[[web.Application], Awaitable[TestClient]]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    """Serve an app on a free loopback port and return a client for it; all closed afterwards."""
    clients: list[TestClient] = []

    async def make(app: web.Application) -> TestClient:
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_details_serves_bookinfo_facts(client_for: ClientFactory) -> None:
    client = await client_for(details.create_app())

    response = await client.get("/details/0")
    assert response.status == 200
    assert await response.json() == {
        "id": 0,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 200,
        "publisher": "PublisherA",
        "language": "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
    }
    bad = await client.get("/details/abc")
    assert bad.status == 400
    assert await bad.json() == {"error": "please provide numeric product id", "errors": []}


async def test_ratings_get_post_and_bad_input(client_for: ClientFactory) -> None:
    client = await client_for(ratings.create_app("v1", RatingsSettings()))

    assert await (await client.get("/ratings/0")).json() == {
        "id": 0,
        "ratings": {"Reviewer1": 5, "Reviewer2": 4},
    }
    posted = await client.post("/ratings/7", json={"Reviewer1": 1, "Reviewer2": 2})
    assert posted.status == 200
    assert await posted.json() == {"id": 7, "ratings": {"Reviewer1": 1, "Reviewer2": 2}}
    assert (await (await client.get("/ratings/7")).json())["ratings"] == {"Reviewer1": 1, "Reviewer2": 2}
    assert (await (await client.get("/ratings/0")).json())["ratings"]["Reviewer1"] == 5

    assert (await client.get("/ratings/x")).status == 400
    invalid = await client.post("/ratings/7", data=b"not json", headers={"Content-Type": "application/json"})
    assert invalid.status == 400
    assert await invalid.json() == {"error": "please provide valid ratings JSON", "errors": []}


async def test_ratings_unavailable_mode_answers_503(client_for: ClientFactory) -> None:
    client = await client_for(ratings.create_app("v1", RatingsSettings(mode="v-unavailable")))

    response = await client.get("/ratings/0")
    assert response.status == 503
    assert await response.json() == {"error": "Service unavailable", "errors": []}


async def test_ratings_unhealthy_mode_turns_unhealthy_after_the_configured_time(
    client_for: ClientFactory,
) -> None:
    client = await client_for(
        ratings.create_app("v1", RatingsSettings(mode="v-unhealthy", unhealthy_after_seconds=0))
    )

    assert (await client.get("/ratings/0")).status == 503
    assert (await client.get("/health")).status == 500


def test_ratings_failure_modes_follow_the_coin() -> None:
    coin = iter([0.4, 0.6])
    faulty = RatingsBehaviour(RatingsSettings(mode="v-faulty"), chance=lambda: next(coin))
    assert [faulty.next_get().status for _ in range(2)] == [503, 200]

    coin = iter([0.1, 0.9])
    delayed = RatingsBehaviour(RatingsSettings(mode="v-delayed", delay_seconds=7), chance=lambda: next(coin))
    assert [delayed.next_get().delay for _ in range(2)] == [7, 0]

    now = [100.0]
    unhealthy = RatingsBehaviour(
        RatingsSettings(mode="v-unhealthy", unhealthy_after_seconds=900), clock=lambda: now[0]
    )
    assert unhealthy.next_get().status == 200 and not unhealthy.unhealthy()
    now[0] += 900
    assert unhealthy.next_get().status == 503 and unhealthy.unhealthy()


def test_ratings_settings_come_from_the_environment() -> None:
    settings = RatingsSettings.from_env(
        {"SERVICE_VERSION": "v-delayed", "RATINGS_DELAY_SECONDS": "0.5"}, version="v1"
    )
    assert (settings.mode, settings.delay_seconds) == ("v-delayed", 0.5)
    assert RatingsSettings.from_env({}, version="v-faulty").mode == "v-faulty"
    assert RatingsSettings.from_env({}, version="v1").mode == ""
    with pytest.raises(ValueError, match="RATINGS_DELAY_SECONDS"):
        RatingsSettings.from_env({"RATINGS_DELAY_SECONDS": "soon"})


def test_reviews_versions() -> None:
    v1, v2, v3 = (ReviewsSettings.for_version(v) for v in ("v1", "v2", "v3"))
    assert not v1.ratings_enabled
    assert (v2.ratings_enabled, v2.star_color, v2.ratings_timeout) == (True, "black", 10.0)
    assert (v3.ratings_enabled, v3.star_color, v3.ratings_timeout) == (True, "red", 2.5)


def test_reviews_document_matches_the_java_service() -> None:
    document = reviews_document("0", ReviewsSettings.for_version("v2"), {"Reviewer1": 5, "Reviewer2": 4})

    assert document["id"] == "0"
    assert document["podname"] == "reviews-v2"
    assert document["clustername"] == "null"
    assert [review["rating"] for review in document["reviews"]] == [
        {"stars": 5, "color": "black"},
        {"stars": 4, "color": "black"},
    ]
    v1 = reviews_document("0", ReviewsSettings.for_version("v1"), None)
    assert all("rating" not in review for review in v1["reviews"])
    failed = reviews_document("0", ReviewsSettings.for_version("v3"), None)
    assert [review["rating"] for review in failed["reviews"]] == [{"error": RATINGS_UNAVAILABLE}] * 2


def test_parse_stars_accepts_only_ratings_documents() -> None:
    assert parse_stars({"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": "x"}}) == {"Reviewer1": 5}
    assert parse_stars({"error": "Service unavailable"}) is None
    assert parse_stars(None) is None
