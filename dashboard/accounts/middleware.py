"""Login required everywhere: pages redirect to the login form, APIs answer 401 JSON."""

from __future__ import annotations

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware

from dashboard.core.errors import json_error


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's middleware (views opt out with @login_not_required) with a JSON answer for /api/."""

    def handle_no_permission(self, request, view_func):
        if request.path.startswith("/api/") or "/api/" in request.path:
            return json_error(401, "authentication required")
        return super().handle_no_permission(request, view_func)
