"""Range reads from Prometheus: the graph's five queries and two size sums as range queries,
split per instant.

``PrometheusRangeSource.read_range`` sends the same deduplicated queries as
``metrics.reader.PrometheusTelemetrySource`` (each request counted once, the destination report
winning), with ``rate_interval_s`` as the rate range, as ``query_range`` calls over the plan's
instants — one call per metric asked for, whatever the number of series (plus, only when a
label value holds the identity separator, one spelled-out retry of that metric). Beside the
graph's five it reads ``istio_request_bytes_sum`` and ``istio_response_bytes_sum`` with the
rule of the duration sum (per identity, the destination report wins), so a detail page costs
seven queries. The matrices are cut into one ``RangeTelemetry`` per instant, which the graph
builder reads like any other ``MeshTelemetry``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from metrics.client import PrometheusClient, QueryResult
from metrics.parse import EDGE_LABEL, EDGE_SEPARATOR, AmbiguousEdge
from metrics.reader import QUERY_PLAN, deduped_query
from topology.graph.telemetry import EDGE_LABELS, IDENTITY_LABELS, RangePlan, RangeTelemetry, Sample

# The reader's plan plus the size sums (``RangeTelemetry`` fields), in the same entry format.
RANGE_PLAN: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    *QUERY_PLAN,
    ("request_bytes", "istio_request_bytes_sum", ("reporter",), ("reporter",), EDGE_LABELS),
    ("response_bytes", "istio_response_bytes_sum", ("reporter",), ("reporter",), EDGE_LABELS),
)
ALL_FIELDS: tuple[str, ...] = tuple(entry[0] for entry in RANGE_PLAN)


class PrometheusRangeSource:
    """``RangeSource`` (``topology.graph.telemetry``) over a ``PrometheusClient``; ``max_points`` is
    Prometheus' own resolution limit."""

    max_points = 11_000

    def __init__(self, client: PrometheusClient) -> None:
        self.client = client

    def queries(
        self, plan: RangePlan, namespaces: frozenset[str] | None, fields: tuple[str, ...], *, compact: bool = True
    ) -> list[str]:
        """The PromQL of each of ``fields`` (``RangeTelemetry`` field names), in that order."""
        by_field = {entry[0]: entry for entry in RANGE_PLAN}
        promql = []
        for name in fields:
            _, metric, kept, ignored, full = by_field[name]
            promql.append(
                deduped_query(
                    metric,
                    kept if compact else full,
                    ignored,
                    plan.rate_interval_s,
                    namespaces,
                    self.client.scope,
                    compact=compact,
                )
            )
        return promql

    def read_range(
        self, plan: RangePlan, *, namespaces: frozenset[str] | None, fields: tuple[str, ...] = ALL_FIELDS
    ) -> list[RangeTelemetry]:
        """One ``RangeTelemetry`` per instant of ``plan`` (oldest first), holding ``fields``.

        Raises the client's named errors (the first failing query's, in ``fields`` order); all
        calls end within the client's timeout. Prometheus' warnings are on every instant.
        """
        deadline = time.monotonic() + self.client.timeout_s
        outcomes = self._run(self.queries(plan, namespaces, fields), plan, deadline)
        telemetries = {t: RangeTelemetry(query_time=t, window_s=plan.rate_interval_s) for t in plan.timestamps}
        warnings: list[str] = []
        for index, (name, outcome) in enumerate(zip(fields, outcomes, strict=True)):
            if isinstance(outcome, BaseException):
                raise outcome
            try:
                self._split(outcome, name, telemetries)
            except AmbiguousEdge:
                for telemetry in telemetries.values():
                    setattr(telemetry, name, [])
                retried = self._run(
                    [self.queries(plan, namespaces, (fields[index],), compact=False)[0]], plan, deadline
                )[0]
                if isinstance(retried, BaseException):
                    raise retried from None
                outcome = retried
                self._split(outcome, name, telemetries)
            warnings.extend(w for w in outcome.warnings if w not in warnings)
        for telemetry in telemetries.values():
            telemetry.warnings = list(warnings)
        return [telemetries[t] for t in plan.timestamps]

    @staticmethod
    def _split(result: QueryResult, name: str, telemetries: dict[float, RangeTelemetry]) -> None:
        for series in result.series:
            labels = dict(series.labels)
            edge = labels.pop(EDGE_LABEL, None)
            identity = None
            if edge is not None:
                identity = tuple(edge.split(EDGE_SEPARATOR))
                if len(identity) != len(IDENTITY_LABELS):
                    raise AmbiguousEdge(edge)
            for t, value in series.points:
                telemetry = telemetries.get(t)
                if telemetry is not None and value == value:
                    getattr(telemetry, name).append(Sample(labels, value, identity))

    def _run(self, promql: list[str], plan: RangePlan, deadline: float) -> list[QueryResult | BaseException]:
        with ThreadPoolExecutor(max_workers=max(1, len(promql)), thread_name_prefix="prometheus-range") as pool:
            futures = [
                pool.submit(
                    self.client.query_range, q, start=plan.start, end=plan.end, step=plan.step_s, deadline=deadline
                )
                for q in promql
            ]
            outcomes: list[QueryResult | BaseException] = []
            for future in futures:
                error = future.exception()
                outcomes.append(error if error is not None else future.result())
        return outcomes
