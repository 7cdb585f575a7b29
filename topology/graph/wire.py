"""The graph as the API's JSON document (plain dicts and lists, ready for ``json.dumps``).

Numbers are rounded to 4 significant digits: the figures are window averages of sampled
counters, so more digits carry no information and only bloat a payload of thousands of edges.
Nodes and edges are listed by id so the same graph always serialises to the same bytes.

Speed: a 10k-edge graph is ~150k numbers, so the rounding skips the string round trip for
``0.0`` (most error figures) and the per-edge code binds what it uses locally; the output is
the same as the plain version's.
"""

from __future__ import annotations

from typing import Any

from topology.graph.types import Edge, Health, MeshGraph, Node, Verdict

_NOT_ASSESSED = Verdict(Health.UNKNOWN, "not assessed")


def sig4(value: float | None) -> float | None:
    """``value`` rounded to 4 significant digits (``None`` stays ``None``)."""
    if value is None:
        return None
    if value == 0.0:
        return 0.0
    return float(f"{value:.4g}")


def _rates(values: dict[str, float]) -> dict[str, float]:
    if len(values) == 1:
        for key, value in values.items():
            return {key: float(f"{value:.4g}")}
    return {key: float(f"{value:.4g}") for key, value in sorted(values.items())}


def node_to_wire(node: Node, verdict: Verdict) -> dict[str, Any]:
    """One node of the API document."""
    return {
        "id": node.id,
        "kind": node.kind.value,
        "namespace": node.namespace,
        "name": node.name,
        "workload": node.workload,
        "app": node.app,
        "version": node.version,
        "service": node.service,
        "cluster": node.cluster,
        "is_gateway": node.is_gateway,
        "is_group": node.is_group,
        "parent": node.parent,
        "health": verdict.health.value,
        "health_reason": verdict.reason,
    }


def edge_to_wire(edge: Edge, verdict: Verdict) -> dict[str, Any]:
    """One edge of the API document; ``latency_ms`` is ``None`` without duration data."""
    stats = edge.stats
    latency = stats.latency
    rate = stats.request_rate
    if rate == 0.0:
        error_rate = client_error_rate = 0.0
    else:
        error_rate = sig4(stats.error_rate)
        client_error_rate = sig4(stats.client_error_rate)
        rate = float(f"{rate:.4g}")
    document = {
        "id": edge.id,
        "source": edge.source,
        "target": edge.target,
        "protocol": edge.protocol,
        "request_rate": rate,
        "error_rate": error_rate,
        "client_error_rate": client_error_rate,
        "responses": _rates(stats.responses),
        "flags": _rates(stats.flags),
        "latency_ms": None
        if latency is None
        else {
            "p50": sig4(latency.p50),
            "p95": sig4(latency.p95),
            "p99": sig4(latency.p99),
            "avg": sig4(latency.avg),
        },
        "tcp_sent_bytes_per_s": sig4(stats.tcp_sent_bytes_per_s),
        "tcp_received_bytes_per_s": sig4(stats.tcp_received_bytes_per_s),
        "mtls_ratio": sig4(stats.mtls_ratio),
        "health": verdict.health.value,
        "health_reason": verdict.reason,
    }
    if stats.grpc_responses:
        document["grpc_responses"] = _rates(stats.grpc_responses)
    return document


def graph_to_wire(
    graph: MeshGraph, *, query_time: float, window_s: int, warnings: list[str]
) -> dict[str, Any]:
    """The API document for ``graph``.

    Health comes from ``graph.node_health``/``edge_health``; an id missing there (graph not
    assessed) reads ``unknown`` with reason ``not assessed``. ``query_time`` is given back as an
    int when it is whole. Never raises for a graph built by ``build_graph``.
    """
    node_health = graph.node_health
    edge_health = graph.edge_health
    return {
        "graph_type": graph.graph_type.value,
        "window_s": window_s,
        "query_time": int(query_time) if float(query_time).is_integer() else query_time,
        "namespaces": list(graph.namespaces),
        "nodes": [
            node_to_wire(node, node_health.get(node_id, _NOT_ASSESSED))
            for node_id, node in sorted(graph.nodes.items())
        ],
        "edges": [
            edge_to_wire(edge, edge_health.get(edge_id, _NOT_ASSESSED))
            for edge_id, edge in sorted(graph.edges.items())
        ],
        "warnings": list(warnings),
    }
