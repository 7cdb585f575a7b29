"""The OpenAPI description of the API's error answers: one envelope, one helper per status.

Documentation only: ``meshui.errors`` makes every error answer ``{"error": {"code", "message",
"field"[, "details"]}}``; views list the statuses they can answer with ``error_response`` and
the shared entries below, so ``/api/v1/schema/`` names each status an operation can give
(tests/integration/meshui/test_meshui_schemathesis.py holds the API to it).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

ERROR_ENVELOPE = inline_serializer(
    "Error",
    {"error": inline_serializer("ErrorBody", {
        "code": serializers.CharField(help_text="stable, e.g. invalid_parameter, prometheus_unavailable, "
                                                "invalid_traffic, stale_version, foreign_owner"),
        "message": serializers.CharField(help_text="for a person"),
        "field": serializers.CharField(allow_null=True, help_text="the part of the request at fault, e.g. "
                                                                  "window, namespace, weights.v3"),
        "details": serializers.DictField(required=False),
    })},
)  # fmt: skip


def error_response(description: str, code: str, field: str | None = None) -> OpenApiResponse:
    """An error answer with the envelope's schema and one example of ``code``."""
    example = {"error": {"code": code, "message": description, "field": field}}
    return OpenApiResponse(ERROR_ENVELOPE, description=description, examples=[OpenApiExample(code, example)])


BAD_PARAMETER = error_response("a bad path or query parameter, named in field", "invalid_parameter", "window")
NOT_AUTHENTICATED = error_response("not signed in (no session, no valid bearer token) and anonymous read is off",
                                   "not_authenticated")  # fmt: skip
FORBIDDEN = error_response("signed in, but the account has no meshui role", "forbidden")
# A path parameter outside its pattern or values (a name with '/', kinds=AAA) matches no URL.
NO_ENDPOINT = error_response("no endpoint has this path (a path parameter outside its pattern or values)",
                             "not_found")  # fmt: skip
DATABASE_UNAVAILABLE = "the database is busy (database_unavailable, with Retry-After)"

__all__ = [
    "BAD_PARAMETER",
    "DATABASE_UNAVAILABLE",
    "ERROR_ENVELOPE",
    "FORBIDDEN",
    "NOT_AUTHENTICATED",
    "NO_ENDPOINT",
    "error_response",
]
