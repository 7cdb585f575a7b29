"""The metrics API: thin views over the shared telemetry reads and the pure ``metrics.series``.

List and health figures come from the same graph the graph API builds (``topology.service``'s
shared read, the graph builder, the health rules), so they agree with the graph by
construction. Range series come from ``sources.range_source()`` (Prometheus' ``query_range`` or
the demo mesh) and go through the graph builder instant by instant. Errors are raised, never formatted:
``meshui.errors`` turns them into the envelope (503 ``prometheus_unavailable``, 400 naming the
parameter, 404 ``not_found``).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import sources
from meshui.errors import MeshuiError
from meshui.openapi import NO_ENDPOINT, error_response
from metrics.api.params import (
    DEFAULT_RATE_INTERVAL_S,
    DEFAULT_SERIES_WINDOW_S,
    DEFAULT_STEP_S,
    MAX_RATE_INTERVAL_S,
    MAX_STEP_S,
    MIN_RATE_INTERVAL_S,
    MIN_STEP_S,
    NAME_PATTERN_TEXT,
    check_name,
    check_namespace,
    parse_health_request,
    parse_series_request,
)
from metrics.series import (
    GRAPH_TYPE_OF,
    GROUP_BY_CHOICES,
    MAX_POINTS,
    NODE_KIND_OF,
    Direction,
    Kind,
    Target,
    health_items,
    list_items,
    namespace_inbound,
    neighbours,
    plan_range,
    service_apps,
    service_workloads,
    shape_series,
    step_figures,
)
from topology import service
from topology.api.params import parse_window_request
from topology.api.schema import (
    NAMESPACES,
    PROMETHEUS_ERRORS,
    dns_label_parameter,
    duration_parameter,
    query_time_parameter,
    window_parameter,
)
from topology.graph.build import build_graph
from topology.graph.health import assess
from topology.graph.types import GraphOptions, GraphType, MeshGraph
from topology.graph.wire import sig4

KINDS = {"services": Kind.SERVICE, "workloads": Kind.WORKLOAD, "apps": Kind.APP}
OVERVIEW_WINDOW_S = 1800
OVERVIEW_STEP_S = 60

_NAMESPACE = dns_label_parameter("namespace")
_KINDS = OpenApiParameter("kinds", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(KINDS))
_NAME = OpenApiParameter(
    "name",
    {"type": "string", "pattern": NAME_PATTERN_TEXT},
    OpenApiParameter.PATH,
    required=True,
    description="Service, workload or app name: letters, digits, '.', '_' and '-', at most 253 characters.",
)
_PATH = [_NAMESPACE, _KINDS]
_WINDOW_PARAMETERS = [window_parameter(), query_time_parameter()]
_NOT_FOUND = error_response("nothing of that kind and name has telemetry in the window, or a path no endpoint has",
                            "not_found")  # fmt: skip
_PATH_ERRORS = {**PROMETHEUS_ERRORS, 404: NO_ENDPOINT}


def _graph(
    kind: Kind, namespaces: frozenset[str] | None, window_s: int, query_time: float | None
) -> tuple[MeshGraph, Any]:
    telemetry = service.read_telemetry(window_s=window_s, query_time=query_time, namespaces=namespaces)
    options = GraphOptions(graph_type=GRAPH_TYPE_OF[kind], namespaces=namespaces)
    return assess(build_graph(telemetry, options), service.health_rules()), telemetry


def _kind(plural: str) -> Kind:
    return KINDS[plural]


def _query_time(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class EntityListView(APIView):
    """``GET /api/v1/namespaces/{ns}/{services|workloads|apps}``: each with health and figures."""

    @extend_schema(
        operation_id="metrics_entity_list",
        summary="Services, workloads or apps of a namespace with health, rate, errors and p95",
        parameters=[*_PATH, *_WINDOW_PARAMETERS],
        responses={200: OpenApiTypes.OBJECT, **_PATH_ERRORS},
    )
    def get(self, request: Request, namespace: str, kinds: str) -> Response:
        check_namespace(namespace)
        window_s, query_time = parse_window_request(request.query_params.dict())
        kind = _kind(kinds)
        graph, telemetry = _graph(kind, frozenset({namespace}), window_s, query_time)
        return Response(
            {
                "namespace": namespace,
                "kind": kind.value,
                "window_s": telemetry.window_s,
                "query_time": _query_time(telemetry.query_time),
                "items": list_items(graph, telemetry, kind, namespace),
                "warnings": list(telemetry.warnings),
            }
        )


class EntityDetailView(APIView):
    """``GET /api/v1/namespaces/{ns}/{kinds}/{name}``: identity, health with reason, neighbours."""

    @extend_schema(
        operation_id="metrics_entity_detail",
        summary="One service, workload or app",
        parameters=[*_PATH, _NAME, *_WINDOW_PARAMETERS],
        responses={200: OpenApiTypes.OBJECT, **PROMETHEUS_ERRORS, 404: _NOT_FOUND},
    )
    def get(self, request: Request, namespace: str, kinds: str, name: str) -> Response:
        check_namespace(namespace)
        check_name(name)
        window_s, query_time = parse_window_request(request.query_params.dict())
        kind = _kind(kinds)
        graph, telemetry = _graph(kind, frozenset({namespace}), window_s, query_time)
        item = next((i for i in list_items(graph, telemetry, kind, namespace) if i["name"] == name), None)
        node_id = next(
            (
                node_id
                for node_id, node in graph.nodes.items()
                if node.kind == NODE_KIND_OF[kind]
                and node.namespace == namespace
                and node.name == name
                and not node.is_group
            ),
            None,
        )
        if item is None or node_id is None:
            raise MeshuiError(
                "not_found", f"no {kind.value} {name!r} in namespace {namespace!r} has telemetry in the window", 404
            )
        node = graph.nodes[node_id]
        target = Target(kind, namespace, name)
        workloads = sorted(service_workloads(telemetry, target)) if kind == Kind.SERVICE else []
        app = node.app
        if app is None and kind == Kind.SERVICE:
            # A service node carries no app label; its workloads' canonical service names it.
            apps = sorted(service_apps(telemetry, target))
            app = ", ".join(apps) or None
        return Response(
            {
                "namespace": namespace,
                "kind": kind.value,
                "name": name,
                "window_s": telemetry.window_s,
                "query_time": _query_time(telemetry.query_time),
                **{
                    key: item[key]
                    for key in ("health", "health_reason", "inbound_health", "inbound_health_reason",
                                "outbound_health", "outbound_health_reason", "error_origin", "request_rate",
                                "error_rate", "latency_ms", "versions")
                },
                "app": app,
                "cluster": node.cluster,
                "workloads": workloads,
                "neighbours": neighbours(graph, node_id),
                "warnings": list(telemetry.warnings),
            }
        )


class EntitySeriesView(APIView):
    """``GET /api/v1/namespaces/{ns}/{kinds}/{name}/metrics``: range series of one direction."""

    @extend_schema(
        operation_id="metrics_entity_series",
        summary="Request, error, latency, TCP and request/response size series of a service, workload or app",
        parameters=[
            *_PATH,
            _NAME,
            OpenApiParameter("direction", OpenApiTypes.STR, enum=[d.value for d in Direction]),
            window_parameter(DEFAULT_SERIES_WINDOW_S, "Span of the chart"),
            duration_parameter("step", MIN_STEP_S, MAX_STEP_S, DEFAULT_STEP_S,
                               f"Resolution (raised to keep ≤ {MAX_POINTS:,} points)"),
            duration_parameter("rate_interval", MIN_RATE_INTERVAL_S, MAX_RATE_INTERVAL_S, DEFAULT_RATE_INTERVAL_S,
                               "Range of each rate"),
            query_time_parameter("End of the chart in unix seconds (default now)."),
            OpenApiParameter("by", OpenApiTypes.STR, enum=["", *GROUP_BY_CHOICES],
                             description="Split the series by this label (empty: no split)."),
        ],
        responses={200: OpenApiTypes.OBJECT, **_PATH_ERRORS},
    )
    def get(self, request: Request, namespace: str, kinds: str, name: str) -> Response:
        check_namespace(namespace)
        check_name(name)
        params = parse_series_request(request.query_params.dict())
        source = sources.range_source()
        end = float(int(time.time())) if params.query_time is None else params.query_time
        plan = plan_range(
            end=end,
            window_s=params.window_s,
            step_s=params.step_s,
            rate_interval_s=params.rate_interval_s,
            max_points=min(MAX_POINTS, source.max_points),
        )
        telemetries = source.read_range(plan, namespaces=frozenset({namespace}))
        target = Target(_kind(kinds), namespace, name)
        per_step = [step_figures(t, target, params.direction, params.by) for t in telemetries]
        return Response(
            {
                "namespace": namespace,
                "kind": target.kind.value,
                "name": name,
                "direction": params.direction.value,
                "by": params.by,
                "query_time": _query_time(end),
                "window_s": plan.window_s,
                "step_s": plan.step_s,
                "rate_interval_s": plan.rate_interval_s,
                "series": shape_series(plan.timestamps, per_step),
                "warnings": telemetries[-1].warnings if telemetries else [],
            }
        )


class HealthView(APIView):
    """``GET /api/v1/health?namespaces=&kind=``: health of every service, workload or app."""

    @extend_schema(
        operation_id="metrics_health",
        summary="Health of every service, workload or app",
        parameters=[
            NAMESPACES,
            OpenApiParameter("kind", OpenApiTypes.STR, enum=[k.value for k in Kind],
                             description="What to assess (default service)."),
            *_WINDOW_PARAMETERS,
        ],
        responses={200: OpenApiTypes.OBJECT, **PROMETHEUS_ERRORS},
    )
    def get(self, request: Request) -> Response:
        namespaces, kind, window_s, query_time = parse_health_request(request.query_params.dict())
        graph, telemetry = _graph(kind, namespaces, window_s, query_time)
        items = health_items(graph, kind)
        if namespaces is not None:
            items = [item for item in items if item["namespace"] in namespaces]
        return Response(
            {
                "kind": kind.value,
                "window_s": telemetry.window_s,
                "query_time": _query_time(telemetry.query_time),
                "items": items,
                "namespaces": service.namespace_health(graph),
                "warnings": list(telemetry.warnings),
            }
        )


class OverviewView(APIView):
    """``GET /api/v1/overview``: per namespace, health counts, inbound rate now and over 30 minutes."""

    @extend_schema(
        operation_id="metrics_overview",
        summary="Namespaces with health and inbound traffic",
        parameters=_WINDOW_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT, **PROMETHEUS_ERRORS},
    )
    def get(self, request: Request) -> Response:
        window_s, query_time = parse_window_request(request.query_params.dict())
        summary = service.read_namespaces(window_s=window_s, query_time=query_time)
        graph, _ = _graph(Kind.WORKLOAD, None, window_s, query_time)
        now = namespace_inbound(graph)
        source = sources.range_source()
        end = float(int(time.time())) if query_time is None else query_time
        plan = plan_range(end=end, window_s=OVERVIEW_WINDOW_S, step_s=OVERVIEW_STEP_S, rate_interval_s=OVERVIEW_STEP_S)
        sparks: dict[str, list] = {}
        for t, telemetry in zip(
            plan.timestamps, source.read_range(plan, namespaces=None, fields=("requests",)), strict=True
        ):
            per_ns = namespace_inbound(build_graph(telemetry, GraphOptions(graph_type=GraphType.WORKLOAD)))
            for entry in summary["namespaces"]:
                totals = per_ns.get(entry["name"])
                sparks.setdefault(entry["name"], []).append([int(t), sig4(totals.request_rate if totals else 0.0)])
        namespaces = []
        for entry in summary["namespaces"]:
            totals = now.get(entry["name"])
            namespaces.append(
                {
                    **entry,
                    "request_rate": sig4(totals.request_rate if totals else 0.0),
                    "error_rate": sig4(totals.error_rate) if totals else None,
                    "inbound_rate": sparks.get(entry["name"], []),
                }
            )
        return Response(
            {
                "window_s": summary["window_s"],
                "query_time": _query_time(summary["query_time"]),
                "sparkline": {"window_s": OVERVIEW_WINDOW_S, "step_s": plan.step_s},
                "namespaces": namespaces,
                "grafana_url": settings.GRAFANA_URL or None,
                "warnings": summary["warnings"],
            }
        )
