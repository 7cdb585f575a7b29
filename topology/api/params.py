"""Query-parameter parsing for the graph API: every bad value becomes a 400 naming its parameter."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from rest_framework import serializers

from topology.graph.focus import DIRECTIONS, MAX_HOPS, Direction
from topology.graph.types import GraphType

# Patterns are written once, in the dialect OpenAPI documents (ECMA-262: ``$`` is the end, ``\d``
# is ASCII); ``python_regex`` compiles them so Python means the same (its ``$`` also matches
# before a final newline, its ``\d`` matches every script's digits).
DNS1123_LABEL_BODY = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS1123_LABEL_PATTERN = rf"^{DNS1123_LABEL_BODY}$"
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_PATTERN = rf"^([0-9]+({'|'.join(_UNIT_SECONDS)}))+$"
_DURATION_PART = re.compile(rf"([0-9]+)({'|'.join(_UNIT_SECONDS)})")
MAX_NAMESPACES = 200
_NAMESPACE_ITEM = rf" *({DNS1123_LABEL_BODY})? *"
# Comma-separated names, blanks around them and empty items allowed, at most 200 items.
NAMESPACE_LIST_PATTERN = rf"^{_NAMESPACE_ITEM}(,{_NAMESPACE_ITEM}){{0,{MAX_NAMESPACES - 1}}}$"

MIN_WINDOW_S = 60
MAX_WINDOW_S = 7 * 86400
MIN_QUERY_TIME = 946684800  # 2000-01-01
# A query_time a little in the future is clock skew; far in the future is a mistake.
MAX_FUTURE_SKEW_S = 300


def python_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` (an OpenAPI ``^…$`` pattern) compiled for Python: ASCII digits, ``$`` only at the end."""
    return re.compile(pattern.removesuffix("$") + r"\Z" if pattern.endswith("$") else pattern, re.ASCII)


DNS1123_LABEL = python_regex(DNS1123_LABEL_PATTERN)
_DURATION = python_regex(DURATION_PATTERN)


def parse_duration_s(text: str) -> float:
    """Seconds in a Prometheus duration such as ``5m``, ``1h30m`` or ``7d``.

    Raises ``ValueError`` when ``text`` is not a Prometheus duration.
    """
    if not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m, 1h or 7d")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def format_duration(seconds: int) -> str:
    """The shortest Prometheus duration for a whole number of seconds (``300`` → ``5m``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class WindowField(serializers.CharField):
    """A Prometheus duration between 1m and 7d, returned as whole seconds."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(trim_whitespace=False, **kwargs)  # " 5m" is no duration (DURATION_PATTERN)

    def to_internal_value(self, data: object) -> int:
        text = super().to_internal_value(data)
        try:
            seconds = parse_duration_s(text)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        if seconds != int(seconds):
            raise serializers.ValidationError("must be a whole number of seconds")
        if not MIN_WINDOW_S <= seconds <= MAX_WINDOW_S:
            raise serializers.ValidationError("must be between 1m and 7d")
        return int(seconds)


class NamespaceListField(serializers.CharField):
    """A comma-separated list of Kubernetes namespace names (DNS-1123 labels): exactly what
    ``NAMESPACE_LIST_PATTERN`` says (tests/unit/meshui/test_meshui_openapi.py compares them)."""

    def __init__(self, **kwargs: object) -> None:
        # Blanks around names are spaces only: the documented pattern says exactly what passes.
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: object) -> frozenset[str] | None:
        text = super().to_internal_value(data)
        items = text.split(",")
        if len(items) > MAX_NAMESPACES:
            raise serializers.ValidationError(f"at most {MAX_NAMESPACES} namespaces")
        for item in items:
            if item.strip(" ") and not DNS1123_LABEL.match(item.strip(" ")):
                raise serializers.ValidationError(
                    f"{item[:80]!r} is not a valid namespace name (lower-case letters, digits and '-',"
                    " at most 63 characters)"
                )
        return frozenset(item.strip(" ") for item in items if item.strip(" ")) or None


class QueryTimeField(serializers.FloatField):
    """Unix seconds, not before 2000 nor more than a few minutes in the future."""

    def to_internal_value(self, data: object) -> float:
        value = super().to_internal_value(data)
        if value != value or value < MIN_QUERY_TIME:
            raise serializers.ValidationError("must be unix seconds after the year 2000")
        if value > time.time() + MAX_FUTURE_SKEW_S:
            raise serializers.ValidationError("is in the future")
        return value


class WindowParamsSerializer(serializers.Serializer):
    """``window`` and ``query_time``: shared by every read of telemetry over a window."""

    window = WindowField(required=False, default=300)
    query_time = QueryTimeField(required=False, default=None, allow_null=True)

    def to_internal_value(self, data):  # type: ignore[override]
        unknown = set(data) - set(self.fields)
        if unknown:
            name = sorted(unknown)[0]
            raise serializers.ValidationError({name: ["is not a parameter of this endpoint"]})
        return super().to_internal_value(data)


class GraphParamsSerializer(WindowParamsSerializer):
    """The parameters of ``GET /api/v1/graph``."""

    namespaces = NamespaceListField(required=False, default="", allow_blank=True)
    graph_type = serializers.ChoiceField(
        choices=[t.value for t in GraphType], required=False, default=GraphType.WORKLOAD.value
    )
    include_idle = serializers.BooleanField(required=False, default=False)
    inject_service_nodes = serializers.BooleanField(required=False, default=False)
    focus = serializers.RegexField(r"^[0-9a-f]{1,64}$", required=False, default=None, allow_null=True,
                                   error_messages={"invalid": "must be a node id of this graph"})  # fmt: skip
    hops = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_HOPS)
    direction = serializers.ChoiceField(choices=list(DIRECTIONS), required=False, default="both")


@dataclass(frozen=True, slots=True)
class GraphRequest:
    """A validated graph request."""

    graph_type: GraphType
    namespaces: frozenset[str] | None
    window_s: int
    query_time: float | None
    include_idle: bool
    inject_service_nodes: bool
    # Focus (issue 14): only the neighbourhood of this node id, ``hops`` calls deep that way.
    focus: str | None = None
    hops: int = 1
    direction: Direction = "both"


def parse_graph_request(query: dict[str, str]) -> GraphRequest:
    """A ``GraphRequest`` from query parameters; raises DRF ``ValidationError`` naming the field."""
    serializer = GraphParamsSerializer(data=query)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return GraphRequest(
        graph_type=GraphType(data["graph_type"]),
        namespaces=data["namespaces"] if data["namespaces"] else None,
        window_s=data["window"],
        query_time=data["query_time"],
        include_idle=data["include_idle"],
        inject_service_nodes=data["inject_service_nodes"],
        focus=data["focus"],
        hops=data["hops"],
        direction=data["direction"],
    )


def parse_window_request(query: dict[str, str]) -> tuple[int, float | None]:
    """``(window_s, query_time)`` from query parameters; raises ``ValidationError`` naming the field."""
    serializer = WindowParamsSerializer(data=query)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["window"], serializer.validated_data["query_time"]
