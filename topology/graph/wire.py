"""The graph as the API's JSON document (plain dicts and lists, ready for ``json.dumps``).

Numbers are rounded to 4 significant digits: the figures are window averages of sampled
counters, so more digits carry no information and only bloat a payload of thousands of edges.
Nodes and edges are listed by id so the same graph always serialises to the same bytes.

Speed: a 10k-edge graph is ~150k numbers, so the rounding skips the string round trip for
``0.0`` (most error figures), the edges are read straight from the columns of ``EdgeTable``
(already in id order) and each outcome-key set is sorted once, not once per edge; the output is
the same as reading ``Edge`` views one by one.
"""

from __future__ import annotations

from typing import Any

from topology.graph.types import (
    NO_LATENCY,
    NO_MTLS,
    NO_P50,
    NO_P95,
    NO_P99,
    NO_TCP,
    EdgeTable,
    Health,
    MeshGraph,
    Node,
    OutcomeKeys,
    Verdict,
    error_share,
)

_NOT_ASSESSED = Verdict(Health.UNKNOWN, "not assessed")


def sig4(value: float | None) -> float | None:
    """``value`` rounded to 4 significant digits (``None`` stays ``None``)."""
    if value is None:
        return None
    if value == 0.0:
        return 0.0
    return float(f"{value:.4g}")


def _sorted_positions(keys: tuple[str, ...], first: int) -> tuple[tuple[str, int], ...]:
    """``(key, position)`` pairs of an outcome map in key order; positions count from ``first``."""
    return tuple(sorted((key, first + index) for index, key in enumerate(keys)))


def _outcome_layout(keys: OutcomeKeys) -> tuple[tuple[tuple[str, int], ...], ...]:
    """Where each of the three outcome maps of ``keys`` reads its values, keys sorted."""
    grpc_start = len(keys.responses)
    flags_start = grpc_start + len(keys.grpc_responses)
    return (
        _sorted_positions(keys.responses, 0),
        _sorted_positions(keys.grpc_responses, grpc_start),
        _sorted_positions(keys.flags, flags_start),
    )


def node_to_wire(
    node: Node,
    verdict: Verdict,
    inbound: Verdict = _NOT_ASSESSED,
    outbound: Verdict = _NOT_ASSESSED,
    error_origin: bool = False,
) -> dict[str, Any]:
    """One node of the API document: its combined health, each direction's, and whether errors
    originate at it."""
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
        "inbound_health": inbound.health.value,
        "inbound_health_reason": inbound.reason,
        "outbound_health": outbound.health.value,
        "outbound_health_reason": outbound.reason,
        "error_origin": error_origin,
    }


def _edges_to_wire(table: EdgeTable, edge_health: dict[str, Verdict]) -> list[dict[str, Any]]:
    """The API document's edges, in row (id) order, read straight from the table's columns;
    ``latency_ms`` is ``None`` without duration data."""
    layouts: dict[int, tuple[tuple[tuple[str, int], ...], ...]] = {}
    values = table.outcome_values
    health_of = edge_health.get
    documents = []
    append = documents.append
    for (
        edge_id,
        source,
        target,
        protocol,
        rate,
        http_5xx,
        http_4xx,
        grpc_error,
        no_response,
        p50,
        p95,
        p99,
        avg,
        sent,
        received,
        mtls,
        absent,
        keys,
        start,
    ) in zip(
        table.ids,
        table.sources,
        table.targets,
        table.protocols,
        table.request_rate,
        table.http_5xx_rate,
        table.http_4xx_rate,
        table.grpc_error_rate,
        table.no_response_rate,
        table.p50,
        table.p95,
        table.p99,
        table.avg,
        table.tcp_sent,
        table.tcp_received,
        table.mtls_ratio,
        table.absent,
        table.outcome_keys,
        table.outcome_start,
        strict=True,
    ):
        if rate == 0.0:
            error_rate = client_error_rate = 0.0
        else:
            error_rate = sig4(error_share(rate, http_5xx, no_response, grpc_error))
            client_error_rate = sig4(min(1.0, http_4xx / rate) if rate > 0.0 else 0.0)
            rate = float(f"{rate:.4g}")
        layout = layouts.get(id(keys))
        if layout is None:
            layout = layouts[id(keys)] = _outcome_layout(keys)
        responses, grpc_responses, flags = layout
        verdict = health_of(edge_id, _NOT_ASSESSED)
        document = {
            "id": edge_id,
            "source": source,
            "target": target,
            "protocol": protocol,
            "request_rate": rate,
            "error_rate": error_rate,
            "client_error_rate": client_error_rate,
            "responses": {key: float(f"{values[start + at]:.4g}") for key, at in responses},
            "flags": {key: float(f"{values[start + at]:.4g}") for key, at in flags},
            "latency_ms": None
            if absent & NO_LATENCY
            else {
                "p50": None if absent & NO_P50 else sig4(p50),
                "p95": None if absent & NO_P95 else sig4(p95),
                "p99": None if absent & NO_P99 else sig4(p99),
                "avg": sig4(avg),
            },
            "tcp_sent_bytes_per_s": None if absent & NO_TCP else sig4(sent),
            "tcp_received_bytes_per_s": None if absent & NO_TCP else sig4(received),
            "mtls_ratio": None if absent & NO_MTLS else sig4(mtls),
            "grpc_responses": {key: float(f"{values[start + at]:.4g}") for key, at in grpc_responses},
            "health": verdict.health.value,
            "health_reason": verdict.reason,
        }
        append(document)
    return documents


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
    inbound, outbound, origins = graph.inbound_health, graph.outbound_health, graph.error_origins
    return {
        "graph_type": graph.graph_type.value,
        "window_s": window_s,
        "query_time": int(query_time) if float(query_time).is_integer() else query_time,
        "namespaces": list(graph.namespaces),
        "nodes": [
            node_to_wire(node, node_health.get(node_id, _NOT_ASSESSED), inbound.get(node_id, _NOT_ASSESSED),
                         outbound.get(node_id, _NOT_ASSESSED), node_id in origins)
            for node_id, node in sorted(graph.nodes.items())
        ],
        "edges": _edges_to_wire(graph.edges, edge_health),
        "warnings": list(warnings),
    }
