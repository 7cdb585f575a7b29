"""diff_graphs / apply_delta on literal graph documents."""

from __future__ import annotations

import copy

import pytest

from topology.graph.diff import apply_delta, diff_graphs, is_empty


def node(node_id: str, health: str = "healthy", **extra: object) -> dict:
    return {"id": node_id, "kind": "workload", "namespace": "shop", "name": node_id, "health": health,
            "health_reason": None, **extra}


def edge(edge_id: str, source: str, target: str, rate: float, **extra: object) -> dict:
    return {"id": edge_id, "source": source, "target": target, "protocol": "http", "request_rate": rate,
            "error_rate": 0.0, "responses": {"200": rate}, "latency_ms": None, "health": "healthy", **extra}


def graph(nodes: list[dict], edges: list[dict], query_time: int = 1795310940, **extra: object) -> dict:
    return {"graph_type": "workload", "window_s": 300, "query_time": query_time, "namespaces": ["shop"],
            "nodes": nodes, "edges": edges, "warnings": [], **extra}


OLD = graph(
    [node("a"), node("b"), node("c")],
    [edge("ab", "a", "b", 4.0), edge("bc", "b", "c", 1.0)],
)
NEW = graph(
    [node("a"), node("b", health="failing", health_reason="5xx 12% ≥ 10%"), node("d")],
    [edge("ab", "a", "b", 4.2, responses={"200": 3.7, "503": 0.5}), edge("bd", "b", "d", 2.0)],
    query_time=1795310955,
    warnings=["partial data"],
)


def test_diff_lists_added_removed_and_only_changed_fields():
    # given two graphs differing in nodes, edges and fields
    # when diffed
    delta = diff_graphs(OLD, NEW)
    # then each part holds exactly the differences, changed entries only the changed fields
    assert delta["nodes"] == {
        "added": [node("d")],
        "removed": ["c"],
        "changed": [{"id": "b", "health": "failing", "health_reason": "5xx 12% ≥ 10%"}],
    }
    assert delta["edges"] == {
        "added": [edge("bd", "b", "d", 2.0)],
        "removed": ["bc"],
        "changed": [{"id": "ab", "request_rate": 4.2, "responses": {"200": 3.7, "503": 0.5}}],
    }
    assert delta["query_time"] == 1795310955
    assert delta["warnings"] == ["partial data"]
    assert set(delta) == {"nodes", "edges", "query_time", "warnings"}


def test_applying_the_diff_gives_the_new_graph_without_touching_the_old():
    # given the old graph and a deep copy of it
    before = copy.deepcopy(OLD)
    # when the diff is applied
    result = apply_delta(OLD, diff_graphs(OLD, NEW))
    # then the result is the new graph and the old one is unchanged
    assert result == NEW
    assert before == OLD


def test_diff_of_equal_graphs_is_empty():
    # given two equal graphs (distinct objects)
    # when diffed
    delta = diff_graphs(OLD, copy.deepcopy(OLD))
    # then nothing is added, removed or changed
    assert is_empty(delta)
    assert delta["nodes"] == {"added": [], "removed": [], "changed": []}
    assert apply_delta(OLD, delta) == OLD


def test_diff_is_not_empty_when_one_field_changes():
    # given a graph whose one edge's rate changed
    changed = copy.deepcopy(OLD)
    changed["edges"][1]["request_rate"] = 1.5
    # when diffed
    delta = diff_graphs(OLD, changed)
    # then the delta names that edge and that field only
    assert not is_empty(delta)
    assert delta["edges"]["changed"] == [{"id": "bc", "request_rate": 1.5}]


def test_a_field_that_disappears_is_unset():
    # given an edge that loses its optional grpc_responses
    with_grpc = graph([node("a"), node("b")], [edge("ab", "a", "b", 1.0, grpc_responses={"0": 1.0})])
    without = graph([node("a"), node("b")], [edge("ab", "a", "b", 1.0)])
    # when diffed and applied
    delta = diff_graphs(with_grpc, without)
    # then the change names it in unset and applying it removes the field
    assert delta["edges"]["changed"] == [{"id": "ab", "unset": ["grpc_responses"]}]
    assert apply_delta(with_grpc, delta) == without


def test_changed_top_level_fields_travel_only_when_they_change():
    # given graphs whose namespaces list differs
    wider = {**OLD, "namespaces": ["shop", "web"]}
    # when diffed both ways
    # then namespaces is in the delta only when it changed
    assert diff_graphs(OLD, wider)["namespaces"] == ["shop", "web"]
    assert "namespaces" not in diff_graphs(OLD, OLD)
    assert apply_delta(OLD, diff_graphs(OLD, wider)) == wider


def test_apply_ignores_frame_fields_of_a_live_delta():
    # given a delta as sent on the socket, with type, view_key and seq
    frame = {"type": "delta", "view_key": "k", "seq": 7, **diff_graphs(OLD, NEW)}
    # when applied
    # then only the graph fields are taken
    assert apply_delta(OLD, frame) == NEW


def test_apply_refuses_a_change_to_a_missing_entry():
    # given a delta changing a node the document lacks
    delta = diff_graphs(OLD, NEW)
    delta["nodes"]["changed"] = [{"id": "zz", "health": "failing"}]
    # when applied
    # then it raises naming the id
    with pytest.raises(ValueError, match="'zz'"):
        apply_delta(OLD, delta)
