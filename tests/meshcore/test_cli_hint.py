"""The CLI's answer when the control plane does not answer: what the launcher's supervisor.json
says of it (a real CLI process against a loopback port nothing listens on)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from meshcore.apitoken import TOKEN_FILE_NAME
from tests.support.ports import free_port


def cli_status(state_dir, parts: dict) -> subprocess.CompletedProcess:
    (state_dir / TOKEN_FILE_NAME).write_text("some-token\n")
    (state_dir / "supervisor.json").write_text(json.dumps({"updated_at": 1.0, "pid": 1, "parts": parts}))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MESHCORE_")}
    return subprocess.run(
        [sys.executable, "-m", "meshcore.cli", "--api", f"http://127.0.0.1:{free_port()}", "status",
         "--state-dir", str(state_dir)],
        capture_output=True, text=True, timeout=60, env=clean, check=False,
    )  # fmt: skip


def part(state: str, restarts: int) -> dict:
    return {
        "state": state,
        "pid": None,
        "restarts": restarts,
        "since": 1.0,
        "last_exit": None,
        "last_error": None,
    }


@pytest.mark.parametrize("state", ["backoff", "starting", "failed"])
def test_a_restarting_control_plane_is_named_with_its_restarts(tmp_path, state):
    result = cli_status(tmp_path, {"controlplane": part(state, 2)})
    assert result.returncode == 1
    assert "cannot reach the control plane" in result.stderr
    assert f"reports it {state} after 2 restarts" in result.stderr and "try again" in result.stderr


@pytest.mark.parametrize("parts", [{}, {"controlplane": part("stopped", 0)}, {"tracer": part("backoff", 1)}])
def test_without_a_restarting_control_plane_there_is_no_hint(tmp_path, parts):
    result = cli_status(tmp_path, parts)
    assert result.returncode == 1 and "cannot reach the control plane" in result.stderr
    assert "launcher reports" not in result.stderr
