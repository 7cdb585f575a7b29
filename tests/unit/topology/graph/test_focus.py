"""Focus: the neighbourhood of one node, upstream, downstream or both, 1 to 3 calls deep."""

from __future__ import annotations

import pytest

from topology.graph.focus import neighbourhood

# gw → web → cart → db → backup; batch → cart; web → search; cart → cart (retries to itself)
EDGES = [
    ("gw", "web"), ("web", "cart"), ("cart", "db"), ("db", "backup"),
    ("batch", "cart"), ("web", "search"), ("cart", "cart"),
]  # fmt: skip


def kept(focus: str, hops: int, direction: str) -> tuple[set[str], set[tuple[str, str]]]:
    found = neighbourhood(EDGES, focus, hops=hops, direction=direction)  # type: ignore[arg-type]
    return set(found.nodes), {EDGES[i] for i in found.edges}


def test_one_hop_both_ways_is_the_callers_and_the_callees():
    nodes, edges = kept("cart", 1, "both")
    assert nodes == {"web", "batch", "cart", "db"}
    assert edges == {("web", "cart"), ("batch", "cart"), ("cart", "db"), ("cart", "cart")}


def test_downstream_follows_calls_as_deep_as_asked_and_no_further():
    assert kept("web", 1, "out") == ({"web", "cart", "search"}, {("web", "cart"), ("web", "search")})
    nodes, edges = kept("web", 2, "out")
    assert nodes == {"web", "cart", "search", "db"}
    assert ("db", "backup") not in edges
    assert ("cart", "db") in edges
    # a caller of a callee (batch → cart) is not downstream of web
    assert ("batch", "cart") not in edges


def test_upstream_follows_callers_and_three_hops_reach_the_gateway():
    nodes, edges = kept("db", 3, "in")
    assert nodes == {"db", "cart", "web", "batch", "gw"}
    assert ("db", "backup") not in edges
    assert {("gw", "web"), ("web", "cart"), ("batch", "cart"), ("cart", "db")} <= edges
    # web's other callee is not upstream of db
    assert "search" not in nodes


def test_a_node_no_edge_touches_keeps_only_itself():
    assert kept("idle", 2, "both") == ({"idle"}, set())


@pytest.mark.parametrize(("hops", "direction"), [(0, "both"), (4, "both"), (1, "sideways")])
def test_out_of_range_hops_or_unknown_directions_are_refused(hops, direction):
    with pytest.raises(ValueError, match=r"hops|direction"):
        neighbourhood(EDGES, "cart", hops=hops, direction=direction)  # type: ignore[arg-type]
