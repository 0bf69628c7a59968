"""The real local mesh (`meshcore up`) as a test fixture: free ports, a temp state dir, a client.

One mesh per test session (it takes a few seconds to start); tests that change routing call
`reset()` first so each starts from Istio's defaults (no VirtualService, no DestinationRule).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from dashboard.sources.http import endpoint_json
from meshcore.apitoken import STATE_DIR_ENV, bearer_header, read_token, token_file
from meshcore.bookinfo.topology import port_span
from tests.support.ports import free_port, free_port_block
from tests.support.processes import log_tail, start_process, stop_process
from tests.support.waiting import wait_until

REVIEWS_VERSION = re.compile(r"reviews-(v[123])")
STAR = re.compile(r'<span class="star star-(\w+) star-(full|empty)">')
RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"
REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book."
DETAILS_UNAVAILABLE = "Sorry, product details are currently unavailable for this book."
RESET_ORDER = (
    "virtualservices",
    "destinationrules",
    "gateways",
    "authorizationpolicies",
    "peerauthentications",
    "envoyfilters",
)


def star_colors(html: str) -> set[str]:
    """Colors of the star elements on a product page (empty set: no stars shown)."""
    return {color for color, _ in STAR.findall(html)}


@dataclass
class RunningMesh:
    process: subprocess.Popen
    state_dir: Path
    ports: dict[str, int]
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def tracer_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['tracer']}"

    @property
    def log_path(self) -> Path:
        return self.state_dir.parent / "meshcore-up.log"

    @property
    def token_file(self) -> Path:
        """The resource API's token, written by `meshcore up` (every call of `session` sends it)."""
        return token_file(self.state_dir)

    # -- resource API ------------------------------------------------------------------------

    def apply(self, text: str, wait: float = 10.0) -> requests.Response:
        return self.session.post(
            f"{self.api_url}/api/v1/apply",
            params={"wait": wait},
            data=text.encode(),
            headers={"Content-Type": "application/yaml"},
            timeout=30,
        )

    def apply_ok(self, text: str) -> dict[str, Any]:
        response = self.apply(text)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body["sync"]["pending"], body
        return body

    def delete(
        self, plural: str, name: str, wait: float = 10.0, namespace: str = "default"
    ) -> requests.Response:
        return self.session.delete(
            f"{self.api_url}/api/v1/{plural}/{name}",
            params={"wait": wait, "namespace": namespace},
            timeout=30,
        )

    def status(self) -> dict[str, Any]:
        return self.session.get(f"{self.api_url}/api/v1/status", timeout=10).json()

    def traffic(self) -> dict[str, Any]:
        """The built-in traffic generator's report (what it sent and what came back)."""
        return self.session.get(f"{self.api_url}/api/v1/traffic", timeout=10).json()

    def set_traffic(self, rate: float) -> dict[str, Any]:
        response = self.session.put(f"{self.api_url}/api/v1/traffic", json={"rate": rate}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def registry(self) -> dict[str, Any]:
        return self.session.get(f"{self.api_url}/api/v1/registry", timeout=10).json()

    def admin_address(self, name: str) -> str:
        """The registry's admin address (`unix:/path`) of a workload's sidecar or of the gateway."""
        registry = self.registry()
        if name == registry["gateway"]["name"]:
            return registry["gateway"]["admin_address"]
        return next(w["admin_address"] for w in registry["workloads"] if w["name"] == name)

    def envoy_counter(self, name: str, stat: str) -> int:
        """One counter of the Envoy `name` (workload or gateway), read from its admin socket (0 if unset)."""
        document = endpoint_json(
            self.admin_address(name), f"/stats?format=json&filter={quote(f'^{re.escape(stat)}$')}", 5
        )
        return next((int(s["value"]) for s in document["stats"] if s.get("name") == stat), 0)

    def reset(self) -> None:
        """Back to no routing or security resources (VirtualServices first: they reference the
        rules' subsets), with BookInfo whole again: the mesh is shared by a test worker's session,
        and a test before may have stopped and restarted an app or a sidecar, which comes back
        asynchronously (readiness, backoff)."""
        for plural in RESET_ORDER:
            items = self.session.get(f"{self.api_url}/api/v1/{plural}", timeout=10).json()["items"]
            for item in items:
                metadata = item["metadata"]
                response = self.delete(plural, metadata["name"], namespace=metadata["namespace"])
                assert response.status_code == 200, response.text
        wait_until(self.all_in_sync, timeout=20, what="every proxy ACKs the reset config")
        wait_until(lambda: self.status()["ready"], timeout=30, what="every process ready again")
        wait_until(self.bookinfo_whole, timeout=30, what="every BookInfo service answering")

    def bookinfo_whole(self, pages: int = 3) -> bool:
        """`pages` product pages in a row show details, reviews and ratings (none unavailable);
        three cover reviews v1, v2 and v3 under round robin (only v2 and v3 call ratings)."""
        for _ in range(pages):
            page = self.page()
            if page.status_code != 200 or any(
                text in page.text for text in (DETAILS_UNAVAILABLE, REVIEWS_UNAVAILABLE, RATINGS_UNAVAILABLE)
            ):
                return False
        return True

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """Run the `meshcore` command against this mesh, as a user would (MESHCORE_STATE_DIR set)."""
        return subprocess.run(
            [sys.executable, "-m", "meshcore.cli", "--api", self.api_url, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, STATE_DIR_ENV: str(self.state_dir)},
        )

    def all_in_sync(self) -> bool:
        return all(node["in_sync"] for node in self.status()["nodes"])

    # -- BookInfo through the gateway --------------------------------------------------------

    def page(
        self, user: str | None = None, path: str = "/productpage", timeout: float = 30
    ) -> requests.Response:
        cookies = {"user": user} if user else None
        return requests.get(self.gateway_url + path, cookies=cookies, timeout=timeout)

    def reviews_version(self, user: str | None = None) -> str | None:
        """Which reviews version served the page ("v1".."v3"), None when the page did not say."""
        response = self.page(user)
        assert response.status_code == 200, response.text[:500]
        match = REVIEWS_VERSION.search(response.text)
        return match.group(1) if match else None

    def versions_seen(self, requests_count: int, user: str | None = None) -> list[str | None]:
        return [self.reviews_version(user) for _ in range(requests_count)]


def start_mesh(root: Path, traffic_rps: float = 0.0, extra_args: Sequence[str] = ()) -> RunningMesh:
    """Start `meshcore up` on free loopback ports under `root`; wait until BookInfo answers.
    `extra_args` are more `meshcore up` options (e.g. `--cert-lifetime 20`)."""
    base = free_port_block(port_span())
    ports = {
        "gateway": free_port(),
        "xds": free_port(),
        "api": free_port(),
        "tracer": free_port(),
        "base": base,
    }
    state_dir = root / "mesh-state"
    args = [
        sys.executable, "-m", "meshcore.cli", "up",
        "--state-dir", str(state_dir),
        "--gateway-port", str(ports["gateway"]),
        "--xds-port", str(ports["xds"]),
        "--api-port", str(ports["api"]),
        "--tracer-port", str(ports["tracer"]),
        "--base-port", str(base),
        "--traffic", str(traffic_rps),
        *extra_args,
    ]  # fmt: skip
    process = start_process(args, root / "meshcore-up.log")
    mesh = RunningMesh(process, state_dir, ports)
    try:
        wait_until(mesh.token_file.exists, timeout=30, what="meshcore up writes its API token")
        mesh.session.headers.update(bearer_header(read_token(mesh.token_file)))
        wait_until(
            lambda: mesh.status()["ready"], timeout=60, what="every process passes its readiness probe"
        )
        wait_until(mesh.all_in_sync, timeout=30, what="every proxy ACKs its config")
        wait_until(lambda: mesh.page().status_code == 200, timeout=30, what="the gateway serves /productpage")
    except TimeoutError:
        stop_mesh(mesh)
        raise RuntimeError(f"the mesh did not come up:\n{log_tail(mesh.log_path)}") from None
    return mesh


def stop_mesh(mesh: RunningMesh) -> None:
    mesh.session.close()
    stop_process(mesh.process, timeout=20)
