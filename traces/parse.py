"""Jaeger's query API JSON → the trace model (pure: no I/O, no Django).

Every function raises ``JaegerBadResponse`` when the JSON is not what Jaeger's v1 HTTP API
sends (the envelope ``{"data", "total", "limit", "offset", "errors"}`` and trace objects
``{"traceID", "spans", "processes"}``), never ``KeyError``/``TypeError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from traces.errors import JaegerBadResponse
from traces.model import CHILD_OF, FOLLOWS_FROM, Reference, Span, Trace

# Tags whose value is an HTTP status code (OpenTracing / Envoy, then OpenTelemetry semconv).
_HTTP_STATUS_TAGS = ("http.status_code", "http.response.status_code")


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded Jaeger response: ``data`` as sent, ``errors`` as ``(code, msg)`` pairs."""

    data: Any
    errors: list[tuple[int | None, str]]


def parse_envelope(body: bytes) -> Envelope:
    """Decode a Jaeger API body; raises ``JaegerBadResponse`` for non-JSON or a non-envelope."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise JaegerBadResponse("Jaeger's answer is not JSON") from None
    if not isinstance(document, dict) or "data" not in document:
        raise JaegerBadResponse("Jaeger's answer is JSON but not its API envelope (no 'data')")
    raw_errors = document.get("errors") or []
    if not isinstance(raw_errors, list):
        raise JaegerBadResponse("Jaeger's 'errors' is not a list")
    errors: list[tuple[int | None, str]] = []
    for item in raw_errors:
        if not isinstance(item, dict):
            raise JaegerBadResponse("an entry of Jaeger's 'errors' is not an object")
        code = item.get("code")
        errors.append((code if isinstance(code, int) else None, str(item.get("msg", ""))))
    return Envelope(document["data"], errors)


def string_list(data: Any) -> list[str]:
    """``data`` of /api/services or /api/services/{svc}/operations: a list of strings (null = empty)."""
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise JaegerBadResponse("Jaeger's 'data' is not a list of names")
    return list(data)


def _tag_value(tag: dict[str, Any]) -> Any:
    """A tag's value as JSON: bools and numbers as such even when Jaeger sent them as text."""
    kind = tag.get("type")
    value = tag.get("value")
    if kind == "bool" and isinstance(value, str):
        return value.lower() == "true"
    if kind == "int64" and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _tags(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise JaegerBadResponse("a span's 'tags' is not a list")
    tags: dict[str, Any] = {}
    for tag in raw:
        if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
            raise JaegerBadResponse("a tag is not an object with a 'key'")
        tags[tag["key"]] = _tag_value(tag)
    return tags


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def is_error(tags: dict[str, Any]) -> bool:
    """True for ``error=true``, ``otel.status_code=ERROR`` or an HTTP status of 500 or more."""
    error = tags.get("error")
    if error is True or (isinstance(error, str) and error.lower() == "true"):
        return True
    if str(tags.get("otel.status_code", "")).upper() == "ERROR":
        return True
    for key in _HTTP_STATUS_TAGS:
        status = _as_int(tags.get(key))
        if status is not None and status >= 500:
            return True
    return False


def _references(raw: Any) -> tuple[Reference, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise JaegerBadResponse("a span's 'references' is not a list")
    refs = []
    for ref in raw:
        if not isinstance(ref, dict) or not isinstance(ref.get("spanID"), str):
            raise JaegerBadResponse("a reference is not an object with a 'spanID'")
        refs.append(Reference(str(ref.get("refType", CHILD_OF)), ref["spanID"]))
    return tuple(refs)


def _parent_of(span_id: str, refs: tuple[Reference, ...], parent_span_id: Any) -> str | None:
    """CHILD_OF first, FOLLOWS_FROM otherwise; Jaeger's older ``parentSpanID`` field last."""
    for kind in (CHILD_OF, FOLLOWS_FROM):
        for ref in refs:
            if ref.ref_type == kind and ref.span_id != span_id:
                return ref.span_id
    if isinstance(parent_span_id, str) and parent_span_id.strip("0") and parent_span_id != span_id:
        return parent_span_id
    return None


def parse_trace(raw: Any) -> Trace:
    """One Jaeger trace object → ``Trace``; spans sorted by start time, then span id.

    A span's service is its process' ``serviceName`` (``"unknown"`` when the process is
    missing, as Jaeger's UI shows it). Raises ``JaegerBadResponse`` on a malformed object.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("traceID"), str):
        raise JaegerBadResponse("a trace is not an object with a 'traceID'")
    processes = raw.get("processes") or {}
    raw_spans = raw.get("spans")
    if not isinstance(processes, dict) or not isinstance(raw_spans, list):
        raise JaegerBadResponse("a trace has no 'spans' list or 'processes' object")
    spans = []
    for item in raw_spans:
        if not isinstance(item, dict) or not isinstance(item.get("spanID"), str):
            raise JaegerBadResponse("a span is not an object with a 'spanID'")
        start = _as_int(item.get("startTime"))
        duration = _as_int(item.get("duration"))
        if start is None or duration is None:
            raise JaegerBadResponse(f"span {item['spanID']} has no integer startTime/duration")
        process = processes.get(item.get("processID")) or item.get("process") or {}
        service = process.get("serviceName") if isinstance(process, dict) else None
        tags = _tags(item.get("tags"))
        refs = _references(item.get("references"))
        spans.append(
            Span(
                span_id=item["spanID"],
                parent_span_id=_parent_of(item["spanID"], refs, item.get("parentSpanID")),
                service=service if isinstance(service, str) and service else "unknown",
                operation=str(item.get("operationName", "")),
                start_time_us=start,
                duration_us=max(duration, 0),
                has_error=is_error(tags),
                tags=tags,
                references=refs,
            )
        )
    spans.sort(key=lambda s: (s.start_time_us, s.span_id))
    return Trace(raw["traceID"], tuple(spans))


def parse_traces(data: Any) -> list[Trace]:
    """``data`` of /api/traces or /api/traces/{id} (null = none) → traces, in Jaeger's order."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise JaegerBadResponse("Jaeger's 'data' is not a list of traces")
    return [parse_trace(item) for item in data]
