"""Who may call the mesh's local HTTP APIs: the bearer token, and nothing a browser tab can forge.

Any web page the user opens can send "simple" cross-site requests to 127.0.0.1 (a `fetch` in
`no-cors` mode: `text/plain` or no content type, no custom headers, a foreign `Origin`), and DNS
rebinding lets a page read answers from a name that resolves to 127.0.0.1. `api_guard` refuses all
of that before a handler runs, so before any body is read:

1. `Host` must be a loopback name (127.0.0.1, localhost, ::1) with any port: 403 otherwise.
2. An `Origin` other than the API's own, or `Sec-Fetch-Site: cross-site`, is refused: 403.
3. `Authorization: Bearer <token>` must carry the token (see `meshcore.apitoken`): 401 otherwise,
   compared in constant time.
4. A request with a body must declare JSON or YAML: 415 otherwise (`text/plain`, forms and bodies
   without a type never reach a handler).

Paths in `open_paths` (`/healthz`) skip every check: probes carry no credentials. Any aiohttp
application of the mesh can mount the same guard.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from meshcore.apitoken import TOKEN_ENV, TOKEN_FILE_NAME
from meshcore.httperrors import error_response

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
BODY_CONTENT_TYPES = frozenset(
    {"application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
)
# Open to anyone: liveness and the API description (neither tells a secret).
OPEN_PATHS = frozenset({"/healthz", "/openapi.yaml"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_name(host: str) -> str:
    """`host[:port]` or `[v6]:port` -> the bare lowercase name."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0].lower()
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()


def request_refusal(
    request: web.Request, token: str, allowed_hosts: Iterable[str] = LOOPBACK_HOSTS
) -> web.Response | None:
    """The answer refusing `request` (403/401/415, the project's JSON error body), or None to let it in.

    Looks only at the request line and headers, never at the body.
    """
    host = request.headers.get("Host", "")
    if host_name(host) not in allowed_hosts:
        return error_response(403, f"Host {host!r} is not a loopback name; this API only answers on loopback")
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{host}":
        return error_response(403, f"cross-origin requests are refused (Origin {origin!r})")
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return error_response(403, "cross-site requests are refused")
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
        return error_response(
            401,
            "missing or wrong API token: send 'Authorization: Bearer <token>' with the token from the "
            f"mesh's state directory ({TOKEN_FILE_NAME}) or {TOKEN_ENV}",
            headers={"WWW-Authenticate": 'Bearer realm="meshcore"'},
        )
    if request.body_exists and request.content_type not in BODY_CONTENT_TYPES:
        shown = request.headers.get("Content-Type", "none")
        return error_response(
            415, f"Content-Type {shown!r} is not accepted; send application/json or application/yaml"
        )
    return None


def api_guard(
    token: str,
    open_paths: Iterable[str] = OPEN_PATHS,
    allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware applying `request_refusal` to every path except `open_paths`."""
    if not token:
        raise ValueError("api_guard needs a non-empty token")
    open_set = frozenset(open_paths)
    hosts = frozenset(allowed_hosts)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in open_set:
            refusal = request_refusal(request, token, hosts)
            if refusal is not None:
                return refusal
        return await handler(request)

    return guard
