"""Operational endpoints: /healthz (alive), /readyz (can serve), /metrics (own metrics).

None needs authentication, and none reveals a secret: upstream errors name the failure
and the host, never a URL's credentials, a token or a header value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from meshui.observability import REGISTRY, observe_upstream_query

UPSTREAM_CHECK_TIMEOUT_S = 2.0
_ERROR_LENGTH = 200


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok"}`` while the process can answer; touches no database or upstream."""
    return JsonResponse({"status": "ok"})


def _milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _error_text(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:_ERROR_LENGTH]


def _check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means "not ready"; the text says which
        return {
            "ok": False,
            "latency_ms": _milliseconds(time.perf_counter() - started),
            "error": _error_text(error),
        }
    return {"ok": True, "latency_ms": _milliseconds(time.perf_counter() - started)}


def _ping_prometheus() -> None:
    from metrics.client import PrometheusClient  # the metrics app is optional for readiness

    client = PrometheusClient.from_settings()
    # A query with its own deadline rather than ping(), whose budget is the (longer)
    # configured query timeout: readiness must answer within UPSTREAM_CHECK_TIMEOUT_S.
    client.query("vector(1)", time=time.time(), deadline=time.monotonic() + UPSTREAM_CHECK_TIMEOUT_S)


def _ping_redis() -> None:
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=UPSTREAM_CHECK_TIMEOUT_S,
        socket_connect_timeout=UPSTREAM_CHECK_TIMEOUT_S,
    )
    try:
        client.ping()
    finally:
        client.close()


def _timed_check(upstream: str, ping: Callable[[], None], observe: bool) -> dict[str, Any]:
    """Run ``ping``; report ok, latency and the error text. Never raises.

    ``observe`` records the call in the upstream metrics; off for Prometheus, whose client
    reports every call itself (the observer ``MetricsConfig.ready`` adds).
    """
    started = time.perf_counter()
    try:
        ping()
    except Exception as error:  # readiness reports upstream failures, it never fails on them
        elapsed = time.perf_counter() - started
        if observe:
            observe_upstream_query(upstream, elapsed, type(error).__name__)
        return {
            "configured": True,
            "ok": False,
            "latency_ms": _milliseconds(elapsed),
            "error": _error_text(error),
        }
    elapsed = time.perf_counter() - started
    if observe:
        observe_upstream_query(upstream, elapsed)
    return {"configured": True, "ok": True, "latency_ms": _milliseconds(elapsed), "error": None}


def _graph_read_mode() -> dict[str, Any]:
    """Which graph metrics the last reads found recorded by meshui's rules, per window (no query:
    the reads' own checks, see ``metrics.reader.RecordedSeriesProbe``)."""
    from sources import telemetry_source  # the source the graph reads through

    probe = getattr(telemetry_source(), "probe", None)
    if probe is None:
        return {"recorded_rules": "off", "recorded": {}, "error": ""}
    status = probe.status()
    return {"recorded_rules": "auto", **status}


def _not_configured() -> dict[str, Any]:
    return {"configured": False, "ok": None, "latency_ms": None, "error": None}


def _check_upstreams() -> dict[str, Any]:
    """Check the configured upstreams concurrently, each bounded by UPSTREAM_CHECK_TIMEOUT_S."""
    checks: dict[str, tuple[Callable[[], None], bool]] = {}
    if settings.PROMETHEUS.get("URL"):
        checks["prometheus"] = (_ping_prometheus, False)
    if settings.REDIS_URL:
        checks["redis"] = (_ping_redis, True)
    report: dict[str, Any] = {
        "prometheus": _not_configured(),
        "jaeger": {"configured": bool(settings.JAEGER.get("URL"))},
        "redis": _not_configured(),
    }
    if not checks:
        return report
    executor = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readyz")
    futures = {
        name: executor.submit(_timed_check, name, ping, observe) for name, (ping, observe) in checks.items()
    }
    deadline = time.monotonic() + UPSTREAM_CHECK_TIMEOUT_S + 0.5
    for name, future in futures.items():
        try:
            report[name] = future.result(timeout=max(deadline - time.monotonic(), 0.0))
        except FutureTimeout:
            report[name] = {
                "configured": True,
                "ok": False,
                "latency_ms": _milliseconds(UPSTREAM_CHECK_TIMEOUT_S),
                "error": f"no answer within {UPSTREAM_CHECK_TIMEOUT_S:g} s",
            }
    # Both pings carry their own socket timeouts, so a straggler thread ends by itself.
    executor.shutdown(wait=False)
    return report


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers ``SELECT 1``, else 503; upstreams are reported only.

    Body: ``{"status": "ready"|"not_ready", "database": {"ok", "latency_ms"[, "error"]},
    "upstreams": {"prometheus": {"configured", "ok", "latency_ms", "error", "graph_read"},
    "jaeger": {"configured"}, "redis": {...}}}``. Prometheus, Redis and Jaeger being down
    never makes meshui unready: pages say so and the rest keeps working.
    """
    database = _check_database()
    upstreams = _check_upstreams()
    if upstreams["prometheus"]["configured"]:
        upstreams["prometheus"]["graph_read"] = _graph_read_mode()
    body = {
        "status": "ready" if database["ok"] else "not_ready",
        "database": database,
        "upstreams": upstreams,
    }
    return JsonResponse(body, status=200 if database["ok"] else 503)


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """meshui's own metrics in the Prometheus text format (no secrets, so not protected)."""
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
