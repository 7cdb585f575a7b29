"""Concurrent PATCHes with one If-Match, two daphne servers, one loopback Kubernetes API server.

The two meshui processes share nothing but the API server (and the audit database), so the only
thing that can pick one winner is the server's resourceVersion / AlreadyExists check, reached
through the real ``kubernetes`` client.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.fake_kube_apiserver import FakeKubeApiServer, kubeconfig
from tests.support.meshui_servers import api_request, meshui_servers

pytestmark = pytest.mark.integration

WRITERS = 24


@pytest.fixture
def api_server() -> Iterator[FakeKubeApiServer]:
    server = FakeKubeApiServer()
    try:
        yield server
    finally:
        server.stop()


def test_concurrent_patches_with_one_if_match_have_one_winner_on_the_kubernetes_backend(tmp_path, api_server):
    # given two meshui servers on the kubernetes backend, one API server, one SQLite audit database
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}", "MESHUI_MESH_BACKEND": "kubernetes",
                "MESHUI_KUBE_TIMEOUT_S": "10",
                "MESHUI_KUBECONFIG": str(kubeconfig(api_server.url, tmp_path / "kubeconfig"))}  # fmt: skip
    with meshui_servers(tmp_path, 2, username="racer", **settings) as servers:
        token = servers.token
        urls = [f"{base}/api/v1/namespaces/bookinfo/services/reviews/traffic" for base in servers.urls]
        version = api_request("GET", urls[0], token)[1]["version"]
        # when 24 writers PATCH with the same If-Match, alternating servers
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            results = list(pool.map(
                lambda i: api_request("PATCH", urls[i % 2], token, {"weights": {"v1": 100 - i, "v2": i}},
                                      **{"If-Match": f'"{version}"'}),
                range(1, WRITERS + 1),
            ))  # fmt: skip
        changes = api_request("GET", f"{servers.urls[1]}/api/v1/changes", token)[1]["changes"]
    # then exactly one 200, the rest 412, and the cluster holds the winner's weights
    statuses = [status for status, _ in results]
    assert sorted(statuses) == [200] + [412] * (WRITERS - 1), [body for _, body in results if "error" in body][:3]
    winner = next(body for status, body in results if status == 200)
    stored = api_server.get_object("virtualservices", "bookinfo", "reviews")
    weights = {r["destination"]["subset"]: r["weight"] for r in stored["spec"]["http"][0]["route"]}
    assert weights == winner["weights"]
    assert len(changes) == 1
    assert changes[0]["after"]["weights"] == winner["weights"]
