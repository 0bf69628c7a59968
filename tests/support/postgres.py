"""Is there a PostgreSQL for the suite's second run? `python -m tests.support.postgres [URL]`
exits 0 when the server at URL (default: postgres://postgres@127.0.0.1:5432/, trust auth) accepts
a connection within 3 s, 1 otherwise, saying why on stderr. Used by `make test`."""

from __future__ import annotations

import sys

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/"


def server_problem(server: str = DEFAULT_SERVER) -> str | None:
    """None when `server` (a URL ending in "/") answers; else why not."""
    import psycopg

    try:
        with psycopg.connect(server + "postgres", connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        return str(error).strip() or type(error).__name__
    return None


if __name__ == "__main__":
    problem = server_problem(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SERVER)
    if problem:
        print(problem, file=sys.stderr)
    sys.exit(1 if problem else 0)
