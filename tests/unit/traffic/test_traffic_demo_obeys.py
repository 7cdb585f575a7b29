"""The demo mesh obeys the routing written to the local backend: a weight shift or a header route
shows on the graph."""

import time

import pytest

import sources


def reviews_rates(client, query_time: float) -> dict[str, float]:
    response = client.get("/api/v1/graph", {"namespaces": "bookinfo", "window": "1m", "query_time": str(query_time)})
    assert response.status_code == 200
    body = response.json()
    names = {node["id"]: node["name"] for node in body["nodes"]}
    return {
        names[edge["target"]]: edge["request_rate"]
        for edge in body["edges"]
        if names[edge["source"]] == "productpage-v1" and names[edge["target"]].startswith("reviews-")
    }


@pytest.fixture
def fresh_demo():
    sources._demo_telemetry.cache_clear()
    yield
    sources._demo_telemetry.cache_clear()


def test_a_weight_shift_moves_the_demo_traffic(operator, fresh_demo):
    # given the demo's default even split of reviews traffic
    before = reviews_rates(operator, time.time())
    assert set(before) == {"reviews-v1", "reviews-v2", "reviews-v3"}
    # when an operator sends all reviews traffic to v1
    response = operator.patch(
        "/api/v1/namespaces/bookinfo/services/reviews/traffic", {"weights": {"v1": 100}}, format="json"
    )
    assert response.status_code == 200, response.content
    # then a window that starts after the change shows traffic to v1 only
    after = reviews_rates(operator, time.time() + 90)
    assert set(after) == {"reviews-v1"}
    assert after["reviews-v1"] == pytest.approx(sum(before.values()), rel=0.25)


def test_a_header_route_sends_the_demo_header_share_to_its_version(operator, fresh_demo):
    # given an operator routing x-group: test to reviews v3 and everyone else to v1
    patch = {"routes": [{"match": [{"headers": {"x-group": {"exact": "test"}}}], "weights": {"v3": 100}}],
             "weights": {"v1": 100}}  # fmt: skip
    # when the change is applied
    response = operator.patch("/api/v1/namespaces/bookinfo/services/reviews/traffic", patch, format="json")
    assert response.status_code == 200, response.content
    # then a window after it shows the demo's x-group: test share (10 %) on v3 and the rest on v1
    # (the graph's rates have 4 significant digits)
    after = reviews_rates(operator, time.time() + 90)
    assert set(after) == {"reviews-v1", "reviews-v3"}
    assert after["reviews-v3"] / (after["reviews-v1"] + after["reviews-v3"]) == pytest.approx(0.1, rel=1e-3)
