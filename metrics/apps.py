"""Prometheus: the client, the readers, the metrics pages and their API."""

from django.apps import AppConfig

from metrics.client import QueryEvent


def _on_prometheus_query(event: QueryEvent) -> None:
    """Feed one Prometheus call into ``meshui_upstream_query_seconds``."""
    from meshui.observability import observe_upstream_query

    observe_upstream_query("prometheus", event.duration_s, None if event.outcome == "ok" else event.outcome)


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics (Prometheus)"

    def ready(self) -> None:
        # Registers callbacks and error mappings only: nothing here contacts Prometheus.
        from meshui.errors import register_error
        from metrics import errors
        from metrics.client import add_observer

        add_observer(_on_prometheus_query)
        register_error(errors.PrometheusUnavailable, "prometheus_unavailable", 503, None, ("reason", "host"))
        register_error(errors.PrometheusNotConfigured, "prometheus_not_configured", 503)
        register_error(errors.PrometheusQueryLimit, "query_limit", 400, "window", ("limit", "error_type"))
        register_error(errors.PrometheusQueryError, "prometheus_query_error", 502, None, ("error_type",))
