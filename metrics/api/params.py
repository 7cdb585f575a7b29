"""Query-parameter parsing for the metrics API: every bad value is a 400 naming its parameter."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import serializers

from metrics.series import GROUP_BY_CHOICES, Direction, Kind
from topology.api.params import (
    DNS1123_LABEL,
    NamespaceListField,
    QueryTimeField,
    WindowField,
    WindowParamsSerializer,
    parse_duration_s,
    python_regex,
)

# Label values Istio takes from Kubernetes names and labels: at most 253 characters of these.
NAME_PATTERN_TEXT = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$"
NAME_PATTERN = python_regex(NAME_PATTERN_TEXT)
MIN_STEP_S = 1
MAX_STEP_S = 86400
DEFAULT_STEP_S = 30
MIN_RATE_INTERVAL_S = 15
MAX_RATE_INTERVAL_S = 86400
DEFAULT_RATE_INTERVAL_S = 60
DEFAULT_SERIES_WINDOW_S = 1800


def check_namespace(value: str) -> str:
    """``value`` when it is a namespace name; raises ``ValidationError`` naming ``namespace``."""
    if not DNS1123_LABEL.match(value):
        raise serializers.ValidationError({"namespace": ["is not a valid namespace name"]})
    return value


def check_name(value: str) -> str:
    """``value`` when it is a service, workload or app name; raises ``ValidationError`` naming ``name``."""
    if not NAME_PATTERN.match(value):
        raise serializers.ValidationError({"name": ["is not a valid name (letters, digits, '.', '_', '-')"]})
    return value


class DurationField(serializers.CharField):
    """A Prometheus duration between ``min_s`` and ``max_s`` seconds, as whole seconds."""

    def __init__(self, *, min_s: int, max_s: int, **kwargs: object) -> None:
        super().__init__(trim_whitespace=False, **kwargs)  # " 5m" is no duration (DURATION_PATTERN)
        self.min_s, self.max_s = min_s, max_s

    def to_internal_value(self, data: object) -> int:
        text = super().to_internal_value(data)
        try:
            seconds = parse_duration_s(text)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        if seconds != int(seconds) or not self.min_s <= seconds <= self.max_s:
            raise serializers.ValidationError(f"must be a whole number of seconds from {self.min_s}s to {self.max_s}s")
        return int(seconds)


class SeriesParamsSerializer(WindowParamsSerializer):
    """The parameters of ``…/{name}/metrics``."""

    window = WindowField(required=False, default=DEFAULT_SERIES_WINDOW_S)
    direction = serializers.ChoiceField(choices=[d.value for d in Direction], required=False, default="inbound")
    step = DurationField(min_s=MIN_STEP_S, max_s=MAX_STEP_S, required=False, default=DEFAULT_STEP_S)
    rate_interval = DurationField(min_s=MIN_RATE_INTERVAL_S, max_s=MAX_RATE_INTERVAL_S, required=False,
                                  default=DEFAULT_RATE_INTERVAL_S)  # fmt: skip
    by = serializers.ChoiceField(
        choices=list(GROUP_BY_CHOICES), required=False, default=None, allow_null=True, allow_blank=True
    )


@dataclass(frozen=True, slots=True)
class SeriesRequest:
    """A validated series request."""

    direction: Direction
    window_s: int
    step_s: int
    rate_interval_s: int
    query_time: float | None
    by: str | None


def parse_series_request(query: dict[str, str]) -> SeriesRequest:
    """A ``SeriesRequest`` from query parameters; raises DRF ``ValidationError`` naming the field."""
    serializer = SeriesParamsSerializer(data=query)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return SeriesRequest(
        direction=Direction(data["direction"]),
        window_s=data["window"],
        step_s=data["step"],
        rate_interval_s=data["rate_interval"],
        query_time=data["query_time"],
        by=data["by"] or None,
    )


class HealthParamsSerializer(WindowParamsSerializer):
    """The parameters of ``GET /api/v1/health``."""

    namespaces = NamespaceListField(required=False, default="", allow_blank=True)
    kind = serializers.ChoiceField(choices=[k.value for k in Kind], required=False, default="service")


def parse_health_request(query: dict[str, str]) -> tuple[frozenset[str] | None, Kind, int, float | None]:
    """``(namespaces, kind, window_s, query_time)``; raises ``ValidationError`` naming the field."""
    serializer = HealthParamsSerializer(data=query)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return data["namespaces"] or None, Kind(data["kind"]), data["window"], data["query_time"]


__all__ = [
    "QueryTimeField",
    "SeriesRequest",
    "check_name",
    "check_namespace",
    "parse_health_request",
    "parse_series_request",
]
