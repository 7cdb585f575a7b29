"""The traffic model of one service, and the API's JSON ⇄ model conversion (pure: no Django).

A ``TrafficSpec`` is what meshui manages for one Kubernetes service (``namespace``/``service``,
host ``<service>.<namespace>.svc.cluster.local``): the subsets, the default route's weights per
subset, ordered match routes, the default route's fault, timeout and retries, and the
DestinationRule's circuit breaker. ``render.py`` writes it into Istio resources and
``parse.py`` reads it back from them.

Every check on a value the API receives lives here and raises ``SpecError`` naming the field
(``weights.v1``, ``routes[0].match[0].headers``, ``fault.abort.percent`` ...), so a 400 always
says which part of the request is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

DNS1123_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"  # as OpenAPI documents it (ECMA-262)
# ``\Z``, not ``$``: Python's ``$`` also matches before a final newline ("bookinfo\n").
DNS1123_LABEL = re.compile(DNS1123_LABEL_PATTERN.removesuffix("$") + r"\Z")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(h|m|s|ms|us|ns)$")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
# Istio's own bound for route timeouts and delays is days; an operator's change beyond an hour
# is a typo far more often than an intent.
MAX_DURATION_S = 3600.0
MIN_DURATION_S = 0.001
MAX_RETRIES = 100
MAX_MATCH_ROUTES = 50
# Fields of an Istio HTTPMatchRequest meshui accepts in a match route.
MATCH_KEYS = frozenset(
    {"headers", "uri", "method", "scheme", "authority", "queryParams", "withoutHeaders", "ignoreUriCase", "port",
     "sourceLabels", "sourceNamespace", "gateways"}
)  # fmt: skip
STRING_MATCH_KEYS = frozenset({"exact", "prefix", "regex"})
PATCH_FIELDS = ("weights", "routes", "fault", "timeout", "retries", "circuit_breaker")
CIRCUIT_BREAKER_INTS = (
    "max_connections", "http1_max_pending_requests", "http2_max_requests", "max_requests_per_connection",
    "max_retries", "consecutive_5xx_errors", "max_ejection_percent",
)  # fmt: skip
CIRCUIT_BREAKER_DURATIONS = ("interval", "base_ejection_time")


class SpecError(ValueError):
    """A value of the traffic model is invalid; ``field`` is its path in the API's JSON."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Subset:
    """A DestinationRule subset: a name and the pod labels it selects."""

    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class MatchRoute:
    """A route taken by requests matching any of ``match`` (Istio HTTPMatchRequest objects)."""

    match: tuple[Mapping[str, Any], ...]
    weights: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Abort:
    http_status: int
    percent: float


@dataclass(frozen=True, slots=True)
class Delay:
    fixed_delay: str
    percent: float


@dataclass(frozen=True, slots=True)
class Fault:
    abort: Abort | None = None
    delay: Delay | None = None


@dataclass(frozen=True, slots=True)
class Retries:
    attempts: int
    per_try_timeout: str | None = None
    retry_on: str | None = None


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """DestinationRule ``trafficPolicy.connectionPool`` and ``outlierDetection`` settings (all optional)."""

    max_connections: int | None = None
    http1_max_pending_requests: int | None = None
    http2_max_requests: int | None = None
    max_requests_per_connection: int | None = None
    max_retries: int | None = None
    consecutive_5xx_errors: int | None = None
    interval: str | None = None
    base_ejection_time: str | None = None
    max_ejection_percent: int | None = None


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    """Everything meshui manages for one service. ``weights`` is ``{}`` when there is no routing."""

    namespace: str
    service: str
    subsets: tuple[Subset, ...] = ()
    weights: Mapping[str, int] = field(default_factory=dict)
    routes: tuple[MatchRoute, ...] = ()
    fault: Fault | None = None
    timeout: str | None = None
    retries: Retries | None = None
    circuit_breaker: CircuitBreaker | None = None

    @property
    def host(self) -> str:
        return service_host(self.namespace, self.service)

    def subset_names(self) -> list[str]:
        return [subset.name for subset in self.subsets]


def service_host(namespace: str, service: str, domain: str = "cluster.local") -> str:
    """The fully qualified host of a Kubernetes service."""
    return f"{service}.{namespace}.svc.{domain}"


def duration_seconds(text: str) -> float:
    """Seconds in an Istio (protobuf) duration such as ``2s``, ``0.5s`` or ``100ms``.

    Raises ``ValueError`` when ``text`` is not such a duration.
    """
    found = _DURATION.match(text) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"{str(text)[:40]!r} is not a duration such as 2s, 500ms or 1m")
    return float(found.group(1)) * _DURATION_UNITS[found.group(2)]


# --- checks --------------------------------------------------------------------------------


def _check_duration(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise SpecError(name, "must be a duration string such as 2s or 500ms")
    try:
        seconds = duration_seconds(value)
    except ValueError as error:
        raise SpecError(name, str(error)) from None
    if not MIN_DURATION_S <= seconds <= MAX_DURATION_S:
        raise SpecError(name, "must be between 1ms and 1h")
    return value


def _check_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(name, "must be an integer")
    if not low <= value <= high:
        raise SpecError(name, f"must be between {low} and {high}")
    return value


def _check_percent(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(name, "must be a number")
    if not 0 <= value <= 100:
        raise SpecError(name, "must be between 0 and 100")
    return float(value)


def _check_object(value: Any, name: str, allowed: tuple[str, ...] | frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(name, "must be an object")
    for key in value:
        if key not in allowed:
            raise SpecError(f"{name}.{key}", f"is not a field of {name.rsplit('.', 1)[-1]}")
    return value


def check_name(value: Any, name: str) -> str:
    """``value`` if it is a DNS-1123 label, else ``SpecError`` naming ``name``."""
    if not isinstance(value, str) or not DNS1123_LABEL.match(value):
        raise SpecError(name, "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)")
    return value


def parse_weights(value: Any, name: str, subsets: list[str]) -> dict[str, int]:
    """Weights per subset: integers 0-100 summing to 100, every subset existing."""
    if not isinstance(value, dict):
        raise SpecError(name, "must be an object of subset name → integer weight")
    if not value:
        raise SpecError(name, "must name at least one subset (use null to remove the routing)")
    weights: dict[str, int] = {}
    for subset, weight in value.items():
        check_name(subset, f"{name}.{subset}")
        if subset not in subsets:
            known = ", ".join(subsets) or "none"
            raise SpecError(f"{name}.{subset}", f"subset {subset!r} does not exist (subsets: {known})")
        weights[subset] = _check_int(weight, f"{name}.{subset}", 0, 100)
    if sum(weights.values()) != 100:
        raise SpecError(name, f"weights must sum to 100, not {sum(weights.values())}")
    return weights


def _parse_string_match(value: Any, name: str) -> dict[str, str]:
    _check_object(value, name, STRING_MATCH_KEYS)
    if len(value) != 1:
        raise SpecError(name, "must have exactly one of exact, prefix or regex")
    (kind, text), = value.items()
    if not isinstance(text, str) or not text or len(text) > 1024:
        raise SpecError(f"{name}.{kind}", "must be a non-empty string of at most 1024 characters")
    if kind == "regex":
        try:
            re.compile(text)
        except re.error as error:
            raise SpecError(f"{name}.{kind}", f"is not a regular expression: {error}") from None
    return {kind: text}


def _parse_match(value: Any, name: str) -> dict[str, Any]:
    _check_object(value, name, MATCH_KEYS)
    if not value:
        raise SpecError(name, "must have at least one condition")
    result = dict(value)
    for key in ("headers", "queryParams", "withoutHeaders"):
        if key in value:
            if not isinstance(value[key], dict) or not value[key]:
                raise SpecError(f"{name}.{key}", "must be a non-empty object of name → string match")
            for header, match in value[key].items():
                if not isinstance(header, str) or not header.strip():
                    raise SpecError(f"{name}.{key}", "name the header (an empty name matches nothing)")
                if key != "queryParams" and header != header.lower():
                    raise SpecError(f"{name}.{key}", f"header name {str(header)[:60]!r} must be lower-case")
                _parse_string_match(match, f"{name}.{key}.{header}")
    for key in ("uri", "method", "scheme", "authority"):
        if key in value:
            _parse_string_match(value[key], f"{name}.{key}")
    return result


def parse_routes(value: Any, name: str, subsets: list[str]) -> tuple[MatchRoute, ...]:
    """Ordered match routes; each has a non-empty ``match`` list and valid ``weights``."""
    if not isinstance(value, list):
        raise SpecError(name, "must be a list of {match, weights}")
    if len(value) > MAX_MATCH_ROUTES:
        raise SpecError(name, f"at most {MAX_MATCH_ROUTES} routes")
    routes = []
    for index, route in enumerate(value):
        where = f"{name}[{index}]"
        _check_object(route, where, ("match", "weights"))
        matches = route.get("match")
        if not isinstance(matches, list) or not matches:
            raise SpecError(f"{where}.match", "must be a non-empty list of match conditions")
        parsed = tuple(_parse_match(m, f"{where}.match[{i}]") for i, m in enumerate(matches))
        weights = parse_weights(route.get("weights"), f"{where}.weights", subsets)
        routes.append(MatchRoute(parsed, weights))
    return tuple(routes)


def parse_fault(value: Any, name: str = "fault") -> Fault:
    _check_object(value, name, ("abort", "delay"))
    abort = delay = None
    if value.get("abort") is not None:
        raw = _check_object(value["abort"], f"{name}.abort", ("http_status", "percent"))
        abort = Abort(
            _check_int(raw.get("http_status"), f"{name}.abort.http_status", 200, 599),
            _check_percent(raw.get("percent"), f"{name}.abort.percent"),
        )
    if value.get("delay") is not None:
        raw = _check_object(value["delay"], f"{name}.delay", ("fixed_delay", "percent"))
        delay = Delay(
            _check_duration(raw.get("fixed_delay"), f"{name}.delay.fixed_delay"),
            _check_percent(raw.get("percent"), f"{name}.delay.percent"),
        )
    if abort is None and delay is None:
        raise SpecError(name, "must have an abort or a delay (use null to remove the fault)")
    return Fault(abort, delay)


_RETRY_ON = re.compile(r"^[a-z0-9-]+(,[a-z0-9-]+)*$")


def parse_retries(value: Any, name: str = "retries") -> Retries:
    raw = _check_object(value, name, ("attempts", "per_try_timeout", "retry_on"))
    attempts = _check_int(raw.get("attempts"), f"{name}.attempts", 0, MAX_RETRIES)
    per_try = raw.get("per_try_timeout")
    if per_try is not None:
        _check_duration(per_try, f"{name}.per_try_timeout")
    retry_on = raw.get("retry_on")
    if retry_on is not None and (not isinstance(retry_on, str) or not _RETRY_ON.match(retry_on)):
        raise SpecError(f"{name}.retry_on", "must be a comma-separated list of Envoy retry conditions such as 5xx")
    return Retries(attempts, per_try, retry_on)


def parse_circuit_breaker(value: Any, name: str = "circuit_breaker") -> CircuitBreaker:
    raw = _check_object(value, name, CIRCUIT_BREAKER_INTS + CIRCUIT_BREAKER_DURATIONS)
    values: dict[str, Any] = {}
    for key in CIRCUIT_BREAKER_INTS:
        if raw.get(key) is not None:
            high = 100 if key == "max_ejection_percent" else 2**31 - 1
            values[key] = _check_int(raw[key], f"{name}.{key}", 0 if key == "max_ejection_percent" else 1, high)
    for key in CIRCUIT_BREAKER_DURATIONS:
        if raw.get(key) is not None:
            values[key] = _check_duration(raw[key], f"{name}.{key}")
    if not values:
        raise SpecError(name, "must set at least one limit (use null to remove the circuit breaker)")
    return CircuitBreaker(**values)


def apply_patch(current: TrafficSpec, patch: Any, available_subsets: list[str]) -> TrafficSpec:
    """``current`` with the fields present in ``patch`` replaced (``null`` removes one).

    ``available_subsets`` are the subsets weights and routes may name (the DestinationRule's
    and the versions seen for the service's workloads). Raises ``SpecError`` naming the first
    invalid field; unknown fields are refused.
    """
    if not isinstance(patch, dict):
        raise SpecError("body", "must be a JSON object")
    for key in patch:
        if key not in PATCH_FIELDS:
            raise SpecError(str(key)[:60], f"is not a field meshui can change (fields: {', '.join(PATCH_FIELDS)})")
    changes: dict[str, Any] = {}
    if "weights" in patch:
        changes["weights"] = {} if patch["weights"] is None else parse_weights(
            patch["weights"], "weights", available_subsets
        )
    if "routes" in patch:
        changes["routes"] = () if patch["routes"] is None else parse_routes(
            patch["routes"], "routes", available_subsets
        )
    if "fault" in patch:
        changes["fault"] = None if patch["fault"] is None else parse_fault(patch["fault"])
    if "timeout" in patch:
        changes["timeout"] = None if patch["timeout"] is None else _check_duration(patch["timeout"], "timeout")
    if "retries" in patch:
        changes["retries"] = None if patch["retries"] is None else parse_retries(patch["retries"])
    if "circuit_breaker" in patch:
        changes["circuit_breaker"] = (
            None if patch["circuit_breaker"] is None else parse_circuit_breaker(patch["circuit_breaker"])
        )
    return replace(current, **changes)


def cleared(spec: TrafficSpec) -> TrafficSpec:
    """``spec`` without any routing: what DELETE leaves (subsets stay as they are)."""
    return TrafficSpec(spec.namespace, spec.service, spec.subsets)


# --- wire ----------------------------------------------------------------------------------


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def to_wire(spec: TrafficSpec) -> dict[str, Any]:
    """The model part of the API's JSON (fetch adds ``owner``, ``version``, ``resources``, ``validations``)."""
    fault = None
    if spec.fault is not None:
        abort, delay = spec.fault.abort, spec.fault.delay
        fault = {
            "abort": None if abort is None else {"http_status": abort.http_status, "percent": abort.percent},
            "delay": None if delay is None else {"fixed_delay": delay.fixed_delay, "percent": delay.percent},
        }
    retries = None
    if spec.retries is not None:
        retries = {
            "attempts": spec.retries.attempts,
            "per_try_timeout": spec.retries.per_try_timeout,
            "retry_on": spec.retries.retry_on,
        }
    breaker = None
    if spec.circuit_breaker is not None:
        breaker = _drop_none({name: getattr(spec.circuit_breaker, name) for name in CircuitBreaker.__slots__})
    return {
        "namespace": spec.namespace,
        "service": spec.service,
        "host": spec.host,
        "subsets": [{"name": s.name, "labels": dict(s.labels)} for s in spec.subsets],
        "weights": dict(spec.weights),
        "routes": [{"match": [dict(m) for m in r.match], "weights": dict(r.weights)} for r in spec.routes],
        "fault": fault,
        "timeout": spec.timeout,
        "retries": retries,
        "circuit_breaker": breaker,
    }


def from_wire(data: Mapping[str, Any]) -> TrafficSpec:
    """The model from ``to_wire``'s JSON (e.g. an audit record). Raises ``SpecError`` when it is not valid."""
    subsets = tuple(Subset(s["name"], dict(s["labels"])) for s in data.get("subsets", []))
    base = TrafficSpec(data["namespace"], data["service"], subsets)
    patch = {key: data.get(key) for key in PATCH_FIELDS}
    if not patch["weights"]:
        patch["weights"] = None
    if not patch["routes"]:
        patch["routes"] = None
    for key in ("fault",):
        if patch[key] is not None:
            patch[key] = {k: v for k, v in patch[key].items() if v is not None}
    if patch["retries"] is not None:
        patch["retries"] = _drop_none(patch["retries"])
    return apply_patch(base, patch, [s.name for s in subsets])
