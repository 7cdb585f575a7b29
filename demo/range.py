"""Range reads from the demo mesh: one exact read per instant of a plan.

The demo's traffic is a closed-form function of time, so the rate over ``rate_interval_s``
ending at any instant is one ``DemoTelemetrySource.read``; a range is those reads in order.
``max_points`` is kept low because every instant is a full read of the (narrowed) mesh.
"""

from __future__ import annotations

from demo.source import DemoTelemetrySource
from metrics.series import RangePlan
from topology.graph.telemetry import MeshTelemetry

ALL_FIELDS: tuple[str, ...] = ("requests", "duration_buckets", "duration_sum", "tcp_sent", "tcp_received")


class DemoRangeSource:
    """Range reads over a ``DemoTelemetrySource``."""

    max_points = 400

    def __init__(self, source: DemoTelemetrySource) -> None:
        self.source = source

    def read_range(
        self, plan: RangePlan, *, namespaces: frozenset[str] | None, fields: tuple[str, ...] = ALL_FIELDS
    ) -> list[MeshTelemetry]:
        """One ``MeshTelemetry`` per instant of ``plan`` (oldest first); fields not in ``fields``
        are left empty. Raises ``ValueError`` for a non-positive rate interval."""
        result = []
        for t in plan.timestamps:
            telemetry = self.source.read(query_time=t, window_s=plan.rate_interval_s, namespaces=namespaces)
            for name in ALL_FIELDS:
                if name not in fields:
                    setattr(telemetry, name, [])
            result.append(telemetry)
        return result
