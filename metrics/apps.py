from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics (Prometheus)"

    def ready(self) -> None:
        # Registers callbacks and error mappings only: nothing here contacts Prometheus.
        from meshui.errors import register_error
        from meshui.observability import install_prometheus_observer
        from metrics import errors

        install_prometheus_observer()
        register_error(errors.PrometheusUnavailable, "prometheus_unavailable", 503, None, ("reason", "host"))
        register_error(errors.PrometheusNotConfigured, "prometheus_not_configured", 503)
        register_error(errors.PrometheusQueryLimit, "query_limit", 400, "window", ("limit", "error_type"))
        register_error(errors.PrometheusQueryError, "prometheus_query_error", 502, None, ("error_type",))
