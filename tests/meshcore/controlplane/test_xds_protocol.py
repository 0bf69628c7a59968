"""The ADS server speaks state-of-the-world xDS the way Envoy expects (a gRPC client plays Envoy)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.rpc import status_pb2

from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.builders.listeners import TracingSettings
from meshcore.controlplane.builders.proto import CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE
from meshcore.controlplane.node_status import NodeStatusBoard
from meshcore.controlplane.snapshot import Snapshot, SnapshotCache
from meshcore.controlplane.translate import translate
from meshcore.controlplane.xds_server import start_xds_server
from meshcore.model.yaml_io import parse_documents
from tests.support.samples import sample
from tests.support.waiting import async_wait_until

REGISTRY = bookinfo_registry()
NODE = REGISTRY.workload("productpage-v1").node_id


def snapshots(generation: int, *documents: str) -> dict[str, Snapshot]:
    resources = [r for d in documents for r in parse_documents(d)]
    return {
        n: Snapshot.build(generation, r) for n, r in translate(REGISTRY, resources, TracingSettings()).items()
    }


async def acked(board: NodeStatusBoard, type_url: str) -> bool:
    return type_url in board.node(NODE).acked


async def nacked(board: NodeStatusBoard) -> bool:
    return board.node(NODE).nacked


class FakeEnvoy:
    """One ADS stream; requests are queued, responses read one at a time."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.requests: asyncio.Queue = asyncio.Queue()
        self.first = True

        async def outgoing():
            while True:
                yield await self.requests.get()

        self.stream = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel).StreamAggregatedResources(
            outgoing()
        )

    def send(self, type_url: str, nonce: str = "", version: str = "", names=(), error: str = "") -> None:
        request = discovery_pb2.DiscoveryRequest(
            type_url=type_url, response_nonce=nonce, version_info=version, resource_names=list(names)
        )
        if self.first:
            request.node.id = NODE
            self.first = False
        if error:
            request.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
        self.requests.put_nowait(request)

    def ack(self, response: discovery_pb2.DiscoveryResponse, names=()) -> None:
        self.send(response.type_url, nonce=response.nonce, version=response.version_info, names=names)

    async def receive(self, timeout: float = 5.0) -> discovery_pb2.DiscoveryResponse:
        return await asyncio.wait_for(self.stream.read(), timeout)

    async def close(self) -> None:
        self.stream.cancel()
        await self.channel.close()


@pytest.fixture
async def xds():
    """(cache with generation 1 published, status board, a connected FakeEnvoy)."""
    cache, board = SnapshotCache(), NodeStatusBoard()
    cache.set_snapshots(snapshots(1))
    server, port = await start_xds_server(cache, board, "127.0.0.1", 0)
    envoy = FakeEnvoy(port)
    yield cache, board, envoy
    await envoy.close()
    await server.stop(0)


REVIEWS_EDS = ["outbound|9080||reviews.default.svc.cluster.local"]


async def test_first_request_is_answered_ack_is_recorded_and_not_answered(xds):
    cache, board, envoy = xds
    envoy.send(CLUSTER_TYPE)
    response = await envoy.receive()
    assert response.type_url == CLUSTER_TYPE and response.nonce
    assert len(response.resources) == len(cache.get(NODE).resources(CLUSTER_TYPE))
    envoy.ack(response)
    envoy.send(ENDPOINT_TYPE, names=REVIEWS_EDS)
    endpoints = await envoy.receive()
    # The ACK produced no response: the next message is the answer to the EDS request.
    assert endpoints.type_url == ENDPOINT_TYPE
    assert [r.type_url for r in endpoints.resources] == [ENDPOINT_TYPE]
    assert board.node(NODE).acked[CLUSTER_TYPE] == response.version_info


async def test_new_snapshot_pushes_clusters_then_endpoints_again(xds):
    cache, _board, envoy = xds
    envoy.send(CLUSTER_TYPE)
    clusters = await envoy.receive()
    envoy.ack(clusters)
    envoy.send(ENDPOINT_TYPE, names=REVIEWS_EDS)
    endpoints = await envoy.receive()
    envoy.ack(endpoints, names=REVIEWS_EDS)
    cache.set_snapshots(snapshots(2, sample("destination-rule-all")))
    pushed = [await envoy.receive(), await envoy.receive()]
    assert [p.type_url for p in pushed] == [CLUSTER_TYPE, ENDPOINT_TYPE]
    assert pushed[0].version_info != clusters.version_info


async def test_nack_is_recorded_with_envoys_message_and_stale_nonces_are_ignored(xds):
    cache, board, envoy = xds
    envoy.send(ROUTE_TYPE, names=["9080"])
    routes = await envoy.receive()
    envoy.ack(routes, names=["9080"])
    await async_wait_until(lambda: acked(board, ROUTE_TYPE), what="the ACK is recorded")
    cache.set_snapshots(snapshots(2, sample("destination-rule-all"), sample("virtual-service-all-v1")))
    newer = await envoy.receive()
    assert newer.type_url == ROUTE_TYPE
    # A late reply to the superseded response is ignored; the NACK of the newest is recorded.
    envoy.send(ROUTE_TYPE, nonce=routes.nonce, version=routes.version_info, names=["9080"], error="old")
    envoy.send(ROUTE_TYPE, nonce=newer.nonce, version=routes.version_info, names=["9080"], error="bad regex")
    await async_wait_until(lambda: nacked(board), what="the NACK is recorded")
    status = board.to_dict(NODE)
    assert status["nacked"] and status["nack"]["message"] == "bad regex"
    assert board.node(NODE).acked[ROUTE_TYPE] == routes.version_info  # the last good one
