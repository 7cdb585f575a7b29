"""Query and path parameters of the traces API: every bad value becomes a 400 naming it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.validators import RegexValidator
from rest_framework import serializers

from topology.api.params import (
    DNS1123_LABEL,
    DNS1123_LABEL_BODY,
    MAX_WINDOW_S,
    QueryTimeField,
    WindowField,
    python_regex,
)
from traces.source import AppRef

TRACE_ID_PATTERN = r"^[0-9a-fA-F]{1,32}$"
TRACE_ID = python_regex(TRACE_ID_PATTERN)
# ``<namespace>/<app>``, both DNS-1123 labels.
APP_REF_PATTERN = rf"^{DNS1123_LABEL_BODY}/{DNS1123_LABEL_BODY}$"
# A workload (the controller's name, a DNS-1123 subdomain) and a version (a label value).
WORKLOAD_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
VERSION_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
DEFAULT_WINDOW_S = 3600
DEFAULT_LIMIT = 20
MIN_LIMIT = 1
MAX_LIMIT = 200
# A span longer than the longest search window is no filter anyone means (and µs must stay an int).
MAX_MIN_DURATION_MS = MAX_WINDOW_S * 1000


def _name(value: str, what: str) -> str:
    if not DNS1123_LABEL.match(value):
        raise serializers.ValidationError(
            f"{value[:80]!r} is not a valid {what} name (lower-case letters, digits and '-', at most 63 characters)"
        )
    return value


def parse_app_ref(value: str, field: str) -> AppRef:
    """``<namespace>/<app>`` → ``AppRef``; raises ``ValidationError`` naming ``field``."""
    namespace, slash, app = value.partition("/")
    try:
        if not slash:
            raise serializers.ValidationError("expected <namespace>/<app>, e.g. bookinfo/reviews")
        return AppRef(_name(namespace, "namespace"), _name(app, "app"))
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({field: exc.detail}) from None


def parse_path_app(namespace: str, service: str) -> AppRef:
    """The ``{ns}`` and ``{service}`` of a URL path; raises ``ValidationError`` naming the part."""
    for field, value, what in (("namespace", namespace, "namespace"), ("service", service, "service")):
        try:
            _name(value, what)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({field: exc.detail}) from None
    return AppRef(namespace, service)


def validate_trace_id(value: str) -> str:
    """A trace id: 1 to 32 hex digits, returned lower-case; raises ``ValidationError`` (field ``trace_id``)."""
    if not TRACE_ID.match(value):
        raise serializers.ValidationError({"trace_id": ["must be 1 to 32 hexadecimal digits"]})
    return value.lower()


class _Strict(serializers.Serializer):
    """Rejects parameters the endpoint does not have, naming the first."""

    def to_internal_value(self, data):  # type: ignore[override]
        unknown = set(data) - set(self.fields)
        if unknown:
            name = sorted(unknown)[0]
            raise serializers.ValidationError({name: ["is not a parameter of this endpoint"]})
        return super().to_internal_value(data)


class TraceSearchSerializer(_Strict):
    """Parameters shared by the trace searches."""

    window = WindowField(required=False, default=DEFAULT_WINDOW_S)
    query_time = QueryTimeField(required=False, default=None, allow_null=True)
    limit = serializers.IntegerField(required=False, default=DEFAULT_LIMIT, min_value=MIN_LIMIT, max_value=MAX_LIMIT)
    min_duration_ms = serializers.FloatField(
        required=False, default=None, allow_null=True, min_value=0, max_value=MAX_MIN_DURATION_MS
    )
    errors_only = serializers.BooleanField(required=False, default=False)


def _narrowing(pattern: str) -> serializers.CharField:
    """An optional workload or version: matched as sent (no whitespace trimmed), ``None`` when absent."""
    return serializers.CharField(
        required=False,
        default=None,
        allow_null=True,
        trim_whitespace=False,
        validators=[RegexValidator(python_regex(pattern), f"must match {pattern}")],
    )


class EdgeSearchSerializer(TraceSearchSerializer):
    """Parameters of ``GET /api/v1/edges/traces``: each end an app, narrowed to a workload or a version."""

    source = serializers.CharField()
    target = serializers.CharField()
    source_workload = _narrowing(WORKLOAD_PATTERN)
    target_workload = _narrowing(WORKLOAD_PATTERN)
    source_version = _narrowing(VERSION_PATTERN)
    target_version = _narrowing(VERSION_PATTERN)


@dataclass(frozen=True, slots=True)
class TraceSearch:
    """A validated search: the range in µs since the epoch and the filters."""

    start_us: int
    end_us: int
    limit: int
    min_duration_us: int | None
    errors_only: bool


def _search(data: dict) -> TraceSearch:
    end = data["query_time"] if data["query_time"] is not None else time.time()
    min_ms = data["min_duration_ms"]
    return TraceSearch(
        start_us=int((end - data["window"]) * 1_000_000),
        end_us=int(end * 1_000_000),
        limit=data["limit"],
        min_duration_us=int(min_ms * 1000) if min_ms else None,
        errors_only=data["errors_only"],
    )


def parse_trace_search(query: dict[str, str]) -> TraceSearch:
    """A ``TraceSearch`` from query parameters; raises ``ValidationError`` naming the field."""
    serializer = TraceSearchSerializer(data=query)
    serializer.is_valid(raise_exception=True)
    return _search(serializer.validated_data)


def parse_edge_search(query: dict[str, str]) -> tuple[AppRef, AppRef, TraceSearch]:
    """``(source, target, search)`` from query parameters; raises ``ValidationError`` naming the field."""
    serializer = EdgeSearchSerializer(data=query)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    ends = []
    for end in ("source", "target"):
        app = parse_app_ref(data[end], end)
        ends.append(AppRef(app.namespace, app.app, data[f"{end}_workload"], data[f"{end}_version"]))
    return ends[0], ends[1], _search(data)
