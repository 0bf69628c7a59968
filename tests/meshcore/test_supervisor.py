"""meshcore.supervisor with real child processes: readiness, restart, budget, hold, parent death.

Children are small Python programs (no stubs); waits are bounded polls, never timed assertions.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from meshcore.supervisor import (
    AlreadyRunning,
    InstanceLock,
    ProcessSpec,
    RestartPolicy,
    Supervisor,
    mark_orphaned,
    read_state,
)
from tests.support.ports import free_port
from tests.support.waiting import async_wait_until, wait_until

FAST = RestartPolicy(initial_backoff_s=0.05, max_backoff_s=0.2, jitter=0.1, budget=50)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def server_args(port: int) -> list[str]:
    """A child that listens on `port` after a short delay (so readiness is really awaited)."""
    code = f"""
import socket, time
time.sleep(0.3)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {port})); s.listen()
while True:
    c, _ = s.accept(); c.close()
"""
    return [sys.executable, "-c", code]


def alive(pid: int | None) -> bool:
    if pid is None or not psutil.pid_exists(pid):
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def until(condition, timeout: float = 20.0, what: str = ""):
    async def check():
        return condition()

    return await async_wait_until(check, timeout=timeout, what=what)


async def test_start_waits_for_readiness_and_writes_the_state_file(tmp_path):
    port = free_port()
    state_file = tmp_path / "supervisor.json"
    supervisor = Supervisor(policy=FAST, state_file=state_file)
    spec = ProcessSpec(
        name="server", args=server_args(port), log_path=tmp_path / "server.log", ready_port=port
    )
    managed = await supervisor.start(spec)
    try:
        assert managed.state == "starting" and not managed.ready
        await until(lambda: managed.ready, what="the port answers")
        document = read_state(state_file)
        part = document["parts"]["server"]
        assert part["state"] == "running" and part["pid"] == managed.pid and part["restarts"] == 0
        assert set(part) == {"state", "pid", "restarts", "since", "last_exit", "last_error"}
        assert part["last_exit"] is None and part["last_error"] is None
        assert document["updated_at"] >= part["since"]
        assert oct(state_file.stat().st_mode & 0o777) == oct(0o600)
    finally:
        await supervisor.stop_all()
    assert read_state(state_file)["parts"]["server"]["state"] == "stopped"
    assert not alive(managed.process.pid)


async def test_a_killed_child_is_restarted_counted_and_its_exit_reported(tmp_path):
    state_file = tmp_path / "supervisor.json"
    supervisor = Supervisor(policy=FAST, state_file=state_file)
    managed = await supervisor.start(ProcessSpec(name="sleeper", args=SLEEPER, log_path=tmp_path / "s.log"))
    try:
        first = managed.pid
        os.kill(first, signal.SIGKILL)
        await until(lambda: managed.pid not in (None, first) and managed.state == "running", what="respawn")
        assert managed.restarts == 1
        assert managed.last_exit.signal == signal.SIGKILL and managed.last_exit.code is None
        part = read_state(state_file)["parts"]["sleeper"]
        assert part["restarts"] == 1 and part["last_exit"]["signal"] == signal.SIGKILL
        assert part["pid"] == managed.pid
        assert not alive(first)
    finally:
        await supervisor.stop_all()


async def test_restart_budget_spent_means_failed_until_released(tmp_path):
    policy = RestartPolicy(
        initial_backoff_s=0.01, max_backoff_s=0.05, jitter=0.0, budget=3, budget_window_s=60
    )
    state_file = tmp_path / "supervisor.json"
    supervisor = Supervisor(policy=policy, state_file=state_file)
    crasher = [sys.executable, "-c", "import sys; sys.exit(3)"]
    managed = await supervisor.start(ProcessSpec(name="crasher", args=crasher, log_path=tmp_path / "c.log"))
    try:
        await until(lambda: managed.state == "failed", what="the budget is spent")
        assert managed.restarts == 3 and managed.last_exit.code == 3
        part = read_state(state_file)["parts"]["crasher"]
        assert part["state"] == "failed" and "3 restarts" in part["last_error"] and part["pid"] is None
        # A release gives it a fresh budget: it runs (and fails) again.
        await supervisor.release("crasher")
        await until(lambda: managed.state == "failed" and managed.restarts == 6, what="a second round")
    finally:
        await supervisor.stop_all()


async def test_hold_during_a_backoff_returns_promptly_and_nothing_respawns(tmp_path):
    policy = RestartPolicy(initial_backoff_s=1.0, max_backoff_s=1.0, jitter=0.0)
    supervisor = Supervisor(policy=policy, state_file=tmp_path / "supervisor.json")
    managed = await supervisor.start(ProcessSpec(name="sleeper", args=SLEEPER, log_path=tmp_path / "s.log"))
    try:
        os.kill(managed.pid, signal.SIGKILL)
        await until(lambda: managed.state == "backoff", what="the backoff")
        # Bounded, not timed: the backoff is 1 s and the bound is far below what a respawn loop takes.
        await asyncio.wait_for(supervisor.hold("sleeper"), timeout=10)
        assert managed.state == "held" and managed.pid is None
        # Past the end of the backoff it is still held: the watcher did not respawn it.
        await asyncio.sleep(1.5)
        assert managed.state == "held" and managed.pid is None and managed.restarts == 0
        assert read_state(tmp_path / "supervisor.json")["parts"]["sleeper"]["state"] == "held"
        await supervisor.release("sleeper")
        await until(lambda: managed.state == "running" and managed.pid, what="released")
        # A hold of a running child stops it (by PID) and keeps it stopped.
        pid = managed.pid
        await supervisor.hold("sleeper")
        assert managed.state == "held" and not alive(pid)
    finally:
        await supervisor.stop_all()


async def test_a_respawn_that_raises_is_reported_and_retried(tmp_path):
    binary = tmp_path / "program"
    binary.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(600)\n")
    binary.chmod(0o700)
    supervisor = Supervisor(policy=FAST, state_file=tmp_path / "supervisor.json")
    managed = await supervisor.start(
        ProcessSpec(name="program", args=[str(binary)], log_path=tmp_path / "p.log")
    )
    try:
        saved = binary.read_text()
        binary.unlink()  # the binary is gone: every respawn raises FileNotFoundError
        os.kill(managed.pid, signal.SIGKILL)
        await until(
            lambda: managed.last_error and "could not start" in managed.last_error, what="spawn failure"
        )
        restarts = managed.restarts
        await until(lambda: managed.restarts > restarts, what="the watcher retries")
        assert read_state(tmp_path / "supervisor.json")["parts"]["program"]["last_error"].startswith(
            "could not"
        )
        binary.write_text(saved)
        binary.chmod(0o700)
        await until(lambda: managed.state == "running" and managed.pid, what="back once the binary is back")
        assert managed.last_error is None
    finally:
        await supervisor.stop_all()


async def test_stop_all_takes_the_children_grandchildren_too(tmp_path):
    code = textwrap.dedent(
        f"""
        import subprocess, sys, time
        child = subprocess.Popen({SLEEPER!r})
        print(child.pid, flush=True)
        time.sleep(600)
        """
    )
    supervisor = Supervisor(policy=FAST)
    log_path = tmp_path / "parent.log"
    managed = await supervisor.start(
        ProcessSpec(name="parent", args=[sys.executable, "-c", code], log_path=log_path)
    )
    await until(lambda: log_path.read_text().strip(), what="the grandchild's pid")
    grandchild = int(log_path.read_text().split()[0])
    assert alive(grandchild)
    await supervisor.stop_all()
    await until(lambda: not alive(grandchild), timeout=10, what="the grandchild is gone")
    assert not alive(managed.process.pid)


LAUNCHER = """
import asyncio, sys
from pathlib import Path
from meshcore.supervisor import InstanceLock, ProcessSpec, Supervisor

async def main():
    state = Path(sys.argv[1])
    InstanceLock(state / "launcher.pid").acquire()
    supervisor = Supervisor(state_file=state / "supervisor.json")
    for n in range(3):
        await supervisor.start(ProcessSpec(name=f"child-{n}", args=[sys.executable, "-c", "import time; time.sleep(600)"],
                                           log_path=state / f"child-{n}.log"))
    await asyncio.sleep(600)

asyncio.run(main())
"""


def start_launcher(state: Path) -> subprocess.Popen:
    repo = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(state)], cwd=repo, start_new_session=True, stderr=subprocess.PIPE
    )


def test_sigkill_of_the_launcher_leaves_no_child_and_frees_the_lock(tmp_path):
    launcher = start_launcher(tmp_path)
    try:

        def children() -> list[int]:
            document = read_state(tmp_path / "supervisor.json") or {"parts": {}}
            pids = [p["pid"] for p in document["parts"].values() if p["pid"]]
            return pids if len(pids) == 3 else []

        pids = wait_until(children, timeout=30, what="three children")
        with pytest.raises(AlreadyRunning) as refused:
            InstanceLock(tmp_path / "launcher.pid").acquire()
        assert refused.value.pid == launcher.pid and str(launcher.pid) in str(refused.value)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=10)
        wait_until(
            lambda: not any(alive(pid) for pid in pids), timeout=10, what="children die with the launcher"
        )
        # Its state file still names them: whoever supervised the launcher marks it orphaned.
        document = read_state(tmp_path / "supervisor.json")
        assert document["pid"] == launcher.pid
        assert mark_orphaned(tmp_path / "supervisor.json", "its supervisor was killed")
        parts = read_state(tmp_path / "supervisor.json")["parts"]
        assert {(p["state"], p["pid"], p["last_error"]) for p in parts.values()} == {
            ("stopped", None, "its supervisor was killed")
        }
        # The pid file is stale now: the next launcher takes it over.
        with InstanceLock(tmp_path / "launcher.pid") as lock:
            assert int((tmp_path / "launcher.pid").read_text()) == os.getpid()
            assert lock is not None
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def test_state_file_is_replaced_atomically(tmp_path):
    """Readers never see half a document: it is written to a temporary name and renamed."""
    from meshcore.supervisor import write_json_atomically

    path = tmp_path / "supervisor.json"
    write_json_atomically(path, {"parts": {"a": 1}})
    inode = path.stat().st_ino
    write_json_atomically(path, {"parts": {"a": 2}})
    assert json.loads(path.read_text()) == {"parts": {"a": 2}}
    assert path.stat().st_ino != inode  # a new file took its place (rename), not an in-place rewrite
    assert [p.name for p in tmp_path.iterdir()] == ["supervisor.json"]


def test_backoff_grows_exponentially_within_its_jitter_and_cap():
    policy = RestartPolicy(initial_backoff_s=0.1, max_backoff_s=5.0, jitter=0.2)
    for attempt, base in [(0, 0.1), (1, 0.2), (3, 0.8), (10, 5.0)]:
        for _ in range(20):
            assert base * 0.8 <= policy.delay(attempt) <= base * 1.2
    assert RestartPolicy(jitter=0.0).delay(2) == pytest.approx(0.4)
