"""MeshGraph.edges: a column table behind the mapping of id to Edge (decision 0017)."""

from __future__ import annotations

import pytest
from graph_mesh import CART1, CART2, DB, FRONT, PAY, both, buckets, duration_sum, tcp

from topology.graph.build import build_graph
from topology.graph.telemetry import MeshTelemetry
from topology.graph.types import Edge, GraphOptions, Latency, MeshGraph


def graph() -> MeshGraph:
    return build_graph(
        MeshTelemetry(
            query_time=0,
            window_s=60,
            requests=[
                *both(FRONT, CART1, 9.0),
                *both(FRONT, CART1, 1.0, code="503"),
                *both(FRONT, CART2, 4.0),
                *both(FRONT, CART2, 1.0, code="503"),
                *both(FRONT, PAY, 2.0, code="404", flags="NR"),
            ],
            duration_buckets=buckets("destination", FRONT, CART1, {"10": 4.0, "100": 9.0, "+Inf": 10.0}),
            duration_sum=[duration_sum("destination", FRONT, CART1, 250.0)],
            tcp_sent=[tcp("destination", CART1, DB, 100.0, mtls=True)],
            tcp_received=[tcp("destination", CART1, DB, 40.0, mtls=True)],
        ),
        GraphOptions(),
    )


def edge_to(graph: MeshGraph, workload: str) -> Edge:
    (edge,) = [e for e in graph.edges.values() if graph.nodes[e.target].name == workload]
    return edge


def test_edges_are_a_mapping_of_id_to_edge_in_id_order() -> None:
    # given a graph of four edges
    edges = graph().edges
    # then keys, values and items agree, in id order, and lookups find each edge by its id
    ids = list(edges)
    assert len(edges) == 4
    assert ids == sorted(ids)
    assert [edge.id for edge in edges.values()] == ids
    assert [(edge_id, edge.id) for edge_id, edge in edges.items()] == [(i, i) for i in ids]
    assert all(edges[edge_id].id == edge_id and edge_id in edges for edge_id in ids)
    assert "0" * 16 not in edges
    assert 42 not in edges
    assert edges.get("0" * 16) is None
    with pytest.raises(KeyError):
        edges["0" * 16]


def test_a_view_reads_its_rows_figures_and_none_where_they_do_not_apply() -> None:
    # when reading an http edge with latency and a TCP edge through their views
    g = graph()
    cart, db = edge_to(g, "cart-v1").stats, edge_to(g, "db-0").stats
    # then every figure is the one the builder summed
    assert (cart.request_rate, cart.http_5xx_rate, cart.responses, cart.flags) == (
        10.0,
        1.0,
        {"200": 9.0, "503": 1.0},
        {"-": 10.0},
    )
    # rank 5 of 10 lies in (10, 100], 1 of its 5 observations in; ranks 9.5 and 9.9 in +Inf
    assert cart.latency == Latency(p50=10.0 + 90.0 * (5.0 - 4.0) / 5.0, p95=100.0, p99=100.0, avg=25.0)
    assert (cart.tcp_sent_bytes_per_s, cart.tcp_received_bytes_per_s, cart.mtls_ratio) == (None, None, 0.0)
    assert (db.tcp_sent_bytes_per_s, db.tcp_received_bytes_per_s, db.mtls_ratio) == (100.0, 40.0, 1.0)
    assert (db.latency, db.request_rate, db.responses, db.grpc_responses) == (None, 0.0, {}, {})


def test_views_compare_by_value() -> None:
    # given two builds of the same telemetry
    first, second = graph(), graph()
    # then their edges are equal edge by edge, and different edges are not
    assert list(first.edges.values()) == list(second.edges.values())
    assert edge_to(first, "cart-v1") != edge_to(first, "cart-v2")
    assert edge_to(first, "cart-v1").stats != edge_to(first, "cart-v2").stats


def test_edges_with_the_same_outcome_keys_share_one_key_set() -> None:
    # given two edges that saw the same response codes and flags, and one that saw others
    g = graph()
    rows = {name: g.edges.row(edge_to(g, name).id) for name in ("cart-v1", "cart-v2", "pay-v1")}
    keys = g.edges.outcome_keys
    # then the first two share one OutcomeKeys, the third has its own
    assert keys[rows["cart-v1"]] is keys[rows["cart-v2"]]
    assert keys[rows["pay-v1"]].flags == ("NR",)
