"""The loop that feeds a `SpanWriter`: in a thread of the serving process or in a child process.

Both run `run_writer_loop`: take what is queued (up to about WRITE_BATCH_SPANS spans), commit it in
one transaction, or, when nothing came for a second, run idle retention and settle overdue links;
report after every turn. Losing a batch is logged loudly; the loop keeps serving.

The child process (`writer_process_main`) gets lists of PreparedBatch over a pipe and answers:
("ready", spans), then ("ack", n_written, spans, written_total, expired_total) after each turn
(n_written=0 after idle retention), ("stopped",) at the end. A None message means: write what is
left and stop; the pipe's EOF (the serving process died) means the same, so what the writer has
received is committed even then.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from meshcore.tracer.rows import PreparedBatch
from meshcore.tracer.writer import WRITE_BATCH_SPANS, SpanWriter

log = logging.getLogger(__name__)
IDLE_EVERY_S = 1.0

# (batches, span count, stop after these) for up to `timeout` seconds of waiting.
NextBatches = Callable[[float], tuple[list[PreparedBatch], int, bool]]


def run_writer_loop(
    writer: SpanWriter,
    next_batches: NextBatches,
    report: Callable[[int], bool],
    guard: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> None:
    """Write until `next_batches` says stop or `report(count)` returns False.

    `report` is called after every turn, also when the write failed (the spans are then lost and
    logged), so whoever waits for them is released. `guard()` is held around each turn (the thread
    mode shares its writer with synchronous writes).
    """
    last_idle = time.monotonic()
    while True:
        batches, count, stop = next_batches(IDLE_EVERY_S)
        try:
            with guard():
                now = int(time.time() * 1_000_000)
                if batches:
                    writer.write_isolating(batches, now)
                elif time.monotonic() - last_idle >= IDLE_EVERY_S:
                    last_idle = time.monotonic()
                    writer.idle(now)
        except Exception:
            log.exception("tracer writer: failed to write %d spans", count)
        if not report(count) or stop:
            return


def pipe_batches(inbox: Any) -> NextBatches:
    """`next_batches` reading lists of PreparedBatch from a multiprocessing pipe."""

    def next_batches(timeout: float) -> tuple[list[PreparedBatch], int, bool]:
        batches: list[PreparedBatch] = []
        count = 0
        if not inbox.poll(timeout):
            return batches, count, False
        while True:
            try:
                message = inbox.recv()
            except EOFError:
                message = None  # the serving process is gone (killed): commit what we have, stop
            if message is None:
                return batches, count, True
            batches.extend(message)
            count += sum(len(batch.span_rows) for batch in message)
            if count >= WRITE_BATCH_SPANS or not inbox.poll(0):
                return batches, count, False

    return next_batches


def writer_process_main(path: str, max_spans: int, retention_us: int, inbox: Any, outbox: Any) -> None:
    """Child-process entry (see the module docstring for the messages)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Ctrl-C or a signal to the whole process group must not kill the writer mid-transaction: the
    # serving process decides when to stop (None message), and if it dies the pipe's EOF stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    writer = SpanWriter(path, max_spans=max_spans, retention_us=retention_us)
    outbox.send(("ready", writer.stats.spans))

    def report(count: int) -> bool:
        stats = writer.stats
        try:
            outbox.send(("ack", count, stats.spans, stats.written, stats.expired))
        except OSError:
            return False  # nobody is listening any more
        return True

    run_writer_loop(writer, pipe_batches(inbox), report)
    writer.close()
    with contextlib.suppress(OSError):
        outbox.send(("stopped",))
