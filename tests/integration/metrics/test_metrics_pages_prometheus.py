"""The metrics API against Debian's real Prometheus (backfilled from ``tests.support.mesh_truth``)
and against loopback servers that refuse, hang or fail."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from metrics import client as prometheus_client
from tests.support import mesh_truth
from tests.support.prometheus import RunningPrometheus
from topology import service

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
END = mesh_truth.DATA_END
SERIES_PARAMS = {"window": "10m", "step": "1m", "rate_interval": "1m", "query_time": END}


@pytest.fixture
def api(settings, prometheus: RunningPrometheus) -> Client:
    settings.ANONYMOUS_READ = True
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": prometheus.url, "SCOPE": mesh_truth.SCOPE, "TIMEOUT_S": 10}
    service._shared_reads = service.SharedReads(ttl_s=5)
    return Client()


def _graph_edges(api: Client, graph_type: str, kind: str, namespace: str, name: str, direction: str) -> list[dict]:
    graph = api.get("/api/v1/graph", {"graph_type": graph_type, "window": "1m", "query_time": END}).json()
    node = next(n for n in graph["nodes"] if n["kind"] == kind and n["namespace"] == namespace and n["name"] == name)
    end = "target" if direction == "inbound" else "source"
    return [e for e in graph["edges"] if e[end] == node["id"]]


def _last(body: dict, metric: str) -> float | None:
    return body["series"][metric][0]["points"][-1][1]


@pytest.mark.parametrize(
    ("kinds", "graph_type", "kind", "namespace", "name", "direction"),
    [
        ("services", "service", "service", "shop", "cart", "inbound"),
        ("services", "service", "service", "pay", "payments", "inbound"),
        ("workloads", "workload", "workload", "shop", "frontend-v1", "outbound"),
        ("workloads", "workload", "workload", "shop", "cart-v1", "outbound"),
        ("apps", "app", "app", "shop", "frontend", "inbound"),
    ],
)
def test_series_at_the_data_end_equal_the_graph_edges(api, kinds, graph_type, kind, namespace, name, direction):
    # given the graph's edges over 1m at the data's end
    edges = _graph_edges(api, graph_type, kind, namespace, name, direction)
    rate = sum(e["request_rate"] for e in edges)
    bad = sum(e["request_rate"] * e["error_rate"] for e in edges)
    # when the detail page's series are read with a 1m rate interval ending there
    response = api.get(
        f"/api/v1/namespaces/{namespace}/{kinds}/{name}/metrics", {**SERIES_PARAMS, "direction": direction}
    )
    body = response.json()
    # then the last points are the graph's figures
    assert response.status_code == 200
    assert body["series"]["request_rate"][0]["points"][-1][0] == END
    assert _last(body, "request_rate") == pytest.approx(rate, rel=2e-3)
    assert _last(body, "error_rate") == pytest.approx(bad / rate, rel=5e-3, abs=1e-4)
    if len(edges) == 1 and edges[0]["latency_ms"]:
        assert _last(body, "latency_p95_ms") == pytest.approx(edges[0]["latency_ms"]["p95"], rel=2e-3)


def test_cart_inbound_counts_the_aborted_requests_once(api):
    # cart receives 4 + 1 + 0.25 requests/s reaching it and 0.5/s aborted in the caller (FI)
    body = api.get("/api/v1/namespaces/shop/services/cart/metrics", SERIES_PARAMS).json()
    assert _last(body, "request_rate") == pytest.approx(5.75, rel=1e-3)
    assert _last(body, "error_rate") == pytest.approx(0.75 / 5.75, rel=1e-3)


def test_tcp_bytes_of_postgres_match_the_truth(api):
    body = api.get("/api/v1/namespaces/pay/services/postgres/metrics", SERIES_PARAMS).json()
    assert _last(body, "tcp_sent_bytes_per_s") == pytest.approx(2048.0, rel=1e-3)
    assert _last(body, "tcp_received_bytes_per_s") == pytest.approx(512.0, rel=1e-3)


def _size_truth(**where: object) -> tuple[float, float]:
    """Request and response bytes/s of the streams matching ``where`` (Stream attributes), each
    request counted once whatever the number of reporters."""
    streams = [s for s in mesh_truth.STREAMS if all(getattr(s, k) == v for k, v in where.items())]
    return sum(s.rate * s.request_bytes for s in streams), sum(s.rate * s.response_bytes for s in streams)


@pytest.mark.parametrize(
    ("path", "direction", "where"),
    [
        ("shop/services/cart", "inbound", {"service": mesh_truth.CART_SVC}),
        ("shop/workloads/frontend-v1", "outbound", {"source": mesh_truth.FRONTEND}),
        ("shop/workloads/cart-v1", "outbound", {"source": mesh_truth.CART_V1}),
        ("pay/apps/payments", "inbound", {"destination": mesh_truth.PAYMENTS}),
    ],
)
def test_request_and_response_sizes_match_the_truth(api, path, direction, where):
    # given the mesh's size histograms (frontend → cart-v1, cart-v1 → payments, both reporters)
    request_bytes, response_bytes = _size_truth(**where)
    assert request_bytes > 0
    assert response_bytes > 0
    # when the series are read
    response = api.get(f"/api/v1/namespaces/{path}/metrics", {**SERIES_PARAMS, "direction": direction})
    body = response.json()
    # then the last points are the truth in bytes/s, each request counted once
    assert response.status_code == 200
    assert _last(body, "request_bytes_per_s") == pytest.approx(request_bytes, rel=1e-3)
    assert _last(body, "response_bytes_per_s") == pytest.approx(response_bytes, rel=1e-3)
    assert body["series"]["request_bytes_per_s"][0]["points"][-1][0] == END


def test_sizes_split_by_source_app(api):
    body = api.get("/api/v1/namespaces/pay/services/payments/metrics", {**SERIES_PARAMS, "by": "source_app"}).json()
    assert [(e["labels"], e["points"][-1][1]) for e in body["series"]["request_bytes_per_s"]] == [
        ({"source_app": "cart"}, 600.0)
    ]


@pytest.mark.parametrize("path", ["shop/services/catalog", "pay/services/postgres", "pay/workloads/ledger-v1"])
def test_traffic_without_size_histograms_has_empty_size_series(api, path):
    body = api.get(f"/api/v1/namespaces/{path}/metrics", SERIES_PARAMS).json()
    assert body["series"]["request_rate"] != []
    assert (body["series"]["request_bytes_per_s"], body["series"]["response_bytes_per_s"]) == ([], [])


@pytest.mark.parametrize("by", ["", "source_app", "response_code", "destination_version"])
def test_a_series_request_costs_seven_range_queries_whatever_the_grouping(api, by):
    events: list = []
    prometheus_client.add_observer(events.append)
    try:
        response = api.get("/api/v1/namespaces/shop/services/cart/metrics", {**SERIES_PARAMS, "by": by})
    finally:
        prometheus_client.remove_observer(events.append)
    assert response.status_code == 200
    assert [e.endpoint for e in events] == ["query_range"] * 7


def test_list_figures_agree_with_the_graph(api):
    edges = _graph_edges(api, "service", "service", "shop", "cart", "inbound")
    body = api.get("/api/v1/namespaces/shop/services", {"window": "1m", "query_time": END}).json()
    cart = next(i for i in body["items"] if i["name"] == "cart")
    assert cart["request_rate"] == pytest.approx(sum(e["request_rate"] for e in edges), rel=1e-3)
    assert cart["versions"] == ["v1", "v2"]
    assert cart["health"] == "failing"


# --- degraded upstream ----------------------------------------------------------------------


class _Failing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"internal error")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def failing_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hanging_url() -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@pytest.fixture
def refusing_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _configure(settings, url: str) -> Client:
    settings.ANONYMOUS_READ = True
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": url, "SCOPE": "", "TIMEOUT_S": 1}
    service._shared_reads = service.SharedReads(ttl_s=5)
    return Client()


@pytest.mark.parametrize("upstream", ["refusing_url", "hanging_url", "failing_url"])
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/namespaces/shop/services",
        "/api/v1/namespaces/shop/services/cart",
        "/api/v1/namespaces/shop/services/cart/metrics",
        "/api/v1/health",
        "/api/v1/overview",
    ],
)
def test_api_answers_503_naming_prometheus_when_it_misbehaves(settings, request, upstream, url):
    client = _configure(settings, request.getfixturevalue(upstream))
    response = client.get(url)
    error = response.json()["error"]
    assert response.status_code == 503
    assert error["code"] == "prometheus_unavailable"
    assert "Prometheus at 127.0.0.1:" in error["message"]


@pytest.mark.parametrize("url", ["/overview", "/services", "/apps", "/namespaces/shop/workloads/cart-v1"])
def test_pages_render_while_prometheus_hangs(settings, hanging_url, url):
    # the pages read nothing upstream: they render and the browser fetches the API
    client = _configure(settings, hanging_url)
    response = client.get(url)
    assert response.status_code == 200
    assert b'data-testid="upstream-banner"' in response.content
