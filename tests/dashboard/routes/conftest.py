"""Fixtures of the routes tests: the dashboard (in-process, Django's test client) against the real
local mesh, a private Redis for the write lock and the channel layer, operators and a viewer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.support.samples import sample

ROUTED_VERSION = re.compile(r"reviews-(v[123])")


@pytest.fixture
def routes_mesh(settings, redis_layer, clean_mesh):
    """The shared mesh with BookInfo's DestinationRules and nothing else; the dashboard points at it."""
    settings.MESHCORE_API_URL = clean_mesh.api_url
    settings.MESHCORE_API_TOKEN_FILE = str(clean_mesh.token_file)
    settings.MESHCORE_TRACER_URL = clean_mesh.tracer_url
    settings.ROUTES_PUSH_WAIT_SECONDS = 10.0
    settings.VIEW_ONLY = False
    clean_mesh.apply_ok(sample("destination-rule-all"))
    return clean_mesh


def make_operator(django_user_model, name: str):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(name, password=f"{name}-pass-123")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    return user


@pytest.fixture
def operator(django_user_model):
    return make_operator(django_user_model, "alice")


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def stored(mesh, plural: str, name: str) -> dict[str, Any] | None:
    response = mesh.session.get(f"{mesh.api_url}/api/v1/{plural}/{name}", timeout=10)
    return response.json() if response.status_code == 200 else None
