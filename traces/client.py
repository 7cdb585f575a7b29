"""The only module that speaks HTTP to Jaeger's query service (API v1, port 16686).

``JaegerClient`` reads ``/api/services``, ``/api/services/{svc}/operations``, ``/api/traces``
and ``/api/traces/{id}`` and turns every failure into a named error of ``traces.errors``.
Every call is bounded like the Prometheus client's (``metrics.client``): the connect timeout
is ``min(3, timeout_s)`` and the whole call — connect, headers, body — ends within
``timeout_s`` plus ``DEADLINE_MARGIN_S``, even against a server that trickles bytes.

Observability goes through a hook: functions added with ``add_observer`` receive a
``QueryEvent`` after every call, which ``TracesConfig.ready`` feeds into
``meshui_upstream_query_seconds{upstream="jaeger"}``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import requests

from meshui.upstream import USER_AGENT, Unreachable, Upstream, bounded_request, host_of
from traces.errors import JaegerBadResponse, JaegerError, JaegerNotConfigured, JaegerUnavailable, TraceNotFound
from traces.model import Trace
from traces.parse import Envelope, parse_envelope, parse_traces, string_list

# Room for the last recv and the JSON decoding after the budget is spent.
DEADLINE_MARGIN_S = 0.5
# Jaeger's own cap on a search is its storage's; this keeps one answer a reasonable size.
MAX_LIMIT = 1500


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """What an observer learns after each call: ``endpoint`` is ``services``, ``operations``,
    ``traces`` or ``trace``; ``outcome`` is ``ok`` or the error's class name."""

    endpoint: str
    outcome: str
    duration_s: float


QueryObserver = Callable[[QueryEvent], None]
_observers: list[QueryObserver] = []
_observers_lock = threading.Lock()


def add_observer(observer: QueryObserver) -> None:
    """Call ``observer(event)`` after every Jaeger call of every client in this process (once per observer)."""
    with _observers_lock:
        if observer not in _observers:
            _observers.append(observer)


def remove_observer(observer: QueryObserver) -> None:
    """Stop calling ``observer``; a no-op when it was not added."""
    with _observers_lock:
        if observer in _observers:
            _observers.remove(observer)


def _notify(event: QueryEvent) -> None:
    with _observers_lock:
        observers = list(_observers)
    for observer in observers:
        observer(event)


class JaegerClient:
    """A bounded, thread-safe client of one Jaeger query service.

    ``url`` is the query service root (``http://jaeger-query:16686``, or a prefix such as
    ``https://gw/jaeger``); ``token`` is sent as ``Authorization: Bearer``; ``ca_file``
    verifies TLS; ``timeout_s`` bounds every call. Raises ``JaegerNotConfigured`` for an
    empty ``url`` and ``ValueError`` for a non-positive timeout.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str = "",
        ca_file: str = "",
        timeout_s: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        if not url:
            raise JaegerNotConfigured()
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.url = url.rstrip("/")
        self.host = host_of(self.url)
        self.timeout_s = float(timeout_s)
        self._upstream = Upstream("Jaeger", self.host, self.timeout_s)
        self._session = session or requests.Session()
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._verify: bool | str = ca_file or True

    @classmethod
    def from_settings(cls) -> JaegerClient:
        """A client configured from ``settings.JAEGER``; raises ``JaegerNotConfigured``."""
        from django.conf import settings  # Imported here so this module works without Django.

        config = settings.JAEGER
        return cls(
            config.get("URL") or "",
            token=config.get("TOKEN") or "",
            ca_file=str(config.get("CA_FILE") or ""),
            timeout_s=config.get("TIMEOUT_S") or 5.0,
        )

    def __repr__(self) -> str:
        return f"JaegerClient(host={self.host!r}, timeout_s={self.timeout_s})"

    # --- public API -----------------------------------------------------------------------

    def services(self) -> list[str]:
        """Every service name Jaeger knows; raises ``JaegerUnavailable`` or ``JaegerBadResponse``."""
        return string_list(self._call("services", "/api/services", {}).data)

    def operations(self, service: str) -> list[str]:
        """Operation names of ``service`` (empty for a service Jaeger does not know)."""
        return string_list(self._call("operations", f"/api/services/{quote(service, safe='')}/operations", {}).data)

    def find_traces(
        self,
        service: str,
        *,
        start_us: int,
        end_us: int,
        limit: int,
        operation: str | None = None,
        tags: Mapping[str, str] | None = None,
        min_duration_us: int | None = None,
        max_duration_us: int | None = None,
    ) -> list[Trace]:
        """Traces with a span of ``service`` starting within ``[start_us, end_us]`` (µs since
        the epoch), at most ``limit`` (1..``MAX_LIMIT``), in Jaeger's order.

        ``tags`` must all match one span; durations are in microseconds. Raises
        ``ValueError`` for a bad limit, ``JaegerUnavailable`` or ``JaegerBadResponse``.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_LIMIT}")
        params: dict[str, str] = {
            "service": service,
            "start": str(int(start_us)),
            "end": str(int(end_us)),
            "limit": str(int(limit)),
        }
        if operation:
            params["operation"] = operation
        if tags:
            params["tags"] = json.dumps(dict(tags), separators=(",", ":"))
        if min_duration_us:
            params["minDuration"] = f"{int(min_duration_us)}us"
        if max_duration_us:
            params["maxDuration"] = f"{int(max_duration_us)}us"
        return parse_traces(self._call("traces", "/api/traces", params).data)

    def get_trace(self, trace_id: str) -> Trace:
        """The trace ``trace_id`` (already validated by the caller); raises ``TraceNotFound``
        when Jaeger answers 404 or no trace, ``JaegerUnavailable`` or ``JaegerBadResponse``."""
        try:
            envelope = self._call("trace", f"/api/traces/{quote(trace_id, safe='')}", {})
        except _NotFound:
            raise TraceNotFound(trace_id) from None
        traces = parse_traces(envelope.data)
        if not traces:
            raise TraceNotFound(trace_id)
        return traces[0]

    # --- HTTP -----------------------------------------------------------------------------

    def _call(self, endpoint: str, path: str, params: dict[str, str]) -> Envelope:
        started = time.monotonic()
        outcome = "ok"
        try:
            return self._get(path, params, started + self.timeout_s)
        except _NotFound as not_found:
            if endpoint != "trace":
                # Only a trace can be missing; a 404 elsewhere means the URL is not Jaeger's API.
                error = self._http_status(404, "application/json", not_found.message)
                outcome = type(error).__name__
                raise error from None
            outcome = "TraceNotFound"
            raise
        except JaegerError as error:
            outcome = type(error).__name__
            raise
        finally:
            _notify(QueryEvent(endpoint=endpoint, outcome=outcome, duration_s=time.monotonic() - started))

    def _get(self, path: str, params: dict[str, str], deadline: float) -> Envelope:
        try:
            answer = bounded_request(
                self._session,
                "GET",
                f"{self.url}{path}",
                upstream=self._upstream,
                deadline=deadline,
                headers=self._headers,
                verify=self._verify,
                params=params,
                idempotent=True,  # the query API only reads
            )
        except Unreachable as error:
            raise JaegerUnavailable(str(error), reason=error.reason, host=self.host) from None
        return self._interpret(answer.status, answer.content_type, answer.body)

    def _interpret(self, status: int, content_type: str, body: bytes) -> Envelope:
        kind = content_type.split(";")[0].strip() or "no content type"
        if status == 404:
            # Jaeger's "trace not found" is a 404 envelope; a 404 page means a wrong URL path.
            try:
                envelope = parse_envelope(body)
            except JaegerBadResponse:
                raise self._http_status(status, kind) from None
            raise _NotFound(envelope)
        if status >= 500 or status in (401, 403, 407, 429):
            raise self._http_status(status, kind, _first_message(body))
        if status >= 300:
            raise JaegerBadResponse(
                f"Jaeger at {self.host} answered HTTP {status}: {_first_message(body) or kind}", status_code=status
            )
        try:
            return parse_envelope(body)
        except JaegerBadResponse as error:
            raise JaegerBadResponse(f"{error} (from {self.host}, {kind})", status_code=status) from None

    def _http_status(self, status: int, kind: str, message: str = "") -> JaegerUnavailable:
        hint = {
            401: " (check MESHUI_JAEGER_TOKEN)",
            403: " (check MESHUI_JAEGER_TOKEN)",
            404: " (check the path of MESHUI_JAEGER_URL)",
            407: " (a proxy requires authentication)",
        }.get(status, "")
        detail = f": {message}" if message else f" ({kind})"
        return JaegerUnavailable(
            f"Jaeger at {self.host} answered HTTP {status}{detail}{hint}",
            reason="http_status",
            host=self.host,
            status_code=status,
        )


class _NotFound(Exception):
    """Internal: Jaeger answered its 404 envelope (only ``get_trace`` turns it into an error)."""

    def __init__(self, envelope: Envelope) -> None:
        super().__init__("not found")
        self.message = envelope.errors[0][1][:200] if envelope.errors else ""


def _first_message(body: bytes) -> str:
    """The first ``errors[].msg`` of a Jaeger error envelope, cut to 200 characters ("" if none)."""
    try:
        envelope = parse_envelope(body)
    except JaegerBadResponse:
        return ""
    return envelope.errors[0][1][:200] if envelope.errors else ""

