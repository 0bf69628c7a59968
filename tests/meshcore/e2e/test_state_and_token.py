"""The mesh's state directory is private, no log holds the API token, and the CLI finds the token
by itself: in the default place, with --state-dir and with MESHCORE_STATE_DIR."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from meshcore.apitoken import read_token

pytestmark = pytest.mark.mesh


def open_to_others(root: Path) -> list[str]:
    """Entries under `root` (and root itself) that a group or another user may read or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{oct(stat.S_IMODE(mode))} {path}")
    return found


def meshcore(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MESHCORE_")}
    return subprocess.run(
        [sys.executable, "-m", "meshcore.cli", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_nothing_in_the_state_directory_is_readable_by_others(mesh):
    assert open_to_others(mesh.state_dir) == []
    sockets = sorted((mesh.state_dir / "admin").iterdir())
    assert len(sockets) == 7 and all(stat.S_ISSOCK(s.stat().st_mode) for s in sockets)
    token = read_token(mesh.token_file)
    logs = [*mesh.state_dir.rglob("*.log"), mesh.log_path]
    assert logs and not [log for log in logs if token in log.read_text(errors="replace")]


def test_the_cli_finds_the_token_by_itself(mesh, tmp_path):
    api = ["--api", mesh.api_url]
    # The default setup: `meshcore up` kept its state in ./state/mesh.
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "mesh").symlink_to(mesh.state_dir)
    default = meshcore(*api, "status", cwd=tmp_path, env={})
    assert default.returncode == 0 and "productpage-v1" in default.stdout, default.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    by_option = meshcore(*api, "get", "vs", "--state-dir", str(mesh.state_dir), cwd=elsewhere, env={})
    assert by_option.returncode == 0, by_option.stderr
    by_env = meshcore(*api, "status", cwd=elsewhere, env={"MESHCORE_STATE_DIR": str(mesh.state_dir)})
    assert by_env.returncode == 0, by_env.stderr
    missing = meshcore(*api, "status", cwd=elsewhere, env={})
    assert missing.returncode != 0 and "MESHCORE_STATE_DIR or --state-dir" in missing.stderr
    wrong = meshcore(*api, "status", cwd=elsewhere, env={"MESHCORE_API_TOKEN": "not-the-token"})
    assert wrong.returncode == 1 and "Error (401)" in wrong.stderr
