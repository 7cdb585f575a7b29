"""Health thresholds, rules and node/edge assessment."""

from __future__ import annotations

import pytest
from graph_mesh import CART1, DB, FRONT, PAY, both, req, tcp

from topology.graph.build import build_graph
from topology.graph.health import (
    Threshold,
    assess,
    default_health_rules,
    judge,
    parse_health_rules,
)
from topology.graph.telemetry import MeshTelemetry
from topology.graph.types import GraphOptions, GraphType, Health, MeshGraph, NodeKind, Verdict

DEFAULTS = default_health_rules().defaults


def assessed(rules: dict | None = None, **lists: list) -> MeshGraph:
    graph = build_graph(MeshTelemetry(query_time=0, window_s=60, **lists), GraphOptions(include_idle=True))
    return assess(graph, parse_health_rules(rules) if rules is not None else default_health_rules())


def health_of(graph: MeshGraph, name: str) -> Verdict:
    (node_id,) = [i for i, n in graph.nodes.items() if n.name == name]
    return graph.node_health[node_id]


def edge_health(graph: MeshGraph, source: str, target: str) -> Verdict:
    (edge_id,) = [
        i
        for i, e in graph.edges.items()
        if graph.nodes[e.source].name == source and graph.nodes[e.target].name == target
    ]
    return graph.edge_health[edge_id]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((0.0, 0.0, 0.0, 0.0), Verdict(Health.HEALTHY)),
        ((0.1, 0.0, 0.0, 0.0), Verdict(Health.DEGRADED, "5xx 0.1% > 0%")),
        ((0.004, 0.0, 0.0, 0.0), Verdict(Health.DEGRADED, "5xx 0.004% > 0%")),
        ((0.0, 0.0, 0.0, 0.0123), Verdict(Health.DEGRADED, "no response 0.012% > 0%")),
        ((10.0, 0.0, 0.0, 0.0), Verdict(Health.FAILING, "5xx 10.0% ≥ 10%")),
        ((0.0, 9.9, 0.0, 0.0), Verdict(Health.HEALTHY)),
        ((0.0, 10.0, 0.0, 0.0), Verdict(Health.DEGRADED, "4xx 10.0% ≥ 10%")),
        ((0.0, 20.0, 0.0, 0.0), Verdict(Health.FAILING, "4xx 20.0% ≥ 20%")),
        ((0.0, 0.0, 0.5, 0.0), Verdict(Health.DEGRADED, "gRPC errors 0.5% > 0%")),
        ((0.0, 0.0, 12.0, 0.0), Verdict(Health.FAILING, "gRPC errors 12.0% ≥ 10%")),
        ((0.0, 0.0, 0.0, 1.0), Verdict(Health.DEGRADED, "no response 1.0% > 0%")),
        ((0.0, 0.0, 0.0, 10.0), Verdict(Health.FAILING, "no response 10.0% ≥ 10%")),
        ((1.0, 25.0, 0.0, 0.0), Verdict(Health.FAILING, "4xx 25.0% ≥ 20%")),
    ],
)
def test_default_thresholds_are_kialis(counts: tuple, expected: Verdict) -> None:
    # given 100 req/s with these counts of 5xx, 4xx, gRPC errors, no response
    assert judge(100.0, counts, DEFAULTS) == expected


def test_edge_and_node_health_from_requests() -> None:
    # given frontend -> cart with 12% 5xx and frontend -> pay clean
    graph = assessed(
        requests=[*both(FRONT, CART1, 88.0), *both(FRONT, CART1, 12.0, code="503"), *both(FRONT, PAY, 5.0)]
    )
    # then
    assert edge_health(graph, "frontend-v1", "cart-v1") == Verdict(Health.FAILING, "5xx 12.0% ≥ 10%")
    assert edge_health(graph, "frontend-v1", "pay-v1") == Verdict(Health.HEALTHY)
    assert health_of(graph, "cart-v1").health == Health.FAILING
    assert health_of(graph, "pay-v1").health == Health.HEALTHY
    # frontend's outbound requests: 12 of 105 failed
    assert health_of(graph, "frontend-v1") == Verdict(
        Health.FAILING, "outbound 5xx 11.4% ≥ 10% calling cart-v1; errors originate at cart-v1"
    )


def test_unknown_source_is_unknown_tcp_is_healthy_zero_traffic_is_idle() -> None:
    # given outside traffic, a TCP-only edge and an idle edge
    graph = assessed(
        requests=[req("destination", None, FRONT, 3.0), *both(FRONT, PAY, 0.0)],
        tcp_sent=[tcp("destination", CART1, DB, 50.0)],
    )
    # then
    assert health_of(graph, "unknown").health == Health.UNKNOWN
    assert health_of(graph, "db-0").health == Health.HEALTHY
    assert edge_health(graph, "cart-v1", "db-0") == Verdict(Health.HEALTHY)
    assert edge_health(graph, "frontend-v1", "pay-v1") == Verdict(Health.IDLE)
    assert health_of(graph, "pay-v1").health == Health.IDLE


def test_first_matching_rule_wins_then_defaults() -> None:
    # given 5% 5xx into cart and into pay; a lenient rule for cart, a strict one that also matches
    rules = {
        "rules": [
            {
                "namespace": "shop",
                "name": "^cart",
                "tolerances": {"http_5xx": {"degraded": 6, "failing": 20}},
            },
            {"kind": "workload", "tolerances": {"http_5xx": {"failing": 5}}},
        ]
    }
    requests = [
        *both(FRONT, CART1, 95.0),
        *both(FRONT, CART1, 5.0, code="500"),
        *both(FRONT, PAY, 95.0),
        *both(FRONT, PAY, 5.0, code="500"),
    ]
    # when
    graph = assessed(rules, requests=requests)
    # then
    assert edge_health(graph, "frontend-v1", "cart-v1") == Verdict(Health.HEALTHY)
    assert edge_health(graph, "frontend-v1", "pay-v1") == Verdict(Health.FAILING, "5xx 5.0% ≥ 5%")


def test_parse_fills_omitted_thresholds_from_defaults() -> None:
    rules = parse_health_rules({"defaults": {"http_4xx": {"failing": 50}}})
    assert rules.defaults.http_4xx == Threshold(degraded=10.0, failing=50.0)
    assert rules.defaults.http_5xx == DEFAULTS.http_5xx
    assert rules.rules == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"default": {}}, "default: unknown key"),
        (
            {"defaults": {"http_5xx": {"failing": 101}}},
            "defaults.http_5xx.failing: must be a number from 0 to 100",
        ),
        ({"defaults": {"http_5xx": {"degraded": "1"}}}, "defaults.http_5xx.degraded: must be a number"),
        ({"defaults": {"http_6xx": {}}}, "defaults.http_6xx: unknown key"),
        ({"defaults": {"http_4xx": {"degraded": 30}}}, "defaults.http_4xx.degraded: must not exceed failing"),
        ({"rules": {}}, "rules: must be a list"),
        ({"rules": [{"kind": "pod", "tolerances": {}}]}, "rules[0].kind: must be one of"),
        ({"rules": [{"name": "(", "tolerances": {}}]}, "rules[0].name: invalid regular expression"),
        ({"rules": [{"namespace": "a"}]}, "rules[0].tolerances: required"),
        (
            {"rules": [{"tolerances": {"grpc_error": {"failing": -1}}}]},
            "rules[0].tolerances.grpc_error.failing",
        ),
    ],
)
def test_parse_rejects_bad_keys_naming_them(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[").replace("]", r"\]")):
        parse_health_rules(data)


def test_rule_kind_is_parsed_to_node_kind() -> None:
    rules = parse_health_rules({"rules": [{"kind": "service", "tolerances": {}}]})
    assert rules.rules[0].kind == NodeKind.SERVICE
    assert rules.rules[0].tolerances == DEFAULTS


def test_app_group_takes_the_worst_member() -> None:
    # given versioned app graph where cart v1 fails and cart v2 is fine
    cart2 = ("shop", "cart-v2", "cart", "v2")
    telemetry = MeshTelemetry(
        query_time=0, window_s=60, requests=[*both(FRONT, CART1, 1.0, code="500"), *both(FRONT, cart2, 9.0)]
    )
    options = GraphOptions(graph_type=GraphType.VERSIONED_APP)
    graph = assess(build_graph(telemetry, options), default_health_rules())
    # then
    group = next(n for n in graph.nodes.values() if n.is_group)
    assert graph.node_health[group.id] == Verdict(
        Health.FAILING, "inbound 5xx 100.0% ≥ 10% from frontend v1; errors originate here"
    )


# --- direction and error origin -------------------------------------------------------------
REVIEWS = ("bookinfo", "reviews-v2", "reviews", "v2")
RATINGS = ("bookinfo", "ratings-v1", "ratings", "v1")
PRODUCT = ("bookinfo", "productpage-v1", "productpage", "v1")
GATEWAY = ("istio-system", "ingress", "ingress", "latest")


def test_a_caller_that_absorbs_its_callees_errors_is_failing_outbound_and_healthy_inbound() -> None:
    # given reviews answering productpage fine while 20% of its calls to ratings fail
    graph = assessed(requests=[*both(PRODUCT, REVIEWS, 10.0), *both(REVIEWS, RATINGS, 8.0),
                               *both(REVIEWS, RATINGS, 2.0, code="503")])  # fmt: skip
    node = next(i for i, n in graph.nodes.items() if n.name == "reviews-v2")
    ratings = next(i for i, n in graph.nodes.items() if n.name == "ratings-v1")
    # then reviews' health blames its outbound calls and names ratings as where errors start
    assert graph.inbound_health[node] == Verdict(Health.HEALTHY)
    assert graph.outbound_health[node] == Verdict(Health.FAILING, "outbound 5xx 20.0% ≥ 10% calling ratings-v1")
    assert graph.node_health[node] == Verdict(
        Health.FAILING, "outbound 5xx 20.0% ≥ 10% calling ratings-v1; errors originate at ratings-v1"
    )
    # and ratings, which fails and calls nobody, is the origin; reviews is not
    assert graph.error_origins == frozenset({ratings})
    assert graph.inbound_health[ratings] == Verdict(Health.FAILING, "inbound 5xx 20.0% ≥ 10% from reviews-v2")
    assert graph.outbound_health[ratings] == Verdict(Health.IDLE)
    assert graph.node_health[ratings].reason.endswith("; errors originate here")


def test_the_origin_two_hops_down_is_named_by_every_caller_on_the_failing_path() -> None:
    # given gateway -> productpage -> reviews -> ratings, where ratings fails and the errors
    # pass all the way up (each caller returns 5xx when its callee does)
    graph = assessed(requests=[
        *both(GATEWAY, PRODUCT, 8.0), *both(GATEWAY, PRODUCT, 2.0, code="500"),
        *both(PRODUCT, REVIEWS, 8.0), *both(PRODUCT, REVIEWS, 2.0, code="500"),
        *both(REVIEWS, RATINGS, 8.0), *both(REVIEWS, RATINGS, 2.0, code="503"),
    ])  # fmt: skip
    by_name = {n.name: i for i, n in graph.nodes.items()}
    # then only ratings is the origin: the others fail inbound because they fail outbound
    assert graph.error_origins == frozenset({by_name["ratings-v1"]})
    for caller in ("productpage-v1", "reviews-v2"):
        assert graph.inbound_health[by_name[caller]].health == Health.FAILING
        assert graph.node_health[by_name[caller]].reason.startswith("outbound 5xx 20.0% ≥ 10% calling ")
        assert graph.node_health[by_name[caller]].reason.endswith("; errors originate at ratings-v1")
    # and the gateway, which only sends, names it too
    assert graph.node_health[by_name["ingress"]].reason.endswith("; errors originate at ratings-v1")


def test_healthy_and_idle_sides_carry_no_reason_and_a_node_without_traffic_has_no_origin() -> None:
    graph = assessed(requests=[*both(FRONT, CART1, 5.0)])
    front = next(i for i, n in graph.nodes.items() if n.name == "frontend-v1")
    assert graph.inbound_health[front] == Verdict(Health.IDLE)
    assert graph.outbound_health[front] == Verdict(Health.HEALTHY)
    assert graph.error_origins == frozenset()


def test_origins_are_found_through_a_cycle_of_failing_calls_and_never_through_another_origin() -> None:
    # given productpage <-> reviews calling each other (both failing), reviews -> ratings failing,
    # and ratings the only origin
    graph = assessed(requests=[
        *both(PRODUCT, REVIEWS, 8.0), *both(PRODUCT, REVIEWS, 2.0, code="500"),
        *both(REVIEWS, PRODUCT, 8.0), *both(REVIEWS, PRODUCT, 2.0, code="500"),
        *both(REVIEWS, RATINGS, 8.0), *both(REVIEWS, RATINGS, 2.0, code="503"),
    ])  # fmt: skip
    by_name = {n.name: i for i, n in graph.nodes.items()}
    assert graph.error_origins == frozenset({by_name["ratings-v1"]})
    for caller in ("productpage-v1", "reviews-v2"):
        assert graph.node_health[by_name[caller]].reason.endswith("; errors originate at ratings-v1")
