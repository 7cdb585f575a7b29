"""/healthz, /readyz and /metrics through the real URL map and middleware."""

from __future__ import annotations

import socket

import pytest
from django.test import Client

from meshui.observability import (
    REGISTRY,
    observe_ticker,
    observe_upstream_query,
    websocket_connected,
    websocket_disconnected,
)


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_upstreams(settings):
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    settings.JAEGER = {"URL": ""}
    settings.REDIS_URL = ""


def test_healthz_answers_ok(client: Client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_refuses_post(client: Client):
    assert client.post("/healthz").status_code == 405


def test_readyz_is_ready_with_the_database_and_no_upstream_configured(db, client: Client, no_upstreams):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ready"
    assert body["database"]["ok"] is True
    assert body["database"]["latency_ms"] >= 0
    assert body["upstreams"] == {
        "prometheus": {"configured": False, "ok": None, "latency_ms": None, "error": None},
        "jaeger": {"configured": False},
        "redis": {"configured": False, "ok": None, "latency_ms": None, "error": None},
    }


def test_readyz_stays_ready_with_prometheus_and_redis_down(db, client: Client, settings):
    # given Prometheus and Redis configured on ports where nothing listens
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": f"http://127.0.0.1:{closed_port()}"}
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.JAEGER = {"URL": "http://127.0.0.1:16686"}
    # when readiness is asked
    response = client.get("/readyz")
    body = response.json()
    # then meshui is ready and reports each upstream as down with the reason
    assert response.status_code == 200
    assert body["status"] == "ready"
    prometheus, redis = body["upstreams"]["prometheus"], body["upstreams"]["redis"]
    assert (prometheus["configured"], prometheus["ok"]) == (True, False)
    assert "127.0.0.1" in prometheus["error"]
    assert (redis["configured"], redis["ok"]) == (True, False)
    assert "Connection refused" in redis["error"] or "Error 111" in redis["error"]
    assert body["upstreams"]["jaeger"] == {"configured": True}


def test_readyz_reports_a_reachable_redis(db, client: Client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/9"
    body = client.get("/readyz").json()
    assert body["upstreams"]["redis"]["ok"] is True, body["upstreams"]["redis"]
    assert body["upstreams"]["redis"]["error"] is None


def test_metrics_exposes_request_durations_by_route_pattern(db, client: Client, no_upstreams):
    # given one answered and one unmatched request
    client.get("/healthz")
    client.get("/no/such/page/12345")
    # when the metrics are scraped
    response = client.get("/metrics")
    text = response.content.decode()
    # then both are counted under their route pattern, never the raw path
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert 'meshui_http_request_duration_seconds_count{method="GET",route="healthz",status="200"}' in text
    assert 'meshui_http_request_duration_seconds_count{method="GET",route="<unmatched>",status="404"}' in text
    assert "/no/such/page/12345" not in text


def test_metrics_labels_the_graph_page_and_regex_routes_by_name(db, client: Client, no_upstreams, settings):
    # given the graph page and an entity list (a regular-expression route) answered
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    settings.ANONYMOUS_READ = True
    client.get("/")
    client.get("/api/v1/namespaces/bookinfo/services")
    text = client.get("/metrics").content.decode()
    # then the graph page is "/" (not <unmatched>) and the list is its URL name, not its regex
    assert 'route="/",status="200"' in text
    assert 'route="api-entity-list",status="200"' in text
    assert "(?P<" not in text


def test_metrics_exposes_upstream_websocket_and_ticker_series(client: Client):
    # given some recorded activity (an upstream name of its own: the registry is process-wide)
    clients_before = REGISTRY.get_sample_value("meshui_websocket_clients") or 0.0
    observe_upstream_query("test-probe", 0.2)
    observe_upstream_query("test-probe", 2.0, error="ProbeUnavailable")
    websocket_connected()
    websocket_connected()
    websocket_disconnected()
    observe_ticker(0.3)
    # when scraped
    text = Client().get("/metrics").content.decode()
    # then each family is present with the recorded values
    assert 'meshui_upstream_query_seconds_count{upstream="test-probe"} 2.0' in text
    assert 'meshui_upstream_errors_total{error="ProbeUnavailable",upstream="test-probe"} 1.0' in text
    assert f"meshui_websocket_clients {clients_before + 1}" in text
    assert "meshui_ticker_duration_seconds_count" in text
    websocket_disconnected()


def test_prometheus_client_calls_are_counted_once_as_upstream_queries(db, client: Client, settings):
    # given Prometheus on a closed port, checked by readyz through metrics.client
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": f"http://127.0.0.1:{closed_port()}"}
    labels = {"upstream": "prometheus", "error": "PrometheusUnavailable"}
    before = REGISTRY.get_sample_value("meshui_upstream_errors_total", labels) or 0.0
    # when readiness is asked once
    client.get("/readyz")
    # then exactly one failed Prometheus call is counted
    assert REGISTRY.get_sample_value("meshui_upstream_errors_total", labels) == before + 1


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_answer_over_http_when_tls_redirect_is_on(db, settings, no_upstreams, path):
    # given http redirected to https (kubelet probes and Prometheus scrapes come over plain http)
    settings.SECURE_SSL_REDIRECT = True
    # when the probe or the scrape arrives over http
    response = Client().get(path)
    # then it is answered, not redirected
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/changes", "/", "/healthz/", "/metrics.txt", "/readyzz"])
def test_everything_else_is_still_redirected_to_https(db, settings, path):
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get(path)
    assert (response.status_code, response["Location"]) == (301, f"https://testserver{path}")
