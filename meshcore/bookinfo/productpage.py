"""productpage: BookInfo's front end (Istio's productpage.py), calling details and reviews.

Routes
  GET  /, /index.html                 landing page with links
  GET  /health                        200 "Product page is healthy"
  GET  /productpage                   the book page; always 200, with BookInfo's error messages in
                                      place of details/reviews when they fail
  POST /login    (form: username)     sets cookie `user=<name>`, 302 -> /productpage
  GET  /logout                        clears the cookie, 302 -> /productpage
  GET  /api/v1/products               the product list
  GET  /api/v1/products/<id>          details' JSON; details' status (500 if no answer) on failure
  GET  /api/v1/products/<id>/reviews  reviews' JSON; likewise
  GET  /api/v1/products/<id>/ratings  ratings' JSON (productpage calls ratings directly); likewise

Upstream calls carry the propagated headers plus `end-user: <name>` when the `user` cookie is set
(BookInfo keeps the user in its session cookie; the VirtualService for "jason" matches on
`end-user`). Details and reviews are fetched concurrently; reviews is tried twice, the "bug
introduced explicitly for illustration in fault injection task" of the original, so a 7 s delay
on ratings plus a 3 s timeout here shows up as a ~6 s page.

Environment (seconds): BOOKINFO_DETAILS_TIMEOUT, BOOKINFO_REVIEWS_TIMEOUT (per attempt),
BOOKINFO_RATINGS_TIMEOUT, each 3.0 by default as in the original.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from meshcore.bookinfo import productpage_html
from meshcore.bookinfo.env_settings import env_seconds
from meshcore.bookinfo.mesh_client import MESH_CLIENT, MeshCallError, MeshClient, install_mesh_client
from meshcore.bookinfo.propagation import forward_headers

log = logging.getLogger(__name__)

USER_COOKIE = "user"
MAX_USERNAME_LENGTH = 64
# Printable characters only: the name travels in a cookie and in the end-user header, where
# control characters (CR/LF above all) would break or smuggle headers.
_USERNAME = re.compile(r"^[^\x00-\x1f\x7f]+$")

DETAILS_ERROR = productpage_html.DETAILS_UNAVAILABLE
REVIEWS_ERROR = productpage_html.REVIEWS_UNAVAILABLE
RATINGS_ERROR = "Sorry, product ratings are currently unavailable for this book."

PRODUCTS: tuple[dict[str, Any], ...] = (
    {
        "id": 0,
        "title": "The Comedy of Errors",
        "descriptionHtml": (
            '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: '
            "The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his "
            "shortest and one of his most farcical comedies, with a major part of the humour coming "
            "from slapstick and mistaken identity, in addition to puns and word play."
        ),
    },
)


@dataclass(frozen=True)
class ProductpageSettings:
    """Timeouts (seconds) of productpage's upstream calls."""

    details_timeout: float = 3.0
    reviews_timeout: float = 3.0
    ratings_timeout: float = 3.0
    reviews_attempts: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProductpageSettings:
        """Read BOOKINFO_{DETAILS,REVIEWS,RATINGS}_TIMEOUT; ValueError names a bad variable."""
        return cls(
            details_timeout=env_seconds(env, "BOOKINFO_DETAILS_TIMEOUT", 3.0),
            reviews_timeout=env_seconds(env, "BOOKINFO_REVIEWS_TIMEOUT", 3.0),
            ratings_timeout=env_seconds(env, "BOOKINFO_RATINGS_TIMEOUT", 3.0),
        )


@dataclass(frozen=True)
class Fetched:
    """What productpage got from a service: the status to report and the JSON to show."""

    status: int
    data: Any


def validate_username(raw: str | None) -> str:
    """The username to sign in with; ValueError says why `raw` is not acceptable."""
    name = (raw or "").strip()
    if not name:
        raise ValueError("username: must not be empty")
    if len(name) > MAX_USERNAME_LENGTH:
        raise ValueError(f"username: at most {MAX_USERNAME_LENGTH} characters")
    if not _USERNAME.match(name):
        raise ValueError("username: control characters are not allowed")
    return name


def upstream_headers(incoming: Mapping[str, str], user: str) -> dict[str, str]:
    """Headers for productpage's calls: the propagated ones, with `end-user` from the signed-in
    user only. As in BookInfo, an `end-user` header sent by the browser is not trusted."""
    headers = forward_headers(incoming)
    headers.pop("end-user", None)
    if user:
        headers["end-user"] = user
    return headers


def get_product(product_id: int) -> dict[str, Any] | None:
    return PRODUCTS[product_id] if 0 <= product_id < len(PRODUCTS) else None


async def _fetch(
    client: MeshClient, service: str, path: str, headers: dict[str, str], timeout: float, error: str
) -> Fetched:
    """One call with BookInfo's error handling: 200 -> its JSON, anything else -> (status, error),
    status 500 when no response came back at all."""
    try:
        response = await client.call(service, path, headers, timeout)
    except MeshCallError as failure:
        log.warning("%s", failure)
        return Fetched(500, {"error": error})
    if response.status == 200:
        return Fetched(200, response.data)
    return Fetched(response.status, {"error": error})


async def get_product_details(
    client: MeshClient, product_id: str, headers: dict[str, str], settings: ProductpageSettings
) -> Fetched:
    path = f"/details/{quote(product_id, safe='')}"
    return await _fetch(client, "details", path, headers, settings.details_timeout, DETAILS_ERROR)


async def get_product_reviews(
    client: MeshClient, product_id: str, headers: dict[str, str], settings: ProductpageSettings
) -> Fetched:
    path = f"/reviews/{quote(product_id, safe='')}"
    result = Fetched(500, {"error": REVIEWS_ERROR})
    # Do not remove: BookInfo's deliberate double attempt, kept so fault-injection demos show the
    # same timings as on Istio (see the module docstring).
    for _ in range(max(1, settings.reviews_attempts)):
        result = await _fetch(client, "reviews", path, headers, settings.reviews_timeout, REVIEWS_ERROR)
        if result.status == 200:
            return result
    return result


async def get_product_ratings(
    client: MeshClient, product_id: str, headers: dict[str, str], settings: ProductpageSettings
) -> Fetched:
    path = f"/ratings/{quote(product_id, safe='')}"
    return await _fetch(client, "ratings", path, headers, settings.ratings_timeout, RATINGS_ERROR)


SETTINGS = web.AppKey("productpage_settings", ProductpageSettings)


def _user(request: web.Request) -> str:
    """The signed-in user, "" for none. A cookie /login would not have set counts as none: its
    value goes into the end-user header."""
    try:
        return validate_username(request.cookies.get(USER_COOKIE))
    except ValueError:
        return ""


async def index(request: web.Request) -> web.Response:
    services = {
        "details": "publication facts, http://details:9080/details/<id>",
        "reviews": "reviews (v2/v3 with ratings), http://reviews:9080/reviews/<id>",
        "ratings": "stars, http://ratings:9080/ratings/<id>",
    }
    return web.Response(text=productpage_html.render_index(services), content_type="text/html")


async def health(request: web.Request) -> web.Response:
    return web.Response(text="Product page is healthy")


async def product_page(request: web.Request) -> web.Response:
    product_id = 0  # BookInfo has one book.
    user = _user(request)
    headers = upstream_headers(request.headers, user)
    client, settings = request.app[MESH_CLIENT], request.app[SETTINGS]
    details, reviews = await asyncio.gather(
        get_product_details(client, str(product_id), headers, settings),
        get_product_reviews(client, str(product_id), headers, settings),
    )
    product = get_product(product_id)
    assert product is not None
    page = productpage_html.render_product_page(
        product, details.status, details.data, reviews.status, reviews.data, user
    )
    return web.Response(text=page, content_type="text/html")


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    raw = form.get("username")
    try:
        user = validate_username(raw if isinstance(raw, str) else None)
    except ValueError as error:
        return web.Response(status=400, text=str(error))
    response = _redirect("/productpage")
    response.set_cookie(USER_COOKIE, user, path="/", httponly=True, samesite="Lax")
    return response


async def logout(request: web.Request) -> web.Response:
    response = _redirect("/productpage")
    response.del_cookie(USER_COOKIE, path="/")
    return response


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


async def products_api(request: web.Request) -> web.Response:
    return web.json_response(list(PRODUCTS))


Fetcher = Callable[[MeshClient, str, dict[str, str], ProductpageSettings], Awaitable[Fetched]]


def _api(fetch: Fetcher) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A JSON API handler around one of the get_product_* functions (status passed through)."""

    async def handler(request: web.Request) -> web.Response:
        headers = upstream_headers(request.headers, _user(request))
        result = await fetch(
            request.app[MESH_CLIENT], request.match_info["product_id"], headers, request.app[SETTINGS]
        )
        return web.json_response(result.data, status=result.status)

    return handler


def create_app(outbound: str, settings: ProductpageSettings | None = None) -> web.Application:
    """The productpage application, calling through the sidecar at `outbound` (HOST:PORT).
    `settings` default to ProductpageSettings.from_env(os.environ)."""
    app = web.Application()
    app[SETTINGS] = settings or ProductpageSettings.from_env(os.environ)
    install_mesh_client(app, outbound)
    app.router.add_get("/", index)
    app.router.add_get("/index.html", index)
    app.router.add_get("/health", health)
    app.router.add_get("/productpage", product_page)
    app.router.add_post("/login", login)
    app.router.add_get("/logout", logout)
    app.router.add_get("/api/v1/products", products_api)
    app.router.add_get("/api/v1/products/{product_id}", _api(get_product_details))
    app.router.add_get("/api/v1/products/{product_id}/reviews", _api(get_product_reviews))
    app.router.add_get("/api/v1/products/{product_id}/ratings", _api(get_product_ratings))
    return app
