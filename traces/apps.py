"""Traces from Jaeger's query API, or from the demo mesh (docs/decisions/0010-traces.md)."""

from django.apps import AppConfig

from traces.client import QueryEvent


def _on_jaeger_query(event: QueryEvent) -> None:
    """Feed one Jaeger call into ``meshui_upstream_query_seconds``; a missing trace is no failure."""
    from meshui.observability import observe_upstream_query

    error = None if event.outcome in ("ok", "TraceNotFound") else event.outcome
    observe_upstream_query("jaeger", event.duration_s, error)


class TracesConfig(AppConfig):
    name = "traces"
    verbose_name = "Traces (Jaeger)"

    def ready(self) -> None:
        # Registers callbacks and error mappings only: nothing here contacts Jaeger.
        from meshui.errors import register_error
        from traces import errors
        from traces.client import add_observer

        add_observer(_on_jaeger_query)
        register_error(errors.JaegerUnavailable, "jaeger_unavailable", 503, None, ("reason", "host"))
        register_error(errors.JaegerNotConfigured, "jaeger_not_configured", 503)
        register_error(errors.JaegerBadResponse, "jaeger_bad_response", 502, None, ("status_code",))
        register_error(errors.TraceNotFound, "trace_not_found", 404, "trace_id", ("trace_id",))
