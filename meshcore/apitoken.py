"""The resource API's bearer token: where the server keeps it and where clients find it.

The server (`meshcore up`) accepts `MESHCORE_API_TOKEN` (the value) or `MESHCORE_API_TOKEN_FILE`
(a file holding it), else the file `api-token` in the mesh's state directory, which it creates
(mode 0600, 32 random bytes) when missing and keeps across restarts. Clients (the CLI, the
dashboard, the tests) look in the same places; the state directory a client means is
`--state-dir`, else `MESHCORE_STATE_DIR`, else `state/mesh`. Stdlib only.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from meshcore.statedir import write_private_file

TOKEN_ENV = "MESHCORE_API_TOKEN"
TOKEN_FILE_ENV = "MESHCORE_API_TOKEN_FILE"
STATE_DIR_ENV = "MESHCORE_STATE_DIR"
DEFAULT_STATE_DIR = Path("state/mesh")
TOKEN_FILE_NAME = "api-token"


class TokenError(ValueError):
    """No usable token: the message says where one was looked for."""


def state_dir_from_env(explicit: str | Path | None = None) -> Path:
    """The mesh state directory a client means: `explicit`, else MESHCORE_STATE_DIR, else state/mesh."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def token_file(state_dir: Path) -> Path:
    return state_dir / TOKEN_FILE_NAME


def read_token(path: Path) -> str:
    """The token kept in `path` (surrounding whitespace dropped); TokenError if unreadable or empty."""
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise TokenError(f"cannot read the API token file {path}: {error.strerror}") from None
    if not token:
        raise TokenError(f"the API token file {path} is empty")
    return token


def server_token(state_dir: Path) -> str:
    """The token the server accepts (see the module docstring); creates the state-dir file if needed.

    An existing token file is kept (and made 0600), so clients that read it earlier keep working
    across restarts of the mesh.
    """
    explicit = _token_from_env()
    if explicit:
        return explicit
    path = token_file(state_dir)
    if path.exists():
        path.chmod(0o600)
        return read_token(path)
    token = secrets.token_urlsafe(32)
    write_private_file(path, token + "\n")
    return token


def client_token(state_dir: str | Path | None = None) -> str:
    """The token a client sends: from the environment, else from the state directory's file.

    Raises TokenError naming where it looked, so the user knows which setting to give.
    """
    explicit = _token_from_env()
    if explicit:
        return explicit
    path = token_file(state_dir_from_env(state_dir))
    if not path.exists():
        raise TokenError(
            f"no API token: {path} does not exist. Point MESHCORE_STATE_DIR or --state-dir at the "
            f"state directory of the running mesh, or set {TOKEN_ENV} / {TOKEN_FILE_ENV}"
        )
    return read_token(path)


def _token_from_env() -> str | None:
    value = os.environ.get(TOKEN_ENV, "").strip()
    if value:
        return value
    path = os.environ.get(TOKEN_FILE_ENV, "").strip()
    return read_token(Path(path)) if path else None


def bearer_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
