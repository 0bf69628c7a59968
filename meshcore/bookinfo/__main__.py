"""Run one BookInfo workload: `python -m meshcore.bookinfo APP --version vN --port PORT --outbound HOST:PORT`.

APP is productpage | details | reviews | ratings. The app listens on --host (127.0.0.1) --port
(0 picks a free port) and prints, once it accepts connections,

    <app>-<version> listening on http://127.0.0.1:<port>

on stdout. Calls to other services go to the sidecar's outbound listener given by --outbound
(required for productpage and reviews, the two apps that call others). SIGTERM or SIGINT stop it
cleanly (in-flight requests get a short grace period) with exit status 0. Exit status 2 means bad
arguments or environment (the message names which).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from meshcore.bookinfo import details, productpage, ratings, reviews
from meshcore.bookinfo.mesh_client import parse_outbound

APPS = ("productpage", "details", "reviews", "ratings")
CALLERS = ("productpage", "reviews")
SHUTDOWN_GRACE_SECONDS = 3.0

log = logging.getLogger("meshcore.bookinfo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m meshcore.bookinfo", description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=APPS)
    parser.add_argument("--version", default="v1", help="workload version label, e.g. v1, v2, v3")
    parser.add_argument("--port", type=int, required=True, help="port the app listens on (0: any free)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--outbound", help="HOST:PORT of the sidecar's outbound listener")
    parser.add_argument("--access-log", action="store_true", help="log every request (off: noisy under load)")
    return parser


def create_app(app: str, version: str, outbound: str | None) -> web.Application:
    """The aiohttp application for `app`; ValueError for a missing/invalid outbound or bad env."""
    if app in CALLERS:
        if not outbound:
            raise ValueError(f"--outbound: {app} calls other services and needs its sidecar's HOST:PORT")
        parse_outbound(outbound)
    if app == "productpage":
        assert outbound is not None
        return productpage.create_app(outbound)
    if app == "reviews":
        assert outbound is not None
        return reviews.create_app(version, outbound)
    if app == "details":
        return details.create_app(version)
    if app == "ratings":
        return ratings.create_app(version)
    raise ValueError(f"app: unknown BookInfo app {app!r}; expected one of {', '.join(APPS)}")


async def serve(
    application: web.Application, name: str, host: str, port: int, access_log: bool = False
) -> None:
    """Serve `application` until SIGTERM/SIGINT, announcing readiness with the listening line."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(
        application,
        access_log=log if access_log else None,
        shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1] if runner.addresses else port
        print(f"{name} listening on http://{host}:{bound_port}", flush=True)
        await stop.wait()
        log.info("%s stopping", name)
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s")
    try:
        application = create_app(args.app, args.version, args.outbound)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(application, f"{args.app}-{args.version}", args.host, args.port, args.access_log))
    except OSError as error:
        # Typically the port is taken; say so in one line rather than a traceback.
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
