"""The project's JSON error answers for the mesh's aiohttp servers (resource API, tracer).

`error_response` is the one way to answer an error: the body is `meshcore.model.errors.error_body`
serialized as JSON. `json_errors` is a middleware that turns the errors aiohttp raises itself
(unknown route 404, wrong method 405, body too large 413, ...) into the same shape, so no client
ever has to parse a text/plain error.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from meshcore.model.errors import FieldError, error_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(
    status: int,
    message: str,
    errors: Iterable[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error answer with the project's JSON error body."""
    return web.Response(
        text=json.dumps(error_body(message, errors), ensure_ascii=False),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _reason(error: web.HTTPException) -> str:
    """aiohttp's own text ("404: Not Found") without the status number."""
    text = (error.text or error.reason or "").strip()
    prefix = f"{error.status}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer aiohttp's HTTP errors (4xx/5xx raised as exceptions) with the JSON error body."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        headers = {k: v for k, v in error.headers.items() if k.lower() in ("allow", "retry-after")}
        return error_response(error.status, _reason(error) or error.reason, headers=headers)
