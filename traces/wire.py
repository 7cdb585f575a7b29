"""The trace model → the API's JSON (pure). Shapes are documented in docs/api.md (traces)."""

from __future__ import annotations

from typing import Any

from traces.model import Trace


def summary_to_wire(trace: Trace) -> dict[str, Any]:
    """One entry of a trace list: ``duration_ms`` spans the first span's start to the last span's end."""
    root = trace.root
    return {
        "trace_id": trace.trace_id,
        "start_time_us": trace.start_time_us,
        "duration_ms": round(trace.duration_us / 1000.0, 3),
        "span_count": len(trace.spans),
        "services": trace.services,
        "root": {"service": root.service, "operation": root.operation} if root is not None else None,
        "has_error": trace.has_error,
    }


def trace_to_wire(trace: Trace) -> dict[str, Any]:
    """A whole trace: spans (by start time) with their parents and tags, and service edges."""
    return {
        "trace_id": trace.trace_id,
        "spans": [
            {
                "span_id": span.span_id,
                "parent_span_id": span.parent_span_id,
                "service": span.service,
                "operation": span.operation,
                "start_time_us": span.start_time_us,
                "duration_us": span.duration_us,
                "has_error": span.has_error,
                "tags": span.tags,
            }
            for span in trace.spans
        ],
        "edges": [{"source": e.source, "target": e.target, "calls": e.calls} for e in trace.edges()],
    }
