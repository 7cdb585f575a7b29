"""The Prometheus telemetry source: Istio's standard metrics read into a ``MeshTelemetry``.

What a read costs Prometheus is, above all, the number of raw series it touches: on Debian's
Prometheus 2.42 selecting a series with Istio's thirty labels costs some 20 µs, and a mesh of
1,000 services holds 200k of them, nine in ten duration buckets (docs/decisions/0016). So the
plan touches as few series as the counting rule allows, each at most once, and splits the
biggest read in two so that Prometheus evaluates it on two cores:

1. ``istio_requests_total`` — both reporters, ``D or ignoring(reporter, security) S``;
2. + 3. ``istio_request_duration_milliseconds_bucket`` — two halves by ``le`` (Istio's ten lower
   bounds; every other spelling), the destination side only, plus the source side of requests
   whose destination workload is unknown (fault-injected aborts, upstream failures, no route,
   hosts outside the mesh): the only source reports of a histogram the counting rule can keep;
4. ``istio_request_duration_milliseconds_sum`` — the same sides;
5. ``istio_tcp_sent_bytes_total`` and ``istio_tcp_received_bytes_total`` in one query, told
   apart by a ``meshui_metric`` label.

Only when the requests answer holds an edge that only the source reported although it names
the destination workload (the destination proxy's metrics disabled, a proxyless server) is a
sixth query sent: that edge's source-side buckets and sums, narrowed by destination workload.

Each request is counted once by the builder's rule (docs/decisions/0002): the destination's
reports win per edge, the source adds requests that never reached a destination proxy. The
queries already drop most source reports the rule would discard, and keep ``reporter`` so the
builder can finish the job (``D or ignoring(reporter, security) S`` keeps a source outcome the
destination did not report, e.g. ``504 UT`` beside the destination's ``0 DC``; the builder drops
it unless it never reached a destination).

The fourteen identity labels travel as one label, ``meshui_edge`` (``label_join`` with
``metrics.parse.EDGE_SEPARATOR``), joined on the raw series (cheaper than grouping by fourteen
labels first) and aggregated away from the pods; ``metrics.parse`` splits each distinct value
once into ``Sample.identity``. Should a value hold the separator (``AmbiguousEdge``), the
ambiguous queries are asked again, spelled out, as **one** more query.

Selected namespaces narrow every selector with three **disjoint** branches — to a service of
the namespaces; else from a workload of them; else to a workload of them — with equality
matchers for one namespace (they hit Prometheus' index directly) and one alternation for
several. Disjoint branches touch each series once, so a selection never costs more than the
whole mesh; each branch is aggregated before the ``or`` (a group's series all lie in one branch:
the namespace labels are part of the identity).

Zero rates are kept: an idle edge is still an edge, and histogram buckets must stay complete
for quantiles to interpolate correctly.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from metrics.client import PrometheusClient, QueryResult
from metrics.errors import PrometheusError
from metrics.parse import EDGE_LABEL, EDGE_SEPARATOR, AmbiguousEdge
from metrics.promql import check_label_name, matcher, quote, regex_alternation, scoped, selector
from metrics.rules import NAMESPACE_LABELS, RECORDED_BY_KEY, RECORDED_METRICS, RecordedWindow, window_for
from topology.graph.telemetry import (
    DURATION_BUCKET_LABELS,
    DURATION_SUM_LABELS,
    EDGE_LABELS,
    IDENTITY_LABELS,
    NEVER_REACHED_FLAGS,
    REQUEST_LABELS,
    TCP_LABELS,
    MeshTelemetry,
    Sample,
)

_SECURITY = "connection_security_policy"
# (MeshTelemetry field, metric, labels kept beside the identity, labels the dedupe ignores,
# full grouping labels for the spelled-out form), per metric; the range reader uses it too.
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
_PLAN = {entry[0]: entry for entry in QUERY_PLAN}
_FIELDS = tuple(entry[0] for entry in QUERY_PLAN)
_ALL_FIELDS = frozenset(_FIELDS)

REQUESTS_METRIC = "istio_requests_total"
DURATION_METRICS = "istio_request_duration_milliseconds_(bucket|sum)"
DESTINATION_SIDE = (matcher("reporter", "=~", "destination|waypoint"),)
SOURCE_SIDE = (matcher("reporter", "=", "source"),)
NEVER_REACHED_SOURCE = (
    *SOURCE_SIDE,
    matcher("response_flags", "=~", "(.*,)?(" + "|".join(NEVER_REACHED_FLAGS) + ")(,.*)?"),
)
_UNSET_WORKLOAD = ("", "unknown")
# The source reports of a histogram the counting rule keeps: the destination never reported them.
UNKNOWN_DESTINATION_SOURCE = (*SOURCE_SIDE, matcher("destination_workload", "=", "unknown"))
# Istio's ten lower duration bounds (as Envoy writes them, or with a ".0"): the bucket read is
# split here into two queries of about the same size; any other bound or spelling falls in the
# second, so the halves are complete.
LOW_BOUNDS = ("0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000")
_LOW_BOUNDS_RE = "(" + "|".join(bound.replace(".", "\\.") for bound in LOW_BOUNDS) + ")(\\.0+)?"
BUCKET_HALVES = ((matcher("le", "=~", _LOW_BOUNDS_RE),), (matcher("le", "!~", _LOW_BOUNDS_RE),))
TCP_METRIC_LABEL = "meshui_metric"
QUERY_LABEL = "meshui_query"
# Past this many destination workloads the source fallback reads every source report.
MAX_FALLBACK_WORKLOADS = 500


def namespace_branches(namespaces: Iterable[str] | None) -> list[tuple[str, ...]]:
    """Disjoint matcher sets whose union selects the series from or to ``namespaces``.

    ``None`` or empty: one empty set (the whole mesh). One namespace: equality matchers, which
    Prometheus answers from its index; several: one alternation each.
    """
    names = sorted(set(namespaces or ()))
    if not names:
        return [()]
    if len(names) == 1:
        equal, differ, value = "=", "!=", names[0]
    else:
        equal, differ, value = "=~", "!~", regex_alternation(names)
    service_ns, workload_ns, source_ns = NAMESPACE_LABELS
    return [
        (matcher(service_ns, equal, value),),
        (matcher(service_ns, differ, value), matcher(source_ns, equal, value)),
        (matcher(service_ns, differ, value), matcher(source_ns, differ, value), matcher(workload_ns, equal, value)),
    ]


def _window(window_s: int) -> str:
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    return f"[{window_s}s]"


def side_sum(
    metric: str,
    matchers: Sequence[str],
    by: Sequence[str],
    window_s: int,
    namespaces: Iterable[str] | None,
    scope: str,
    *,
    compact: bool,
    recorded: str = "",
) -> str:
    """``sum by (by)`` of the rates of ``metric``'s series matching ``matchers``, per namespace
    branch, the branches joined by ``or`` (parenthesised, ready to combine).

    ``compact`` joins the identity into ``EDGE_LABEL`` on the raw series (``by`` then names
    ``EDGE_LABEL``). An empty ``metric`` selects by ``matchers`` alone (``__name__=~...``).
    ``recorded`` names a recorded series (``metrics.rules``) holding those rates already, joined:
    it is selected instead, with no ``rate`` and no join. Raises ``ValueError`` for a
    non-positive window or a bad label name.
    """
    window = _window(window_s)
    grouping = ",".join(check_label_name(label) for label in by)
    joined = ",".join(quote(label) for label in IDENTITY_LABELS)
    parts = []
    for branch in namespace_branches(namespaces):
        if recorded:
            inner = selector(recorded, (*matchers, *branch), scope)
        else:
            if metric:
                series = selector(metric, (*matchers, *branch), scope)
            else:
                series = "{" + ",".join(m for m in (*matchers, *branch, scope.strip().strip(",")) if m) + "}"
            inner = f"rate({series}{window})"
            if compact:
                inner = f"label_join({inner},{quote(EDGE_LABEL)},{quote(EDGE_SEPARATOR)},{joined})"
        parts.append(f"sum by ({grouping}) ({inner})")
    return "(" + " or ".join(parts) + ")"


def rate_query(
    metric: str, labels: Iterable[str], window_s: int, namespaces: Iterable[str] | None, scope: str
) -> str:
    """``sum by (labels) (rate(metric{scope}[window]))``, every reporter included.

    ``namespaces`` ``None`` (or empty) reads the whole mesh; otherwise only series from or to
    those namespaces. Raises ``ValueError`` for a non-positive window.
    """
    return side_sum(metric, (), tuple(labels), window_s, namespaces, scope, compact=False)


def _grouping(field_name: str, compact: bool) -> tuple[str, ...]:
    _, _, kept, _, full = _PLAN[field_name]
    return (EDGE_LABEL, *kept) if compact else full


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
    """Each series once, the destination side winning (the rule of the whole plan, both sides read).

    The range reader's form of a metric: ``D or ignoring(ignored) S``; for requests
    ``D or (S unless on(identity) D) or S{never reached}``. ``kept`` are the labels grouped by
    besides the identity (with ``compact=False`` they list the identity too). Raises
    ``ValueError`` for a non-positive window or a bad label name.
    """
    by = ((EDGE_LABEL, *kept) if compact else tuple(kept))
    destination, source, never_reached = (
        side_sum(metric, side, by, window_s, namespaces, scope, compact=compact)
        for side in (DESTINATION_SIDE, SOURCE_SIDE, NEVER_REACHED_SOURCE)
    )
    if metric == REQUESTS_METRIC:
        identity = EDGE_LABEL if compact else ",".join(IDENTITY_LABELS)
        return f"{destination} or ({source} unless on({identity}) {destination}) or {never_reached}"
    ignoring = ",".join(check_label_name(label) for label in ignored)
    return f"{destination} or ignoring({ignoring}) {source}"


@dataclass(frozen=True, slots=True)
class PlannedQuery:
    """One query of a read: its name, the ``MeshTelemetry`` field(s) it fills and its PromQL."""

    name: str
    promql: str


RECORDED_PROBE_TIMEOUT_S = 5.0
_PROBE_LABEL = "meshui_recorded"
# A selection of at least this share of the namespaces the recorded series name is read as the
# whole mesh (the builder keeps only the selection's traffic): selecting most of a mesh with
# three disjoint branches costs Prometheus more than reading all of it (docs/decisions/0025).
WHOLE_MESH_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class RecordedCheck:
    """One probe answer: the fields recorded and fresh, and the namespaces recorded requests name."""

    fields: frozenset[str]
    namespaces: frozenset[str]


_NOTHING_RECORDED = RecordedCheck(frozenset(), frozenset())


class RecordedSeriesProbe:
    """Which metrics Prometheus records (``metrics.rules``), per window, fresh at a time.

    One cheap query per check — the newest sample time of each recorded name, over the
    histogram's ``+Inf`` series and the other metrics' series only — cached for ``recheck_s``
    for live reads (``query_time`` within a minute of now) and per exact time for reads of the
    past, so that history before the rules were loaded is read raw. A recorded metric counts
    only when its newest sample is at most ``RecordedWindow.max_age_s`` older than the read's
    time. A failed check reads raw and is retried after ``retry_s``.
    """

    def __init__(
        self,
        client: PrometheusClient,
        *,
        recheck_s: float = 120.0,
        retry_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.recheck_s = recheck_s
        self.retry_s = retry_s
        self.clock = clock
        self._lock = threading.Lock()
        self._live: dict[int, tuple[float, RecordedCheck]] = {}
        self._past: OrderedDict[tuple[int, float], RecordedCheck] = OrderedDict()
        self._refreshing: set[int] = set()
        self.last_error: str = ""

    def recorded(self, window_s: int, query_time: float) -> frozenset[str]:
        """The ``MeshTelemetry`` fields recorded and fresh at ``query_time`` for ``window_s``."""
        return self.lookup(window_s, query_time).fields

    def lookup(self, window_s: int, query_time: float) -> RecordedCheck:
        """What the check found for ``window_s`` at ``query_time``: the fields recorded and fresh,
        and the namespaces the recorded requests name (empty when nothing is recorded).

        A live read whose cached answer has expired less than ``window.max_age_s`` ago gets that
        answer and starts one check in the background (stale while revalidating): the check's
        round trip is not on the read's path, and an answer is never older than ``recheck_s``
        plus two of the rules' evaluations. Older answers, the first read and reads of the past
        wait for their check.
        """
        window = window_for(window_s)
        if window is None:
            return _NOTHING_RECORDED
        now = self.clock()
        live = now - query_time < 60.0
        with self._lock:
            if live:
                cached = self._live.get(window_s)
                if cached is not None and cached[0] > now:
                    return cached[1]
                if cached is not None and now - cached[0] < window.max_age_s:
                    if window_s not in self._refreshing:
                        self._refreshing.add(window_s)
                        _read_pool().submit(self._refresh_live, window, window_s)
                    return cached[1]
            else:
                found = self._past.get((window_s, query_time))
                if found is not None:
                    return found
        if live:
            return self._refresh_live(window, window_s)
        check, ok = self._check(window, query_time)
        if ok:
            with self._lock:
                self._past[(window_s, query_time)] = check
                while len(self._past) > 64:
                    self._past.popitem(last=False)
        return check

    def _refresh_live(self, window: RecordedWindow, window_s: int) -> RecordedCheck:
        try:
            now = self.clock()
            check, ok = self._check(window, now)
            with self._lock:
                self._live[window_s] = (now + (self.recheck_s if ok else self.retry_s), check)
            return check
        finally:
            with self._lock:
                self._refreshing.discard(window_s)

    def _check(self, window: RecordedWindow, at: float) -> tuple[RecordedCheck, bool]:
        histogram = RECORDED_BY_KEY["duration_buckets"].recorded_name(window)
        others = "|".join(m.recorded_name(window) for m in RECORDED_METRICS if m.key != "duration_buckets")
        # Of the histogram only its +Inf series, by equality: a matcher that also matches the
        # empty value (le=~"\+Inf|") makes Prometheus take every series without an le label.
        series = (
            "{" + scoped([matcher("__name__", "=", histogram), matcher("le", "=", "+Inf")], self.client.scope) + "} or "
            "{" + scoped([matcher("__name__", "=~", others)], self.client.scope) + "}"
        )
        # timestamp() drops the metric name: keep it in a label of its own first.
        named = f'label_replace({series},"{_PROBE_LABEL}","$1","__name__","(.+)")'
        # The namespaces of the recorded requests come in the same answer (their own labels tell
        # them apart): a few thousand short series, grouped.
        requests = selector(RECORDED_BY_KEY["requests"].recorded_name(window), [], self.client.scope)
        seen = " or ".join(f"group by ({label}) ({requests})" for label in NAMESPACE_LABELS)
        promql = f"max by ({_PROBE_LABEL}) (timestamp({named})) or {seen}"
        try:
            result = self.client.query(
                promql, time=at, deadline=time.monotonic() + min(RECORDED_PROBE_TIMEOUT_S, self.client.timeout_s)
            )
        except PrometheusError as error:
            self.last_error = str(error)
            return _NOTHING_RECORDED, False
        self.last_error = ""
        newest: dict[str, float] = {}
        namespaces: set[str] = set()
        for sample in result.samples:
            labels = sample.labels
            if _PROBE_LABEL in labels:
                newest[labels[_PROBE_LABEL]] = sample.value
            else:
                namespaces.update(v for k, v in labels.items() if k in NAMESPACE_LABELS and v not in _UNSET_WORKLOAD)
        fields = frozenset(
            metric.key
            for metric in RECORDED_METRICS
            if at - newest.get(metric.recorded_name(window), -math.inf) <= window.max_age_s
        )
        return RecordedCheck(fields, frozenset(namespaces) if fields else frozenset()), True

    def status(self) -> dict[str, object]:
        """What the last live checks found, per recorded window (for ``/readyz``)."""
        with self._lock:
            found = {window_s: sorted(check.fields) for window_s, (_, check) in self._live.items()}
        return {"recorded": {f"{w}s": fields for w, fields in sorted(found.items())}, "error": self.last_error}


class PrometheusTelemetrySource:
    """``TelemetrySource`` over a ``PrometheusClient``: five queries per ``read``, a sixth only
    for source-only edges of known workloads, one more only when an identity was ambiguous."""

    def __init__(self, client: PrometheusClient, *, probe: RecordedSeriesProbe | None = None) -> None:
        self.client = client
        self.probe = probe

    # --- the plan ---------------------------------------------------------------------------

    def plan(
        self,
        *,
        window_s: int,
        namespaces: frozenset[str] | None,
        compact: bool = True,
        recorded: frozenset[str] = frozenset(),
    ) -> list[PlannedQuery]:
        """The five queries a ``read`` always sends, in order (``compact=False``: spelled out).

        ``recorded`` names the ``MeshTelemetry`` fields Prometheus records at this window
        (``metrics.rules``): those read the recorded series; the others, and every spelled-out
        query, read the raw ones.
        """
        scope = self.client.scope
        window = window_for(window_s)

        def recorded_name(field_name: str) -> str:
            """The recorded series this field is read from, or "" to read it raw."""
            if compact and window is not None and field_name in recorded:
                return RECORDED_BY_KEY[field_name].recorded_name(window)
            return ""

        def side(field_name: str, metric: str, matchers: Sequence[str]) -> str:
            name = recorded_name(field_name)
            return side_sum(
                metric,
                matchers,
                _grouping(field_name, compact),
                window_s,
                namespaces,
                scope,
                compact=compact,
                recorded=name,
            )

        requests = (
            f"{side('requests', REQUESTS_METRIC, DESTINATION_SIDE)} or ignoring(reporter,{_SECURITY}) "
            f"{side('requests', REQUESTS_METRIC, SOURCE_SIDE)}"
        )
        def histogram(field_name: str, metric: str, matchers: Sequence[str]) -> str:
            # The recorded histograms hold exactly the two sides read raw (metrics.rules), and
            # no destination_workload label to select the second by: one selection reads both.
            if recorded_name(field_name):
                return side(field_name, metric, matchers)
            return (
                f"{side(field_name, metric, (*DESTINATION_SIDE, *matchers))} or "
                f"{side(field_name, metric, (*UNKNOWN_DESTINATION_SOURCE, *matchers))}"
            )

        halves = [histogram("duration_buckets", _PLAN["duration_buckets"][1], half) for half in BUCKET_HALVES]
        sums = histogram("duration_sum", _PLAN["duration_sum"][1], ())
        tcp = []
        for field_name, name in (("tcp_sent", "sent"), ("tcp_received", "received")):
            metric = _PLAN[field_name][1]
            deduped = (
                f"{side(field_name, metric, DESTINATION_SIDE)} or ignoring(reporter,{_SECURITY},response_flags) "
                f"{side(field_name, metric, SOURCE_SIDE)}"
            )
            tcp.append(f"label_replace({deduped},{quote(TCP_METRIC_LABEL)},{quote(name)},\"\",\"\")")
        return [
            PlannedQuery("requests", requests),
            PlannedQuery("buckets_low", halves[0]),
            PlannedQuery("buckets_high", halves[1]),
            PlannedQuery("duration_sum", sums),
            PlannedQuery("tcp", " or ".join(tcp)),
        ]

    def queries(self, *, window_s: int, namespaces: frozenset[str] | None, compact: bool = True) -> list[str]:
        """The PromQL of the five queries a ``read`` always sends, in order."""
        return [query.promql for query in self.plan(window_s=window_s, namespaces=namespaces, compact=compact)]

    def source_fallback(
        self, workloads: Iterable[tuple[str, str]], *, window_s: int, compact: bool = True, every: bool = False
    ) -> PlannedQuery:
        """Source-side buckets and sums of the edges to ``workloads`` (namespace, name): the sixth
        query, for edges only the source reported although it named the destination workload.
        ``every`` (or more than ``MAX_FALLBACK_WORKLOADS`` workloads) reads every source report."""
        pairs = sorted(set(workloads))
        matchers: list[str] = [*SOURCE_SIDE, matcher("__name__", "=~", DURATION_METRICS)]
        if pairs and not every and len(pairs) <= MAX_FALLBACK_WORKLOADS:
            matchers.append(matcher("destination_workload", "=~", regex_alternation(name for _, name in pairs)))
            matchers.append(
                matcher("destination_workload_namespace", "=~", regex_alternation(ns for ns, _ in pairs))
            )
        by = (EDGE_LABEL, "reporter", "le") if compact else (*DURATION_BUCKET_LABELS,)
        promql = side_sum("", matchers, by, window_s, None, self.client.scope, compact=compact)
        return PlannedQuery("source_fallback", promql)

    # --- the read ---------------------------------------------------------------------------

    def read(self, *, query_time: float, window_s: int, namespaces: frozenset[str] | None) -> MeshTelemetry:
        """The mesh's traffic during ``window_s`` seconds ending at ``query_time``.

        Raises the client's errors (``PrometheusUnavailable``, ``PrometheusQueryLimit``,
        ``PrometheusQueryError``); when several queries fail, the first failing one in plan
        order is raised. All queries, the fallbacks included, end within the client's timeout.
        """
        deadline = time.monotonic() + self.client.timeout_s
        check = self.probe.lookup(window_s, query_time) if self.probe is not None else _NOTHING_RECORDED
        recorded = check.fields
        planned = self.plan(window_s=window_s, namespaces=self.selection_read(namespaces, check), recorded=recorded)
        pool = _read_pool()
        futures = {q.name: self._submit(pool, q, query_time, deadline) for q in planned}
        outcomes: dict[str, QueryResult | BaseException] = {"requests": _outcome(futures["requests"])}
        workloads = self._fallback_workloads(outcomes["requests"])
        if workloads:
            fallback = self.source_fallback(workloads, window_s=window_s)
            futures[fallback.name] = self._submit(pool, fallback, query_time, deadline)
            planned.append(fallback)
        for name, future in futures.items():
            outcomes.setdefault(name, _outcome(future))
        ambiguous = [q for q in planned if isinstance(outcomes[q.name], AmbiguousEdge)]
        if ambiguous:
            retried, added = self._spelled_out(ambiguous, workloads, query_time, window_s, namespaces, deadline)
            outcomes.update(retried)
            planned.extend(added)
        for query in planned:
            outcome = outcomes[query.name]
            if isinstance(outcome, BaseException):
                raise outcome
        telemetry = MeshTelemetry(
            query_time=query_time, window_s=window_s, recorded=tuple(k for k in _FIELDS if k in recorded)
        )
        for query in planned:
            result = outcomes[query.name]
            assert isinstance(result, QueryResult)
            _fill(telemetry, query.name, result.samples)
            for warning in result.warnings:
                if warning not in telemetry.warnings:
                    telemetry.warnings.append(warning)
        return telemetry

    @staticmethod
    def selection_read(namespaces: frozenset[str] | None, check: RecordedCheck) -> frozenset[str] | None:
        """The namespaces to select in PromQL for a selection of ``namespaces``: the selection
        itself, or ``None`` (the whole mesh) when every metric is recorded and the selection
        holds at least ``WHOLE_MESH_SHARE`` of the namespaces the recorded series name. The
        builder keeps only the selection's traffic either way (``GraphOptions.namespaces``)."""
        if not namespaces or check.fields != _ALL_FIELDS or not check.namespaces:
            return namespaces
        if len(namespaces & check.namespaces) >= WHOLE_MESH_SHARE * len(check.namespaces):
            return None
        return namespaces

    def _submit(
        self, pool: ThreadPoolExecutor, query: PlannedQuery, query_time: float, deadline: float
    ) -> Future[QueryResult]:
        return pool.submit(self.client.query, query.promql, time=query_time, deadline=deadline)

    def _fallback_workloads(self, requests: QueryResult | BaseException) -> set[tuple[str, str]]:
        return set() if isinstance(requests, BaseException) else source_only_workloads(requests.samples)

    def _spelled_out(
        self,
        ambiguous: list[PlannedQuery],
        workloads: set[tuple[str, str]],
        query_time: float,
        window_s: int,
        namespaces: frozenset[str] | None,
        deadline: float,
    ) -> tuple[dict[str, QueryResult | BaseException], list[PlannedQuery]]:
        """The ambiguous queries asked again with the labels spelled out, as **one** query whose
        parts a ``meshui_query`` label tells apart; and the queries that adds to the plan.

        When the requests answer itself was ambiguous, which edges need the source fallback is
        unknown until it comes back, so the retry reads every source-side bucket and sum (the
        builder keeps only those its rule counts): still one query.
        """
        spelled = {q.name: q for q in self.plan(window_s=window_s, namespaces=namespaces, compact=False)}
        names = {q.name for q in ambiguous}
        added: list[PlannedQuery] = []
        if "requests" in names or "source_fallback" in names:
            everything = "requests" in names
            fallback = self.source_fallback(workloads, window_s=window_s, compact=False, every=everything)
            spelled[fallback.name] = fallback
            if "source_fallback" not in names:
                names.add(fallback.name)
                added.append(fallback)
        parts = [
            f"label_replace({spelled[name].promql},{quote(QUERY_LABEL)},{quote(name)},\"\",\"\")"
            for name in sorted(names)
        ]
        try:
            combined = self.client.query(" or ".join(parts), time=query_time, deadline=deadline)
        except Exception as error:  # handed to read(), which raises it in plan order
            return dict.fromkeys(names, error), added
        split: dict[str, list[Sample]] = {name: [] for name in names}
        for sample in combined.samples:
            labels = dict(sample.labels)
            split[labels.pop(QUERY_LABEL, "")].append(Sample(labels, sample.value, sample.identity))
        retried: dict[str, QueryResult | BaseException] = {
            name: QueryResult(combined.result_type, samples=split[name], warnings=combined.warnings)
            for name in names
        }
        return retried, added


_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
# Queries of concurrent reads share these threads (a read has at most seven queries, usually
# five); starting five threads per read cost about as much as a one-namespace read itself. A
# query that waits for a thread still ends by its read's deadline (the client checks it first).
READ_THREADS = 32


def _read_pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="prometheus-read")
        return _POOL


def _outcome(future: Future[QueryResult]) -> QueryResult | BaseException:
    error = future.exception()
    return error if error is not None else future.result()


def source_only_workloads(requests: Iterable[Sample]) -> set[tuple[str, str]]:
    """(namespace, name) of the destination workloads of edges only the source reported,
    among request samples whose destination workload is known."""
    reported: set[tuple[str, ...]] = set()
    by_source: dict[tuple[str, ...], tuple[str, str]] = {}
    destination_reporters = ("destination", "waypoint")
    for sample in requests:
        identity = sample.identity if sample.identity is not None else tuple(sample.label(n) for n in IDENTITY_LABELS)
        if sample.labels.get("reporter") in destination_reporters:
            reported.add(identity)
            continue
        workload = sample.label("destination_workload")
        if workload not in _UNSET_WORKLOAD:
            by_source[identity] = (sample.label("destination_workload_namespace"), workload)
    return {pair for identity, pair in by_source.items() if identity not in reported}


def _fill(telemetry: MeshTelemetry, name: str, samples: list[Sample]) -> None:
    """Put the samples of query ``name`` where they belong in ``telemetry``."""
    if name == "requests":
        telemetry.requests.extend(samples)
    elif name in ("buckets_low", "buckets_high"):
        telemetry.duration_buckets.extend(samples)
    elif name == "duration_sum":
        telemetry.duration_sum.extend(samples)
    elif name == "tcp":
        for sample in samples:
            labels = dict(sample.labels)
            kind = labels.pop(TCP_METRIC_LABEL, "")
            target = telemetry.tcp_sent if kind == "sent" else telemetry.tcp_received
            target.append(Sample(labels, sample.value, sample.identity))
    elif name == "source_fallback":
        for sample in samples:
            if "le" in sample.labels:
                telemetry.duration_buckets.append(sample)
            else:
                telemetry.duration_sum.append(sample)
    else:  # pragma: no cover - the plan names every query
        raise ValueError(f"unknown query {name!r}")


__all__ = [
    "EDGE_LABELS",
    "NAMESPACE_LABELS",
    "QUERY_PLAN",
    "PrometheusTelemetrySource",
    "deduped_query",
    "namespace_branches",
    "rate_query",
    "side_sum",
    "source_only_workloads",
]
