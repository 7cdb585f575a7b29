"""The OpenAPI description of the telemetry reads' parameters and error answers.

Documentation only, derived from the validation it describes (``topology.api.params``): each
parameter carries the pattern, bounds or values its parser enforces, so a value the schema
allows is one the API accepts. What no JSON Schema keyword can say is said in the description:
a duration's range in seconds (also in ``x-duration-seconds``) and query_time's "at most
``MAX_FUTURE_SKEW_S`` in the future".
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter

from meshui.openapi import BAD_PARAMETER, DATABASE_UNAVAILABLE, FORBIDDEN, NOT_AUTHENTICATED, error_response
from topology.api.params import (
    DNS1123_LABEL_PATTERN,
    DURATION_PATTERN,
    MAX_FUTURE_SKEW_S,
    MAX_NAMESPACES,
    MAX_WINDOW_S,
    MIN_QUERY_TIME,
    MIN_WINDOW_S,
    NAMESPACE_LIST_PATTERN,
    format_duration,
)


def duration_schema(min_s: int, max_s: int) -> dict[str, Any]:
    """A Prometheus duration (``5m``, ``1h30m``) of ``min_s`` to ``max_s`` whole seconds."""
    return {"type": "string", "pattern": DURATION_PATTERN, "x-duration-seconds": {"minimum": min_s, "maximum": max_s}}


def duration_parameter(name: str, min_s: int, max_s: int, default_s: int, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        duration_schema(min_s, max_s),
        description=f"{what}: a Prometheus duration such as 30s, 5m or 1h30m, a whole number of seconds from "
        f"{format_duration(min_s)} to {format_duration(max_s)} (default {format_duration(default_s)}).",
    )


def window_parameter(default_s: int = 300, what: str = "Rate range") -> OpenApiParameter:
    return duration_parameter("window", MIN_WINDOW_S, MAX_WINDOW_S, default_s, what)


def query_time_parameter(description: str = "End of the window in unix seconds (default now).") -> OpenApiParameter:
    return OpenApiParameter(
        "query_time",
        {"type": "number", "minimum": MIN_QUERY_TIME},
        description=f"{description} Not before 2000 nor more than {MAX_FUTURE_SKEW_S} s in the future.",
    )


def dns_label_parameter(name: str, location: str = OpenApiParameter.PATH, what: str = "") -> OpenApiParameter:
    """A DNS-1123 label (a Kubernetes namespace or service name) in the path or the query."""
    return OpenApiParameter(
        name,
        {"type": "string", "pattern": DNS1123_LABEL_PATTERN},
        location,
        required=location == OpenApiParameter.PATH,
        description=what or f"The {name}: lower-case letters, digits and '-', at most 63 characters.",
    )


WINDOW = window_parameter()
QUERY_TIME = query_time_parameter(
    "End of the window in unix seconds (default now). With it, the graph is always read from Prometheus for"
    " that time, never from the short shared cache."
)
NAMESPACES = OpenApiParameter(
    "namespaces",
    {"type": "string", "pattern": NAMESPACE_LIST_PATTERN},
    description=f"Comma-separated namespaces, at most {MAX_NAMESPACES} (default: every namespace with traffic).",
)

PROMETHEUS_ERRORS = {
    400: BAD_PARAMETER,
    401: NOT_AUTHENTICATED,
    403: FORBIDDEN,
    502: error_response("Prometheus answered with an error", "prometheus_query_error"),
    503: error_response(f"Prometheus is unreachable or not configured, or {DATABASE_UNAVAILABLE}",
                        "prometheus_unavailable"),
}  # fmt: skip
