"""State directories that only their owner can read: 0700 directories, 0600 files.

The mesh's and the dashboard's state directories hold resources, traces, logs, Envoy bootstraps,
admin sockets, the API token and the dashboard's secret key and password. `private_state_dir`
creates one (or tightens an existing one, also what an older version left readable) and
`private_umask` makes every file a process and its children create afterwards private too
(SQLite databases, logs, Envoy's files), so nothing depends on each writer remembering a mode.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Set the process umask to 077 (inherited by children); returns the previous one."""
    return os.umask(PRIVATE_UMASK)


def private_state_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700 and strip group/other bits from everything inside it.

    Symlinks are left alone (their targets are not ours to change). Returns `path`.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    for root, directories, files in os.walk(path):
        for name in [*directories, *files]:
            entry = Path(root) / name
            info = entry.lstat()
            if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o077:
                entry.chmod(stat.S_IMODE(info.st_mode) & 0o700)
    return path


def write_private_file(path: Path, text: str) -> None:
    """Create or atomically replace `path` with mode 0600 (never readable by others, not even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
