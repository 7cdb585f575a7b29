"""The traffic app: operator changes written back as Istio resources (see docs/traffic.md)."""

from django.apps import AppConfig


class TrafficConfig(AppConfig):
    name = "traffic"
    verbose_name = "Traffic management"

    def ready(self) -> None:
        # Registers the built-in backends by name and maps the domain errors to the API envelope.
        from traffic import errors  # noqa: F401
        from traffic.backends import gitops, kubernetes, local  # noqa: F401
