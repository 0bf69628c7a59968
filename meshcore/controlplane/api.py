"""The resource API (HTTP, JSON and YAML): list/get/apply/delete Istio objects, node status, registry.

Routes (all JSON unless `?format=yaml` or `Accept: application/yaml`):
  GET    /api/v1/registry                       services, workloads, gateway
  GET    /api/v1/status                         every proxy: process, xDS connection, ACK/NACK, version
  GET    /api/v1/events                         process restarts and exits
  GET    /api/v1/security/workloads             identity, mTLS mode, policies and certificate per workload
  GET    /api/v1/traffic                        the built-in traffic generator's report
  PUT    /api/v1/traffic                        {"rate": RPS} sets its rate (0 pauses)
  POST   /api/v1/processes/{name}/stop|start    keep a child (app or proxy) stopped / start it again
  GET    /api/v1/revision                       {"resourceVersion": store revision, "generation"}: cheap
                                                change detection (every accepted change bumps it)
  GET    /api/v1/{plural}[/{name}]              list / get (plural: virtualservices, destinationrules, gateways,
                                                peerauthentications, authorizationpolicies, envoyfilters)
  POST   /api/v1/apply[?wait=SECONDS|dryRun=All]  apply a multi-document YAML/JSON batch, all or nothing
  PUT    /api/v1/{plural}/{name}[?wait=...|dryRun=All]  apply one object
  DELETE /api/v1/{plural}/{name}[?resourceVersion=N&wait=SECONDS]
  GET    /openapi.yaml                          this API's OpenAPI 3 description (no token needed)
The process and traffic routes are forwarded to the mesh's launcher, which supervises every process
(this control plane included) and runs the traffic generator (see `meshcore.processctl`).
Every route except /healthz and /openapi.yaml needs `Authorization: Bearer <token>` and refuses what a browser on
another site could send (foreign Origin or Host, bodies that are not JSON/YAML): see `auth`.
Errors: 400 unparsable input, 401 no token, 403 cross-site, 404 unknown, 409 stale resourceVersion
(or stopping the control plane through its own API), 415 content type, 422 invalid resources,
503 the launcher does not answer, each with {"error": ..., "errors": [{"path", "message"}]}.
`wait` (seconds, <= 30) makes an apply return only once every connected proxy ACKed or NACKed the
new config. An apply answers `warnings` (same shape as `errors`: doubtful but allowed, for example
security settings that contradict each other, Kiali's KIA0205-0208). `dryRun=All` (Kubernetes'
name) validates and translates without storing or pushing anything and answers the would-be
objects, the warnings and `changes`: per group of proxies (`proxies`, `node_ids`) the
RouteConfigurations before and after (protobuf JSON) and the names of clusters and listeners
added, removed or changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from meshcore.controlplane.auth import api_guard
from meshcore.controlplane.security_view import security_report
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ApplyResult, ConflictError, NotFoundError
from meshcore.httperrors import error_response, json_errors
from meshcore.model.errors import FieldError, ValidationError, error_body
from meshcore.model.registry import admin_address
from meshcore.model.resources import Resource, kind_from_plural
from meshcore.model.yaml_io import dump_documents
from meshcore.processctl import (
    ACTIONS,
    LauncherUnavailable,
    NoTrafficGenerator,
    ProcessControl,
    Refused,
    UnknownProcess,
    traffic_rate,
)

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_WAIT_S = 30.0
CONTROL_PLANE = web.AppKey("control_plane", ControlPlane)
PROCESSES = web.AppKey("processes", object)


def wants_yaml(request: web.Request) -> bool:
    return request.query.get("format") == "yaml" or "yaml" in request.headers.get("Accept", "")


def respond_resources(request: web.Request, resources: list[Resource], single: bool) -> web.Response:
    if wants_yaml(request):
        return web.Response(text=dump_documents(resources), content_type="application/yaml")
    if single:
        return web.json_response(resources[0].to_dict())
    revision = str(request.app[CONTROL_PLANE].store.revision)
    return web.json_response(
        {"kind": "List", "metadata": {"resourceVersion": revision}, "items": [r.to_dict() for r in resources]}
    )


def http_error(exception: type[web.HTTPException], message: str) -> web.HTTPException:
    """An aiohttp HTTP exception whose body is the project's JSON error shape."""
    return exception(text=json.dumps(error_body(message)), content_type="application/json")


def parse_kind(request: web.Request) -> str:
    try:
        return kind_from_plural(request.match_info["plural"])
    except (KeyError, ValueError) as error:
        raise http_error(web.HTTPNotFound, str(error)) from error


def parse_wait(request: web.Request) -> float:
    raw = request.query.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT_S:
        raise http_error(
            web.HTTPBadRequest, f"wait: must be a number of seconds between 0 and {MAX_WAIT_S:g}, got {raw!r}"
        )
    return wait


async def read_documents(request: web.Request) -> list[Resource]:
    """The resources in the request body, parsed off the event loop (see `checker`)."""
    body = await request.read()
    if not body.strip():
        raise ValidationError([FieldError("body", "empty; send one or more YAML or JSON documents")])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValidationError([FieldError("body", f"not UTF-8 text: {error}")]) from error
    resources = await request.app[CONTROL_PLANE].checker.parse(text)
    if not resources:
        raise ValidationError([FieldError("body", "no resources found (every document is empty)")])
    return resources


async def guarded(action: Callable[[], Any]) -> Any:
    """Run a store operation, mapping its failures to the documented status codes."""
    try:
        return await action()
    except ConflictError as error:
        return error_response(409, str(error))
    except NotFoundError as error:
        return error_response(404, str(error))
    except ValidationError as error:
        return error_response(422, "invalid resources", error.errors)


def parse_dry_run(request: web.Request) -> bool:
    raw = request.query.get("dryRun")
    if raw is None:
        return False
    if raw != "All":
        raise http_error(web.HTTPBadRequest, f"dryRun: the only accepted value is All, got {raw!r}")
    return True


def applied(results: list[ApplyResult]) -> list[dict[str, Any]]:
    return [{"action": r.action, **r.resource.to_dict()} for r in results]


def proxy_names(control_plane: ControlPlane) -> dict[str, str]:
    registry = control_plane.registry
    names = {workload.node_id: workload.name for workload in registry.workloads}
    names[registry.gateway.node_id] = registry.gateway.name
    return names


async def apply_and_report(request: web.Request, resources: list[Resource]) -> web.Response:
    control_plane = request.app[CONTROL_PLANE]
    wait = parse_wait(request)
    dry_run = parse_dry_run(request)

    async def run() -> web.Response:
        if dry_run:
            planned = await control_plane.dry_run(resources)
            names = proxy_names(control_plane)
            return web.json_response(
                {
                    "dryRun": True,
                    "generation": control_plane.generation,
                    "applied": applied(planned.results),
                    "warnings": [warning.to_dict() for warning in planned.warnings],
                    "changes": [
                        {"proxies": [names.get(n, n) for n in change.node_ids], **change.to_dict()}
                        for change in planned.changes
                    ],
                }
            )
        results: list[ApplyResult] = await control_plane.apply(resources)
        body: dict[str, Any] = {
            "generation": control_plane.generation,
            "applied": applied(results),
            "warnings": [warning.to_dict() for warning in control_plane.warnings(resources)],
        }
        if wait:
            body["sync"] = await control_plane.wait_for_sync(control_plane.generation, wait)
        return web.json_response(body)

    return await guarded(run)


async def apply_batch(request: web.Request) -> web.Response:
    try:
        resources = await read_documents(request)
    except ValidationError as error:
        return error_response(400, "unparsable input", error.errors)
    return await apply_and_report(request, resources)


async def put_one(request: web.Request) -> web.Response:
    kind = parse_kind(request)
    try:
        resources = await read_documents(request)
    except ValidationError as error:
        return error_response(400, "unparsable input", error.errors)
    name = request.match_info["name"]
    if len(resources) != 1 or resources[0].kind != kind or resources[0].name != name:
        return error_response(
            422,
            "invalid resources",
            [FieldError("metadata.name", f"the body must be exactly one {kind} named {name}")],
        )
    return await apply_and_report(request, resources)


async def list_resources(request: web.Request) -> web.Response:
    kind = parse_kind(request)
    return respond_resources(request, request.app[CONTROL_PLANE].store.list(kind), single=False)


async def get_resource(request: web.Request) -> web.Response:
    kind = parse_kind(request)
    namespace = request.query.get("namespace", "default")
    resource = request.app[CONTROL_PLANE].store.get((kind, namespace, request.match_info["name"]))
    if resource is None:
        return error_response(404, f"{kind} {namespace}/{request.match_info['name']} not found")
    return respond_resources(request, [resource], single=True)


async def delete_resource(request: web.Request) -> web.Response:
    kind = parse_kind(request)
    key = (kind, request.query.get("namespace", "default"), request.match_info["name"])
    control_plane = request.app[CONTROL_PLANE]
    wait = parse_wait(request)

    async def run() -> web.Response:
        removed = await control_plane.delete(key, request.query.get("resourceVersion", ""))
        body: dict[str, Any] = {"deleted": removed.to_dict(), "generation": control_plane.generation}
        if wait:
            body["sync"] = await control_plane.wait_for_sync(control_plane.generation, wait)
        return web.json_response(body)

    return await guarded(run)


def node_statuses(
    control_plane: ControlPlane, processes: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Every proxy's xDS state, with its process and its app's (entries of `processes`, the
    supervised processes; None when this control plane supervises none)."""
    registry = control_plane.registry
    proxies = [(w.node_id, w.name, "sidecar", w.admin_socket) for w in registry.workloads]
    proxies.append(
        (registry.gateway.node_id, registry.gateway.name, "gateway", registry.gateway.admin_socket)
    )

    def process(workload: str, kind: str) -> dict[str, Any] | None:
        return next((p for p in processes or () if p["workload"] == workload and p["kind"] == kind), None)

    nodes = []
    for node_id, name, kind, admin_socket in proxies:
        entry = {
            "name": name,
            "kind": kind,
            "admin_address": admin_address(admin_socket),
            **control_plane.board.to_dict(node_id),
        }
        if processes is not None:
            entry["process"] = process(name, kind)
            entry["app_process"] = process(name, "app")
        nodes.append(entry)
    return nodes


async def revision(request: web.Request) -> web.Response:
    control_plane = request.app[CONTROL_PLANE]
    return web.json_response(
        {"resourceVersion": str(control_plane.store.revision), "generation": control_plane.generation}
    )


async def forwarded(action: Callable[[], Any]) -> Any:
    """Run a call to the mesh's process control, mapping its failures to the documented statuses."""
    try:
        return await action()
    except UnknownProcess as error:
        return error_response(404, str(error))
    except NoTrafficGenerator as error:
        return error_response(404, str(error) or "this control plane runs no traffic generator")
    except Refused as error:
        return error_response(409, str(error))
    except ValueError as error:
        field, _, reason = str(error).partition(": ")
        return error_response(400, "invalid input", [FieldError(field, reason)])
    except LauncherUnavailable as error:
        return error_response(503, str(error))


def process_control(request: web.Request) -> ProcessControl | None:
    return request.app.get(PROCESSES)


async def status(request: web.Request) -> web.Response:
    control_plane = request.app[CONTROL_PLANE]
    control = process_control(request)

    async def run() -> web.Response:
        report = await control.processes() if control is not None else {"ready": False}
        processes = report.get("processes")
        return web.json_response(
            {
                "ready": report["ready"],
                "generation": control_plane.generation,
                "published_at": control_plane.published_at,
                "resource_revision": control_plane.store.revision,
                "nodes": node_statuses(control_plane, processes),
                "processes": processes or [],
            }
        )

    return await forwarded(run)


async def control_process(request: web.Request) -> web.Response:
    """POST /api/v1/processes/{name}/stop|start: hold a child stopped, or start it again."""
    control = process_control(request)
    name, action = request.match_info["name"], request.match_info["action"]
    if control is None:
        return error_response(404, f"no process named {name!r} (see /api/v1/status)")
    if action not in ACTIONS:
        return error_response(404, f"unknown action {action!r}; use stop or start")

    async def run() -> web.Response:
        return web.json_response(await control.control(name, action))

    return await forwarded(run)


async def events(request: web.Request) -> web.Response:
    control = process_control(request)

    async def run() -> web.Response:
        return web.json_response({"events": await control.events() if control is not None else []})

    return await forwarded(run)


async def registry(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONTROL_PLANE].registry.to_dict())


async def traffic(request: web.Request) -> web.Response:
    control = process_control(request)
    if control is None:
        return error_response(404, "this control plane runs no traffic generator")

    async def run() -> web.Response:
        return web.json_response(await control.traffic())

    return await forwarded(run)


async def set_traffic_rate(request: web.Request) -> web.Response:
    """PUT /api/v1/traffic {"rate": requests per second}: 0 pauses the generator."""
    control = process_control(request)
    if control is None:
        return error_response(404, "this control plane runs no traffic generator")
    try:
        body = await request.json()
    except ValueError:
        body = None
    try:
        rate = traffic_rate(body)
    except ValueError as error:
        field, _, reason = str(error).partition(": ")
        return error_response(400, "invalid traffic", [FieldError(field, reason)])

    async def run() -> web.Response:
        return web.json_response(await control.set_traffic(rate))

    return await forwarded(run)


async def security_workloads(request: web.Request) -> web.Response:
    return web.json_response(security_report(request.app[CONTROL_PLANE]))


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


async def openapi(_request: web.Request) -> web.Response:
    """This API's OpenAPI 3 description (meshcore/controlplane/openapi.yaml, checked in)."""
    return web.Response(body=OPENAPI_PATH.read_bytes(), content_type="application/yaml")


def make_api(
    control_plane: ControlPlane,
    processes: ProcessControl | None = None,
    *,
    token: str,
) -> web.Application:
    """The resource API; every route but /healthz and /openapi.yaml requires `token` (see
    `meshcore.controlplane.auth`). `processes` serves the process and traffic routes (in the local
    mesh: the launcher, over its socket); without it they answer 404 and empty lists."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors, api_guard(token)])
    app[CONTROL_PLANE] = control_plane
    if processes is not None:
        app[PROCESSES] = processes
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/openapi.yaml", openapi)
    app.router.add_get("/api/v1/registry", registry)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/revision", revision)
    app.router.add_get("/api/v1/events", events)
    app.router.add_get("/api/v1/traffic", traffic)
    app.router.add_put("/api/v1/traffic", set_traffic_rate)
    app.router.add_post("/api/v1/processes/{name}/{action}", control_process)
    app.router.add_get("/api/v1/security/workloads", security_workloads)
    app.router.add_post("/api/v1/apply", apply_batch)
    app.router.add_get("/api/v1/{plural}", list_resources)
    app.router.add_get("/api/v1/{plural}/{name}", get_resource)
    app.router.add_put("/api/v1/{plural}/{name}", put_one)
    app.router.add_delete("/api/v1/{plural}/{name}", delete_resource)
    return app
