"""Start real child processes for tests and stop them by PID.

The same start and stop rules as `meshcore.supervisor` (own session, PR_SET_PDEATHSIG, the process
group killed when the child does not stop): a test run that is killed leaves no server behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from meshcore.supervisor import die_with_parent, kill_group


def start_process(
    args: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    """Start `args` in its own process group, output to `log_path`."""
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns the handle for its lifetime
    return subprocess.Popen(
        list(args),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> int | None:
    """SIGTERM the process (by PID), SIGKILL its group if it does not exit in time."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process.pid)
        return process.wait(timeout=5)


def log_tail(log_path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
