"""Entry points of the security app that need no mesh: login, roles, unknown kinds."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["/security/", "/security/new/peerauthentications/", "/security/peerauthentications/default/x/edit/"],
)
def test_every_security_page_requires_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_viewers_get_403_on_every_form(viewer_client):
    for plural in ("peerauthentications", "authorizationpolicies", "envoyfilters"):
        assert viewer_client.get(f"/security/new/{plural}/").status_code == 403
        assert viewer_client.post(f"/security/new/{plural}/", {"name": "x", "apply": "1"}).status_code == 403


def test_a_kind_without_a_form_is_404(viewer_client):
    assert viewer_client.get("/security/new/virtualservices/").status_code == 404
