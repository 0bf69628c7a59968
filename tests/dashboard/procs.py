"""Starting the dashboard's own processes (Daphne, Celery) for tests, on free ports, by PID."""

from __future__ import annotations

import http.cookiejar
import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.processes import log_tail, start_process, stop_process
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


# Databases made for test dashboards in this process (dropped by `drop_test_databases`).
_CREATED_DATABASES: list[str] = []


def _server_url(database_url: str) -> str:
    """`postgres://user@host:port/` of a database URL (its server, no database name)."""
    parsed = urllib.parse.urlsplit(database_url)
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, "/", "", ""))


def fresh_database_url() -> str | None:
    """On a PostgreSQL run (DATABASE_URL in the environment), a new empty database on the same
    server for one test dashboard; None on SQLite (each dashboard has its own file)."""
    run_url = os.environ.get("DATABASE_URL", "")
    if not run_url.startswith(("postgres://", "postgresql://")):
        return None
    import psycopg

    name = f"meshscope_dash_{secrets.token_hex(6)}"
    with psycopg.connect(_server_url(run_url) + "postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    _CREATED_DATABASES.append(name)
    return _server_url(run_url) + name


def drop_test_databases() -> None:
    """Drop every database `fresh_database_url` made (connections still open are ended)."""
    if not _CREATED_DATABASES:
        return
    import psycopg

    server = _server_url(os.environ["DATABASE_URL"])
    with psycopg.connect(server + "postgres", autocommit=True, connect_timeout=5) as admin:
        while _CREATED_DATABASES:
            admin.execute(f'DROP DATABASE IF EXISTS "{_CREATED_DATABASES.pop()}" WITH (FORCE)')


def dashboard_env(state_dir: Path, redis_url: str, api_url: str, **extra: str) -> dict[str, str]:
    """The environment of one test dashboard's processes: its own SQLite file in `state_dir`, or on
    a PostgreSQL run its own fresh database. With a DATABASE_URL they need a shared secret key
    (none is generated then, by design): each test dashboard gets its own. `DATABASE_URL=""`
    in `extra` asks for SQLite whatever the run uses."""
    if "DATABASE_URL" not in extra:
        fresh = fresh_database_url()
        if fresh:
            extra = {**extra, "DATABASE_URL": fresh}
    secret = {"DJANGO_SECRET_KEY": f"test-only-{secrets.token_hex(16)}"} if extra.get("DATABASE_URL") else {}
    return {
        **secret,
        "MESHSCOPE_STATE_DIR": str(state_dir),
        "REDIS_URL": redis_url,
        "MESHCORE_API_URL": api_url,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`manage.py <args>` with the environment of a test dashboard (bounded to 2 minutes)."""
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def migrate(env: dict[str, str], log: Path) -> None:
    result = manage(env, "migrate", "--noinput")
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr[-3000:]


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return start_process(
        [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--pool", "solo", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        log, env=env, cwd=REPO,
    )  # fmt: skip


def start_beat(env: dict[str, str], log: Path, schedule: Path) -> subprocess.Popen:
    return start_process(
        [sys.executable, "-m", "celery", "-A", "dashboard", "beat", "--loglevel", "INFO", "--schedule", str(schedule)],
        log, env=env, cwd=REPO,
    )  # fmt: skip


def start_daphne(env: dict[str, str], log: Path, port: int) -> subprocess.Popen:
    return start_process(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "dashboard.asgi:application"],
        log, env=env, cwd=REPO,
    )  # fmt: skip


class Dashboard:
    """Daphne + Celery worker + beat on a free port with their own SQLite state; an admin exists."""

    USER, PASSWORD = "test-admin", "test-admin-pass-123"

    def __init__(self, tmp: Path, redis_url: str, api_url: str, **env: str) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dashboard_env(
            tmp,
            redis_url,
            api_url,
            DJANGO_SUPERUSER_USERNAME=self.USER,
            DJANGO_SUPERUSER_PASSWORD=self.PASSWORD,
            **env,
        )
        migrate(self.env, tmp / "migrate.log")
        subprocess.run(
            [sys.executable, str(REPO / "manage.py"), "ensure_admin"],
            env={**os.environ, **self.env},
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        self.worker = start_worker(self.env, tmp / "worker.log")
        self.beat = start_beat(self.env, tmp / "beat.log", tmp / "beat-schedule")
        self.daphne: subprocess.Popen | None = None
        self.start_daphne()

    def start_daphne(self) -> None:
        self.daphne = start_daphne(self.env, self.tmp / "daphne.log", self.port)

        def answers() -> bool:
            with urllib.request.urlopen(self.url + "/accounts/login/", timeout=2) as response:
                return response.status == 200

        wait_until(answers, timeout=30, what="daphne")

    def stop(self) -> None:
        for process in (self.daphne, self.beat, self.worker):
            if process is not None:
                stop_process(process)

    def logs(self) -> str:
        return "\n".join(
            f"--- {n}\n{log_tail(self.tmp / n, 25)}" for n in ("daphne.log", "worker.log", "beat.log")
        )

    def requests_session(self) -> Any:
        """A `requests.Session` logged in as the admin, sending the CSRF token (writes work)."""
        import requests

        session = requests.Session()
        session.get(self.url + "/accounts/login/", timeout=10)
        session.post(
            self.url + "/accounts/login/",
            data={
                "username": self.USER,
                "password": self.PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": self.url + "/"},
            timeout=10,
        )
        session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": self.url + "/"})
        return session

    def login(self) -> urllib.request.OpenerDirector:
        """An HTTP client with a logged-in session (cookies kept)."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(self.url + "/accounts/login/", timeout=10).read()
        token = next(c.value for c in jar if c.name == "csrftoken")
        body = urllib.parse.urlencode(
            {"username": self.USER, "password": self.PASSWORD, "csrfmiddlewaretoken": token}
        )
        request = urllib.request.Request(
            self.url + "/accounts/login/", data=body.encode(), headers={"Referer": self.url + "/"}
        )
        opener.open(request, timeout=10).read()
        assert any(c.name == "sessionid" for c in jar), "login failed"
        return opener


def count_rows(env: dict[str, str], table: str) -> int:
    """Rows in `table` of the database the processes of `env` use (SQLite or PostgreSQL alike)."""
    code = f"from django.db import connection; c = connection.cursor(); c.execute('select count(*) from {table}'); print(c.fetchone()[0])"
    result = manage(env, "shell", "-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    return int(result.stdout.strip().splitlines()[-1])


def get_json(opener: urllib.request.OpenerDirector, url: str) -> Any:
    with opener.open(url, timeout=10) as response:
        return json.loads(response.read())
