"""Fixtures of the security tests: the routes tests' dashboard against the real mesh, and users."""

from __future__ import annotations

from tests.dashboard.routes.conftest import operator, operator_client, routes_mesh

__all__ = ["operator", "operator_client", "routes_mesh"]
