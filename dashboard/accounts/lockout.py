"""Login lockouts (django-axes): the login page that says so, and the check the websockets use.

After AXES_FAILURE_LIMIT failed logins for a username, or from an address, further logins of that
username or from that address are refused for AXES_COOLOFF_TIME, even with the right password.
A browser that is still logged in gets no live data while its user or address is locked out:
`RefuseLockedOutSessions` makes every websocket consumer see it as anonymous (close code 4401).
"""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from channels.db import database_sync_to_async
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOCKED_OUT_STATUS = 429


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The login page, answered 429, saying that logins are locked and for how long."""
    cool_off = get_cool_off(request)
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context: dict[str, Any] = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "locked_out": True,
        "lockout_minutes": max(1, round(cool_off.total_seconds() / 60)) if cool_off else None,
        "next": request.POST.get("next", "") if request.method == "POST" else "",
    }
    return render(request, "registration/login.html", context, status=LOCKED_OUT_STATUS)


def is_locked_out(username: str, address: str | None, user_agent: str = "") -> bool:
    """Whether logins of `username` or from `address` are locked out now. Uses the database."""
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = address or ""
    request.META["HTTP_USER_AGENT"] = user_agent
    return AxesProxyHandler.is_locked(request, {"username": username})


class RefuseLockedOutSessions:
    """ASGI middleware (inside AuthMiddlewareStack): a websocket whose logged-in user, or whose
    address, is locked out gets an anonymous user, which every consumer refuses."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        user = scope.get("user")
        if user is not None and user.is_authenticated:
            address = (scope.get("client") or [None])[0]
            agent = dict(scope.get("headers") or []).get(b"user-agent", b"").decode("latin-1")
            if await database_sync_to_async(is_locked_out)(user.get_username(), address, agent):
                scope = {**scope, "user": AnonymousUser()}
        return await self.inner(scope, receive, send)
