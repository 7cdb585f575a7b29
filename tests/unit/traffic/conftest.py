"""Fixtures of the traffic tests: users of each role, API clients, the traffic URLs."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.roles import set_role
from traffic.models import OperatorNamespace


@pytest.fixture(autouse=True)
def traffic_urls(settings):
    settings.MESHUI_MESH_BACKEND = "local"
    settings.MESHUI_VIEW_ONLY = False
    settings.MESHUI_REQUIRE_IF_MATCH = False
    settings.DEMO_SIZE = 0
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}


def _client(username: str, role: str | None, namespaces: tuple[str, ...] = ()) -> APIClient:
    user = get_user_model().objects.create_user(username, password="x-long-password-1")
    if role:
        set_role(user, role)
    for namespace in namespaces:
        OperatorNamespace.objects.create(user=user, namespace=namespace)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def make_client(db):
    return _client


@pytest.fixture
def operator(db) -> APIClient:
    return _client("olivia", "operator")


@pytest.fixture
def admin(db) -> APIClient:
    return _client("ada", "admin")


@pytest.fixture
def viewer(db) -> APIClient:
    return _client("victor", "viewer")
