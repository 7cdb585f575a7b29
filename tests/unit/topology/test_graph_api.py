"""The graph API over a telemetry source that answers literal samples.

The same endpoints are tested against the real Prometheus in tests/integration/topology/.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

import sources
from topology import service
from topology.graph.telemetry import MeshTelemetry, Sample

QUERY_TIME = 1795310940.0


def edge_labels(reporter: str, src: str, dst: str, ns: str = "shop", **extra: str) -> dict[str, str]:
    labels = {
        "reporter": reporter,
        "source_cluster": "unknown",
        "source_workload_namespace": ns,
        "source_workload": f"{src}-v1",
        "source_canonical_service": src,
        "source_canonical_revision": "v1",
        "destination_cluster": "unknown",
        "destination_service_namespace": ns,
        "destination_service": f"{dst}.{ns}.svc.cluster.local",
        "destination_service_name": dst,
        "destination_workload_namespace": ns,
        "destination_workload": f"{dst}-v1",
        "destination_canonical_service": dst,
        "destination_canonical_revision": "v1",
        "request_protocol": "http",
    }
    labels.update(extra)
    return labels


def requests(
    reporter: str, src: str, dst: str, code: str, rate: float, ns: str = "shop", dst_ns: str | None = None
) -> Sample:
    dst_ns = dst_ns or ns
    return Sample(
        edge_labels(
            reporter,
            src,
            dst,
            ns,
            destination_service_namespace=dst_ns,
            destination_service=f"{dst}.{dst_ns}.svc.cluster.local",
            destination_workload_namespace=dst_ns,
            response_code=code,
            grpc_response_status="",
            response_flags="-",
            connection_security_policy="mutual_tls" if reporter == "destination" else "unknown",
        ),
        rate,
    )


class LiteralSource:
    """A telemetry source answering fixed samples and recording each read."""

    def __init__(self, telemetry: MeshTelemetry) -> None:
        self.telemetry = telemetry
        self.reads: list[dict] = []

    def read(self, *, query_time: float, window_s: int, namespaces: frozenset[str] | None) -> MeshTelemetry:
        self.reads.append({"query_time": query_time, "window_s": window_s, "namespaces": namespaces})
        return MeshTelemetry(
            query_time=query_time,
            window_s=window_s,
            requests=self.telemetry.requests,
            warnings=self.telemetry.warnings,
        )


@pytest.fixture
def shop_source(monkeypatch: pytest.MonkeyPatch) -> LiteralSource:
    telemetry = MeshTelemetry(
        query_time=QUERY_TIME,
        window_s=300,
        requests=[
            requests("source", "web", "cart", "200", 9.0),
            requests("destination", "web", "cart", "200", 9.0),
            requests("source", "web", "cart", "503", 1.0),
            requests("destination", "web", "cart", "503", 1.0),
            requests("source", "cart", "db", "200", 2.0, dst_ns="data"),
            requests("destination", "cart", "db", "200", 2.0, dst_ns="data"),
        ],
        warnings=["PromQL info: only partial data"],
    )
    source = LiteralSource(telemetry)
    monkeypatch.setattr(sources, "telemetry_source", lambda: source)
    monkeypatch.setattr(service, "_shared_reads", service.SharedReads(ttl_s=5))
    return source


@pytest.fixture
def viewer_client(db) -> APIClient:
    user = User.objects.create_user("vera", password="not-used-here-123")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_it_returns_the_graph_with_rates_and_error_rates(viewer_client, shop_source):
    # when
    response = viewer_client.get("/api/v1/graph", {"query_time": str(QUERY_TIME), "window": "5m"})
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["graph_type"] == "workload"
    assert body["window_s"] == 300
    assert body["query_time"] == QUERY_TIME
    assert body["warnings"] == ["PromQL info: only partial data"]
    names = {node["id"]: node["name"] for node in body["nodes"]}
    edges = {(names[e["source"]], names[e["target"]]): e for e in body["edges"]}
    assert set(edges) == {("web-v1", "cart-v1"), ("cart-v1", "db-v1")}
    web_cart = edges[("web-v1", "cart-v1")]
    assert web_cart["request_rate"] == pytest.approx(10.0)
    assert web_cart["error_rate"] == pytest.approx(0.1)
    assert web_cart["responses"] == {"200": pytest.approx(9.0), "503": pytest.approx(1.0)}
    assert web_cart["health"] == "failing"
    assert shop_source.reads == [{"query_time": QUERY_TIME, "window_s": 300, "namespaces": None}]


def test_it_keeps_edges_into_a_selected_namespace_with_their_source(viewer_client, shop_source):
    # when
    response = viewer_client.get("/api/v1/graph", {"namespaces": "data", "query_time": str(QUERY_TIME)})
    # then
    body = response.json()
    assert body["namespaces"] == ["data"]
    names = {node["id"]: (node["namespace"], node["name"]) for node in body["nodes"]}
    assert [(names[e["source"]], names[e["target"]]) for e in body["edges"]] == [
        (("shop", "cart-v1"), ("data", "db-v1"))
    ]
    assert shop_source.reads[0]["namespaces"] == frozenset({"data"})


def test_requests_for_now_share_one_read(viewer_client, shop_source):
    # when
    first = viewer_client.get("/api/v1/graph")
    second = viewer_client.get("/api/v1/graph", {"graph_type": "app"})
    # then
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(shop_source.reads) == 1


def test_an_explicit_query_time_is_always_read_from_the_source(viewer_client, shop_source):
    # when
    viewer_client.get("/api/v1/graph", {"query_time": str(QUERY_TIME)})
    viewer_client.get("/api/v1/graph", {"query_time": str(QUERY_TIME)})
    # then
    assert len(shop_source.reads) == 2


def test_the_namespace_list_gives_each_namespace_its_health(viewer_client, shop_source):
    # when
    response = viewer_client.get("/api/v1/namespaces", {"query_time": str(QUERY_TIME)})
    # then
    assert response.status_code == 200
    by_name = {ns["name"]: ns for ns in response.json()["namespaces"]}
    assert set(by_name) == {"shop", "data"}
    assert by_name["data"]["health"] == "healthy"
    assert sum(by_name["shop"]["counts"].values()) == 2


def test_a_bad_parameter_gets_400_naming_it(viewer_client, shop_source):
    # when
    response = viewer_client.get("/api/v1/graph", {"window": "30s"})
    # then
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "window"
    assert shop_source.reads == []


@pytest.mark.django_db
def test_anonymous_reads_are_refused_unless_anonymous_read_is_on(settings, shop_source):
    # given
    client = APIClient()
    settings.ANONYMOUS_READ = False
    # when
    refused = client.get("/api/v1/graph")
    settings.ANONYMOUS_READ = True
    allowed = client.get("/api/v1/graph")
    # then
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert allowed.status_code == 200


def test_without_prometheus_the_graph_comes_from_the_demo_mesh(viewer_client, settings):
    # given
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    # when
    response = viewer_client.get("/api/v1/graph", {"namespaces": "bookinfo", "query_time": str(QUERY_TIME)})
    # then
    assert response.status_code == 200
    names = {node["name"] for node in response.json()["nodes"]}
    assert {"productpage-v1", "details-v1", "reviews-v1", "reviews-v2", "reviews-v3", "ratings-v1"} <= names


def test_during_the_demos_ratings_incident_health_points_at_ratings(viewer_client, settings, monkeypatch):
    # given the demo mesh (fixed seed) in the middle of an error incident on bookinfo/ratings
    from demo.source import DemoTelemetrySource

    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    demo = DemoTelemetrySource(seed=3)
    monkeypatch.setattr(sources, "telemetry_source", lambda: demo)
    incident = next(i for i in demo.simulator.incidents(QUERY_TIME, QUERY_TIME + 3 * 86400)
                    if i.kind == "errors" and i.service == ("bookinfo", "ratings"))  # fmt: skip
    middle = (incident.start + incident.end) / 2
    # when the graph of that minute is read
    response = viewer_client.get("/api/v1/graph", {"namespaces": "bookinfo", "query_time": str(middle),
                                                   "window": "60s"})  # fmt: skip
    nodes = {node["name"]: node for node in response.json()["nodes"]}
    # then ratings is where the errors originate, and it alone
    assert [name for name, node in nodes.items() if node["error_origin"]] == ["ratings-v1"]
    assert nodes["ratings-v1"]["inbound_health"] == "failing"
    # and the reviews versions that call it fail outbound only, naming ratings
    for caller in ("reviews-v2", "reviews-v3"):
        node = nodes[caller]
        assert (node["health"], node["inbound_health"], node["outbound_health"]) == ("failing", "healthy", "failing")
        assert node["health_reason"].startswith("outbound 5xx ")
        assert node["health_reason"].endswith("calling ratings-v1; errors originate at ratings-v1")
    # and every edge has its gRPC breakdown ({} here: bookinfo speaks HTTP)
    assert all(edge["grpc_responses"] == {} for edge in response.json()["edges"])


def test_focus_keeps_a_nodes_neighbourhood_and_says_so(viewer_client, shop_source):
    # given the whole graph: web → cart → db
    whole = viewer_client.get("/api/v1/graph", {"query_time": str(QUERY_TIME), "window": "5m"}).json()
    ids = {node["name"]: node["id"] for node in whole["nodes"]}
    # when focusing on db, one hop upstream
    response = viewer_client.get(
        "/api/v1/graph",
        {"query_time": str(QUERY_TIME), "window": "5m", "focus": ids["db-v1"], "hops": "1", "direction": "in"},
    )
    # then only cart → db is left, health as judged on the whole graph, and the answer says the focus
    assert response.status_code == 200
    body = response.json()
    assert {node["name"] for node in body["nodes"]} == {"cart-v1", "db-v1"}
    assert [(e["source"], e["target"]) for e in body["edges"]] == [(ids["cart-v1"], ids["db-v1"])]
    assert body["focus"] == {"node": ids["db-v1"], "hops": 1, "direction": "in"}
    health = {node["id"]: node["health"] for node in whole["nodes"]}
    assert all(node["health"] == health[node["id"]] for node in body["nodes"])
    # and two hops upstream reach web
    two = viewer_client.get(
        "/api/v1/graph",
        {"query_time": str(QUERY_TIME), "window": "5m", "focus": ids["db-v1"], "hops": "2", "direction": "in"},
    ).json()
    assert {node["name"] for node in two["nodes"]} == {"web-v1", "cart-v1", "db-v1"}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"focus": "NOT-AN-ID"}, "focus"),
     ({"focus": "ab", "hops": "4"}, "hops"), ({"focus": "ab", "direction": "up"}, "direction")],
)  # fmt: skip
def test_a_bad_focus_gets_400_naming_its_field(viewer_client, shop_source, params, field):
    response = viewer_client.get("/api/v1/graph", {"query_time": str(QUERY_TIME), "window": "5m", **params})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_a_focus_on_no_node_of_the_graph_is_404_naming_focus(viewer_client, shop_source):
    response = viewer_client.get(
        "/api/v1/graph", {"query_time": str(QUERY_TIME), "window": "5m", "focus": "0123456789abcdef"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_focus"
    assert response.json()["error"]["field"] == "focus"
