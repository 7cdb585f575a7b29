"""``/api/v1/graph`` end to end: Django → the reader → Debian's real Prometheus → the graph.

The mesh and its truth are in ``tests.support.mesh_truth``; edge-by-edge comparisons of every
graph type with that truth are in ``test_graph_against_prometheus.py``. Here: the HTTP layer,
the query budget, the scope, and what an operator sees when Prometheus is down or slow.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from metrics import client as prometheus_client
from tests.support import mesh_truth
from tests.support.prometheus import RunningPrometheus, free_port
from topology import service

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

GRAPH_TYPES = ("workload", "app", "versioned_app", "service")


@pytest.fixture
def api(settings, prometheus: RunningPrometheus) -> APIClient:
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": prometheus.url, "SCOPE": mesh_truth.SCOPE, "TIMEOUT_S": 10}
    service._shared_reads = service.SharedReads(ttl_s=5)
    user = User.objects.create_user("ops-viewer")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    client = APIClient()
    client.force_authenticate(user)
    return client


def served_queries(prometheus: RunningPrometheus) -> float:
    """How many instant queries the Prometheus server itself has answered so far."""
    with urllib.request.urlopen(f"{prometheus.url}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = re.compile(r'^prometheus_http_requests_total\{code="\d+",handler="/api/v1/query"\} (\S+)$', re.M)
    return sum(float(value) for value in pattern.findall(text))


@pytest.mark.parametrize("graph_type", GRAPH_TYPES)
@pytest.mark.parametrize("namespaces", ["", "shop", "shop,pay"])
def test_every_graph_costs_at_most_six_queries(api, prometheus, graph_type, namespaces):
    # given a reader that already checked which recording rules Prometheus has at that time
    # (one query per window and query time, shared by every graph read of them)
    warm = {"graph_type": graph_type, "query_time": mesh_truth.DATA_END, "window": "5m"}
    assert api.get("/api/v1/graph", warm).status_code == 200
    events = []
    prometheus_client.add_observer(events.append)
    before = served_queries(prometheus)
    # when
    try:
        response = api.get(
            "/api/v1/graph",
            {"graph_type": graph_type, "namespaces": namespaces, "query_time": mesh_truth.DATA_END, "window": "5m"},
        )
    finally:
        prometheus_client.remove_observer(events.append)
    # then
    assert response.status_code == 200, response.content
    assert len(events) <= 6
    assert served_queries(prometheus) - before == len(events)
    assert response.json()["nodes"]


def test_the_graph_names_the_right_edges_and_keeps_ids_stable(api):
    # when
    query = {"query_time": mesh_truth.DATA_END, "window": "10m", "graph_type": "workload"}
    first = api.get("/api/v1/graph", query).json()
    second = api.get("/api/v1/graph", query).json()
    # then
    assert first["nodes"] == second["nodes"]
    assert [e["id"] for e in first["edges"]] == [e["id"] for e in second["edges"]]
    nodes = {node["id"]: node for node in first["nodes"]}
    named = {(nodes[e["source"]]["name"], nodes[e["target"]]["name"], e["protocol"]): e for e in first["edges"]}
    assert named[("frontend-v1", "catalog-v1", "grpc")]["request_rate"] == pytest.approx(3.3, rel=1e-3)
    assert named[("frontend-v1", "catalog-v1", "grpc")]["error_rate"] == pytest.approx(0.3 / 3.3, rel=1e-3)
    kinds = {node["kind"] for node in first["nodes"]}
    assert {"workload", "unknown", "external", "service"} <= kinds
    assert first["namespaces"] == ["pay", "shop"]
    # the other mesh sharing this Prometheus stays out (scope matcher)
    assert "intruder" not in {node["name"] for node in first["nodes"]}


def test_the_namespace_list_reads_the_same_telemetry(api):
    # when
    response = api.get("/api/v1/namespaces", {"query_time": mesh_truth.DATA_END})
    # then
    assert response.status_code == 200
    assert [ns["name"] for ns in response.json()["namespaces"]] == ["pay", "shop"]


def test_a_prometheus_that_is_down_gives_503_at_once(api, settings):
    # given: a port nobody listens on
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": f"http://127.0.0.1:{free_port()}"}
    # when
    started = time.monotonic()
    response = api.get("/api/v1/graph")
    elapsed = time.monotonic() - started
    # then
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "prometheus_unavailable"
    assert elapsed < settings.PROMETHEUS["TIMEOUT_S"] + 2


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


def test_a_prometheus_that_hangs_gives_503_within_the_timeout(api, settings, silent_server):
    # given
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": silent_server, "TIMEOUT_S": 1.5}
    # when
    started = time.monotonic()
    response = api.get("/api/v1/graph", {"query_time": mesh_truth.DATA_END})
    elapsed = time.monotonic() - started
    # then
    assert response.status_code == 503
    body = response.json()["error"]
    assert body["code"] == "prometheus_unavailable"
    assert "127.0.0.1" in body["message"]
    assert elapsed < 1.5 + 1.0
