"""The metrics API and pages in demo mode (the built-in mesh is the telemetry source)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db
QUERY_TIME = 1_790_000_000


@pytest.fixture
def client(settings) -> Client:
    settings.ANONYMOUS_READ = True
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    return Client()


def test_service_list_agrees_with_the_graph_edges(client: Client) -> None:
    # given the demo mesh, the service graph and the service list for the same instant
    graph = client.get(
        "/api/v1/graph", {"namespaces": "bookinfo", "graph_type": "service", "query_time": QUERY_TIME}
    ).json()
    # when the list is read
    body = client.get("/api/v1/namespaces/bookinfo/services", {"query_time": QUERY_TIME}).json()
    # then each service's rate is the sum of its incoming graph edges
    by_name = {item["name"]: item for item in body["items"]}
    reviews = next(n for n in graph["nodes"] if n["kind"] == "service" and n["name"] == "reviews")
    inbound = sum(e["request_rate"] for e in graph["edges"] if e["target"] == reviews["id"])
    assert by_name["reviews"]["request_rate"] == pytest.approx(inbound, rel=1e-3)
    assert by_name["reviews"]["health"] == reviews["health"]
    assert by_name["reviews"]["versions"] == ["v1", "v2", "v3"]


def test_series_without_by_have_one_total_entry_per_metric(client: Client) -> None:
    # when the inbound series of a service are read
    response = client.get(
        "/api/v1/namespaces/bookinfo/services/reviews/metrics",
        {"direction": "inbound", "window": "10m", "step": "1m", "rate_interval": "1m", "query_time": QUERY_TIME},
    )
    # then there are 11 points per metric, one entry each, ending at query_time
    body = response.json()
    assert response.status_code == 200
    assert (body["window_s"], body["step_s"], body["rate_interval_s"]) == (600, 60, 60)
    for name in (
        "request_rate",
        "error_rate",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "tcp_sent_bytes_per_s",
        "tcp_received_bytes_per_s",
    ):
        assert len(body["series"][name]) == 1
        assert body["series"][name][0]["labels"] == {}
        assert len(body["series"][name][0]["points"]) == 11
        assert body["series"][name][0]["points"][-1][0] == QUERY_TIME


def test_series_end_equals_the_graph_with_the_rate_interval_as_window(client: Client) -> None:
    # given the graph over 1m at query_time
    graph = client.get(
        "/api/v1/graph", {"namespaces": "bookinfo", "graph_type": "service", "window": "1m", "query_time": QUERY_TIME}
    ).json()
    node = next(n for n in graph["nodes"] if n["kind"] == "service" and n["name"] == "ratings")
    edges = [e for e in graph["edges"] if e["target"] == node["id"]]
    # when the series are read with rate_interval=1m
    body = client.get(
        "/api/v1/namespaces/bookinfo/services/ratings/metrics",
        {"window": "5m", "step": "1m", "rate_interval": "1m", "query_time": QUERY_TIME},
    ).json()
    # then the last point is the sum of the graph's incoming edges
    assert body["series"]["request_rate"][0]["points"][-1][1] == pytest.approx(
        sum(e["request_rate"] for e in edges), rel=1e-3
    )


def test_series_by_response_class_splits_only_the_request_rate(client: Client) -> None:
    body = client.get(
        "/api/v1/namespaces/bookinfo/services/reviews/metrics",
        {"window": "5m", "step": "1m", "by": "response_class", "query_time": QUERY_TIME},
    ).json()
    labels = [entry["labels"] for entry in body["series"]["request_rate"]]
    assert {"response_class": "2xx"} in labels
    assert [entry["labels"] for entry in body["series"]["latency_p95_ms"]] == [{}]


def test_series_by_source_app_names_each_caller(client: Client) -> None:
    body = client.get(
        "/api/v1/namespaces/bookinfo/services/reviews/metrics",
        {"window": "5m", "step": "1m", "by": "source_app", "query_time": QUERY_TIME},
    ).json()
    assert [entry["labels"] for entry in body["series"]["request_rate"]] == [{"source_app": "productpage"}]


def test_bad_parameter_answers_400_naming_it(client: Client) -> None:
    response = client.get("/api/v1/namespaces/bookinfo/services/reviews/metrics", {"direction": "sideways"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "direction"


def test_bad_namespace_answers_400_naming_it(client: Client) -> None:
    response = client.get("/api/v1/namespaces/Not_A_Namespace/services")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "namespace"


def test_unknown_service_detail_is_404(client: Client) -> None:
    response = client.get("/api/v1/namespaces/bookinfo/services/nosuch", {"query_time": QUERY_TIME})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_detail_names_health_neighbours_and_workloads(client: Client) -> None:
    body = client.get("/api/v1/namespaces/bookinfo/services/reviews", {"query_time": QUERY_TIME}).json()
    assert body["workloads"] == ["reviews-v1", "reviews-v2", "reviews-v3"]
    # a service carries no app label: its workloads' canonical service names its app
    assert body["app"] == "reviews"
    assert [n["name"] for n in body["neighbours"]["inbound"]] == ["productpage"]
    assert body["health"] in ("healthy", "degraded", "failing")
    assert body["inbound_health"] in ("healthy", "degraded", "failing")
    assert isinstance(body["error_origin"], bool)


def test_detail_neighbours_carry_the_neighbours_own_health(client: Client) -> None:
    # given the graph the detail page is built from
    graph = client.get(
        "/api/v1/graph", {"namespaces": "bookinfo", "graph_type": "service", "window": "5m", "query_time": QUERY_TIME}
    ).json()
    health_of = {(n["namespace"], n["name"]): n["health"] for n in graph["nodes"] if n["kind"] == "service"}
    # when the ratings service's detail is read
    body = client.get("/api/v1/namespaces/bookinfo/services/ratings", {"query_time": QUERY_TIME}).json()
    # then each caller carries its own node's verdict beside the edge's
    callers = body["neighbours"]["inbound"]
    assert [n["name"] for n in callers] == ["reviews"]
    assert [n["node_health"] for n in callers] == [health_of[("bookinfo", "reviews")]]


def test_health_lists_every_workload_with_a_verdict(client: Client) -> None:
    body = client.get("/api/v1/health", {"namespaces": "bookinfo", "kind": "workload", "query_time": QUERY_TIME}).json()
    names = {item["name"] for item in body["items"]}
    assert {"productpage-v1", "reviews-v2", "ratings-v1"} <= names
    assert {item["namespace"] for item in body["items"]} == {"bookinfo"}


def test_overview_has_a_sparkline_per_namespace(client: Client) -> None:
    body = client.get("/api/v1/overview", {"query_time": QUERY_TIME}).json()
    bookinfo = next(n for n in body["namespaces"] if n["name"] == "bookinfo")
    assert len(bookinfo["inbound_rate"]) == 31
    assert bookinfo["inbound_rate"][-1][0] == QUERY_TIME
    assert bookinfo["request_rate"] > 0


@pytest.mark.parametrize(
    "url", ["/overview", "/services", "/workloads", "/apps", "/namespaces/bookinfo/services/reviews"]
)
def test_pages_render_without_reading_telemetry(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert b'id="m-page"' in response.content
