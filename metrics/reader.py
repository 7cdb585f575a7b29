"""The Prometheus telemetry source: Istio's standard metrics read into a ``MeshTelemetry``.

The query plan is constant — five instant queries per read, whatever the graph type or the
number of namespaces — so the cost of a graph does not grow with what the user selects:

1. ``istio_requests_total``: the edge, ``reporter`` and the outcome of each request
2. ``istio_request_duration_milliseconds_bucket``: the edge, ``reporter`` and ``le``
3. ``istio_request_duration_milliseconds_sum``: the edge and ``reporter``
4. ``istio_tcp_sent_bytes_total``: the edge, ``reporter``, flags and mTLS
5. ``istio_tcp_received_bytes_total``: the same

Each query counts every request once already (docs/decisions/0002), halving what Prometheus
sends back::

    sum by (meshui_edge, <kept>) (label_join(rate(m{reporter=~"destination|waypoint"}[w]), ...))
    or ignoring(reporter, <side labels>)
    sum by (meshui_edge, <kept>) (label_join(rate(m{reporter="source"}[w]), ...))

``or`` keeps every destination-side element and adds a source-side one only when no
destination-side element has the same labels outside ``ignoring``: the destination report
wins per edge (``le`` is ignored, so a histogram comes whole from one side). Requests take one
more term: ``D or (S unless on(edge) D) or S{response_flags=~<never reached>}`` — the source
adds, on an edge the destination saw, only requests that never reached a destination proxy
(``NEVER_REACHED_FLAGS``). That is exactly the builder's rule, which stays in place as a
safety net (the ``reporter`` label is kept).

The fourteen identity labels travel as one label, ``meshui_edge`` (``label_join`` with
``metrics.parse.EDGE_SEPARATOR``), so each series carries 2 to 6 labels instead of 17;
``metrics.parse`` splits each distinct value once into ``Sample.identity``. Should a label value
hold the separator (``AmbiguousEdge``), that metric alone is asked again with the labels
spelled out (the same dedupe, no join): one more query, only then.

With namespaces, each ``rate`` becomes an ``or`` of three narrowed selectors (destination
service namespace, destination workload namespace, source workload namespace, each ``=~`` one
alternation of the namespaces); ``or`` keeps a series once even when several selectors match
it, so narrowing never double-counts. The queries run concurrently and share one deadline.

Zero rates are kept: an idle edge is still an edge, and histogram buckets must stay complete
for quantiles to interpolate correctly.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from metrics.client import PrometheusClient, QueryResult
from metrics.parse import EDGE_LABEL, EDGE_SEPARATOR, AmbiguousEdge
from metrics.promql import check_label_name, matcher, quote, regex_alternation, selector
from topology.graph.telemetry import (
    DURATION_BUCKET_LABELS,
    DURATION_SUM_LABELS,
    IDENTITY_LABELS,
    NEVER_REACHED_FLAGS,
    REQUEST_LABELS,
    TCP_LABELS,
    MeshTelemetry,
)

_SECURITY = "connection_security_policy"
# (MeshTelemetry field, metric, labels kept beside the identity, labels the dedupe ignores,
# full grouping labels for the spelled-out fallback), in plan order.
QUERY_PLAN: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "requests",
        "istio_requests_total",
        ("reporter", "response_code", "grpc_response_status", "response_flags", _SECURITY),
        ("reporter", _SECURITY),
        REQUEST_LABELS,
    ),
    (
        "duration_buckets",
        "istio_request_duration_milliseconds_bucket",
        ("reporter", "le"),
        ("reporter", "le"),
        DURATION_BUCKET_LABELS,
    ),
    ("duration_sum", "istio_request_duration_milliseconds_sum", ("reporter",), ("reporter",), DURATION_SUM_LABELS),
    (
        "tcp_sent",
        "istio_tcp_sent_bytes_total",
        ("reporter", "response_flags", _SECURITY),
        ("reporter", _SECURITY, "response_flags"),
        TCP_LABELS,
    ),
    (
        "tcp_received",
        "istio_tcp_received_bytes_total",
        ("reporter", "response_flags", _SECURITY),
        ("reporter", _SECURITY, "response_flags"),
        TCP_LABELS,
    ),
)

# Labels that place a series in a namespace: traffic to it (by service or by workload) or from it.
NAMESPACE_LABELS: tuple[str, ...] = (
    "destination_service_namespace",
    "destination_workload_namespace",
    "source_workload_namespace",
)
REQUESTS_METRIC = "istio_requests_total"
DESTINATION_SIDE = (matcher("reporter", "=~", "destination|waypoint"),)
SOURCE_SIDE = (matcher("reporter", "=", "source"),)
NEVER_REACHED_SOURCE = (
    *SOURCE_SIDE,
    matcher("response_flags", "=~", "(.*,)?(" + "|".join(NEVER_REACHED_FLAGS) + ")(,.*)?"),
)


def _rates(metric: str, side: tuple[str, ...], window_s: int, namespaces: list[str], scope: str) -> str:
    if not namespaces:
        return f"rate({selector(metric, side, scope)}[{window_s}s])"
    pattern = regex_alternation(namespaces)
    return " or ".join(
        f"rate({selector(metric, (*side, matcher(label, '=~', pattern)), scope)}[{window_s}s])"
        for label in NAMESPACE_LABELS
    )


def rate_query(
    metric: str, labels: Iterable[str], window_s: int, namespaces: Iterable[str] | None, scope: str
) -> str:
    """``sum by (labels) (rate(metric{scope}[window]))``, every reporter included.

    ``namespaces`` ``None`` (or empty) reads the whole mesh; otherwise only series from or to
    those namespaces. Raises ``ValueError`` for a non-positive window.
    """
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    by = ",".join(check_label_name(label) for label in labels)
    return f"sum by ({by}) ({_rates(metric, (), window_s, sorted(set(namespaces or ())), scope)})"


def deduped_query(
    metric: str,
    kept: Iterable[str],
    ignored: Iterable[str],
    window_s: int,
    namespaces: Iterable[str] | None,
    scope: str,
    *,
    compact: bool = True,
) -> str:
    """One query of the plan: each series once, the destination side winning (see the module doc).

    ``kept`` are the labels grouped by besides the identity; ``ignored`` those the ``or`` does
    not match on. ``compact`` joins the identity labels into ``EDGE_LABEL``; otherwise they are
    grouped by as they are (``kept`` then lists them too). Raises ``ValueError`` for a
    non-positive window or a bad label name.
    """
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    names = sorted(set(namespaces or ()))
    by = ",".join(check_label_name(label) for label in ((EDGE_LABEL, *kept) if compact else kept))
    joined = ",".join(quote(label) for label in IDENTITY_LABELS)
    sides = []
    for side in (DESTINATION_SIDE, SOURCE_SIDE, NEVER_REACHED_SOURCE):
        inner = _rates(metric, side, window_s, names, scope)
        if compact:
            inner = f"label_join({inner},{quote(EDGE_LABEL)},{quote(EDGE_SEPARATOR)},{joined})"
        sides.append(f"sum by ({by}) ({inner})")
    destination, source, never_reached = sides
    if metric == REQUESTS_METRIC:
        # Per edge: the destination's reports, or the source's where the destination saw
        # nothing of that edge, plus the source's reports of requests that never reached a
        # destination (a plain `or`: those already taken have identical label sets).
        identity = EDGE_LABEL if compact else ",".join(IDENTITY_LABELS)
        return f"{destination} or ({source} unless on({identity}) {destination}) or {never_reached}"
    ignoring = ",".join(check_label_name(label) for label in ignored)
    return f"{destination} or ignoring({ignoring}) {source}"


class PrometheusTelemetrySource:
    """``TelemetrySource`` over a ``PrometheusClient``: five queries per ``read``, plus one per
    metric whose compact answer was ambiguous (never, unless a label value holds a line feed)."""

    def __init__(self, client: PrometheusClient) -> None:
        self.client = client

    def queries(
        self, *, window_s: int, namespaces: frozenset[str] | None, compact: bool = True
    ) -> list[str]:
        """The five PromQL expressions a ``read`` sends, in plan order (``compact=False``: the
        spelled-out fallbacks)."""
        return [
            deduped_query(
                metric,
                kept if compact else full,
                ignored,
                window_s,
                namespaces,
                self.client.scope,
                compact=compact,
            )
            for _, metric, kept, ignored, full in QUERY_PLAN
        ]

    def read(self, *, query_time: float, window_s: int, namespaces: frozenset[str] | None) -> MeshTelemetry:
        """The mesh's traffic during ``window_s`` seconds ending at ``query_time``.

        Raises the client's errors (``PrometheusUnavailable``, ``PrometheusQueryLimit``,
        ``PrometheusQueryError``); when several queries fail, the first failing one in plan
        order is raised. All queries, the fallbacks included, end within the client's timeout.
        """
        promql = self.queries(window_s=window_s, namespaces=namespaces)
        deadline = time.monotonic() + self.client.timeout_s
        outcomes = self._run(promql, query_time, deadline)
        ambiguous = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, AmbiguousEdge)]
        if ambiguous:
            spelled_out = self.queries(window_s=window_s, namespaces=namespaces, compact=False)
            retried = self._run([spelled_out[i] for i in ambiguous], query_time, deadline)
            for i, outcome in zip(ambiguous, retried, strict=True):
                outcomes[i] = outcome
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        telemetry = MeshTelemetry(query_time=query_time, window_s=window_s)
        for (field_name, *_), result in zip(QUERY_PLAN, outcomes, strict=True):
            assert isinstance(result, QueryResult)
            setattr(telemetry, field_name, result.samples)
            for warning in result.warnings:
                if warning not in telemetry.warnings:
                    telemetry.warnings.append(warning)
        return telemetry

    def _run(self, promql: list[str], query_time: float, deadline: float) -> list[QueryResult | BaseException]:
        """Each query's result or error, in order, the queries run concurrently."""
        with ThreadPoolExecutor(max_workers=len(promql), thread_name_prefix="prometheus-read") as pool:
            futures = [pool.submit(self.client.query, q, time=query_time, deadline=deadline) for q in promql]
            outcomes: list[QueryResult | BaseException] = []
            for future in futures:
                error = future.exception()
                outcomes.append(error if error is not None else future.result())
        return outcomes
