"""A version a routing change leaves without traffic stays on the graph as an idle node (0023).

The demo obeys the local backend's routing from the moment it is applied; a window that starts
after the change has no request to reviews-v2 or reviews-v3 once reviews goes 100 % to v1.
"""

import time

import pytest

import sources

URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"


def graph(client, query_time: float, **extra: str) -> dict:
    response = client.get(
        "/api/v1/graph", {"namespaces": "bookinfo", "window": "1m", "query_time": str(query_time), **extra}
    )
    assert response.status_code == 200, response.content
    return response.json()


def reviews_nodes(document: dict) -> dict[str, dict]:
    return {n["name"]: n for n in document["nodes"] if n["service"] == "reviews" and not n["is_group"]}


@pytest.fixture
def fresh_demo():
    sources._demo_telemetry.cache_clear()
    yield
    sources._demo_telemetry.cache_clear()


def test_a_version_routed_to_zero_stays_as_an_idle_node(operator, fresh_demo):
    # given reviews sent 100 % to v1
    response = operator.patch(URL, {"weights": {"v1": 100}}, format="json")
    assert response.status_code == 200, response.content
    change_id = response.json()["change_id"]
    # when the workload graph of a window after the change is read
    after = graph(operator, time.time() + 90)
    # then v2 and v3 are still there, idle, without edges, and name the change
    nodes = reviews_nodes(after)
    assert set(nodes) == {"reviews-v1", "reviews-v2", "reviews-v3"}
    for name in ("reviews-v2", "reviews-v3"):
        assert nodes[name]["health"] == "idle"
        assert nodes[name]["inbound_health"] == "idle"
        assert nodes[name]["idle_after_routing_change"] == change_id
        assert nodes[name]["health_reason"] == f"no requests in this window since routing change #{change_id}"
        assert not [e for e in after["edges"] if nodes[name]["id"] in (e["source"], e["target"])]
    assert "idle_after_routing_change" not in nodes["reviews-v1"]
    # and their ids are the ones they had while they had traffic
    before = reviews_nodes(graph(operator, time.time() - 120))
    assert {n: before[n]["id"] for n in before} == {n: nodes[n]["id"] for n in nodes}


def test_the_versioned_app_graph_keeps_the_version_in_its_box(operator, fresh_demo):
    operator.patch(URL, {"weights": {"v1": 100}}, format="json")
    after = graph(operator, time.time() + 90, graph_type="versioned_app")
    nodes = reviews_nodes(after)
    box = next(n for n in after["nodes"] if n["is_group"] and n["app"] == "reviews")
    assert nodes["reviews v2"]["health"] == "idle"
    assert nodes["reviews v2"]["parent"] == box["id"]


def test_without_a_recent_change_nothing_is_added(operator, fresh_demo):
    # given no routing change at all: every node of the window is the window's own
    document = graph(operator, time.time())
    assert not [n for n in document["nodes"] if "idle_after_routing_change" in n]
