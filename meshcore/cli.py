"""`meshcore up | apply -f | get | delete | status | down` — the local mesh from the shell.

Every command but `up` talks to the resource API with the mesh's token, found without help in the
default setup (state/mesh/api-token); for a mesh started with `up --state-dir DIR`, pass
`--state-dir DIR` or set MESHCORE_STATE_DIR=DIR (or MESHCORE_API_TOKEN / MESHCORE_API_TOKEN_FILE).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshcore.apitoken import (
    TokenError,
    bearer_header,
    client_token,
    state_dir_from_env,
    token_file,
)

if TYPE_CHECKING:
    from meshcore.local_mesh import MeshSettings

DEFAULT_API = os.environ.get("MESHCORE_API", "http://127.0.0.1:15080")
PID_FILE = "meshcore.pid"


def mesh_settings(args: argparse.Namespace) -> MeshSettings:
    """The MeshSettings of parsed `up` options (ValueError when --user is not NAME=SHARE). The
    control plane process takes the same options (`MeshSettings.control_plane_args`)."""
    from meshcore.local_mesh import MeshSettings
    from meshcore.traffic import parse_users

    return MeshSettings(
        state_dir=state_dir_from_env(args.state_dir),
        gateway_port=args.gateway_port,
        gateway_address=args.gateway_address,
        xds_port=args.xds_port,
        api_port=args.api_port,
        tracer_port=args.tracer_port,
        base_port=args.base_port,
        traffic_rps=args.traffic,
        sampling_percent=args.sampling,
        traffic_users=parse_users(args.user),
        cert_lifetime_s=args.cert_lifetime,
        ca_dir=Path(args.ca_dir) if args.ca_dir else None,
    )


def cmd_up(args: argparse.Namespace) -> int:
    from meshcore.local_mesh import LocalMesh
    from meshcore.statedir import private_umask
    from meshcore.supervisor import AlreadyRunning, InstanceLock

    try:
        settings = mesh_settings(args)
    except ValueError as error:
        print(f"meshcore up: {error}", file=sys.stderr)
        return 2

    # Everything the mesh and its children create (logs, databases, sockets) is private to this user.
    private_umask()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.ca_dir is not None:
        from meshcore.controlplane.ca import CAError, CertificateAuthority

        try:
            CertificateAuthority.plugged_in(settings.ca_dir)
        except CAError as error:
            print(f"meshcore up: --ca-dir: {error}", file=sys.stderr)
            return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        mesh = LocalMesh(settings)
        pid_file = settings.state_dir / PID_FILE
        try:
            await mesh.start()
            if not await mesh.wait_ready():
                not_ready = [c.spec.name for c in mesh.supervisor.children.values() if not c.ready]
                print(
                    f"meshcore: not ready after 60 s: {', '.join(not_ready)} (see {settings.state_dir}/logs)"
                )
            print(
                f"meshcore is up: BookInfo at {settings.gateway_url}/productpage, resource API at "
                f"{settings.api_url} (its token is in {token_file(settings.state_dir)}), tracer at "
                f"{settings.tracer_url}. Ctrl-C stops it.",
                flush=True,
            )
            await stop.wait()
        finally:
            print("meshcore: stopping every child process...", flush=True)
            await mesh.stop()
            lock.release()
            pid_file.unlink(missing_ok=True)

    # One mesh per state directory: the lock dies with its holder, so a stale pid file is taken over.
    lock = InstanceLock(settings.state_dir / PID_FILE)
    try:
        settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock.acquire()
    except AlreadyRunning as error:
        print(
            f"meshcore up: a mesh is already running with state directory {settings.state_dir} "
            f"(pid {error.pid}); stop it with `meshcore down` first",
            file=sys.stderr,
        )
        return 1
    asyncio.run(main())
    return 0


def request(
    args: argparse.Namespace,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/yaml",
) -> tuple[int, Any]:
    """One call to the resource API named by `args.api`, with the token `args.state_dir` leads to."""
    api = args.api
    try:
        token = client_token(args.state_dir)
    except TokenError as error:
        raise SystemExit(f"meshcore: {error}") from None
    req = urllib.request.Request(
        api.rstrip("/") + path, data=body, method=method, headers=bearer_header(token)
    )
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    except urllib.error.URLError as error:
        raise SystemExit(f"meshcore: cannot reach the control plane at {api}: {error.reason}") from error
    text = raw.decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def report_error(status: int, payload: Any) -> int:
    if isinstance(payload, dict):
        print(f"Error ({status}): {payload.get('error', '')}", file=sys.stderr)
        for error in payload.get("errors", []):
            location = f"{error['path']}: " if error.get("path") else ""
            print(f"  {location}{error['message']}", file=sys.stderr)
    else:
        print(f"Error ({status}): {payload}", file=sys.stderr)
    return 1


def cmd_apply(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.filename == "-" else Path(args.filename).read_text()
    query = "dryRun=All" if args.dry_run else f"wait={args.wait}"
    status, payload = request(args, "POST", f"/api/v1/apply?{query}", text.encode())
    if status != 200:
        return report_error(status, payload)
    suffix = " (dry run)" if args.dry_run else ""
    for item in payload["applied"]:
        print(f"{qualified_name(item)}/{item['metadata']['name']} {item['action']}{suffix}")
    for warning in payload.get("warnings", []):
        location = f"{warning['path']}: " if warning.get("path") else ""
        print(f"warning: {location}{warning['message']}", file=sys.stderr)
    for change in payload.get("changes", []):
        routes = ", ".join(change["routes"]) or "none"
        print(f"  {', '.join(change['proxies'])}: route configurations changed: {routes}")
    for rejected in payload.get("sync", {}).get("rejected", []):
        print(f"warning: {rejected['node_id']} rejected the config: {rejected['message']}", file=sys.stderr)
    return 0


def qualified_name(document: dict[str, Any]) -> str:
    """kubectl's ``<kind>.<group>`` (``peerauthentication.security.istio.io``)."""
    group = document.get("apiVersion", "networking.istio.io/v1").split("/", 1)[0]
    return f"{document['kind'].lower()}.{group}"


def cmd_get(args: argparse.Namespace) -> int:
    path = f"/api/v1/{args.kind}" + (f"/{args.name}" if args.name else "")
    query = {"namespace": args.namespace} if args.name and args.namespace else {}
    if args.output == "yaml":
        query["format"] = "yaml"
    if query:
        path += "?" + urllib.parse.urlencode(query)
    status, payload = request(args, "GET", path)
    if status != 200:
        return report_error(status, payload)
    if args.output == "yaml":
        print(payload, end="")
    elif args.output == "json":
        print(json.dumps(payload, indent=2))
    else:
        items = [payload] if args.name else payload["items"]
        print(f"{'NAME':30} {'KIND':20} {'RESOURCE VERSION'}")
        for item in items:
            print(
                f"{item['metadata']['name']:30} {item['kind']:20} {item['metadata'].get('resourceVersion', '')}"
            )
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    query = urllib.parse.urlencode({"namespace": args.namespace})
    status, payload = request(args, "DELETE", f"/api/v1/{args.kind}/{args.name}?{query}")
    if status != 200:
        return report_error(status, payload)
    print(f"{qualified_name(payload['deleted'])}/{args.name} deleted")
    return 0


def process_state(process: dict[str, Any]) -> str:
    """ "ready" once a running process passed its readiness probe; otherwise its state."""
    if not process:
        return "-"
    return "ready" if process.get("state") == "running" and process.get("ready") else process["state"]


def cmd_status(args: argparse.Namespace) -> int:
    status, payload = request(args, "GET", "/api/v1/status")
    if status != 200:
        return report_error(status, payload)
    if args.output == "json":
        print(json.dumps(payload, indent=2))
        return 0
    print(f"config generation {payload['generation']}, resource revision {payload['resource_revision']}")
    control_plane = next((p for p in payload.get("processes", []) if p["kind"] == "controlplane"), None)
    if control_plane is not None:
        print(
            f"control plane: {process_state(control_plane)}, pid {control_plane['pid']}, "
            f"restarts {control_plane['restarts']}"
        )
    header = f"{'WORKLOAD':22} {'KIND':8} {'PROXY':11} {'RESTARTS':8} {'APP':11} {'XDS':13} {'VERSION':8} {'ACKED':6}"
    print(header)
    for node in payload["nodes"]:
        process = node.get("process") or {}
        app = node.get("app_process") or {}
        xds = (
            "NACK"
            if node["nacked"]
            else ("SYNCED" if node["in_sync"] else ("STALE" if node["connected"] else "DISCONNECTED"))
        )
        print(
            f"{node['name']:22} {node['kind']:8} {process_state(process):11} {process.get('restarts', 0)!s:8} "
            f"{process_state(app):11} {xds:13} {node['config_version']:8} {node['acked_version']:6}"
        )
        if node["nack"]:
            print(f"  rejected {node['nack']['type_url'].rsplit('.', 1)[-1]}: {node['nack']['message']}")
    sockets = {os.path.dirname(n["admin_address"]) for n in payload["nodes"] if n.get("admin_address")}
    if len(sockets) == 1:
        print(f"Envoy admin APIs: {sockets.pop()}/<WORKLOAD or gateway>.sock (Unix sockets, owner only)")
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    status, payload = request(args, "POST", f"/api/v1/processes/{args.name}/{args.command}")
    if status != 200:
        return report_error(status, payload)
    print(f"{payload['name']}: {payload['state']}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    pid_file = state_dir_from_env(args.state_dir) / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        print(f"meshcore: no running mesh recorded in {pid_file}", file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        print(f"meshcore: process {pid} is gone; removed the stale {pid_file}", file=sys.stderr)
        return 1
    print(f"meshcore: asked process {pid} to stop")
    return 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshcore", description="A small, real Istio-style service mesh.")
    parser.add_argument(
        "--api", default=DEFAULT_API, help=f"control plane resource API (default {DEFAULT_API})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    # Every command takes --state-dir: `up` keeps its data there, the others read its API token.
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state-dir",
        default=None,
        help="the mesh's state directory (default: $MESHCORE_STATE_DIR, else state/mesh)",
    )

    up = commands.add_parser("up", parents=[state], help="start the local mesh in the foreground")
    up.add_argument("--gateway-port", type=int, default=8080)
    up.add_argument(
        "--gateway-address", default="127.0.0.1", help="the gateway's listen address (0.0.0.0 in containers)"
    )
    up.add_argument("--xds-port", type=int, default=15010)
    up.add_argument("--api-port", type=int, default=15080)
    up.add_argument("--tracer-port", type=int, default=9411)
    up.add_argument("--base-port", type=int, default=16000, help="first port of the workloads' port blocks")
    up.add_argument("--traffic", type=float, default=0.0, metavar="RPS", help="steady BookInfo traffic")
    up.add_argument(
        "--user", action="append", default=[], metavar="NAME=SHARE", help="logged-in share, e.g. jason=0.3"
    )
    up.add_argument("--sampling", type=float, default=100.0, help="trace sampling percent (default 100)")
    up.add_argument(
        "--cert-lifetime",
        type=_positive_seconds,
        default=24 * 3600.0,
        metavar="SECONDS",
        help="workload certificate lifetime; rotated at half of it (default 86400)",
    )
    up.add_argument(
        "--ca-dir",
        help="plug in your CA: a directory with ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem "
        "(default: a root kept in STATE_DIR/ca)",
    )
    up.set_defaults(func=cmd_up)

    apply = commands.add_parser("apply", parents=[state], help="create or update resources from YAML/JSON")
    apply.add_argument("-f", "--filename", required=True, help="file, or - for stdin")
    apply.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the proxies to ACK")
    apply.add_argument(
        "--dry-run", action="store_true", help="validate and show what would change; store nothing"
    )
    apply.set_defaults(func=cmd_apply)

    get = commands.add_parser("get", parents=[state], help="list or show resources")
    get.add_argument(
        "kind",
        help="virtualservices | destinationrules | gateways | peerauthentications | authorizationpolicies "
        "| envoyfilters (or vs, dr, gw, pa, ap, ef)",
    )
    get.add_argument("name", nargs="?")
    get.add_argument("-n", "--namespace", default="", help="namespace of the named object (default: default)")
    get.add_argument("-o", "--output", choices=["table", "yaml", "json"], default="table")
    get.set_defaults(func=cmd_get)

    delete = commands.add_parser("delete", parents=[state], help="delete a resource")
    delete.add_argument("kind")
    delete.add_argument("name")
    delete.add_argument("-n", "--namespace", default="default")
    delete.set_defaults(func=cmd_delete)

    status = commands.add_parser(
        "status", parents=[state], help="every workload, its sidecar and its xDS state"
    )
    status.add_argument("-o", "--output", choices=["table", "json"], default="table")
    status.set_defaults(func=cmd_status)

    for action, text in (
        ("stop", "keep a process stopped (e.g. ratings-v1-app)"),
        ("start", "start it again"),
    ):
        process = commands.add_parser(action, parents=[state], help=text)
        process.add_argument("name", help="process name as `meshcore status -o json` lists it")
        process.set_defaults(func=cmd_process)

    down = commands.add_parser("down", parents=[state], help="stop a mesh started with `up`")
    down.set_defaults(func=cmd_down)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
