"""The whole local mesh as one process tree: this process (`meshcore up`, the launcher) supervises
the control plane, the tracer, the BookInfo apps, their Envoy sidecars and the ingress gateway.

The control plane (xDS + resource API + CA + SDS) is a supervised child like the others
(`python -m meshcore.controlplane_process`): when it dies it is restarted with backoff on the same
ports, from the resources and the CA persisted in the state directory, while every Envoy keeps
serving with its last config and reconnects to the same ADS port. The launcher keeps the traffic
generator and serves process control on a Unix socket (`meshcore.launcher_socket`), which the
control plane's resource API forwards to. Every child dies with the launcher (PR_SET_PDEATHSIG).

The state directory is private (0700, files 0600): it holds the API token (`api-token`), every
Envoy's admin socket (`admin/<name>.sock`), the launcher's socket (`launcher.sock`), resources,
traces, logs and bootstraps, and `supervisor.json` (see `meshcore.supervisor`; its "pid" is the
launcher's): parts `controlplane`, `tracer`, `app-<workload>` and `sidecar-<workload>` (the ingress
gateway's Envoy is `sidecar-<gateway name>`).
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
from meshcore.controlplane.identities import DEFAULT_LIFETIME_S
from meshcore.launcher_socket import make_launcher_api, serve_on_socket
from meshcore.model.registry import Registry
from meshcore.processctl import CONTROL_PLANE_PROCESS, SupervisorControl
from meshcore.sidecar.binary import envoy_binary
from meshcore.sidecar.bootstrap import MAX_SOCKET_PATH, MeshEndpoints, ProxyIdentity, make_bootstrap
from meshcore.statedir import private_state_dir, write_private_file
from meshcore.supervisor import STATE_FILE, ProcessSpec, RestartPolicy, Supervisor
from meshcore.traffic import DEFAULT_USERS, TrafficGenerator

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
LAUNCHER_SOCKET = "launcher.sock"
# The control plane comes back fast (the proxies serve meanwhile, but nothing can be applied):
# its backoff is capped at 2 s; the budget is the supervisor's default.
CONTROL_PLANE_POLICY = RestartPolicy(initial_backoff_s=0.1, max_backoff_s=2.0)


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

    @property
    def launcher_socket(self) -> Path:
        """The launcher's process-control socket: `<state_dir>/launcher.sock`, or next to the short
        admin directory (`<dir>.launcher.sock`) when that path would not fit a socket address."""
        inside = self.state_dir.absolute() / LAUNCHER_SOCKET
        if len(str(inside).encode()) <= MAX_SOCKET_PATH:
            return inside
        short = short_admin_dir(self.state_dir)
        return short.with_name(f"{short.name}.{LAUNCHER_SOCKET}")

    def control_plane_args(self) -> list[str]:
        """The options of `python -m meshcore.controlplane_process` for this mesh."""
        args = [
            "--state-dir", str(self.state_dir.absolute()),
            "--gateway-port", str(self.gateway_port),
            "--gateway-address", self.gateway_address,
            "--xds-port", str(self.xds_port),
            "--api-port", str(self.api_port),
            "--tracer-port", str(self.tracer_port),
            "--base-port", str(self.base_port),
            "--sampling", repr(self.sampling_percent),
            "--cert-lifetime", repr(self.cert_lifetime_s),
        ]  # fmt: skip
        if self.ca_dir is not None:
            args += ["--ca-dir", str(self.ca_dir.absolute())]
        return args


def mesh_registry(settings: MeshSettings) -> Registry:
    """The mesh's workloads and gateway on the settings' ports (the launcher and the control plane
    build the same one)."""
    return bookinfo_registry(
        base_port=settings.base_port,
        gateway_port=settings.gateway_port,
        address=LOOPBACK,
        gateway_address=settings.gateway_address,
        admin_dir=settings.admin_dir,
    )


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
    """The launcher: start with `await mesh.start()`, stop with `await mesh.stop()`; one event loop."""

    def __init__(self, settings: MeshSettings) -> None:
        self.settings = settings
        self.registry: Registry = mesh_registry(settings)
        # supervisor.json in the mesh's state directory: every child, the control plane included.
        self.supervisor = Supervisor(state_file=settings.state_dir / STATE_FILE)
        self.traffic: TrafficGenerator | None = None
        self.control: SupervisorControl | None = None
        self._socket_runner: web.AppRunner | None = None

    @property
    def endpoints(self) -> MeshEndpoints:
        return MeshEndpoints(LOOPBACK, self.settings.xds_port, LOOPBACK, self.settings.tracer_port)

    async def start(self, control_plane_timeout: float = 60.0) -> None:
        """Start every child: the control plane first (the Envoys start once it serves xDS, or
        after `control_plane_timeout` seconds: they retry the ADS connection by themselves)."""
        settings = self.settings
        private_state_dir(settings.state_dir)
        settings.admin_dir.mkdir(mode=0o700, exist_ok=True)
        token = server_token(settings.state_dir)
        # Always present, idle at rate 0 unless asked for: PUT /api/v1/traffic changes the rate.
        self.traffic = TrafficGenerator(
            settings.gateway_url, settings.traffic_rps, users=settings.traffic_users
        )
        self.control = control = SupervisorControl(self.supervisor, self.traffic)
        self._socket_runner = await serve_on_socket(
            make_launcher_api(control, token), settings.launcher_socket
        )
        control_plane = await self.supervisor.start(self._control_plane_spec(), CONTROL_PLANE_POLICY)
        deadline = asyncio.get_running_loop().time() + control_plane_timeout
        while not control_plane.ready and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if tracer_available():
            await self.supervisor.start(self._tracer_spec())
        for workload in self.registry.workloads:
            await self.supervisor.start(self._app_spec(workload.name))
            await self.supervisor.start(self._proxy_spec(workload.name))
        await self.supervisor.start(self._proxy_spec(self.registry.gateway.name))
        await self.traffic.start()
        control.starting = False

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
        if self.traffic is not None:
            await self.traffic.stop()
        # Proxies first (no request reaches an app that is going away), then the apps, then the
        # control plane and the tracer (it still receives the proxies' final spans).
        children = self.supervisor.children.values()
        groups = [
            [m.spec.name for m in children if m.spec.kind == kind] for kind in ("gateway", "sidecar", "app")
        ]
        await self.supervisor.stop_all(groups)
        if self._socket_runner is not None:
            await self._socket_runner.cleanup()
            self.settings.launcher_socket.unlink(missing_ok=True)

    # -- child process specs -------------------------------------------------------------------

    def _log(self, name: str) -> Path:
        return self.settings.state_dir / "logs" / f"{name}.log"

    def _control_plane_spec(self) -> ProcessSpec:
        return ProcessSpec(
            name=CONTROL_PLANE_PROCESS,
            kind="controlplane",
            args=[sys.executable, "-m", "meshcore.controlplane_process", *self.settings.control_plane_args()],
            log_path=self._log(CONTROL_PLANE_PROCESS),
            # Its resource API answers once xDS is served (it starts last).
            ready_url=f"{self.settings.api_url}/healthz",
        )

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
