"""Where telemetry and traces come from: the one place that picks every source.

Every feature asks here and nowhere else:

* ``telemetry_source()`` — the graph's instant reads: Prometheus
  (``metrics.reader.PrometheusTelemetrySource``) when ``MESHUI_PROMETHEUS_URL`` is set, else
  the built-in demo mesh (``demo.source.DemoTelemetrySource``, ``MESHUI_DEMO_SIZE``,
  ``MESHUI_DEMO_SEED``);
* ``range_source()`` — the detail charts' range reads, always the companion of the telemetry
  source: ``metrics.range_reader.PrometheusRangeSource`` over the same Prometheus client, or
  ``demo.range.DemoRangeSource`` over the same demo mesh;
* ``trace_source()`` — Jaeger (``traces.source.JaegerTraceSource``) when ``MESHUI_JAEGER_URL``
  is set, whatever the telemetry source; else the demo's own traces while the demo mesh is the
  telemetry source; else ``JaegerNotConfigured``;
* ``demo_routing()`` — the routing the demo mesh obeys (telemetry and traces alike): the
  ``local`` traffic backend's change log when that backend is the configured one.

Features get the ports back (``TelemetrySource``, ``RangeSource``, ``TraceSource``) and catch
the port errors (``topology.graph.errors``), so none of them names an adapter. Sources are
built once per configuration (the configuration is the cache key, so a changed setting in a
test gets a new source) and keep their HTTP connections between reads.

This package sits between the adapters it builds and the features that use them
(docs/decisions/0018-one-door-for-sources.md); it imports no feature.
"""

from __future__ import annotations

from functools import lru_cache

from django.apps import apps
from django.conf import settings

from demo.range import DemoRangeSource
from demo.simulate import RoutingProvider, Simulator
from demo.source import DemoTelemetrySource, demo_mesh
from demo.traces import DemoTraces
from metrics.client import PrometheusClient
from metrics.range_reader import PrometheusRangeSource
from metrics.reader import PrometheusTelemetrySource, RecordedSeriesProbe
from topology.graph.telemetry import RangeSource, TelemetrySource
from traces.client import JaegerClient
from traces.errors import JaegerNotConfigured
from traces.source import DemoTraceSource, JaegerTraceSource, TraceSource
from traffic.routing_for_demo import local_routing_history

__all__ = ["demo_routing", "is_demo", "range_source", "telemetry_source", "trace_source"]


def is_demo() -> bool:
    """True while the built-in demo mesh is the telemetry source (``MESHUI_PROMETHEUS_URL`` unset)."""
    return not settings.PROMETHEUS.get("URL")


def telemetry_source() -> TelemetrySource:
    """The configured telemetry source: Prometheus when ``MESHUI_PROMETHEUS_URL`` is set,
    otherwise the built-in demo mesh."""
    if is_demo():
        return _demo_telemetry(settings.DEMO_SIZE, settings.DEMO_SEED)
    return _prometheus_telemetry(_config(settings.PROMETHEUS))


def range_source() -> RangeSource:
    """The range-read companion of ``telemetry_source()``: the same Prometheus client or the
    same demo mesh, so a detail chart reads what the graph reads."""
    if is_demo():
        return DemoRangeSource(_demo_telemetry(settings.DEMO_SIZE, settings.DEMO_SEED))
    return PrometheusRangeSource(_prometheus_client(_config(settings.PROMETHEUS)))


def trace_source() -> TraceSource:
    """Jaeger when ``MESHUI_JAEGER_URL`` is set; the demo's traces while the demo mesh is the
    telemetry source; otherwise raises ``JaegerNotConfigured``."""
    if settings.JAEGER.get("URL"):
        return _jaeger_traces(_config(settings.JAEGER))
    if is_demo():
        return _demo_traces(settings.DEMO_SIZE, settings.DEMO_SEED)
    raise JaegerNotConfigured()


def demo_routing() -> RoutingProvider | None:
    """The routing the demo mesh obeys: the ``local`` traffic backend's change log when the
    traffic app is installed and ``MESHUI_MESH_BACKEND`` is ``local``, else none (the demo
    then runs on its built-in routing)."""
    if not apps.is_installed("traffic") or settings.MESHUI_MESH_BACKEND != "local":
        return None
    return local_routing_history


def _config(config: dict[str, object]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((key, str(value)) for key, value in config.items()))


@lru_cache(maxsize=4)
def _prometheus_client(config: tuple[tuple[str, str], ...]) -> PrometheusClient:
    # One client per configuration, shared by instant and range reads, so its HTTP connections
    # are reused; ``config`` is only the cache key (the client reads the settings itself).
    return PrometheusClient.from_settings()


@lru_cache(maxsize=4)
def _prometheus_telemetry(config: tuple[tuple[str, str], ...]) -> TelemetrySource:
    # Raw or recorded is decided here too: with MESHUI_PROMETHEUS_RECORDED=auto the reader asks
    # a probe, per metric and window, whether meshui's recording rules are there and fresh.
    client = _prometheus_client(config)
    probe = None
    if settings.PROMETHEUS.get("RECORDED", "auto") == "auto":
        probe = RecordedSeriesProbe(client, recheck_s=float(settings.PROMETHEUS.get("RULES_RECHECK_S") or 120))
    return PrometheusTelemetrySource(client, probe=probe)


@lru_cache(maxsize=2)
def _demo_telemetry(size: int, seed: int) -> DemoTelemetrySource:
    # Kept: building a synthetic mesh of a thousand services takes a noticeable fraction of a second.
    return DemoTelemetrySource(demo_mesh(size, seed), seed=seed, routing=demo_routing())


@lru_cache(maxsize=4)
def _jaeger_traces(config: tuple[tuple[str, str], ...]) -> TraceSource:
    # One client (and service-list cache) per configuration, as for Prometheus.
    return JaegerTraceSource(JaegerClient.from_settings())


@lru_cache(maxsize=2)
def _demo_traces(size: int, seed: int) -> TraceSource:
    return DemoTraceSource(DemoTraces(Simulator(demo_mesh(size, seed), seed, demo_routing())))
