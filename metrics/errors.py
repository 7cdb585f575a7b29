"""The named errors of the Prometheus door.

Plain exceptions (no Django import): the API layer maps them to HTTP in one handler —
``PrometheusUnavailable`` → 503 ``prometheus_unavailable``, ``PrometheusQueryLimit`` → 400 naming
the ``window`` parameter and ``limit``, ``PrometheusQueryError`` → 502 ``prometheus_query_error``,
``PrometheusNotConfigured`` → 503 as well (nothing to ask).

Messages name the Prometheus host (``host:port``) and never the URL's user info, the bearer
token or any configured header value.

Classification of Prometheus' own error types (``errorType`` in its JSON envelope):

* ``timeout`` ("query timed out in expression evaluation"), ``canceled`` and ``unavailable`` are
  ``PrometheusUnavailable``: the server was reachable but did not answer in time or was
  shedding load. The same request may succeed a moment later, so blaming the caller with a
  400 would be wrong; the message still says that a shorter window makes the query cheaper.
* "query processing would load too many samples into memory" (``execution``, the
  ``--query.max-samples`` limit) and "exceeded maximum resolution of 11,000 points"
  (``bad_data``) are ``PrometheusQueryLimit``: deterministic for a given query, and the
  caller fixes them by asking for a shorter window or a coarser step.
* every other error type (``bad_data``, ``execution``, ``internal``, ``not_found``, …) is
  ``PrometheusQueryError`` carrying Prometheus' ``errorType`` and message unchanged.
"""

from __future__ import annotations

from topology.graph.errors import UpstreamError, UpstreamNotConfigured, UpstreamUnavailable


class PrometheusError(UpstreamError):
    """Base of every error raised by ``metrics``; features catch the port's ``UpstreamError``."""


class PrometheusNotConfigured(PrometheusError, UpstreamNotConfigured):
    """``MESHUI_PROMETHEUS_URL`` is not set, so there is no Prometheus to ask."""

    def __init__(self, message: str = "Prometheus is not configured: set MESHUI_PROMETHEUS_URL.") -> None:
        super().__init__(message)


class PrometheusUnavailable(PrometheusError, UpstreamUnavailable):
    """Prometheus could not answer: connection refused, DNS failure, timeout, or a 5xx.

    Built as ``PrometheusUnavailable(message, reason=..., host=..., status_code=None)`` (the
    port's ``UpstreamUnavailable``). ``reason`` is a short machine-readable cause
    (``connection_refused``, ``dns``, ``connection_failed``, ``timeout``, ``http_status``,
    ``prometheus_timeout``, ``prometheus_unavailable``, ``tls``); ``host`` is ``host:port`` of
    the configured URL; ``status_code`` is the HTTP status when one was received.
    """


class PrometheusQueryError(PrometheusError):
    """Prometheus answered but refused or failed the query, or the answer was malformed.

    ``error_type`` is Prometheus' own ``errorType`` (``bad_data``, ``execution``, …) or
    ``bad_response`` when the body was not a Prometheus API answer; ``error`` is the message
    as Prometheus wrote it; ``status_code`` is the HTTP status (``None`` when not from HTTP).
    """

    def __init__(self, error: str, *, error_type: str, status_code: int | None = None) -> None:
        super().__init__(f"Prometheus {error_type}: {error}")
        self.error = error
        self.error_type = error_type
        self.status_code = status_code


class PrometheusQueryLimit(PrometheusQueryError):
    """The query exceeded a Prometheus limit; a shorter window or coarser step avoids it.

    ``limit`` names which: ``max_samples`` (``--query.max-samples``) or ``max_resolution``
    (11,000 points per series in a range query).
    """

    def __init__(self, error: str, *, error_type: str, limit: str, status_code: int | None = None) -> None:
        super().__init__(error, error_type=error_type, status_code=status_code)
        self.limit = limit
