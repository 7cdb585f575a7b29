"""Fixtures of the traffic tests: users of each role, API clients, the traffic URLs, and ``store``:
the same test once per backend (local, gitops, kubernetes), see ``backends_fixture``."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.roles import set_role
from tests.unit.traffic.backends_fixture import BACKENDS, GitopsStore, KubernetesStore, LocalStore, Store
from tests.unit.traffic.kube_fixtures import kube, raw_api  # noqa: F401  (kube: a fixture for every traffic test)
from traffic.models import OperatorNamespace

# The loopback API server answers in milliseconds; a generous bound keeps a loaded machine from
# turning a slow answer into a 503 in tests that are not about timeouts.
STORE_KUBE_TIMEOUT_S = 10.0
# The kubernetes backend keeps its reads for a while; here longer than any test, so every read that
# may come from the cache does, and a write path that trusted it would be caught.
STORE_KUBE_CACHE_TTL_S = 60.0


@pytest.fixture(autouse=True)
def traffic_urls(settings):
    settings.MESHUI_MESH_BACKEND = "local"
    settings.MESHUI_VIEW_ONLY = False
    settings.MESHUI_REQUIRE_IF_MATCH = False
    settings.DEMO_SIZE = 0
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    # Users are made by the dozen here; the production hasher costs a fifth of a second each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


@pytest.fixture(params=BACKENDS)
def store(request, db, settings, tmp_path) -> Store:
    """meshui configured with one backend, and that backend's store reached natively."""
    if request.param == "kubernetes":
        server = request.getfixturevalue("kube")
        settings.MESHUI_KUBE_TIMEOUT_S = STORE_KUBE_TIMEOUT_S
        settings.MESHUI_KUBE_CACHE_TTL_S = STORE_KUBE_CACHE_TTL_S
        return KubernetesStore(raw_api(server, tmp_path))
    if request.param == "gitops":
        return GitopsStore(settings, tmp_path)
    return LocalStore()
