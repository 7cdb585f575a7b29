"""Range reads from the demo mesh: one exact read per instant of a plan.

The demo's traffic is a closed-form function of time, so the rate over ``rate_interval_s``
ending at any instant is one ``DemoTelemetrySource.read``; a range is those reads in order.
``max_points`` is kept low because every instant is a full read of the (narrowed) mesh. The
demo exports no request/response size histograms, so the size fields stay empty (the detail
pages then show no size chart).
"""

from __future__ import annotations

from demo.source import DemoTelemetrySource
from topology.graph.telemetry import RangePlan, RangeTelemetry

# The fields a demo read fills; ``RangeTelemetry``'s size fields are never filled.
READ_FIELDS: tuple[str, ...] = ("requests", "duration_buckets", "duration_sum", "tcp_sent", "tcp_received")
ALL_FIELDS: tuple[str, ...] = (*READ_FIELDS, "request_bytes", "response_bytes")


class DemoRangeSource:
    """``RangeSource`` (``topology.graph.telemetry``) over a ``DemoTelemetrySource``."""

    max_points = 400

    def __init__(self, source: DemoTelemetrySource) -> None:
        self.source = source

    def read_range(
        self, plan: RangePlan, *, namespaces: frozenset[str] | None, fields: tuple[str, ...] = ALL_FIELDS
    ) -> list[RangeTelemetry]:
        """One ``RangeTelemetry`` per instant of ``plan`` (oldest first); fields not in ``fields``
        are left empty, and so are the size fields always. Raises ``ValueError`` for a
        non-positive rate interval."""
        result = []
        for t in plan.timestamps:
            read = self.source.read(query_time=t, window_s=plan.rate_interval_s, namespaces=namespaces)
            result.append(
                RangeTelemetry(
                    query_time=read.query_time,
                    window_s=read.window_s,
                    warnings=read.warnings,
                    **{name: getattr(read, name) if name in fields else [] for name in READ_FIELDS},
                )
            )
        return result
