"""meshui's own Prometheus metrics, served at /metrics.

The metrics live in a private ``REGISTRY`` (not prometheus_client's global one) so that
only these series are exposed. Other modules record through the small functions below
rather than touching the metric objects. Each process has its own registry: /metrics of
a web process shows that process (Celery workers are not scraped).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUEST_DURATION = Histogram(
    "meshui_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, URL route pattern and status.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_QUERY_DURATION = Histogram(
    "meshui_upstream_query_seconds",
    "Time of one call to an upstream (prometheus, jaeger, redis), failed or not.",
    ["upstream"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "meshui_upstream_errors",  # exposed as meshui_upstream_errors_total
    "Failed upstream calls, by upstream and error name.",
    ["upstream", "error"],
    registry=REGISTRY,
)
WEBSOCKET_CLIENTS = Gauge(
    "meshui_websocket_clients",
    "Websocket clients connected to this process.",
    registry=REGISTRY,
)
TICKER_DURATION = Histogram(
    "meshui_ticker_duration_seconds",
    "Time of one live-graph tick (query, build, broadcast).",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SIGNIN_FAILURES = Counter(
    "meshui_signin_failures",  # exposed as meshui_signin_failures_total
    "Failed sign-ins (wrong username or password) from a client.",
    registry=REGISTRY,
)
SIGNIN_LOCKOUTS = Counter(
    "meshui_signin_lockouts",
    "Sign-in lockouts begun, by scope (account, address).",
    ["scope"],
    registry=REGISTRY,
)
SIGNIN_REFUSED = Counter(
    "meshui_signin_refused",
    "Sign-ins refused (429) during a lockout, by scope (account, address).",
    ["scope"],
    registry=REGISTRY,
)

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"
STATIC_ROUTE = "<static>"


def observe_upstream_query(upstream: str, seconds: float, error: str | None = None) -> None:
    """Record one upstream call of ``seconds``; ``error`` names the failure (e.g. an exception class).

    ``upstream`` and ``error`` become label values: pass a small fixed set (never a URL or message).
    """
    UPSTREAM_QUERY_DURATION.labels(upstream=upstream).observe(max(seconds, 0.0))
    if error:
        UPSTREAM_ERRORS.labels(upstream=upstream, error=error).inc()


def websocket_connected() -> None:
    """Count one more websocket client (call from the consumer's connect)."""
    WEBSOCKET_CLIENTS.inc()


def websocket_disconnected() -> None:
    """Count one websocket client fewer (call from the consumer's disconnect)."""
    WEBSOCKET_CLIENTS.dec()


def observe_ticker(seconds: float) -> None:
    """Record the duration of one live-graph tick."""
    TICKER_DURATION.observe(max(seconds, 0.0))


def observe_signin_failure() -> None:
    """Count one failed sign-in."""
    SIGNIN_FAILURES.inc()


def observe_signin_lockout(scope: str) -> None:
    """Count one lockout begun; ``scope`` is ``account`` or ``address``."""
    SIGNIN_LOCKOUTS.labels(scope=scope).inc()


def observe_signin_refused(scope: str) -> None:
    """Count one sign-in refused during a lockout of ``scope`` (``account`` or ``address``)."""
    SIGNIN_REFUSED.labels(scope=scope).inc()


def route_of(request: HttpRequest) -> str:
    """The URL pattern that served ``request`` (e.g. ``api/v1/graph``, ``/`` for the graph
    page, the URL name such as ``api-entity-list`` for a regular-expression pattern), never the
    raw path.

    Static files (answered before URL resolution) are ``<static>``; anything that matched
    no pattern, such as a 404, is ``<unmatched>``: raw paths would let any client create
    unbounded label values.
    """
    match = getattr(request, "resolver_match", None)
    if match is not None:
        route = match.route
        if "(?" in route or "^" in route:
            # A regular expression reads badly on a dashboard: its URL name says the same.
            return match.view_name or route
        # The graph page's pattern is the empty string.
        return route or "/"
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return STATIC_ROUTE
    return UNMATCHED_ROUTE


def _record(request: HttpRequest, status: int, started: float) -> None:
    method = request.method if request.method in _KNOWN_METHODS else "other"
    HTTP_REQUEST_DURATION.labels(method=method, route=route_of(request), status=str(status)).observe(
        time.perf_counter() - started
    )


class RequestMetricsMiddleware:
    """Time every request into ``meshui_http_request_duration_seconds``; works sync and async.

    Placed first so the time covers the whole middleware stack. A request whose view
    raises is recorded with status 500 and the exception re-raised.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except BaseException:
            _record(request, 500, started)
            raise
        _record(request, response.status_code, started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        try:
            response = await self.get_response(request)
        except BaseException:
            _record(request, 500, started)
            raise
        _record(request, response.status_code, started)
        return response
