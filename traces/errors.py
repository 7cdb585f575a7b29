"""The named errors of the traces app; ``TracesConfig.ready`` maps each to its API envelope.

``JaegerUnavailable`` (503 ``jaeger_unavailable``): Jaeger could not be reached or did not
answer in time. ``JaegerNotConfigured`` (503 ``jaeger_not_configured``): no trace source.
``JaegerBadResponse`` (502 ``jaeger_bad_response``): Jaeger answered something that is not its
API (malformed JSON, an unexpected shape or status). ``TraceNotFound`` (404
``trace_not_found``): the trace source does not know the id.
"""

from __future__ import annotations

from topology.graph.errors import UpstreamError, UpstreamNotConfigured, UpstreamUnavailable


class JaegerError(UpstreamError):
    """Base of every traces error; ``str(error)`` is a message for people."""


class JaegerUnavailable(JaegerError, UpstreamUnavailable):
    """Jaeger is down, slow or refused us; ``reason`` is a short fixed word, ``host`` is ``host:port``.

    Built as ``JaegerUnavailable(message, reason=..., host=..., status_code=None)`` (the port's
    ``UpstreamUnavailable``).
    """


class JaegerNotConfigured(JaegerError, UpstreamNotConfigured):
    """No Jaeger URL is set and no demo trace source applies."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "Jaeger is not configured: set MESHUI_JAEGER_URL to the Jaeger query service "
            "(e.g. http://jaeger-query.istio-system:16686)"
        )


class JaegerBadResponse(JaegerError):
    """Jaeger's answer is not a Jaeger API response (``status_code`` is its HTTP status)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TraceNotFound(JaegerError):
    """The trace source has no trace with ``trace_id``."""

    def __init__(self, trace_id: str) -> None:
        super().__init__(f"no trace with id {trace_id}")
        self.trace_id = trace_id
