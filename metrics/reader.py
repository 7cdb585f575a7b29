"""The Prometheus telemetry source: Istio's standard metrics read into a ``MeshTelemetry``.

The query plan is constant — five instant queries per read, whatever the graph type or the
number of namespaces — so the cost of a graph does not grow with what the user selects:

1. ``istio_requests_total`` grouped by ``REQUEST_LABELS``
2. ``istio_request_duration_milliseconds_bucket`` grouped by ``DURATION_BUCKET_LABELS``
3. ``istio_request_duration_milliseconds_sum`` grouped by ``DURATION_SUM_LABELS``
4. ``istio_tcp_sent_bytes_total`` grouped by ``TCP_LABELS``
5. ``istio_tcp_received_bytes_total`` grouped by ``TCP_LABELS``

each as ``sum by (labels) (rate(metric{scope}[<window>s]))``. With namespaces, the inner
``rate`` becomes an ``or`` of three narrowed selectors (destination service namespace,
destination workload namespace, source workload namespace, each ``=~`` one alternation of the
namespaces); ``or`` keeps a series once even when several selectors match it, so narrowing
never double-counts. The five queries run concurrently and share one deadline.

Zero rates are kept: an idle edge is still an edge, and histogram buckets must stay complete
for quantiles to interpolate correctly.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from metrics.client import PrometheusClient, QueryResult
from metrics.promql import matcher, regex_alternation, selector
from topology.graph.telemetry import (
    DURATION_BUCKET_LABELS,
    DURATION_SUM_LABELS,
    REQUEST_LABELS,
    TCP_LABELS,
    MeshTelemetry,
)

# (MeshTelemetry field, metric, grouping labels), in plan order.
QUERY_PLAN: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("requests", "istio_requests_total", REQUEST_LABELS),
    ("duration_buckets", "istio_request_duration_milliseconds_bucket", DURATION_BUCKET_LABELS),
    ("duration_sum", "istio_request_duration_milliseconds_sum", DURATION_SUM_LABELS),
    ("tcp_sent", "istio_tcp_sent_bytes_total", TCP_LABELS),
    ("tcp_received", "istio_tcp_received_bytes_total", TCP_LABELS),
)

# Labels that place a series in a namespace: traffic to it (by service or by workload) or from it.
NAMESPACE_LABELS: tuple[str, ...] = (
    "destination_service_namespace",
    "destination_workload_namespace",
    "source_workload_namespace",
)


def rate_query(
    metric: str, labels: Iterable[str], window_s: int, namespaces: Iterable[str] | None, scope: str
) -> str:
    """The PromQL of one step of the plan.

    ``namespaces`` ``None`` (or empty) reads the whole mesh; otherwise only series from or to
    those namespaces. Raises ``ValueError`` for a non-positive window.
    """
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    by = ",".join(labels)
    names = sorted(set(namespaces or ()))
    if not names:
        inner = f"rate({selector(metric, (), scope)}[{window_s}s])"
    else:
        pattern = regex_alternation(names)
        inner = " or ".join(
            f"rate({selector(metric, (matcher(label, '=~', pattern),), scope)}[{window_s}s])"
            for label in NAMESPACE_LABELS
        )
    return f"sum by ({by}) ({inner})"


class PrometheusTelemetrySource:
    """``TelemetrySource`` over a ``PrometheusClient``: exactly five queries per ``read``."""

    def __init__(self, client: PrometheusClient) -> None:
        self.client = client

    def queries(self, *, window_s: int, namespaces: frozenset[str] | None) -> list[str]:
        """The five PromQL expressions a ``read`` sends, in plan order."""
        return [
            rate_query(metric, labels, window_s, namespaces, self.client.scope)
            for _, metric, labels in QUERY_PLAN
        ]

    def read(self, *, query_time: float, window_s: int, namespaces: frozenset[str] | None) -> MeshTelemetry:
        """The mesh's traffic during ``window_s`` seconds ending at ``query_time``.

        Raises the client's errors (``PrometheusUnavailable``, ``PrometheusQueryLimit``,
        ``PrometheusQueryError``); when several queries fail, the first failing one in plan
        order is raised. All five end within the client's timeout.
        """
        promql = self.queries(window_s=window_s, namespaces=namespaces)
        deadline = time.monotonic() + self.client.timeout_s
        with ThreadPoolExecutor(max_workers=len(promql), thread_name_prefix="prometheus-read") as pool:
            futures = [pool.submit(self.client.query, q, time=query_time, deadline=deadline) for q in promql]
            outcomes: list[QueryResult | BaseException] = []
            for future in futures:
                error = future.exception()
                outcomes.append(error if error is not None else future.result())
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        telemetry = MeshTelemetry(query_time=query_time, window_s=window_s)
        for (field_name, _, _), result in zip(QUERY_PLAN, outcomes, strict=True):
            assert isinstance(result, QueryResult)
            setattr(telemetry, field_name, result.samples)
            for warning in result.warnings:
                if warning not in telemetry.warnings:
                    telemetry.warnings.append(warning)
        return telemetry
