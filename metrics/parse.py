"""Parsing of Prometheus HTTP API answers (``/api/v1/query`` and ``/api/v1/query_range``).

Pure functions over the decoded JSON (or its bytes): no HTTP here. Sample values arrive as
strings (``"1.5"``, ``"NaN"``, ``"+Inf"``, ``"-Inf"``) and become floats; anything that does not
follow the documented shape raises ``PrometheusQueryError`` with ``error_type="bad_response"``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from metrics.errors import PrometheusQueryError
from topology.graph.telemetry import Sample

BAD_RESPONSE = "bad_response"


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a matrix: its labels and its ``(unix seconds, value)`` points in time order."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A successful answer: ``data`` as sent and Prometheus' ``warnings`` (possibly empty)."""

    data: dict[str, Any]
    warnings: list[str]


def _malformed(what: str) -> PrometheusQueryError:
    return PrometheusQueryError(f"malformed Prometheus response: {what}", error_type=BAD_RESPONSE)


def decode(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The body as a JSON object; raises ``PrometheusQueryError`` when it is not one."""
    if isinstance(body, dict):
        return body
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _malformed("the body is not JSON") from None
    if not isinstance(decoded, dict):
        raise _malformed("the body is not a JSON object")
    return decoded


def parse_value(raw: Any) -> float:
    """A Prometheus sample value string as a float (``NaN``, ``+Inf``, ``-Inf`` included)."""
    if not isinstance(raw, str):
        raise _malformed(f"sample value {raw!r} is not a string")
    try:
        value = float(raw)
    except ValueError:
        raise _malformed(f"sample value {raw!r} is not a number") from None
    # float() also accepts "nan"/"inf"/"infinity" in any case; Prometheus only writes these three.
    if (math.isnan(value) or math.isinf(value)) and raw not in ("NaN", "+Inf", "-Inf"):
        raise _malformed(f"sample value {raw!r} is not a Prometheus number")
    return value


def _point(raw: Any) -> tuple[float, float]:
    if not isinstance(raw, list) or len(raw) != 2 or isinstance(raw[0], bool):
        raise _malformed(f"point {raw!r} is not [timestamp, value]")
    if not isinstance(raw[0], (int, float)):
        raise _malformed(f"timestamp {raw[0]!r} is not a number")
    return float(raw[0]), parse_value(raw[1])


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise _malformed("metric labels are not an object of strings")
    return dict(raw)


def parse_envelope(body: bytes | str | dict[str, Any]) -> Envelope:
    """The ``data`` and ``warnings`` of a successful answer.

    Raises ``PrometheusQueryError`` carrying Prometheus' ``errorType``/``error`` when
    ``status`` is ``error``, and with ``error_type="bad_response"`` when the body is malformed.
    ``status: "warning"`` (seen from some Prometheus-compatible servers) is accepted like
    ``success``. Error classification by HTTP status is the client's job, not this function's.
    """
    decoded = decode(body)
    status = decoded.get("status")
    if status == "error":
        error_type = decoded.get("errorType")
        error = decoded.get("error")
        raise PrometheusQueryError(
            error if isinstance(error, str) else "(no message)",
            error_type=error_type if isinstance(error_type, str) and error_type else "unknown",
        )
    if status not in ("success", "warning"):
        raise _malformed(f"status {status!r} is neither success nor error")
    data = decoded.get("data")
    if not isinstance(data, dict):
        raise _malformed("data is not an object")
    warnings = decoded.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise _malformed("warnings is not a list of strings")
    return Envelope(data=data, warnings=list(warnings))


def _result(data: dict[str, Any], expected_type: str) -> list[Any]:
    result_type = data.get("resultType")
    if result_type != expected_type:
        raise _malformed(f"resultType {result_type!r}, expected {expected_type!r}")
    result = data.get("result")
    if not isinstance(result, list):
        raise _malformed("result is not a list")
    return result


def vector_samples(data: dict[str, Any]) -> list[Sample]:
    """The samples of a ``data`` object whose ``resultType`` is ``vector`` (or ``scalar``).

    A scalar becomes one sample with no labels, so ``vector(1)`` and ``1`` read the same.
    """
    if data.get("resultType") == "scalar":
        return [Sample(labels={}, value=_point(data.get("result"))[1])]
    samples = []
    for element in _result(data, "vector"):
        if not isinstance(element, dict):
            raise _malformed("a vector element is not an object")
        samples.append(
            Sample(labels=_labels(element.get("metric", {})), value=_point(element.get("value"))[1])
        )
    return samples


def matrix_series(data: dict[str, Any]) -> list[Series]:
    """The series of a ``data`` object whose ``resultType`` is ``matrix``."""
    series = []
    for element in _result(data, "matrix"):
        if not isinstance(element, dict) or not isinstance(element.get("values"), list):
            raise _malformed("a matrix element is not an object with values")
        series.append(
            Series(labels=_labels(element.get("metric", {})), points=[_point(p) for p in element["values"]])
        )
    return series


def parse_vector(body: bytes | str | dict[str, Any]) -> list[Sample]:
    """The samples of a whole instant-query answer; raises ``PrometheusQueryError``."""
    return vector_samples(parse_envelope(body).data)


def parse_matrix(body: bytes | str | dict[str, Any]) -> list[Series]:
    """The series of a whole range-query answer; raises ``PrometheusQueryError``."""
    return matrix_series(parse_envelope(body).data)
