"""Suite-wide fixtures and the browser-test policy.

Browser tests drive Debian's Chromium through Playwright. Where no Chromium can be found they are
skipped and the run ends with a loud banner; with MESHSCOPE_REQUIRE_BROWSER=1 (set by .ci/run) a
missing browser fails those tests instead. The cluster-mode tests follow the same policy for the
kube-apiserver (`kube`, MESHSCOPE_REQUIRE_KUBE=1).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

BROWSER_SKIP_REASON = "BROWSER TEST SKIPPED: no Chromium found (install Debian's `chromium`)"
_CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    explicit = os.environ.get("MESHSCOPE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in _CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path:
        return path
    if os.environ.get("MESHSCOPE_REQUIRE_BROWSER") == "1":
        pytest.fail("MESHSCOPE_REQUIRE_BROWSER=1 but no Chromium was found", pytrace=False)
    pytest.skip(BROWSER_SKIP_REASON)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    browser_skips = [r for r in skipped if BROWSER_SKIP_REASON in str(getattr(r, "longrepr", ""))]
    loud = [
        r for r in skipped if "TEST SKIPPED:" in str(getattr(r, "longrepr", "")) and r not in browser_skips
    ]
    for report in loud:
        terminalreporter.write_line(
            f"!!! {report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr}",
            red=True,
            bold=True,
        )
    if browser_skips:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            f"!!! {len(browser_skips)} BROWSER TEST(S) WERE SKIPPED: no Chromium on this machine.", red=True
        )
        terminalreporter.write_line(
            "!!! Install it (Debian: apt-get install chromium) to run them.", red=True
        )
        terminalreporter.write_line(bar, red=True, bold=True)


@pytest.fixture(scope="session")
def mesh(tmp_path_factory):
    """The real local mesh, shared by the session; reset it before changing routing."""
    from tests.support.mesh import start_mesh, stop_mesh

    running = start_mesh(tmp_path_factory.mktemp("mesh"))
    yield running
    stop_mesh(running)


@pytest.fixture
def clean_mesh(mesh):
    """The shared mesh with no routing resources, every proxy in sync."""
    mesh.reset()
    return mesh


@pytest.fixture(scope="session")
def kube(tmp_path_factory):
    """A real etcd + kube-apiserver with Istio's CRDs (tests/support/kubeapi.py), per test worker.

    Skipped loudly where none was built (`make kube-apiserver`); with MESHSCOPE_REQUIRE_KUBE=1
    (set by .ci/run) a missing one fails instead.
    """
    from tests.support.kubeapi import SKIP_REASON, find_binaries, start_kube, stop_kube

    if find_binaries() is None:
        if os.environ.get("MESHSCOPE_REQUIRE_KUBE") == "1":
            pytest.fail("MESHSCOPE_REQUIRE_KUBE=1 but no kube-apiserver/etcd was found", pytrace=False)
        pytest.skip(SKIP_REASON)
    cluster = start_kube(tmp_path_factory.mktemp("kube"))
    yield cluster
    stop_kube(cluster)
