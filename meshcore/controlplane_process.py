"""The local mesh's control plane as a process of its own: `python -m meshcore.controlplane_process`.

Started (and restarted, with backoff, when it dies) by the mesh's launcher (`meshcore.local_mesh`),
with the launcher's settings as `meshcore up`'s options. It serves, all on 127.0.0.1:
- the ADS gRPC server on `--xds-port` (the port every Envoy's bootstrap names: a restarted control
  plane binds it again and the Envoys, which kept serving with their last config, reconnect);
- the resource API on `--api-port`, with the token kept in the state directory (the same across
  restarts), its process and traffic routes forwarded to the launcher's socket;
- workload certificates (SDS over ADS) from the CA kept in `<state_dir>/ca` (or `--ca-dir`),
  rotated at half their lifetime.
Resources come from `<state_dir>/resources.json`, where every accepted change is persisted before
it is pushed. The resource API starts last, so its /healthz answering (the launcher's readiness
probe) means xDS is served. SIGTERM or SIGINT stops it cleanly; a port it cannot bind makes it
exit 1 (the launcher retries).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web

from meshcore.apitoken import server_token
from meshcore.cli import build_parser, mesh_settings
from meshcore.controlplane.api import make_api
from meshcore.controlplane.builders.listeners import TracingSettings
from meshcore.controlplane.ca import CertificateAuthority
from meshcore.controlplane.checker import ProcessChecker
from meshcore.controlplane.identities import WorkloadIdentities
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ResourceStore
from meshcore.controlplane.xds_server import start_xds_server
from meshcore.launcher_socket import LauncherClient
from meshcore.local_mesh import LOOPBACK, MeshSettings, mesh_registry

log = logging.getLogger("meshcore.controlplane")


def parse_settings(argv: list[str]) -> MeshSettings:
    """The launcher's settings from `meshcore up`'s options (see `MeshSettings.control_plane_args`)."""
    return mesh_settings(build_parser().parse_args(["up", *argv]))


def build_control_plane(settings: MeshSettings, checker: ProcessChecker) -> ControlPlane:
    """The control plane over the persisted store and CA of the settings' state directory."""
    authority = (
        CertificateAuthority.plugged_in(settings.ca_dir)
        if settings.ca_dir is not None
        else CertificateAuthority.load_or_create(settings.state_dir / "ca")
    )
    return ControlPlane(
        mesh_registry(settings),
        ResourceStore(settings.state_dir / "resources.json"),
        TracingSettings(enabled=True, sampling_percent=settings.sampling_percent),
        identities=WorkloadIdentities(authority, settings.cert_lifetime_s),
        checker=checker,
    )


async def serve(settings: MeshSettings, stop: asyncio.Event) -> None:
    """Serve xDS and the resource API until `stop` is set; then stop both."""
    token = server_token(settings.state_dir)
    checker = ProcessChecker()
    control_plane = build_control_plane(settings, checker)
    launcher = LauncherClient(settings.launcher_socket, token)
    xds_server = runner = rotation = None
    try:
        # xDS first: the Envoys waiting to reconnect need nothing else; the checker's worker
        # (validating applies) takes longer to start.
        xds_server, _ = await start_xds_server(
            control_plane.cache, control_plane.board, LOOPBACK, settings.xds_port
        )
        rotation = asyncio.create_task(control_plane.run_certificate_rotation())
        await checker.start()
        runner = web.AppRunner(make_api(control_plane, launcher, token=token), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, LOOPBACK, settings.api_port).start()
        log.info(
            "serving xDS on %s:%d and the resource API on %s", LOOPBACK, settings.xds_port, settings.api_url
        )
        await stop.wait()
    finally:
        if rotation is not None:
            rotation.cancel()
        if runner is not None:
            await runner.cleanup()
        await launcher.close()
        if xds_server is not None:
            await xds_server.stop(grace=0.5)
        checker.close()


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, stop)

    try:
        asyncio.run(run())
    except (OSError, RuntimeError) as error:
        # A port taken (by a control plane still going away, or anything else): the launcher
        # restarts this process with backoff.
        log.error("control plane: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
