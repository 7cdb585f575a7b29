"""The only module that speaks HTTP to Prometheus.

``PrometheusClient`` sends instant and range queries to the Prometheus HTTP API with
``requests`` (see docs/decisions/0001-prometheus-over-plain-http.md for why not a wrapper
library), keeps Prometheus' ``warnings``, and turns every failure into one of the named errors
of ``metrics.errors``. Every call is bounded: the connect timeout is ``min(3, timeout_s)`` and
the whole call — connect, headers and body — ends within ``timeout_s`` plus a small margin,
even against a server that trickles bytes.

Observability goes through a hook: functions added with ``add_observer`` receive a
``QueryEvent`` after every call (success or failure), so ``meshui.observability`` can export
``meshui_upstream_query_seconds{upstream="prometheus"}`` without this module knowing about it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from meshui.upstream import USER_AGENT, Unreachable, Upstream, bounded_request, host_of
from metrics.errors import (
    PrometheusError,
    PrometheusNotConfigured,
    PrometheusQueryError,
    PrometheusQueryLimit,
    PrometheusUnavailable,
)
from metrics.parse import Series, matrix_series, parse_envelope, vector_samples
from topology.graph.telemetry import Sample

# Prometheus' own error types that mean "try again later" rather than "this query is wrong".
_UNAVAILABLE_ERROR_TYPES = frozenset({"timeout", "canceled", "unavailable"})
# Message fragments of Prometheus' limits (promql/engine.go, web/api/v1/api.go).
_LIMITS = (
    ("would load too many samples into memory", "max_samples"),
    ("exceeded maximum resolution", "max_resolution"),
)
# Room for the last recv and the JSON decoding after the budget is spent.
DEADLINE_MARGIN_S = 0.5


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A successful answer.

    ``result_type`` is Prometheus' ``resultType``; ``samples`` holds the vector (or scalar)
    samples of an instant query, ``series`` the matrix of a range query; ``warnings`` are
    Prometheus' own warnings, unchanged.
    """

    result_type: str
    samples: list[Sample] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """What an observer learns after each call.

    ``endpoint`` is ``query`` or ``query_range``; ``outcome`` is ``ok`` or the class name of
    the error raised (``PrometheusUnavailable``, ``PrometheusQueryError``,
    ``PrometheusQueryLimit``); ``duration_s`` is wall time of the whole call.
    """

    endpoint: str
    outcome: str
    duration_s: float


QueryObserver = Callable[[QueryEvent], None]
_observers: list[QueryObserver] = []
_observers_lock = threading.Lock()


def add_observer(observer: QueryObserver) -> None:
    """Call ``observer(event)`` after every Prometheus call of every client in this process;
    adding an observer that is already there changes nothing."""
    with _observers_lock:
        if observer not in _observers:
            _observers.append(observer)


def remove_observer(observer: QueryObserver) -> None:
    """Stop calling ``observer``; a no-op when it was not added."""
    with _observers_lock:
        if observer in _observers:
            _observers.remove(observer)


def _notify(event: QueryEvent) -> None:
    with _observers_lock:
        observers = list(_observers)
    for observer in observers:
        observer(event)


def _format_time(value: float) -> str:
    return f"{value:.3f}"


class PrometheusClient:
    """A bounded, thread-safe client of one Prometheus HTTP API.

    ``url`` is the API root (``http://prometheus:9090``, or a prefix such as
    ``https://mimir/prometheus``); ``token`` is sent as ``Authorization: Bearer``; ``ca_file``
    verifies TLS; ``headers`` are added to every request (for tenant headers such as
    ``X-Scope-OrgID``); ``timeout_s`` bounds every call; ``scope`` is the PromQL matcher text
    that readers add to every selector. ``queries_sent`` counts calls made by this instance.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str = "",
        ca_file: str = "",
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        scope: str = "",
        session: requests.Session | None = None,
    ) -> None:
        if not url:
            raise PrometheusNotConfigured()
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.url = url.rstrip("/")
        self.host = host_of(self.url)
        self.timeout_s = float(timeout_s)
        self._upstream = Upstream("Prometheus", self.host, self.timeout_s)
        self.scope = scope
        self._session = session or requests.Session()
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._verify: bool | str = ca_file or True
        self._count_lock = threading.Lock()
        self.queries_sent = 0

    @classmethod
    def from_settings(cls) -> PrometheusClient:
        """A client configured from ``settings.PROMETHEUS``; raises ``PrometheusNotConfigured``."""
        from django.conf import settings  # Imported here so this module works without Django.

        config = settings.PROMETHEUS
        return cls(
            config.get("URL") or "",
            token=config.get("TOKEN") or "",
            ca_file=str(config.get("CA_FILE") or ""),
            headers=config.get("HEADERS") or {},
            timeout_s=config.get("TIMEOUT_S") or 10.0,
            scope=config.get("SCOPE") or "",
        )

    def __repr__(self) -> str:
        return f"PrometheusClient(host={self.host!r}, timeout_s={self.timeout_s})"

    # --- public API -----------------------------------------------------------------------

    def query(self, promql: str, *, time: float, deadline: float | None = None) -> QueryResult:
        """Run an instant query at ``time`` (unix seconds).

        Sent as a form-encoded POST so that long queries fit. ``deadline`` (a
        ``time.monotonic()`` value) lets several concurrent calls share one budget; by default
        the budget is ``timeout_s`` from now. Raises ``PrometheusUnavailable``,
        ``PrometheusQueryLimit`` or ``PrometheusQueryError``.
        """
        envelope = self._call("query", {"query": promql, "time": _format_time(time)}, deadline)
        result_type = str(envelope.data.get("resultType"))
        return QueryResult(result_type, samples=vector_samples(envelope.data), warnings=envelope.warnings)

    def query_range(
        self, promql: str, *, start: float, end: float, step: float, deadline: float | None = None
    ) -> QueryResult:
        """Run a range query from ``start`` to ``end`` (unix seconds) every ``step`` seconds.

        Raises like ``query``; a range wider than 11,000 steps raises ``PrometheusQueryLimit``.
        """
        form = {"query": promql, "start": _format_time(start), "end": _format_time(end), "step": f"{step:g}"}
        envelope = self._call("query_range", form, deadline)
        return QueryResult("matrix", series=matrix_series(envelope.data), warnings=envelope.warnings)

    def ping(self) -> float:
        """Seconds a trivial query (``vector(1)``) took; raises like ``query``.

        A query rather than ``/-/ready`` because a Prometheus-compatible API behind a path
        prefix (Thanos, Mimir, an auth proxy) may not expose ``/-/ready``, and a query also
        proves the token and headers are accepted.
        """
        started = time.monotonic()
        self.query("vector(1)", time=time.time())
        return time.monotonic() - started

    # --- HTTP -----------------------------------------------------------------------------

    def _call(self, endpoint: str, form: dict[str, str], deadline: float | None) -> Any:
        started = time.monotonic()
        with self._count_lock:
            self.queries_sent += 1
        outcome = "ok"
        try:
            return self._post(endpoint, form, deadline if deadline is not None else started + self.timeout_s)
        except PrometheusError as error:
            outcome = type(error).__name__
            raise
        finally:
            _notify(QueryEvent(endpoint=endpoint, outcome=outcome, duration_s=time.monotonic() - started))

    def _post(self, endpoint: str, form: dict[str, str], deadline: float) -> Any:
        try:
            answer = bounded_request(
                self._session,
                "POST",
                f"{self.url}/api/v1/{endpoint}",
                upstream=self._upstream,
                deadline=deadline,
                headers=self._headers,
                verify=self._verify,
                data=form,
                idempotent=True,  # queries only read
            )
        except Unreachable as error:
            raise PrometheusUnavailable(str(error), reason=error.reason, host=self.host) from None
        return self._interpret(answer.status, answer.content_type, answer.body)

    def _interpret(self, status: int, content_type: str, body: bytes) -> Any:
        try:
            envelope = parse_envelope(body)
        except PrometheusQueryError as error:
            if error.error_type == "bad_response":
                raise self._not_prometheus(status, content_type) from None
            raise self._classify(error, status) from None
        if status >= 300:
            # A success envelope with an error status is not something Prometheus sends.
            raise self._not_prometheus(status, content_type)
        return envelope

    def _classify(self, error: PrometheusQueryError, status: int) -> PrometheusError:
        if error.error_type in _UNAVAILABLE_ERROR_TYPES:
            return PrometheusUnavailable(
                f"Prometheus at {self.host} did not finish the query ({error.error_type}: {error.error}); "
                "a shorter window makes the query cheaper",
                reason=f"prometheus_{error.error_type}",
                host=self.host,
                status_code=status,
            )
        for fragment, limit in _LIMITS:
            if fragment in error.error:
                return PrometheusQueryLimit(
                    error.error, error_type=error.error_type, limit=limit, status_code=status
                )
        return PrometheusQueryError(error.error, error_type=error.error_type, status_code=status)

    def _not_prometheus(self, status: int, content_type: str) -> PrometheusError:
        kind = content_type.split(";")[0].strip() or "no content type"
        if status >= 500 or status in (401, 403, 404, 407, 429):
            hint = {
                401: " (check MESHUI_PROMETHEUS_TOKEN)",
                403: " (check MESHUI_PROMETHEUS_TOKEN and MESHUI_PROMETHEUS_HEADERS)",
                404: " (check the path of MESHUI_PROMETHEUS_URL)",
                407: " (a proxy requires authentication)",
            }.get(status, "")
            return PrometheusUnavailable(
                f"Prometheus at {self.host} answered HTTP {status} ({kind}) instead of an API response{hint}",
                reason="http_status",
                host=self.host,
                status_code=status,
            )
        return PrometheusQueryError(
            f"HTTP {status} from {self.host} is not a Prometheus API response ({kind})",
            error_type="bad_response",
            status_code=status,
        )

