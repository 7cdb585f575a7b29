"""The loopback Kubernetes API server as meshui's backend: the ``kube`` fixture and a raw client.

Shared by the kubernetes tests and the every-backend ``store`` fixture (conftest), so both run
meshui against the server the same way: through the official client, from a kubeconfig file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.support.fake_kube_apiserver import FakeKubeApiServer, kubeconfig
from traffic.backends import kubernetes as kubernetes_backend  # also registers the backend by name

# meshui's timeout towards the API server in these tests (the down/hanging tests bound their wait by it).
TIMEOUT_S = 0.5


@pytest.fixture
def kube(settings, tmp_path) -> Iterator[FakeKubeApiServer]:
    """A fresh API server, meshui configured to use it; every read live unless a test turns the cache on."""
    server = FakeKubeApiServer()
    settings.MESHUI_MESH_BACKEND = "kubernetes"
    settings.MESHUI_KUBECONFIG = str(kubeconfig(server.url, tmp_path / "kubeconfig"))
    settings.MESHUI_KUBE_CONTEXT = "fake"
    settings.MESHUI_KUBE_TIMEOUT_S = TIMEOUT_S
    settings.MESHUI_KUBE_IMPERSONATE = False
    settings.MESHUI_KUBE_CACHE_TTL_S = 0
    kubernetes_backend.READ_CACHE.clear()
    try:
        yield server
    finally:
        server.stop()
        kubernetes_backend.READ_CACHE.clear()


def raw_api(server: FakeKubeApiServer, tmp_path: Path) -> client.CustomObjectsApi:
    """The official client on ``server``, as kubectl (or another controller) would reach it."""
    configuration = client.Configuration()
    path = kubeconfig(server.url, tmp_path / "raw-kubeconfig")
    config.load_kube_config(str(path), client_configuration=configuration)
    return client.CustomObjectsApi(client.ApiClient(configuration))
