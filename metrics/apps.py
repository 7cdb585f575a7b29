from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics (Prometheus)"

    def ready(self) -> None:
        # Registers a callback only: nothing here contacts Prometheus.
        from meshui.observability import install_prometheus_observer

        install_prometheus_observer()
