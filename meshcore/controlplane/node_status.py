"""What each proxy did with the config it was sent: connected, ACKed, NACKed with Envoy's message."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from meshcore.controlplane.builders.proto import PUSH_ORDER


@dataclass
class Rejection:
    type_url: str
    version: str
    message: str
    at: float


@dataclass
class NodeStatus:
    node_id: str
    connected: bool = False
    connected_at: float | None = None
    streams: int = 0
    # type_url -> version_info last sent / last ACKed
    sent: dict[str, str] = field(default_factory=dict)
    acked: dict[str, str] = field(default_factory=dict)
    sent_generation: int = 0
    acked_generation: int = 0
    last_nack: Rejection | None = None
    # Set while the newest config is rejected; cleared when a later config is ACKed.
    nacked: bool = False


class NodeStatusBoard:
    """Per-node xDS state, written by the xDS server, read by the API. One event loop only."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeStatus] = {}

    def node(self, node_id: str) -> NodeStatus:
        return self._nodes.setdefault(node_id, NodeStatus(node_id))

    def connected(self, node_id: str) -> None:
        status = self.node(node_id)
        status.streams += 1
        status.connected = True
        status.connected_at = time.time()
        # A new stream starts from nothing: Envoy re-requests every type.
        status.sent.clear()
        status.acked.clear()

    def disconnected(self, node_id: str) -> None:
        status = self.node(node_id)
        status.streams = max(0, status.streams - 1)
        status.connected = status.streams > 0

    def sent(self, node_id: str, type_url: str, version: str) -> None:
        self.node(node_id).sent[type_url] = version

    def processed(self, node_id: str, generation: int) -> None:
        """The stream has sent whatever `generation` changed for this node (possibly nothing)."""
        status = self.node(node_id)
        status.sent_generation = max(status.sent_generation, generation)
        self._settle(status)

    def acked(self, node_id: str, type_url: str, version: str) -> None:
        status = self.node(node_id)
        status.acked[type_url] = version
        self._settle(status)

    def _settle(self, status: NodeStatus) -> None:
        if status.sent and all(status.acked.get(t) == v for t, v in status.sent.items()):
            status.acked_generation = status.sent_generation
            status.nacked = False

    def nacked(self, node_id: str, type_url: str, version: str, message: str) -> None:
        status = self.node(node_id)
        rejected = status.sent.get(type_url, version)
        status.last_nack = Rejection(type_url, rejected, message, time.time())
        status.nacked = True

    def all(self) -> list[NodeStatus]:
        return [self._nodes[k] for k in sorted(self._nodes)]

    def to_dict(self, node_id: str) -> dict[str, Any]:
        status = self.node(node_id)
        last = status.last_nack
        last_dict = (
            None
            if last is None
            else {"type_url": last.type_url, "version": last.version, "message": last.message, "at": last.at}
        )
        return {
            "node_id": node_id,
            "connected": status.connected,
            "config_version": str(status.sent_generation),
            "acked_version": str(status.acked_generation),
            "in_sync": status.connected
            and status.acked_generation == status.sent_generation
            and not status.nacked,
            "nacked": status.nacked,
            # The rejection in force now (None once a later config is ACKed); last_nack keeps history.
            "nack": last_dict if status.nacked else None,
            "last_nack": last_dict,
            "types": {
                type_url.rsplit(".", 1)[-1]: {
                    "sent": status.sent.get(type_url),
                    "acked": status.acked.get(type_url),
                }
                for type_url in PUSH_ORDER
            },
        }
