"""gRPC ADS server, state of the world: streams each node's snapshot to its Envoy.

Protocol rules this follows (checked against Envoy 1.40, see the project notes):
- answer the first request of a type, and any change of subscribed names;
- a request with the last nonce and no error is an ACK: record it, send nothing;
- a request with error_detail is a NACK: record Envoy's message; the last good config stays;
- a request carrying a stale nonce is ignored;
- CDS and LDS are wildcard (full set); EDS and RDS answer the names requested;
- after any cluster change, endpoints are sent again at once (otherwise clusters stay warming).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

# The mesh forks children (apps, Envoys) while the gRPC server runs; gRPC's fork handlers are only
# for children that use gRPC themselves, and they log a line per fork. Must be set before import.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import any_pb2

from meshcore.controlplane.builders.proto import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, PUSH_ORDER
from meshcore.controlplane.node_status import NodeStatusBoard
from meshcore.controlplane.snapshot import Snapshot, SnapshotCache

log = logging.getLogger(__name__)
WILDCARD_TYPES = {CLUSTER_TYPE, LISTENER_TYPE}


@dataclass
class TypeState:
    subscribed: bool = False
    names: frozenset[str] = frozenset()
    nonce: str = ""
    # Fingerprint of what was last sent (version + names), to skip identical resends.
    sent_key: tuple[str, frozenset[str]] | None = None
    force: bool = False


@dataclass
class StreamState:
    node_id: str = ""
    types: dict[str, TypeState] = field(default_factory=dict)

    def of(self, type_url: str) -> TypeState:
        return self.types.setdefault(type_url, TypeState())


class AggregatedDiscoveryService(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    def __init__(self, cache: SnapshotCache, board: NodeStatusBoard) -> None:
        self.cache = cache
        self.board = board
        self._nonces = itertools.count(1)

    async def StreamAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        events: asyncio.Queue = asyncio.Queue()
        state = StreamState()
        watch: asyncio.Queue[Snapshot] | None = None
        reader = asyncio.create_task(self._read(request_iterator, events))
        forwarder: asyncio.Task | None = None
        try:
            while True:
                kind, payload = await events.get()
                if kind == "end":
                    return
                if kind == "request":
                    request: discovery_pb2.DiscoveryRequest = payload
                    if not state.node_id:
                        state.node_id = request.node.id
                        self.board.connected(state.node_id)
                        watch = self.cache.watch(state.node_id)
                        forwarder = asyncio.create_task(self._forward(watch, events))
                        log.info("node %s connected", state.node_id)
                    if not self._handle_request(state, request):
                        continue
                snapshot = self.cache.get(state.node_id)
                if snapshot is None:
                    continue
                for response in self._responses(state, snapshot):
                    yield response
        finally:
            reader.cancel()
            if forwarder:
                forwarder.cancel()
            if state.node_id:
                if watch is not None:
                    self.cache.unwatch(state.node_id, watch)
                self.board.disconnected(state.node_id)
                log.info("node %s disconnected", state.node_id)

    async def _read(
        self, requests: AsyncIterator[discovery_pb2.DiscoveryRequest], events: asyncio.Queue
    ) -> None:
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            async for request in requests:
                events.put_nowait(("request", request))
        events.put_nowait(("end", None))

    async def _forward(self, watch: asyncio.Queue[Snapshot], events: asyncio.Queue) -> None:
        while True:
            events.put_nowait(("snapshot", await watch.get()))

    def _handle_request(self, state: StreamState, request: discovery_pb2.DiscoveryRequest) -> bool:
        """Record ACK/NACK; True when the request asks for (new) resources."""
        type_state = state.of(request.type_url)
        names = frozenset(request.resource_names)
        if request.response_nonce:
            if request.response_nonce != type_state.nonce:
                return False  # stale: answers a response we have superseded
            if request.HasField("error_detail"):
                self.board.nacked(
                    state.node_id, request.type_url, request.version_info, request.error_detail.message
                )
                log.warning(
                    "node %s rejected %s: %s", state.node_id, request.type_url, request.error_detail.message
                )
                return False
            self.board.acked(state.node_id, request.type_url, request.version_info)
            if request.type_url in WILDCARD_TYPES or names == type_state.names:
                return False
        type_state.subscribed = True
        type_state.names = names
        return True

    def _responses(self, state: StreamState, snapshot: Snapshot) -> list[discovery_pb2.DiscoveryResponse]:
        responses = []
        for type_url in PUSH_ORDER:
            type_state = state.of(type_url)
            if not type_state.subscribed:
                continue
            typed = snapshot.types[type_url]
            if type_url in WILDCARD_TYPES or not type_state.names:
                selected = typed.resources
            else:
                selected = {n: r for n, r in typed.resources.items() if n in type_state.names}
            key = (typed.version, frozenset(selected))
            if key == type_state.sent_key and not type_state.force:
                continue
            type_state.sent_key = key
            type_state.force = False
            type_state.nonce = str(next(self._nonces))
            response = discovery_pb2.DiscoveryResponse(
                version_info=typed.version, type_url=type_url, nonce=type_state.nonce
            )
            for name in sorted(selected):
                packed = any_pb2.Any()
                packed.Pack(selected[name])
                response.resources.append(packed)
            self.board.sent(state.node_id, type_url, typed.version)
            responses.append(response)
            if type_url == CLUSTER_TYPE:
                state.of(ENDPOINT_TYPE).force = True
        self.board.processed(state.node_id, snapshot.generation)
        return responses


async def start_xds_server(
    cache: SnapshotCache, board: NodeStatusBoard, host: str, port: int
) -> tuple[grpc.aio.Server, int]:
    """Start the ADS gRPC server on host:port (port 0 picks one); returns (server, bound port)."""
    server = grpc.aio.server()
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(
        AggregatedDiscoveryService(cache, board), server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server, bound
