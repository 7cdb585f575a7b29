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
    assert health_of(graph, "frontend-v1") == Verdict(Health.FAILING, "5xx 11.4% ≥ 10%")


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
    assert graph.node_health[group.id] == Verdict(Health.FAILING, "5xx 100.0% ≥ 10%")
