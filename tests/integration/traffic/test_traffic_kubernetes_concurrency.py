"""Concurrent PATCHes with one If-Match, two daphne servers, one loopback Kubernetes API server.

The two meshui processes share nothing but the API server (and the audit database), so the only
thing that can pick one winner is the server's resourceVersion / AlreadyExists check, reached
through the real ``kubernetes`` client.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.fake_kube_apiserver import FakeKubeApiServer, kubeconfig

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
WRITERS = 24
START_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(method: str, url: str, token: str, body: dict | None = None, **headers: str) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"daphne did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S}s")


@pytest.fixture
def api_server() -> Iterator[FakeKubeApiServer]:
    server = FakeKubeApiServer()
    try:
        yield server
    finally:
        server.stop()


def test_concurrent_patches_with_one_if_match_have_one_winner_on_the_kubernetes_backend(tmp_path, api_server):
    # given two meshui servers on the kubernetes backend, one API server, one SQLite audit database
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="meshui.settings", DATABASE_URL=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
               MESHUI_DATA_DIR=str(tmp_path / "data"), MESHUI_SECRET_KEY="k" * 40, PYTHONPATH=str(REPO),
               MESHUI_MESH_BACKEND="kubernetes", MESHUI_KUBE_TIMEOUT_S="10",
               MESHUI_KUBECONFIG=str(kubeconfig(api_server.url, tmp_path / "kubeconfig")))  # fmt: skip
    for args in (["migrate", "--noinput"], ["create_api_token", "racer", "--role", "operator", "--name", "race"]):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    ports = [_free_port(), _free_port()]
    servers = [subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                 "meshui.asgi:application"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for port in ports]  # fmt: skip
    try:
        for port in ports:
            _wait_ready(port)
        urls = [f"http://127.0.0.1:{p}/api/v1/namespaces/bookinfo/services/reviews/traffic" for p in ports]
        version = _request("GET", urls[0], token)[1]["version"]
        # when 24 writers PATCH with the same If-Match, alternating servers
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            results = list(pool.map(
                lambda i: _request("PATCH", urls[i % 2], token, {"weights": {"v1": 100 - i, "v2": i}},
                                   **{"If-Match": f'"{version}"'}),
                range(1, WRITERS + 1),
            ))  # fmt: skip
        changes = _request("GET", urls[1].split("/namespaces")[0] + "/changes", token)[1]["changes"]
    finally:
        for server in servers:
            _stop(server)
    # then exactly one 200, the rest 412, and the cluster holds the winner's weights
    statuses = [status for status, _ in results]
    assert sorted(statuses) == [200] + [412] * (WRITERS - 1), [body for _, body in results if "error" in body][:3]
    winner = next(body for status, body in results if status == 200)
    stored = api_server.get_object("virtualservices", "bookinfo", "reviews")
    weights = {r["destination"]["subset"]: r["weight"] for r in stored["spec"]["http"][0]["route"]}
    assert weights == winner["weights"]
    assert len(changes) == 1
    assert changes[0]["after"]["weights"] == winner["weights"]
