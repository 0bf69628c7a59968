"""details: the book's publication facts (Istio's details.rb, v1 behaviour).

Routes: `GET /details/<id>` -> 200 JSON facts, 400 `{"error": ...}` for a non-numeric id;
`GET /health` -> 200. details calls nothing, so it needs no mesh client.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from meshcore.model.errors import error_body


def book_details(product_id: int) -> dict[str, Any]:
    """The (fixed) details of book `product_id`, field for field as BookInfo's details v1."""
    return {
        "id": product_id,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 200,
        "publisher": "PublisherA",
        "language": "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
    }


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "Details is healthy"})


async def get_details(request: web.Request) -> web.Response:
    try:
        product_id = int(request.match_info["product_id"])
    except ValueError:
        return web.json_response(error_body("please provide numeric product id"), status=400)
    return web.json_response(book_details(product_id))


def create_app(version: str = "v1") -> web.Application:
    """The details application. Only v1 exists; other versions serve the same data."""
    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/details/{product_id}", get_details)
    return app
