"""`python -m meshcore.tracer`: run the tracer in the foreground until SIGTERM/SIGINT.

Logs "tracer listening on http://HOST:PORT" once the socket accepts connections. On SIGTERM or
SIGINT it stops accepting, commits the spans already accepted, closes the database, exits 0.
A writer process that dies is restarted by the store; if it cannot be kept running (its restart
budget is spent) the tracer exits 1, so that its own supervisor starts a fresh one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from meshcore.tracer.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SPANS_PER_REQUEST, create_app
from meshcore.tracer.store import DEFAULT_AUTOCOMPLETE_KEYS, DEFAULT_INDEXED_TAG_KEYS, TraceStore

log = logging.getLogger("meshcore.tracer")


def _keys(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m meshcore.tracer", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9411)
    parser.add_argument("--db", type=Path, required=True, help="SQLite database path (created if missing)")
    parser.add_argument(
        "--max-spans", type=int, default=500_000, help="retention cap in spans (Zipkin's default)"
    )
    parser.add_argument("--retention-hours", type=float, default=24.0, help="retention by trace age")
    parser.add_argument("--max-pending-spans", type=int, default=50_000, help="write queue bound (503 above)")
    parser.add_argument(
        "--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="413 above (decoded)"
    )
    parser.add_argument(
        "--max-spans-per-request", type=int, default=DEFAULT_MAX_SPANS_PER_REQUEST, help="413 above"
    )
    parser.add_argument(
        "--cors-origins",
        type=_keys,
        default=_keys(os.environ.get("MESHCORE_TRACER_CORS_ORIGINS", "")),
        help="comma-separated web origins (http://host:port) whose pages may read the API "
        "(env MESHCORE_TRACER_CORS_ORIGINS; default none)",
    )
    parser.add_argument(
        "--allowed-hosts",
        type=_keys,
        default=_keys(os.environ.get("MESHCORE_TRACER_ALLOWED_HOSTS", "")),
        help="Host names served besides the loopback ones (env MESHCORE_TRACER_ALLOWED_HOSTS)",
    )
    parser.add_argument(
        "--autocomplete-keys",
        type=_keys,
        default=_keys(os.environ.get("AUTOCOMPLETE_KEYS", ",".join(DEFAULT_AUTOCOMPLETE_KEYS))),
        help="comma-separated tag keys for /api/v2/autocomplete* (env AUTOCOMPLETE_KEYS, as Zipkin)",
    )
    parser.add_argument(
        "--indexed-tag-keys",
        type=_keys,
        default=DEFAULT_INDEXED_TAG_KEYS,
        help="comma-separated tag keys indexed for annotationQuery (others are matched by scanning)",
    )
    parser.add_argument(
        "--writer",
        choices=("process", "thread"),
        default="process",
        help="where the SQLite writer runs (a child process measured faster on 2 cores)",
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    store = TraceStore(
        args.db,
        max_spans=args.max_spans,
        retention_hours=args.retention_hours,
        max_pending_spans=args.max_pending_spans,
        indexed_tag_keys=args.indexed_tag_keys,
        autocomplete_keys=args.autocomplete_keys,
        writer=args.writer,
    )
    app = create_app(
        store,
        max_body_bytes=args.max_body_bytes,
        max_spans_per_request=args.max_spans_per_request,
        allowed_hosts=args.allowed_hosts,
        cors_origins=args.cors_origins,
        close_store=True,
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, args.host, args.port, backlog=1024, reuse_address=True)
        await site.start()
        log.info("tracer listening on http://%s:%d", args.host, args.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        while not stop.is_set() and not store.failed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        if store.failed:
            log.error("tracer stopping: its span writer cannot be kept running")
            return 1
        log.info("tracer stopping")
        return 0
    finally:
        await runner.cleanup()
        store.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.writer == "thread":
        # The writer thread releases the GIL inside SQLite for every row and must get it back
        # quickly; with the default 5 ms switch interval it queues behind the event loop (measured).
        # With the writer process (default) the default interval measured as good or better.
        sys.setswitchinterval(0.001)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return asyncio.run(serve(args))
    except OSError as error:
        log.error("tracer failed to start: %s", error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
