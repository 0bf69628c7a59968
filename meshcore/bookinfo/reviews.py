"""reviews: two reviews of the book, with stars from ratings in v2/v3 (Istio's LibertyRestEndpoint.java).

Routes: `GET /reviews/<id>` -> 200 JSON
`{"id": "<id>", "podname": "reviews-vN", "clustername": "null", "reviews": [...]}` (the id is a
string and clustername the string "null", byte for byte what the Java service sends);
`GET /health` -> 200.

Versions (the original sets these through ENABLE_RATINGS / STAR_COLOR per image):
  v1  never calls ratings; reviews carry no "rating" field
  v2  calls ratings with a 10 s timeout; stars are "black"
  v3  calls ratings with a 2.5 s timeout; stars are "red"
When ratings fails, times out or answers without a reviewer's stars, that review's rating is
`{"error": "Ratings service is currently unavailable"}`; reviews itself still answers 200.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from meshcore.bookinfo.mesh_client import MESH_CLIENT, MeshCallError, MeshClient, install_mesh_client
from meshcore.bookinfo.propagation import forward_headers

log = logging.getLogger(__name__)

RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"
REVIEWS: tuple[tuple[str, str], ...] = (
    ("Reviewer1", "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"),
    (
        "Reviewer2",
        "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.",
    ),
)


@dataclass(frozen=True)
class ReviewsSettings:
    """What distinguishes the reviews versions."""

    version: str
    ratings_enabled: bool
    star_color: str = "black"
    # The Java client uses 10 s for black stars and 2.5 s otherwise; the fault-injection task
    # (a 7 s ratings delay) depends on v3 timing out and v2 not.
    ratings_timeout: float = 10.0

    @classmethod
    def for_version(cls, version: str) -> ReviewsSettings:
        if version == "v1":
            return cls(version, ratings_enabled=False)
        if version == "v3":
            return cls(version, ratings_enabled=True, star_color="red", ratings_timeout=2.5)
        # v2, and any other version: the black-star build.
        return cls(version, ratings_enabled=True, star_color="black", ratings_timeout=10.0)

    @property
    def podname(self) -> str:
        return f"reviews-{self.version}"


def reviews_document(
    product_id: str, settings: ReviewsSettings, stars: dict[str, int] | None
) -> dict[str, Any]:
    """The JSON reviews returns. `stars` maps reviewer -> stars; None means ratings did not answer."""
    reviews: list[dict[str, Any]] = []
    for reviewer, text in REVIEWS:
        review: dict[str, Any] = {"reviewer": reviewer, "text": text}
        if settings.ratings_enabled:
            if stars is not None and reviewer in stars:
                review["rating"] = {"stars": stars[reviewer], "color": settings.star_color}
            else:
                review["rating"] = {"error": RATINGS_UNAVAILABLE}
        reviews.append(review)
    return {"id": product_id, "podname": settings.podname, "clustername": "null", "reviews": reviews}


def parse_stars(document: Any) -> dict[str, int] | None:
    """Reviewer -> stars from a ratings response body; None if it is not a ratings document."""
    if not isinstance(document, dict) or not isinstance(document.get("ratings"), dict):
        return None
    return {
        reviewer: stars
        for reviewer, stars in document["ratings"].items()
        if isinstance(stars, int) and not isinstance(stars, bool)
    }


async def fetch_stars(
    client: MeshClient, product_id: str, headers: dict[str, str], timeout: float
) -> dict[str, int] | None:
    """Ask ratings for the stars of `product_id`; None when it fails (any non-200 or no answer)."""
    try:
        response = await client.call("ratings", f"/ratings/{product_id}", headers, timeout)
    except MeshCallError as error:
        log.warning("ratings call failed: %s", error)
        return None
    if response.status != 200:
        log.warning("ratings answered %s", response.status)
        return None
    return parse_stars(response.data)


SETTINGS = web.AppKey("reviews_settings", ReviewsSettings)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "Reviews is healthy"})


async def get_reviews(request: web.Request) -> web.Response:
    # Normalised like the Java service's Integer.toString(int): "007" -> "7".
    product_id = str(int(request.match_info["product_id"]))
    settings = request.app[SETTINGS]
    stars = None
    if settings.ratings_enabled:
        stars = await fetch_stars(
            request.app[MESH_CLIENT], product_id, forward_headers(request.headers), settings.ratings_timeout
        )
    return web.json_response(reviews_document(product_id, settings, stars))


def create_app(version: str, outbound: str) -> web.Application:
    """The reviews application of `version`, calling ratings through the sidecar at `outbound`."""
    app = web.Application()
    app[SETTINGS] = ReviewsSettings.for_version(version)
    install_mesh_client(app, outbound)
    app.router.add_get("/health", health)
    # The Java endpoint takes an int path parameter: anything else is a 404 there too.
    app.router.add_get(r"/reviews/{product_id:\d+}", get_reviews)
    return app
