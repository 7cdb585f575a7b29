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
from meshui.openapi import (
    BAD_PARAMETER,
    DATABASE_UNAVAILABLE,
    FORBIDDEN,
    NO_ENDPOINT,
    NOT_AUTHENTICATED,
    error_response,
)
from topology.api.schema import dns_label_parameter, query_time_parameter, window_parameter
from traces.api.params import (
    APP_REF_PATTERN,
    DEFAULT_LIMIT,
    DEFAULT_WINDOW_S,
    MAX_LIMIT,
    MAX_MIN_DURATION_MS,
    MIN_LIMIT,
    TRACE_ID_PATTERN,
    VERSION_PATTERN,
    WORKLOAD_PATTERN,
    parse_edge_search,
    parse_path_app,
    parse_trace_search,
    validate_trace_id,
)
from traces.source import edge_traces, service_traces
from traces.wire import summary_to_wire, trace_to_wire

_SEARCH_PARAMETERS = [
    window_parameter(DEFAULT_WINDOW_S, "How far back from query_time"),
    query_time_parameter("End of the range, unix seconds (default now)."),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": MIN_LIMIT, "maximum": MAX_LIMIT},
        description=f"Most traces returned, {MIN_LIMIT} to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
    ),
    OpenApiParameter(
        "min_duration_ms",
        {"type": "number", "minimum": 0, "maximum": MAX_MIN_DURATION_MS},
        description="Only traces with a span of the service this long (at most the longest window).",
    ),
    OpenApiParameter("errors_only", OpenApiTypes.BOOL, description="Only traces with an error span."),
]

_APP_REF = {"type": "string", "pattern": APP_REF_PATTERN}
_JAEGER_ERRORS = {
    400: BAD_PARAMETER,
    401: NOT_AUTHENTICATED,
    403: FORBIDDEN,
    502: error_response("Jaeger answered with an error or a body that is not its API's", "jaeger_bad_response"),
    503: error_response(f"Jaeger is unreachable or not configured, or {DATABASE_UNAVAILABLE}", "jaeger_unavailable"),
}
_PATH_ERRORS = {**_JAEGER_ERRORS, 404: NO_ENDPOINT}


class ServiceTracesView(APIView):
    """``GET /api/v1/namespaces/{ns}/services/{service}/traces``."""

    @extend_schema(
        operation_id="service_traces",
        summary="Recent traces through a service, newest first",
        parameters=[dns_label_parameter("namespace"), dns_label_parameter("service"), *_SEARCH_PARAMETERS],
        responses={200: OpenApiTypes.OBJECT, **_PATH_ERRORS},
    )
    def get(self, request: Request, namespace: str, service: str) -> Response:
        app = parse_path_app(namespace, service)
        search = parse_trace_search(request.query_params.dict())
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
    """``GET /api/v1/edges/traces?source=<ns>/<app>&target=<ns>/<app>[&source_workload=…][&target_version=…]``.

    Answers ``{"traces": [...], "matched_on": {"source": m, "target": m}}``, ``m`` being what a
    span had to share with that end: ``workload``, ``version`` or ``app``.
    """

    @extend_schema(
        operation_id="edge_traces",
        summary="Recent traces in which the source app calls the target app, newest first",
        parameters=[
            OpenApiParameter("source", _APP_REF, required=True, description="<namespace>/<app> of the caller."),
            OpenApiParameter("target", _APP_REF, required=True, description="<namespace>/<app> of the callee."),
            *(
                OpenApiParameter(
                    f"{end}_{what}",
                    {"type": "string", "pattern": pattern},
                    description=f"Only calls {'from' if end == 'source' else 'to'} this {what} of the {end} app "
                    f"(Istio's {tag} span tag); with both, a span must be of both.",
                )
                for end in ("source", "target")
                for what, pattern, tag in (
                    ("workload", WORKLOAD_PATTERN, "node_id"),
                    ("version", VERSION_PATTERN, "istio.canonical_revision"),
                )
            ),
            *_SEARCH_PARAMETERS,
        ],
        responses={200: OpenApiTypes.OBJECT, **_JAEGER_ERRORS},
    )
    def get(self, request: Request) -> Response:
        source_app, target_app, search = parse_edge_search(request.query_params.dict())
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
        return Response(
            {
                "traces": [summary_to_wire(trace) for trace in found],
                "matched_on": {"source": source_app.matched_on, "target": target_app.matched_on},
            }
        )


class TraceDetailView(APIView):
    """``GET /api/v1/traces/{trace_id}``."""

    @extend_schema(
        operation_id="trace_read",
        summary="One trace: spans with parents and tags, and the service-to-service calls",
        parameters=[
            OpenApiParameter("trace_id", {"type": "string", "pattern": TRACE_ID_PATTERN}, OpenApiParameter.PATH,
                             required=True, description="1 to 32 hexadecimal digits."),
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            **_JAEGER_ERRORS,
            404: error_response("no trace with this id (trace_not_found), or a path no endpoint has (not_found)",
                                "trace_not_found", "trace_id"),
        },
    )
    def get(self, request: Request, trace_id: str) -> Response:
        trace = sources.trace_source().get_trace(validate_trace_id(trace_id))
        return Response(trace_to_wire(trace))
