"""Login lockouts (django-axes): per user and per address, shown on the login page, refused on the
websocket, and over once the lockout time has passed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from tests.support.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True)]

PASSWORD = "viewer-pass-1"
# Failures older than the cool-off time no longer count, so a test that needs the lockout to hold
# gets a long one (logins hash passwords: slow on a busy machine); only the test that waits for the
# end of a lockout uses a short one.
COOLOFF_S = 8


@pytest.fixture(autouse=True)
def lockout_after_three_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=10)


def log_in(username: str, password: str, address: str = "10.0.0.1") -> tuple[int, str, Client]:
    client = Client(REMOTE_ADDR=address)
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response.status_code, response.content.decode(), client


def test_a_locked_out_user_cannot_log_in_with_the_right_password_until_the_lockout_ends(viewer, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=COOLOFF_S)
    for _ in range(2):
        status, page, _ = log_in("viewer1", "wrong")
        assert status == 200 and "Wrong username or password" in page
    status, page, _ = log_in("viewer1", "wrong")  # the failure that reaches the limit
    assert status == 429 and "Too many failed logins" in page
    status, page, client = log_in("viewer1", PASSWORD)
    assert status == 429
    assert "Too many failed logins" in page and 'name="password"' in page and 'value="viewer1"' in page
    assert "_auth_user_id" not in client.session
    # The user is locked everywhere, not only from the address that failed.
    assert log_in("viewer1", PASSWORD, address="10.0.0.2")[0] == 429
    # Every refused attempt counts as a failure too and restarts the lockout: poll more slowly than it.
    wait_until(
        lambda: log_in("viewer1", PASSWORD)[0] == 302,
        timeout=90,
        interval=COOLOFF_S + 1,
        what="the lockout ends",
    )


def test_an_address_is_locked_out_for_every_user(viewer, django_user_model):
    django_user_model.objects.create_user("other1", password="other-pass-1")
    for name in ("a", "b", "c"):
        log_in(name, "wrong", address="10.9.9.9")
    assert log_in("other1", "other-pass-1", address="10.9.9.9")[0] == 429
    assert log_in("other1", "other-pass-1", address="10.9.9.10")[0] == 302


def test_the_lockout_shows_in_the_admin(viewer, admin_client):
    for _ in range(3):
        log_in("viewer1", "wrong")
    page = admin_client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and "viewer1" in page.content.decode()


async def test_the_websocket_refuses_a_locked_out_session(redis_layer, viewer):
    from dashboard.asgi import application

    client = Client()
    await sync_to_async(client.force_login)(viewer)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    headers = [(b"origin", b"http://127.0.0.1"), cookie]
    before = WebsocketCommunicator(application, "/ws/topology/", headers=headers)
    assert (await before.connect())[0]
    await before.disconnect()
    for _ in range(3):
        await sync_to_async(log_in)("viewer1", "wrong")
    after = WebsocketCommunicator(application, "/ws/topology/", headers=headers)
    connected, code = await after.connect()
    assert not connected and code == 4401
