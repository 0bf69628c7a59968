"""The dashboard's JSON error answers, in the project's one error shape (`error_body`)."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import JsonResponse

from meshcore.model.errors import FieldError, error_body


def json_error(status: int, message: str, errors: Iterable[FieldError] = ()) -> JsonResponse:
    """`{"error": message, "errors": [{path, message}]}` with `status`."""
    return JsonResponse(error_body(message, errors), status=status)
