"""Rendering of productpage, without HTTP: stars per version, degraded messages, escaping."""

from __future__ import annotations

import re

import pytest

from meshcore.bookinfo.productpage import PRODUCTS
from meshcore.bookinfo.productpage_html import (
    DETAILS_UNAVAILABLE,
    RATINGS_UNAVAILABLE,
    REVIEWS_UNAVAILABLE,
    render_product_page,
    render_stars,
    reviews_version,
)
from meshcore.bookinfo.reviews import ReviewsSettings, reviews_document

DETAILS = {"id": 0, "publisher": "PublisherA", "ISBN-10": "1234567890", "pages": 200, "type": "paperback"}


def page_for(reviews: object, reviews_status: int = 200, user: str = "", details_status: int = 200) -> str:
    return render_product_page(PRODUCTS[0], details_status, DETAILS, reviews_status, reviews, user)


def star_classes(page: str) -> list[str]:
    return re.findall(r'class="star (star-\w+ star-\w+)"', page)


def test_v1_reviews_have_no_stars() -> None:
    page = page_for(reviews_document("0", ReviewsSettings.for_version("v1"), None))

    assert star_classes(page) == []
    assert 'data-reviews-version="v1"' in page
    assert page.count("Reviews served by: reviews-v1") == 2


@pytest.mark.parametrize(("version", "color"), [("v2", "black"), ("v3", "red")])
def test_rated_reviews_show_five_stars_each_in_the_version_color(version: str, color: str) -> None:
    settings = ReviewsSettings.for_version(version)
    page = page_for(reviews_document("0", settings, {"Reviewer1": 5, "Reviewer2": 4}))

    assert star_classes(page) == [f"star-{color} star-full"] * 9 + [f"star-{color} star-empty"]
    assert f'data-reviews-version="{version}"' in page


def test_stars_are_clamped_and_unknown_colors_fall_back_to_black() -> None:
    html = render_stars({"stars": 9, "color": 'red" onmouseover="x'})

    assert html.count("star-black star-full") == 5
    assert "onmouseover" not in html


def test_rating_error_is_shown_instead_of_stars() -> None:
    reviews = reviews_document("0", ReviewsSettings.for_version("v3"), None)

    page = page_for(reviews)

    assert star_classes(page) == []
    assert page.count(RATINGS_UNAVAILABLE) == 2
    assert 'data-reviews-version="v3"' in page


def test_failed_details_and_reviews_show_bookinfo_messages() -> None:
    page = render_product_page(
        PRODUCTS[0], 503, {"error": DETAILS_UNAVAILABLE}, 500, {"error": REVIEWS_UNAVAILABLE}, ""
    )

    assert DETAILS_UNAVAILABLE in page
    assert REVIEWS_UNAVAILABLE in page
    assert "data-reviews-version" not in page
    assert "The Comedy of Errors" in page


def test_reviews_answering_200_without_reviews_counts_as_unavailable() -> None:
    assert REVIEWS_UNAVAILABLE in page_for("not json", reviews_status=200)


def test_upstream_and_user_text_is_escaped() -> None:
    reviews = {
        "podname": "reviews-v2<img src=x>",
        "clustername": "null",
        "reviews": [{"reviewer": "<b>R</b>", "text": "<script>t</script>", "rating": {"error": "<i>e</i>"}}],
    }
    page = page_for(reviews, user='"><script>alert(1)</script>')

    assert "<script>" not in page
    assert "<img" not in page and "<b>R</b>" not in page and "<i>e</i>" not in page
    assert "signed in as <strong>&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</strong>" in page
    assert "&lt;script&gt;t&lt;/script&gt;" in page


def test_signed_in_user_gets_sign_out_and_anonymous_gets_the_login_form() -> None:
    reviews = reviews_document("0", ReviewsSettings.for_version("v1"), None)

    signed_in = page_for(reviews, user="jason")
    anonymous = page_for(reviews)

    assert "signed in as <strong>jason</strong>" in signed_in and 'href="/logout"' in signed_in
    assert 'action="/login"' not in signed_in
    assert 'method="post" action="/login"' in anonymous and 'name="username"' in anonymous
    assert "signed in as" not in anonymous


@pytest.mark.parametrize(
    ("podname", "version"),
    [("reviews-v2", "v2"), ("reviews-v3-5f7d8b-x9k2p", "v3"), ("reviews", None), (None, None)],
)
def test_reviews_version_is_read_from_the_podname(podname: str | None, version: str | None) -> None:
    assert reviews_version(podname) == version
