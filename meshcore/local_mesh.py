"""The whole local mesh in one process tree: control plane (xDS + resource API) in this process;
tracer, BookInfo apps, their Envoy sidecars and the ingress gateway as supervised children.

The state directory is private (0700, files 0600): it holds the API token (`api-token`), every
Envoy's admin socket (`admin/<name>.sock`), resources, traces, logs and bootstraps, and
`supervisor.json` (see `meshcore.supervisor`): parts `controlplane` (this process), `tracer`,
`app-<workload>` and `sidecar-<workload>` (the ingress gateway's Envoy is `sidecar-<gateway name>`).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from meshcore.apitoken import server_token
from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.api import make_api
from meshcore.controlplane.builders.listeners import TracingSettings
from meshcore.controlplane.ca import CertificateAuthority
from meshcore.controlplane.checker import ProcessChecker
from meshcore.controlplane.identities import DEFAULT_LIFETIME_S, WorkloadIdentities
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ResourceStore
from meshcore.controlplane.xds_server import start_xds_server
from meshcore.model.registry import Registry
from meshcore.sidecar.binary import envoy_binary
from meshcore.sidecar.bootstrap import MAX_SOCKET_PATH, MeshEndpoints, ProxyIdentity, make_bootstrap
from meshcore.statedir import private_state_dir, write_private_file
from meshcore.supervisor import STATE_FILE, ProcessSpec, Supervisor
from meshcore.traffic import DEFAULT_USERS, TrafficGenerator

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class MeshSettings:
    """Where everything listens and keeps its data. Every port binds to 127.0.0.1."""

    state_dir: Path = Path("state/mesh")
    gateway_port: int = 8080
    # The gateway is the mesh's public entry point; everything else always binds to loopback.
    gateway_address: str = LOOPBACK
    xds_port: int = 15010
    api_port: int = 15080
    tracer_port: int = 9411
    base_port: int = 16000  # first port of the workloads' blocks (app, inbound, outbound)
    traffic_rps: float = 0.0
    traffic_users: dict[str | None, float] = field(default_factory=lambda: dict(DEFAULT_USERS))
    sampling_percent: float = 100.0
    envoy_log_level: str = "warning"
    # Workload certificates: lifetime in seconds, rotated at half of it; Istio's plug-in CA
    # directory (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem), else a root kept in
    # <state_dir>/ca.
    cert_lifetime_s: float = DEFAULT_LIFETIME_S
    ca_dir: Path | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.gateway_port}"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def tracer_url(self) -> str:
        return f"http://{LOOPBACK}:{self.tracer_port}"

    @property
    def admin_dir(self) -> Path:
        """Where every Envoy's admin socket is (absolute: Envoy and the dashboard run elsewhere).

        `<state_dir>/admin`, unless the longest socket path there would not fit a Unix socket
        address (MAX_SOCKET_PATH bytes): then a directory named after the state directory in a
        per-user 0700 directory of the system's temp directory (see `short_admin_dir`).
        """
        inside = self.state_dir.absolute() / "admin"
        if len(str(inside / LONGEST_SOCKET_NAME).encode()) <= MAX_SOCKET_PATH:
            return inside
        return short_admin_dir(self.state_dir)


# The longest admin socket file name of the mesh: the gateway's.
LONGEST_SOCKET_NAME = "istio-ingressgateway.sock"


def short_admin_dir(state_dir: Path) -> Path:
    """`<tmp>/meshcore-<uid>/<12 hex of the state directory's path>`: stable per state directory.

    The per-user parent is created 0700 and must be a real directory owned by this user (never a
    symlink someone else planted), since the sockets in it accept admin commands.
    """
    parent = Path(tempfile.gettempdir()) / f"meshcore-{os.getuid()}"
    parent.mkdir(mode=0o700, exist_ok=True)
    info = parent.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{parent} is not a private directory of this user; remove it")
    digest = hashlib.sha1(str(state_dir.absolute()).encode()).hexdigest()[:12]
    return parent / digest


def tracer_available() -> bool:
    return importlib.util.find_spec("meshcore.tracer.__main__") is not None


class LocalMesh:
    """Start with `await mesh.start()`, stop with `await mesh.stop()`; one event loop."""

    def __init__(self, settings: MeshSettings) -> None:
        self.settings = settings
        self.registry: Registry = bookinfo_registry(
            base_port=settings.base_port,
            gateway_port=settings.gateway_port,
            address=LOOPBACK,
            gateway_address=settings.gateway_address,
            admin_dir=settings.admin_dir,
        )
        # supervisor.json in the mesh's state directory: its children plus this process, which
        # serves the control plane (part "controlplane").
        self.supervisor = Supervisor(state_file=settings.state_dir / STATE_FILE, self_name="controlplane")
        authority = (
            CertificateAuthority.plugged_in(settings.ca_dir)
            if settings.ca_dir is not None
            else CertificateAuthority.load_or_create(settings.state_dir / "ca")
        )
        self.checker = ProcessChecker()
        self.control_plane = ControlPlane(
            self.registry,
            ResourceStore(settings.state_dir / "resources.json"),
            TracingSettings(enabled=True, sampling_percent=settings.sampling_percent),
            identities=WorkloadIdentities(authority, settings.cert_lifetime_s),
            checker=self.checker,
        )
        self._rotation: asyncio.Task | None = None
        self.traffic: TrafficGenerator | None = None
        self._xds_server = None
        self._api_runner: web.AppRunner | None = None

    @property
    def endpoints(self) -> MeshEndpoints:
        return MeshEndpoints(LOOPBACK, self.settings.xds_port, LOOPBACK, self.settings.tracer_port)

    async def start(self) -> None:
        settings = self.settings
        private_state_dir(settings.state_dir)
        settings.admin_dir.mkdir(mode=0o700, exist_ok=True)
        token = server_token(settings.state_dir)
        await self.checker.start()
        self._xds_server, _ = await start_xds_server(
            self.control_plane.cache, self.control_plane.board, LOOPBACK, settings.xds_port
        )
        self._rotation = asyncio.create_task(self.control_plane.run_certificate_rotation())
        if tracer_available():
            await self.supervisor.start(self._tracer_spec())
        for workload in self.registry.workloads:
            await self.supervisor.start(self._app_spec(workload.name))
            await self.supervisor.start(self._proxy_spec(workload.name))
        await self.supervisor.start(self._proxy_spec(self.registry.gateway.name))
        # Always present, idle at rate 0 unless asked for: PUT /api/v1/traffic changes the rate.
        self.traffic = TrafficGenerator(
            settings.gateway_url, settings.traffic_rps, users=settings.traffic_users
        )
        await self.traffic.start()
        api = make_api(self.control_plane, self.supervisor, self.traffic, token=token)
        self._api_runner = web.AppRunner(api, access_log=None)
        await self._api_runner.setup()
        await web.TCPSite(self._api_runner, LOOPBACK, settings.api_port).start()

    def all_ready(self) -> bool:
        return all(child.ready for child in self.supervisor.children.values())

    async def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until every child passed its readiness probe; False if `timeout` passed first."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.all_ready():
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def stop(self) -> None:
        if self._rotation is not None:
            self._rotation.cancel()
        if self.traffic is not None:
            await self.traffic.stop()
        if self._api_runner is not None:
            await self._api_runner.cleanup()
        # Proxies first (no request reaches an app that is going away), then the apps, the tracer last
        # (it still receives the proxies' final spans).
        children = self.supervisor.children.values()
        groups = [
            [m.spec.name for m in children if m.spec.kind == kind] for kind in ("gateway", "sidecar", "app")
        ]
        await self.supervisor.stop_all(groups)
        self.checker.close()
        if self._xds_server is not None:
            await self._xds_server.stop(grace=0.5)

    # -- child process specs -------------------------------------------------------------------

    def _log(self, name: str) -> Path:
        return self.settings.state_dir / "logs" / f"{name}.log"

    def _tracer_spec(self) -> ProcessSpec:
        return ProcessSpec(
            name="tracer",
            kind="tracer",
            args=[
                sys.executable, "-m", "meshcore.tracer",
                "--host", LOOPBACK, "--port", str(self.settings.tracer_port),
                "--db", str(self.settings.state_dir / "traces.sqlite3"),
            ],
            log_path=self._log("tracer"),
            part_name="tracer",
            ready_url=f"{self.settings.tracer_url}/health",
        )  # fmt: skip

    def _app_spec(self, workload_name: str) -> ProcessSpec:
        workload = self.registry.workload(workload_name)
        assert workload is not None
        return ProcessSpec(
            name=f"{workload.name}-app",
            kind="app",
            workload=workload.name,
            args=[
                sys.executable, "-m", "meshcore.bookinfo", workload.app,
                "--version", workload.version,
                "--host", workload.address, "--port", str(workload.app_port),
                "--outbound", f"{workload.address}:{workload.outbound_port}",
            ],
            log_path=self._log(f"{workload.name}-app"),
            part_name=f"app-{workload.name}",
            ready_url=f"http://{workload.address}:{workload.app_port}/health",
        )  # fmt: skip

    def _proxy_spec(self, name: str) -> ProcessSpec:
        gateway = self.registry.gateway
        if name == gateway.name:
            identity = ProxyIdentity(
                gateway.node_id, gateway.node_cluster, gateway.admin_socket, {"NAME": gateway.name}
            )
            kind = "gateway"
        else:
            workload = self.registry.workload(name)
            assert workload is not None
            identity = ProxyIdentity(
                workload.node_id,
                workload.node_cluster,
                workload.admin_socket,
                {"NAME": workload.name, "APP": workload.app, "VERSION": workload.version},
            )
            kind = "sidecar"
        bootstrap_path = self.settings.state_dir / "bootstrap" / f"{name}.json"
        bootstrap_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_file(bootstrap_path, json.dumps(make_bootstrap(identity, self.endpoints), indent=1))
        # A socket left by an Envoy that died would make the next one fail to bind.
        Path(identity.admin_socket).unlink(missing_ok=True)
        return ProcessSpec(
            name=f"{name}-proxy" if kind == "sidecar" else name,
            kind=kind,
            workload=name,
            args=[
                envoy_binary(), "-c", str(bootstrap_path),
                # No hot restart (the supervisor starts a fresh Envoy): no shared memory to keep
                # apart with --base-id, and no abstract domain socket that any local user could reach.
                "--disable-hot-restart",
                "--concurrency", "1",
                "--log-level", self.settings.envoy_log_level,
                "--drain-time-s", "1",
            ],
            log_path=self._log(name if kind == "gateway" else f"{name}-proxy"),
            part_name=f"sidecar-{name}",
            # Envoy's /ready answers 200 once its initial xDS config is in force.
            ready_url="http://localhost/ready",
            ready_socket=identity.admin_socket,
        )  # fmt: skip


async def run_until_signalled(mesh: LocalMesh, stop: asyncio.Event) -> None:
    await mesh.start()
    try:
        await stop.wait()
    finally:
        await mesh.stop()
