"""`python -m meshcore.bookinfo` as the sidecar supervisor runs it: one process per workload.

The processes call each other through SidecarDouble (a stand-in for the Envoy sidecars, see
sidecar_double.py); the real sidecars are covered by the mesh end-to-end tests.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.meshcore.bookinfo.sidecar_double import SidecarDouble
from tests.support.ports import free_port
from tests.support.processes import log_tail, start_process, stop_process
from tests.support.waiting import async_wait_until

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
async def double() -> AsyncIterator[SidecarDouble]:
    sidecar = SidecarDouble()
    await sidecar.start()
    yield sidecar
    await sidecar.stop()


async def test_workload_processes_serve_the_page_and_stop_on_sigterm(
    double: SidecarDouble, tmp_path: Path
) -> None:
    workloads = {
        "details": ("v1", False),
        "ratings": ("v1", False),
        "reviews": ("v3", True),
        "productpage": ("v1", True),
    }
    processes: dict[str, tuple[subprocess.Popen, Path, int]] = {}
    try:
        for app, (version, calls_others) in workloads.items():
            port = free_port()
            log = tmp_path / f"{app}.log"
            args = [sys.executable, "-m", "meshcore.bookinfo", app, "--version", version, "--port", str(port)]
            if calls_others:
                args += ["--outbound", double.outbound]
            processes[app] = (start_process(args, log, cwd=REPO), log, port)
            double.routes[app] = f"http://127.0.0.1:{port}"

        for app, (process, log, port) in processes.items():
            ready = f"{app}-{workloads[app][0]} listening on http://127.0.0.1:{port}"

            async def announced(
                log: Path = log, process: subprocess.Popen = process, ready: str = ready
            ) -> bool:
                assert process.poll() is None, log_tail(log)
                return ready in log.read_text()

            await async_wait_until(announced, timeout=20, what=f"{app} to announce readiness")

        productpage_port = processes["productpage"][2]
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{productpage_port}/productpage", headers={"x-request-id": "cli-1"}
            ) as response,
        ):
            page = await response.text()
        assert response.status == 200
        assert "Reviews served by: reviews-v3" in page
        assert page.count('class="star star-red star-full"') == 9
        assert double.to("ratings")[-1].headers["x-request-id"] == "cli-1"
    finally:
        # stop_process blocks; run it off the loop so the double keeps answering meanwhile.
        codes = {
            app: await asyncio.to_thread(stop_process, process) for app, (process, _, _) in processes.items()
        }
    assert codes == dict.fromkeys(workloads, 0), {
        app: log_tail(log) for app, (_, log, _) in processes.items()
    }


def test_callers_without_outbound_exit_with_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meshcore.bookinfo", "reviews", "--version", "v2", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "--outbound" in result.stderr
