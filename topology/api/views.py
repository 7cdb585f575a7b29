"""The graph API: thin views that parse parameters, call ``topology.service`` and return JSON.

Errors (bad parameters, upstream failures) are raised, never formatted here: the one handler
in ``meshui.errors`` turns them into the JSON envelope.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meshui.openapi import error_response
from topology import service
from topology.api.params import parse_graph_request, parse_window_request
from topology.api.schema import NAMESPACES, PROMETHEUS_ERRORS, QUERY_TIME, WINDOW
from topology.graph.types import GraphType

_GRAPH_EXAMPLE = {
    "graph_type": "workload",
    "window_s": 300,
    "query_time": 1795310940,
    "namespaces": ["payments", "storefront"],
    "nodes": [
        {
            "id": "3f1c2a9b7d4e5f60",
            "kind": "workload",
            "namespace": "storefront",
            "name": "cart-v2",
            "workload": "cart-v2",
            "app": "cart",
            "version": "v2",
            "service": "cart",
            "cluster": None,
            "is_gateway": False,
            "parent": None,
            "health": "degraded",
            "health_reason": "inbound 5xx 10.0% > 0% from frontend-v1; errors originate here",
            "inbound_health": "degraded",
            "inbound_health_reason": "inbound 5xx 10.0% > 0% from frontend-v1",
            "outbound_health": "idle",
            "outbound_health_reason": None,
            "error_origin": True,
        }
    ],
    "edges": [
        {
            "id": "9a8b7c6d5e4f3a2b",
            "source": "0a1b2c3d4e5f6071",
            "target": "3f1c2a9b7d4e5f60",
            "protocol": "http",
            "request_rate": 4.0,
            "error_rate": 0.1,
            "client_error_rate": 0.0,
            "responses": {"200": 3.6, "500": 0.4},
            "grpc_responses": {},
            "flags": {"-": 4.0},
            "latency_ms": {"p50": 118.2, "p95": 442.1, "p99": 612.0, "avg": 150.3},
            "tcp_sent_bytes_per_s": None,
            "tcp_received_bytes_per_s": None,
            "mtls_ratio": 1.0,
            "health": "degraded",
        }
    ],
    "warnings": [],
}


class GraphView(APIView):
    """``GET /api/v1/graph``: the service graph over a window."""

    @extend_schema(
        operation_id="graph_read",
        summary="The service graph of the mesh over a window",
        description="Edges into or out of a selected namespace are included with both ends. Every node carries its "
        "combined `health` and each direction's, `inbound_health` (what its callers got from it) and "
        "`outbound_health` (what it got from its callees), with the same five values and a reason each; the combined "
        "reason names its direction and peer (`outbound 5xx 18.0% ≥ 10% calling ratings-v1; errors originate at "
        "ratings-v1`). `error_origin` is true where errors start: inbound requests failing while the node's own "
        "outbound calls are healthy or absent. A workload (version) of a service whose routing changed in the last "
        "hour that no longer has traffic in the window stays as an idle node without edges, with "
        "`idle_after_routing_change` = that change's id (decision 0023). Every edge carries `responses` (rate per "
        "HTTP code) and `grpc_responses` (rate per gRPC status; `{}` on non-gRPC edges).",
        parameters=[
            NAMESPACES,
            OpenApiParameter(
                "graph_type",
                OpenApiTypes.STR,
                enum=[t.value for t in GraphType],
                description="Node granularity (default workload).",
            ),
            WINDOW,
            QUERY_TIME,
            OpenApiParameter("include_idle", OpenApiTypes.BOOL, description="Keep edges without traffic."),
            OpenApiParameter(
                "inject_service_nodes",
                OpenApiTypes.BOOL,
                description="Put a service node between every caller and its destination workloads.",
            ),
            OpenApiParameter(
                "focus",
                OpenApiTypes.STR,
                pattern="^[0-9a-f]{1,64}$",
                description="Only this node's neighbourhood: the node id (a node's `id` in this graph type); a 404 "
                "`unknown_focus` when no node of the graph has it. The answer then says `focus`.",
            ),
            OpenApiParameter(
                "hops",
                {"type": "integer", "minimum": 1, "maximum": 3},
                description="With focus: how many calls deep, 1 to 3 (default 1).",
            ),
            OpenApiParameter(
                "direction",
                OpenApiTypes.STR,
                enum=["in", "out", "both"],
                description="With focus: its callers (in), its callees (out) or both (default).",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT, **PROMETHEUS_ERRORS,
                   404: error_response("the focus names no node of this graph", "unknown_focus", "focus")},
        examples=[OpenApiExample("A small graph", value=_GRAPH_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        graph_request = parse_graph_request(request.query_params.dict())
        return Response(service.read_graph(graph_request))


class NamespaceListView(APIView):
    """``GET /api/v1/namespaces``: namespaces seen in telemetry, each with its health."""

    @extend_schema(
        operation_id="namespaces_list",
        summary="Namespaces seen in the mesh's telemetry, with health",
        parameters=[WINDOW, QUERY_TIME],
        responses={200: OpenApiTypes.OBJECT, **PROMETHEUS_ERRORS},
        examples=[
            OpenApiExample(
                "Two namespaces",
                value={
                    "window_s": 300,
                    "query_time": 1795310940,
                    "namespaces": [
                        {
                            "name": "bookinfo",
                            "health": "degraded",
                            "counts": {"healthy": 5, "degraded": 1, "failing": 0, "idle": 0, "unknown": 0},
                        }
                    ],
                    "warnings": [],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        window_s, query_time = parse_window_request(request.query_params.dict())
        return Response(service.read_namespaces(window_s=window_s, query_time=query_time))
