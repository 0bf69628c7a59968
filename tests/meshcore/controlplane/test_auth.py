"""The resource API's guard: token, Origin, Host and content type, all checked before the body."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest
from aiohttp.test_utils import TestClient, TestServer

from meshcore.apitoken import TokenError, client_token, server_token, token_file
from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.api import make_api
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ResourceStore
from tests.support.samples import reviews_weights, sample

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
async def api(tmp_path):
    store = ResourceStore(tmp_path / "resources.json")
    server = TestServer(make_api(ControlPlane(bookinfo_registry(), store), token=TOKEN), host="127.0.0.1")
    async with TestClient(server) as client:
        yield client, store


# What any web page can send to 127.0.0.1 with fetch(..., {mode: "no-cors"}): a "simple" request.
CROSS_SITE = {"Content-Type": "text/plain", "Origin": "https://evil.example"}
WRITES = [
    ("POST", "/api/v1/apply"),
    ("PUT", "/api/v1/virtualservices/reviews"),
    ("DELETE", "/api/v1/destinationrules/reviews"),
    ("POST", "/api/v1/processes/ratings-v1-app/stop"),
    ("PUT", "/api/v1/traffic"),
]


@pytest.mark.parametrize(("method", "path"), WRITES)
async def test_cross_site_simple_requests_change_nothing(api, method, path):
    client, store = api
    assert (
        await client.post("/api/v1/apply", data=sample("destination-rule-all"), headers={**AUTH, **YAML})
    ).ok
    before = (store.revision, store.list())
    response = await client.request(method, path, data=reviews_weights(v3=100), headers=CROSS_SITE)
    assert response.status in (401, 403)
    body = await response.json()
    assert body["error"] and body["errors"] == []
    assert (store.revision, store.list()) == before


async def test_each_check_answers_with_its_status(api):
    client, store = api
    body = reviews_weights(v1=100)
    assert (await client.get("/api/v1/virtualservices")).status == 401
    wrong = await client.get("/api/v1/virtualservices", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    foreign = await client.get("/api/v1/virtualservices", headers={**AUTH, "Origin": "http://evil.example"})
    assert foreign.status == 403
    rebound = await client.get("/api/v1/virtualservices", headers={**AUTH, "Host": "evil.example:15080"})
    assert rebound.status == 403 and "loopback" in (await rebound.json())["error"]
    as_text = await client.post("/api/v1/apply", data=body, headers={**AUTH, "Content-Type": "text/plain"})
    assert as_text.status == 415
    form = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    assert (await client.post("/api/v1/apply", data=body, headers=form)).status == 415
    assert store.list() == []
    # The API's own origin (no page is served there, but it is not cross-site) and every loopback name.
    for host in ("127.0.0.1:15080", "localhost:15080", "[::1]:15080"):
        headers = {**AUTH, **YAML, "Host": host, "Origin": f"http://{host}"}
        assert (await client.get("/api/v1/virtualservices", headers=headers)).status == 200
    assert (await client.get("/healthz")).status == 200
    assert (await client.post("/api/v1/apply", data=body, headers={**AUTH, **YAML})).status == 422


async def test_requests_are_refused_before_their_body_is_read(api):
    client, _ = api
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    # Announce 100 MB and send none of it: an answer proves nothing waited for the body.
    writer.write(
        b"POST /api/v1/apply HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Origin: https://evil.example\r\nContent-Length: 100000000\r\n\r\n"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    assert status_line.split()[1] == b"403"


async def test_unknown_routes_and_methods_answer_the_json_error_body(api):
    client, _ = api
    missing = await client.get("/nothing/here", headers=AUTH)
    assert missing.status == 404 and (await missing.json())["error"]
    wrong_method = await client.patch("/api/v1/apply", headers=AUTH)
    assert wrong_method.status == 405 and json.loads(await wrong_method.text())["errors"] == []


def test_server_token_is_created_private_kept_and_found_by_clients(tmp_path, monkeypatch):
    monkeypatch.delenv("MESHCORE_API_TOKEN", raising=False)
    monkeypatch.delenv("MESHCORE_API_TOKEN_FILE", raising=False)
    state = tmp_path / "mesh"
    token = server_token(state)
    assert len(token) >= 40
    assert stat.S_IMODE(os.stat(token_file(state)).st_mode) == 0o600
    assert server_token(state) == token  # kept across restarts
    assert client_token(state) == token
    monkeypatch.setenv("MESHCORE_STATE_DIR", str(state))
    assert client_token() == token
    with pytest.raises(TokenError, match="MESHCORE_STATE_DIR or --state-dir"):
        client_token(tmp_path / "elsewhere")
    monkeypatch.setenv("MESHCORE_API_TOKEN", "given")
    assert server_token(tmp_path / "other") == "given" and client_token(tmp_path / "elsewhere") == "given"
