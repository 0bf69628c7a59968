"""Free loopback ports for servers started by tests."""

from __future__ import annotations

import random
import socket


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_port_block(count: int, low: int = 20000, high: int = 30000) -> int:
    """The first port of `count` consecutive free ports in [low, high) (random start, bounded tries)."""
    for _ in range(200):
        base = random.randrange(low, high - count)
        if all(is_free(port) for port in range(base, base + count)):
            return base
    raise RuntimeError(f"no block of {count} free ports found in [{low}, {high})")
