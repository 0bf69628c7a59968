"""BookInfo's Istio networking samples shipped in meshcore/bookinfo/networking."""

from __future__ import annotations

from pathlib import Path

import meshcore.bookinfo

SAMPLES = Path(meshcore.bookinfo.__file__).parent / "networking"


def sample(name: str) -> str:
    return (SAMPLES / f"{name}.yaml").read_text()


def reviews_weights(**weights: int) -> str:
    """A reviews VirtualService splitting traffic by subset, e.g. reviews_weights(v1=80, v3=20)."""
    routes = "".join(
        f"    - destination:\n        host: reviews\n        subset: {subset}\n      weight: {weight}\n"
        for subset, weight in weights.items()
    )
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\n"
        f"spec:\n  hosts:\n  - reviews\n  http:\n  - route:\n{routes}"
    )
