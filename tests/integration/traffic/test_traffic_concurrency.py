"""Concurrent PATCHes with the same If-Match against live daphne servers: exactly one wins.

Two daphne processes on 127.0.0.1 share one database (SQLite file, then a throwaway
PostgreSQL database), so writers really race on the version's compare-and-swap; on the gitops
backend they also share one git repository, so they race on its lock and its version digest.
"""

from __future__ import annotations

import json
import os
import secrets
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

import psycopg
import pytest
import yaml

from tests.support.gitrepo import git, new_repository
from tests.unit.traffic.test_traffic_gitops import HAND_WRITTEN

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
WRITERS = 30
START_TIMEOUT_S = 30


def _env(tmp_path: Path, database_url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="meshui.settings", DATABASE_URL=database_url,
               MESHUI_DATA_DIR=str(tmp_path / "data"), MESHUI_SECRET_KEY="k" * 40, PYTHONPATH=str(REPO))  # fmt: skip
    env.update(extra)
    return env


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
def postgres_url() -> Iterator[str]:
    name = f"meshui_traffic_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgres://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _race(tmp_path: Path, database_url: str, **extra_env: str) -> tuple[list[int], list[dict], dict]:
    """30 PATCHes with one If-Match, alternating between two daphne servers sharing ``database_url``
    (and ``extra_env``: the backend's settings); returns the statuses, the changes listed after
    them and the final state (with the raw results under ``_results``)."""
    env = _env(tmp_path, database_url, extra_env)
    for args in (["migrate", "--noinput"], ["create_api_token", "racer", "--role", "operator", "--name", "race"]):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    ports = [_free_port(), _free_port()]
    servers = [
        subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                          "meshui.asgi:application"],
                         cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in ports
    ]  # fmt: skip
    try:
        for port in ports:
            _wait_ready(port)
        urls = [f"http://127.0.0.1:{p}/api/v1/namespaces/bookinfo/services/reviews/traffic" for p in ports]
        version = _request("GET", urls[0], token)[1]["version"]
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            results = list(pool.map(
                lambda i: _request("PATCH", urls[i % 2], token, {"weights": {"v1": 100 - i, "v2": i}},
                                   **{"If-Match": f'"{version}"'}),
                range(1, WRITERS + 1),
            ))  # fmt: skip
        changes = _request("GET", urls[1].split("/namespaces")[0] + "/changes", token)[1]["changes"]
        final = _request("GET", urls[1], token)[1]
        return [status for status, _ in results], changes, final | {"_results": results}
    finally:
        for server in servers:
            _stop(server)


def _assert_one_winner(statuses: list[int], changes: list[dict], final: dict) -> None:
    assert sorted(set(statuses)) == [200, 412], statuses
    assert statuses.count(200) == 1
    assert statuses.count(412) == WRITERS - 1
    winner = next(body for status, body in final["_results"] if status == 200)
    assert len(changes) == 1
    assert changes[0]["after"]["weights"] == winner["weights"] == final["weights"]
    assert changes[0]["after"] == {key: final[key] for key in changes[0]["after"]}


def test_concurrent_patches_with_one_if_match_have_one_winner_on_sqlite(tmp_path):
    # given a fresh SQLite database behind two daphne servers
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    # when 30 writers PATCH with the same If-Match
    statuses, changes, final = _race(tmp_path, url)
    # then one 200, the rest 412, one audit row matching the state
    _assert_one_winner(statuses, changes, final)


def test_concurrent_patches_with_one_if_match_have_one_winner_on_postgresql(tmp_path, postgres_url):
    # given a throwaway PostgreSQL database behind two daphne servers
    # when 30 writers PATCH with the same If-Match
    statuses, changes, final = _race(tmp_path, postgres_url)
    # then one 200, the rest 412, one audit row matching the state
    _assert_one_winner(statuses, changes, final)


def test_concurrent_patches_with_one_if_match_have_one_winner_on_gitops(tmp_path):
    # given two daphne servers on one SQLite database and one git repository of hand-written routing
    root = new_repository(tmp_path / "gitops", {"apps/reviews.yaml": HAND_WRITTEN})
    # when 30 writers PATCH with the same If-Match
    statuses, changes, final = _race(tmp_path, f"sqlite:///{tmp_path / 'race.sqlite3'}",
                                     MESHUI_MESH_BACKEND="gitops", MESHUI_GITOPS_DIR=str(root))  # fmt: skip
    # then one 200, the rest 412, one audit row matching the state
    _assert_one_winner(statuses, changes, final)
    # and one new commit, by the token's user, of files that parse and hold the winner's weights
    weights = final["weights"]
    assert git(root, "log", "--format=%an|%s").splitlines() == [
        f"racer|meshui: bookinfo/reviews: weights: v1 100 → v1 {weights['v1']}, v2 {weights['v2']} (by racer)",
        "hand|initial",
    ]
    assert git(root, "status", "--porcelain") == ""
    text = (root / "apps" / "reviews.yaml").read_text(encoding="utf-8")
    vs, dr, unrelated = yaml.safe_load_all(text)
    assert {r["destination"]["subset"]: r["weight"] for r in vs["spec"]["http"][0]["route"]} == weights
    assert [s["name"] for s in dr["spec"]["subsets"]] == ["v1", "v2"]
    assert unrelated == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated"},
                         "data": {"key": "value"}}  # fmt: skip
    assert text.startswith("# Routing of the reviews service — owned by the books team.\n")
    assert "  - reviews   # the short name on purpose\n" in text
    assert "  key: value  # keep me\n" in text
