"""Login required everywhere: pages redirect to the login form, APIs answer 401 JSON."""

from __future__ import annotations

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.http import JsonResponse


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's middleware (views opt out with @login_not_required) with a JSON answer for /api/."""

    def handle_no_permission(self, request, view_func):
        if request.path.startswith("/api/") or "/api/" in request.path:
            return JsonResponse({"error": "authentication required"}, status=401)
        return super().handle_no_permission(request, view_func)
