from django.apps import AppConfig


class TopologyConfig(AppConfig):
    name = "topology"
    verbose_name = "Topology"

    def ready(self) -> None:
        # Registers system checks only: nothing here connects to an upstream.
        from topology import checks  # noqa: F401
