"""graph_to_wire: the API document's shape, rounding and nulls."""

from __future__ import annotations

import json

from graph_mesh import CART1, DB, FRONT, both, buckets, duration_sum, tcp

from topology.graph.build import build_graph
from topology.graph.health import assess, default_health_rules
from topology.graph.telemetry import MeshTelemetry
from topology.graph.types import GraphOptions
from topology.graph.wire import graph_to_wire, sig4

NODE_KEYS = {
    "id",
    "kind",
    "namespace",
    "name",
    "workload",
    "app",
    "version",
    "service",
    "cluster",
    "is_gateway",
    "is_group",
    "parent",
    "health",
    "health_reason",
    "inbound_health",
    "inbound_health_reason",
    "outbound_health",
    "outbound_health_reason",
    "error_origin",
}
EDGE_KEYS = {
    "id",
    "source",
    "target",
    "protocol",
    "request_rate",
    "error_rate",
    "client_error_rate",
    "responses",
    "grpc_responses",
    "flags",
    "latency_ms",
    "tcp_sent_bytes_per_s",
    "tcp_received_bytes_per_s",
    "mtls_ratio",
    "health",
    "health_reason",
}


def document() -> dict:
    telemetry = MeshTelemetry(
        query_time=1_795_310_940.0,
        window_s=300,
        requests=[*both(FRONT, CART1, 3.6), *both(FRONT, CART1, 0.4, code="500")],
        duration_buckets=buckets("destination", FRONT, CART1, {"100": 1.0, "250": 3.0, "+Inf": 4.0}),
        duration_sum=[duration_sum("destination", FRONT, CART1, 601.2)],
        tcp_sent=[tcp("destination", CART1, DB, 1234.5678)],
    )
    graph = assess(build_graph(telemetry, GraphOptions()), default_health_rules())
    return graph_to_wire(graph, query_time=1_795_310_940.0, window_s=300, warnings=["partial"])


def test_document_has_the_contract_fields() -> None:
    doc = document()
    assert {k: doc[k] for k in ("graph_type", "window_s", "query_time", "namespaces", "warnings")} == {
        "graph_type": "workload",
        "window_s": 300,
        "query_time": 1_795_310_940,
        "namespaces": ["data", "shop"],
        "warnings": ["partial"],
    }
    assert all(set(node) == NODE_KEYS for node in doc["nodes"])
    assert all(set(edge) >= EDGE_KEYS for edge in doc["edges"])
    # gRPC statuses on gRPC edges only; every other edge says so with {}
    assert all(edge["grpc_responses"] == {} for edge in doc["edges"] if edge["protocol"] != "grpc")
    assert json.loads(json.dumps(doc)) == doc


def test_http_edge_figures() -> None:
    doc = document()
    (http,) = [e for e in doc["edges"] if e["protocol"] == "http"]
    assert http["request_rate"] == 4.0
    assert http["error_rate"] == 0.1
    assert http["responses"] == {"200": 3.6, "500": 0.4}
    assert http["flags"] == {"-": 4.0}
    # p50: rank 2 in (100, 250] -> 100 + 150 * 1/2; p95: rank 3.8 in +Inf -> 250; avg 601.2/4
    assert http["latency_ms"] == {"p50": 175.0, "p95": 250.0, "p99": 250.0, "avg": 150.3}
    assert (http["tcp_sent_bytes_per_s"], http["tcp_received_bytes_per_s"]) == (None, None)
    assert (http["health"], http["health_reason"]) == ("failing", "5xx 10.0% ≥ 10%")


def test_tcp_edge_figures_are_rounded_and_have_no_latency() -> None:
    doc = document()
    (tcp_edge,) = [e for e in doc["edges"] if e["protocol"] == "tcp"]
    assert tcp_edge["tcp_sent_bytes_per_s"] == 1235.0
    assert tcp_edge["tcp_received_bytes_per_s"] == 0.0
    assert tcp_edge["latency_ms"] is None
    assert tcp_edge["request_rate"] == 0.0
    assert tcp_edge["health"] == "healthy"


def test_sig4_keeps_four_significant_digits() -> None:
    assert [sig4(v) for v in (0.000123456, 1.23456, 98765.4, 0.0, None)] == [
        0.0001235,
        1.235,
        98770.0,
        0.0,
        None,
    ]


def test_unassessed_graph_reads_unknown_health() -> None:
    graph = build_graph(
        MeshTelemetry(query_time=5.5, window_s=60, requests=both(FRONT, CART1, 1.0)), GraphOptions()
    )
    doc = graph_to_wire(graph, query_time=5.5, window_s=60, warnings=[])
    assert doc["query_time"] == 5.5
    assert {(n["health"], n["health_reason"]) for n in doc["nodes"]} == {("unknown", "not assessed")}
