"""The traces API: thin views that parse parameters, ask the trace source, return JSON.

Errors are raised, never formatted here: ``meshui.errors`` turns them into the envelope
(``jaeger_unavailable`` 503, ``jaeger_not_configured`` 503, ``jaeger_bad_response`` 502,
``trace_not_found`` 404, ``invalid_parameter`` 400 naming the field).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import sources
from traces.api.params import parse_edge_search, parse_path_app, parse_trace_search, validate_trace_id
from traces.source import edge_traces, service_traces
from traces.wire import summary_to_wire, trace_to_wire

_SEARCH_PARAMETERS = [
    OpenApiParameter("window", OpenApiTypes.STR, description="How far back from query_time, 1m to 7d (default 1h)."),
    OpenApiParameter("query_time", OpenApiTypes.NUMBER, description="End of the range, unix seconds (default now)."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Most traces returned, 1 to 200 (default 20)."),
    OpenApiParameter(
        "min_duration_ms", OpenApiTypes.NUMBER, description="Only traces with a span of the service this long."
    ),
    OpenApiParameter("errors_only", OpenApiTypes.BOOL, description="Only traces with an error span."),
]


def _query(request: Request) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items() if value != ""}


class ServiceTracesView(APIView):
    """``GET /api/v1/namespaces/{ns}/services/{service}/traces``."""

    @extend_schema(
        operation_id="service_traces",
        summary="Recent traces through a service, newest first",
        parameters=_SEARCH_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, namespace: str, service: str) -> Response:
        app = parse_path_app(namespace, service)
        search = parse_trace_search(_query(request))
        found = service_traces(
            sources.trace_source(),
            app,
            start_us=search.start_us,
            end_us=search.end_us,
            limit=search.limit,
            min_duration_us=search.min_duration_us,
            errors_only=search.errors_only,
        )
        return Response({"traces": [summary_to_wire(trace) for trace in found]})


class EdgeTracesView(APIView):
    """``GET /api/v1/edges/traces?source=<ns>/<app>&target=<ns>/<app>``."""

    @extend_schema(
        operation_id="edge_traces",
        summary="Recent traces in which the source app calls the target app, newest first",
        parameters=[
            OpenApiParameter("source", OpenApiTypes.STR, required=True, description="<namespace>/<app> of the caller."),
            OpenApiParameter("target", OpenApiTypes.STR, required=True, description="<namespace>/<app> of the callee."),
            *_SEARCH_PARAMETERS,
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        source_app, target_app, search = parse_edge_search(_query(request))
        found = edge_traces(
            sources.trace_source(),
            source_app,
            target_app,
            start_us=search.start_us,
            end_us=search.end_us,
            limit=search.limit,
            min_duration_us=search.min_duration_us,
            errors_only=search.errors_only,
        )
        return Response({"traces": [summary_to_wire(trace) for trace in found]})


class TraceDetailView(APIView):
    """``GET /api/v1/traces/{trace_id}``."""

    @extend_schema(
        operation_id="trace_read",
        summary="One trace: spans with parents and tags, and the service-to-service calls",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, trace_id: str) -> Response:
        trace = sources.trace_source().get_trace(validate_trace_id(trace_id))
        return Response(trace_to_wire(trace))
