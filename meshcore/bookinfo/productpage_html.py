"""The HTML of productpage: plain functions from data to markup, no I/O.

Everything that comes from a user or another service (the username, review texts, details fields,
the podname) is HTML-escaped; only the product description, a constant of this module's caller,
is trusted markup (as in BookInfo, which renders `descriptionHtml` unescaped).

Markers other code relies on (tests, the traffic generator, the dashboard's browser tests):
  - the reviews section carries `data-reviews-version="vN"` when reviews answered;
  - "Reviews served by: <podname>" under each review;
  - each star is `<span class="star star-<color> star-full|star-empty">`, five per rating;
  - "signed in as <name>" and a link to /logout when a user is signed in, else a form posting
    `username` to /login.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from typing import Any

DETAILS_UNAVAILABLE = "Sorry, product details are currently unavailable for this book."
REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book."
RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"
MAX_STARS = 5

_VERSION_IN_PODNAME = re.compile(r"(?:^|-)(v\d+)(?:-|$)")
_SAFE_COLOR = re.compile(r"^[a-z]{1,20}$")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;background:#fff}
nav{background:#1f2937;color:#f9fafb;padding:.8rem 2rem;display:flex;justify-content:space-between;align-items:center}
nav a{color:#d1d5db}
main{max-width:60rem;margin:0 auto;padding:1rem 2rem}
h1{color:#1e3a8a;font-size:2.4rem}
table{border-collapse:collapse}
th,td{text-align:left;padding:.3rem 1rem .3rem 0;border-bottom:1px solid #e5e7eb}
.error{color:#dc2626}
.reviews{background:#eff6ff;padding:1rem 2rem;margin-top:2rem}
.review{margin:1rem 0}
.review blockquote{font-size:1.2rem;font-weight:600;margin:.5rem 0}
.served-by{font-family:monospace;color:#4b5563}
.star{font-size:1.3rem}
.star-black{color:#111827}
.star-red{color:#dc2626}
form.login input{margin-right:.4rem}
"""


def reviews_version(podname: Any) -> str | None:
    """The version in a reviews podname: "reviews-v2" -> "v2", also for "reviews-v2-5f7d-x9k"."""
    if not isinstance(podname, str):
        return None
    match = _VERSION_IN_PODNAME.search(podname)
    return match.group(1) if match else None


def render_stars(rating: Mapping[str, Any]) -> str:
    """Five star elements for a `{"stars": n, "color": c}` rating, the error text for an
    `{"error": ...}` rating, and "" for anything else. Stars are clamped to 0..5."""
    stars = rating.get("stars")
    if isinstance(stars, int) and not isinstance(stars, bool):
        full = max(0, min(MAX_STARS, stars))
        color = rating.get("color")
        color = color if isinstance(color, str) and _SAFE_COLOR.match(color) else "black"
        glyphs = [f'<span class="star star-{color} star-full">\u2605</span>'] * full
        glyphs += [f'<span class="star star-{color} star-empty">\u2606</span>'] * (MAX_STARS - full)
        return f'<div class="stars" aria-label="{full} of {MAX_STARS} stars">{"".join(glyphs)}</div>'
    if "error" in rating:
        return f'<p class="error rating-error">{escape(str(rating["error"]))}</p>'
    return ""


def render_user_bar(user: str) -> str:
    if user:
        return (
            f'<span class="user">signed in as <strong>{escape(user)}</strong></span> '
            '<a href="/logout">sign out</a>'
        )
    return (
        '<form class="login" method="post" action="/login">'
        '<input name="username" placeholder="username" required aria-label="username">'
        '<input name="passwd" type="password" placeholder="password" aria-label="password">'
        '<button type="submit">Sign in</button></form>'
    )


def render_details(status: int, details: Any) -> str:
    """The details table, or BookInfo's error message when details did not answer 200 with facts."""
    if status != 200 or not isinstance(details, dict):
        return (
            '<section class="details"><p class="error">Error fetching product details</p>'
            f"<p>{escape(DETAILS_UNAVAILABLE)}</p></section>"
        )
    fields = (("ISBN-10", "ISBN-10"), ("Publisher", "publisher"), ("Pages", "pages"), ("Type", "type"))
    fields += (("Language", "language"), ("Author", "author"), ("Year", "year"))
    head = "".join(f"<th>{label}</th>" for label, _ in fields)
    cells = "".join(f"<td>{escape(str(details.get(key, '')))}</td>" for _, key in fields)
    return (
        '<section class="details"><h2>Book Details</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody><tr>{cells}</tr></tbody></table></section>"
    )


def render_reviews(status: int, reviews: Any) -> str:
    """The reviews section, or BookInfo's error message when reviews did not answer 200."""
    if status != 200 or not isinstance(reviews, dict) or not isinstance(reviews.get("reviews"), list):
        return (
            '<section class="reviews"><p class="error">Error fetching product reviews</p>'
            f"<p>{escape(REVIEWS_UNAVAILABLE)}</p></section>"
        )
    podname = reviews.get("podname")
    version = reviews_version(podname) or "unknown"
    served_by = escape(str(podname))
    clustername = reviews.get("clustername")
    if clustername not in (None, "null", ""):
        served_by += f" on cluster {escape(str(clustername))}"
    items = []
    for review in reviews["reviews"]:
        if not isinstance(review, dict):
            continue
        rating = review.get("rating")
        items.append(
            '<article class="review">'
            + (render_stars(rating) if isinstance(rating, dict) else "")
            + f"<blockquote>&quot;{escape(str(review.get('text', '')))}&quot;</blockquote>"
            + f'<div class="reviewer">{escape(str(review.get("reviewer", "")))}</div>'
            + f'<div class="served-by">Reviews served by: {served_by}</div>'
            + "</article>"
        )
    return (
        f'<section class="reviews" data-reviews-version="{escape(version)}"><h2>Book Reviews</h2>'
        + "".join(items)
        + "</section>"
    )


def render_product_page(
    product: Mapping[str, Any],
    details_status: int,
    details: Any,
    reviews_status: int,
    reviews: Any,
    user: str,
) -> str:
    """The whole /productpage document. `product["descriptionHtml"]` is inserted unescaped."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Simple Bookstore App</title><style>{_STYLE}</style></head><body>"
        f'<nav><a href="/productpage"><strong>BookInfo Sample</strong></a><div>{render_user_bar(user)}</div></nav>'
        f"<main><h1>{escape(str(product['title']))}</h1>"
        f'<p class="summary">{product["descriptionHtml"]}</p>'
        f"{render_details(details_status, details)}"
        f"{render_reviews(reviews_status, reviews)}"
        "</main></body></html>"
    )


def render_index(services: Mapping[str, str]) -> str:
    """The landing page: links to the product page and the JSON API. `services` maps each
    service productpage depends on to a short description."""
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(text)}</td></tr>" for name, text in services.items()
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Simple Bookstore App</title><style>{_STYLE}</style></head><body>"
        "<nav><strong>BookInfo Sample</strong></nav><main>"
        "<h1>Hello! This is a simple bookstore application consisting of three services</h1>"
        "<p>Click on one of the links below to see how it works.</p>"
        '<ul><li><a href="/productpage">Normal user</a></li>'
        '<li><a href="/productpage?u=test">Test user</a></li></ul>'
        "<h2>API</h2><ul>"
        '<li><a href="/api/v1/products">/api/v1/products</a></li>'
        '<li><a href="/api/v1/products/0">/api/v1/products/0</a></li>'
        '<li><a href="/api/v1/products/0/reviews">/api/v1/products/0/reviews</a></li>'
        '<li><a href="/api/v1/products/0/ratings">/api/v1/products/0/ratings</a></li></ul>'
        f"<h2>Services</h2><table><tbody>{rows}</tbody></table>"
        "</main></body></html>"
    )
