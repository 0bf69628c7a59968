"""The Redis that tests and benchmarks start dies with whatever started it, even when that is killed."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil

from tests.support.waiting import wait_until

STARTER = """
import sys, time
from dashboard.redis_server import start_redis
server = start_redis()
print(server.process.pid, flush=True)
time.sleep(120)
"""


def test_a_killed_starter_leaves_no_redis_behind():
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True)
    try:
        redis_pid = int(starter.stdout.readline())
        assert psutil.pid_exists(redis_pid)
        starter.send_signal(signal.SIGKILL)
        starter.wait(timeout=10)

        def gone() -> bool:
            try:
                return psutil.Process(redis_pid).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True

        wait_until(gone, timeout=10, what="redis to die with its starter")
    finally:
        starter.kill()
        starter.wait(timeout=10)
