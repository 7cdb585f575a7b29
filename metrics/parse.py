"""Parsing of Prometheus HTTP API answers (``/api/v1/query`` and ``/api/v1/query_range``).

Pure functions over the decoded JSON (or its bytes): no HTTP here. Sample values arrive as
strings (``"1.5"``, ``"NaN"``, ``"+Inf"``, ``"-Inf"``) and become floats; anything that does not
follow the documented shape raises ``PrometheusQueryError`` with ``error_type="bad_response"``.

Speed: a graph read parses hundreds of thousands of samples, so well-formed answers take a typed
``msgspec`` path (the envelope is decoded with ``result`` left raw, then a vector decodes straight
into small structs); anything the typed path rejects is parsed again by the plain path, which
names what is wrong. Both paths give the same samples.

Compact identities: the graph reader joins the ``IDENTITY_LABELS`` of each series into one label,
``EDGE_LABEL``, with ``EDGE_SEPARATOR`` (see ``metrics.reader``). ``vector_samples`` splits it back
(once per distinct value, cached) into ``Sample.identity`` and drops it from ``labels``; a value
that does not split into exactly the identity (a label value held the separator) raises
``AmbiguousEdge``, so the reader can ask again with the labels spelled out.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from metrics.errors import PrometheusQueryError
from topology.graph.telemetry import IDENTITY_LABELS, Sample

BAD_RESPONSE = "bad_response"
# The label the reader's label_join writes, and what joins the identity values inside it. A line
# feed cannot occur in Kubernetes names or label values (workloads, namespaces, services,
# canonical names), and HTTP/1.1 and HTTP/2 both forbid it in header values, so neither can a
# host or authority Istio copies into destination_service; it is also the cheapest control
# character in JSON (two bytes, "\n"; U+001F costs six). Anything else (a cluster name set by
# hand) is caught by AmbiguousEdge.
EDGE_LABEL = "meshui_edge"
EDGE_SEPARATOR = "\n"
_IDENTITY_PARTS = len(IDENTITY_LABELS)
# Distinct edge strings seen, shared by reads: a mesh's edges change slowly, so the next read
# reuses the identity tuples instead of splitting again. Bounded (cleared when full) at ten times
# a 10k-edge mesh; with the parts interned an entry costs about 300 bytes.
_EDGE_CACHE: dict[str, tuple[str, ...]] = {}
_EDGE_CACHE_MAX = 100_000
_SPECIAL_VALUES = frozenset({"NaN", "+Inf", "-Inf"})


class AmbiguousEdge(PrometheusQueryError):
    """An ``EDGE_LABEL`` value that does not split into the identity labels."""

    def __init__(self, edge: str) -> None:
        super().__init__(
            f"label {EDGE_LABEL} {edge!r} does not split into {_IDENTITY_PARTS} identity labels",
            error_type="ambiguous_edge",
        )
        self.edge = edge


class _RawData(msgspec.Struct):
    resultType: Any = None
    result: msgspec.Raw = msgspec.Raw(b"null")


class _RawEnvelope(msgspec.Struct):
    status: Any = None
    data: _RawData | None = None
    warnings: list[str] | None = None


# gc=False: these hold only strings and floats, so they can never be part of a reference cycle;
# left to the cyclic GC, the hundreds of thousands of them made it rescan the heap over and over
# (two thirds of the parse time).
class _Point(msgspec.Struct, array_like=True, gc=False):
    time: float
    value: str


class _VectorElement(msgspec.Struct, gc=False):
    value: _Point
    metric: dict[str, str] = {}


class _VectorData(msgspec.Struct):
    resultType: Literal["vector"]  # Prometheus writes it before result: a matrix fails at once
    result: list[_VectorElement]


class _VectorEnvelope(msgspec.Struct):
    status: Literal["success", "warning"]
    data: _VectorData
    warnings: list[str] | None = None


class _Elements(list):
    """Vector elements already decoded by the typed path (``parse_envelope`` → ``vector_samples``)."""


# One pass for a well-formed vector answer; otherwise the envelope with ``result`` left raw.
_VECTOR_ENVELOPE_DECODER = msgspec.json.Decoder(_VectorEnvelope)
_ENVELOPE_DECODER = msgspec.json.Decoder(_RawEnvelope)
_VECTOR_DECODER = msgspec.json.Decoder(list[_VectorElement])


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
    From bytes or text, ``data`` holds ``resultType`` and ``result``, the latter decoded for
    ``vector_samples`` already (a well-formed vector) or left undecoded (``msgspec.Raw``) until
    ``vector_samples`` or ``matrix_series`` reads it.
    """
    if not isinstance(body, dict):
        try:
            vector = _VECTOR_ENVELOPE_DECODER.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError):
            vector = None
        if vector is not None:
            return Envelope(
                data={"resultType": "vector", "result": _Elements(vector.data.result)},
                warnings=list(vector.warnings or ()),
            )
        try:
            fast = _ENVELOPE_DECODER.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError):
            fast = None
        if fast is not None and fast.status in ("success", "warning") and fast.data is not None:
            return Envelope(
                data={"resultType": fast.data.resultType, "result": fast.data.result},
                warnings=list(fast.warnings or ()),
            )
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


def _identity(edge: str) -> tuple[str, ...]:
    # Interned: the same namespace, cluster or workload name recurs in thousands of identities.
    parts = tuple(map(sys.intern, edge.split(EDGE_SEPARATOR)))
    if len(parts) != _IDENTITY_PARTS:
        raise AmbiguousEdge(edge)
    if len(_EDGE_CACHE) >= _EDGE_CACHE_MAX:
        _EDGE_CACHE.clear()
    _EDGE_CACHE[edge] = parts
    return parts


def _fast_vector(raw: msgspec.Raw) -> list[Sample] | None:
    """The samples of a raw vector ``result``, or ``None`` when it needs the plain path."""
    try:
        elements = _VECTOR_DECODER.decode(raw)
    except msgspec.DecodeError:
        return None
    return _samples(elements)


def _undo(samples: list[Sample]) -> None:
    """Give back the edge labels ``_samples`` took out of the elements' label dicts (the same
    objects), so the plain path reads the elements as they came."""
    for sample in samples:
        if sample.identity is not None:
            sample.labels[EDGE_LABEL] = EDGE_SEPARATOR.join(sample.identity)


def _samples(elements: list[_VectorElement]) -> list[Sample] | None:
    """The samples of typed vector elements, or ``None`` when a value needs the plain path."""
    samples: list[Sample] = []
    append = samples.append
    cache_get = _EDGE_CACHE.get
    special = _SPECIAL_VALUES
    last_text = ""
    value = 0.0
    for element in elements:
        text = element.value.value
        # The buckets of a histogram above its slowest request all hold the same count: a string
        # comparison is cheaper than parsing the number again.
        if text != last_text:
            try:
                value = float(text)
            except ValueError:
                return _undo(samples)
            # NaN and ±Inf (value - value is not 0) must be spelt the Prometheus way.
            if value - value != 0.0 and text not in special:
                return _undo(samples)
            last_text = text
        metric = element.metric
        edge = metric.pop(EDGE_LABEL, None)
        if edge is None:
            append(Sample(metric, value))
        else:
            append(Sample(metric, value, cache_get(edge) or _identity(edge)))
    return samples


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a raw ``result`` decoded into plain JSON values."""
    result = data.get("result")
    if not isinstance(result, msgspec.Raw):
        return data
    try:
        decoded = json.loads(bytes(result))
    except (ValueError, UnicodeDecodeError):
        raise _malformed("the body is not JSON") from None
    return {**data, "result": decoded}


def vector_samples(data: dict[str, Any]) -> list[Sample]:
    """The samples of a ``data`` object whose ``resultType`` is ``vector`` (or ``scalar``).

    A scalar becomes one sample with no labels, so ``vector(1)`` and ``1`` read the same. A
    series carrying ``EDGE_LABEL`` comes back with ``identity`` set and without that label;
    raises ``AmbiguousEdge`` when its value does not split into the identity labels.
    """
    result = data.get("result")
    if data.get("resultType") == "vector":
        fast = None
        if isinstance(result, _Elements):
            fast = _samples(result)
            if fast is None:  # a value the plain path must name: decode the elements back
                data = {**data, "result": msgspec.to_builtins(list(result))}
        elif isinstance(result, msgspec.Raw):
            fast = _fast_vector(result)
        if fast is not None:
            return fast
    data = _plain(data)
    if data.get("resultType") == "scalar":
        return [Sample(labels={}, value=_point(data.get("result"))[1])]
    samples = []
    for element in _result(data, "vector"):
        if not isinstance(element, dict):
            raise _malformed("a vector element is not an object")
        labels = _labels(element.get("metric", {}))
        value = _point(element.get("value"))[1]
        edge = labels.pop(EDGE_LABEL, None)
        identity = None if edge is None else _EDGE_CACHE.get(edge) or _identity(edge)
        samples.append(Sample(labels=labels, value=value, identity=identity))
    return samples


def matrix_series(data: dict[str, Any]) -> list[Series]:
    """The series of a ``data`` object whose ``resultType`` is ``matrix``."""
    data = _plain(data)
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
