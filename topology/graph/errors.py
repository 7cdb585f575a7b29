"""The port errors: how a source of telemetry or traces says its upstream failed.

Every adapter's named errors derive from these (``metrics.errors`` for Prometheus,
``traces.errors`` for Jaeger), so a feature — the graph and its live path, the metrics pages,
the traffic reads — catches ``UpstreamError`` (or a narrower port class) and never imports an
adapter's classes. Catching the port changes no API answer: ``meshui.errors`` still maps each
adapter class (the most specific registered one) to its own code and HTTP status.

Pure: no Django, no HTTP.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """An upstream (Prometheus, Jaeger) could not give a source what it asked for.

    ``str(error)`` is a message for people; it names the upstream's host, never credentials.
    """


class UpstreamUnavailable(UpstreamError):
    """The upstream could not answer: unreachable, too slow, shedding load, or a 5xx.

    ``reason`` is a short machine-readable cause (``timeout``, ``dns``, ``connection_refused``,
    ``http_status``, …; each adapter documents its own), ``host`` is ``host:port`` of the
    configured URL and ``status_code`` the HTTP status when one was received. The same request
    may succeed a moment later.
    """

    def __init__(self, message: str, *, reason: str, host: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.host = host
        self.status_code = status_code


class UpstreamNotConfigured(UpstreamError):
    """No upstream is configured for what was asked, so there is nothing to ask."""
