"""Trace sources — Jaeger, or the demo mesh — behind one ``TraceSource`` interface.

Which one a request uses is decided in one place, ``sources.trace_source()``. The query functions below
(``service_traces``, ``edge_traces``) work on any source and map graph names to trace
service names: Istio names a sidecar's service ``<app>.<namespace>``; a plain ``<app>`` (an
application that reports to Jaeger itself) is accepted too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from traces.client import MAX_LIMIT, JaegerClient
from traces.errors import TraceNotFound
from traces.model import CallEnd, MatchedOn, Trace
from traces.parse import parse_trace

if TYPE_CHECKING:
    from demo.traces import DemoTraces

TracePredicate = Callable[[Trace], bool]
# How many traces a filtered search asks Jaeger for, per trace wanted (Jaeger cannot filter
# on trace shape or on errors as meshui defines them, so meshui filters what it gets).
OVERFETCH = 5
# Seconds a Jaeger service list is reused (it changes when a new app starts reporting).
SERVICES_TTL_S = 30.0
# Most demo traces one demo search builds before it gives up looking for matches.
DEMO_SCAN_LIMIT = 5000


class TraceSource(Protocol):
    """What the API needs from a trace source. Times are µs since the epoch."""

    def services(self) -> list[str]:
        """Every service name the source knows."""
        ...

    def find_traces(
        self,
        service: str,
        *,
        start_us: int,
        end_us: int,
        limit: int,
        min_duration_us: int | None = None,
        predicate: TracePredicate | None = None,
    ) -> list[Trace]:
        """At most ``limit`` traces with a span of ``service`` started within the range (and,
        with ``min_duration_us``, a span of ``service`` at least that long) for which
        ``predicate`` holds, newest first."""
        ...

    def get_trace(self, trace_id: str) -> Trace:
        """The trace ``trace_id``; raises ``TraceNotFound``."""
        ...


def _newest_first(traces: list[Trace]) -> list[Trace]:
    return sorted(traces, key=lambda t: (-t.start_time_us, t.trace_id))


def _long_enough(trace: Trace, service: str, min_duration_us: int | None) -> bool:
    if not min_duration_us:
        return True
    return any(s.service == service and s.duration_us >= min_duration_us for s in trace.spans)


class JaegerTraceSource:
    """``TraceSource`` over a Jaeger query service (raises the client's errors)."""

    def __init__(self, client: JaegerClient, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._services: tuple[float, list[str]] | None = None

    def __repr__(self) -> str:
        return f"JaegerTraceSource({self.client!r})"

    def services(self) -> list[str]:
        """Jaeger's service list, reused for ``SERVICES_TTL_S``; a failed read is not kept."""
        with self._lock:
            cached = self._services
            if cached is not None and self._clock() < cached[0]:
                return cached[1]
        names = self.client.services()
        with self._lock:
            self._services = (self._clock() + SERVICES_TTL_S, names)
        return names

    def find_traces(
        self,
        service: str,
        *,
        start_us: int,
        end_us: int,
        limit: int,
        min_duration_us: int | None = None,
        predicate: TracePredicate | None = None,
    ) -> list[Trace]:
        ask = limit if predicate is None else min(MAX_LIMIT, limit * OVERFETCH)
        found = self.client.find_traces(
            service, start_us=start_us, end_us=end_us, limit=ask, min_duration_us=min_duration_us
        )
        if predicate is not None:
            found = [trace for trace in found if predicate(trace)]
        return _newest_first(found)[:limit]

    def get_trace(self, trace_id: str) -> Trace:
        return self.client.get_trace(trace_id)


class DemoTraceSource:
    """``TraceSource`` over the demo mesh's sampled traces (``demo.traces.DemoTraces``).

    The demo's routing provider (the one its telemetry obeys) is read once per search or lookup.
    """

    def __init__(self, demo: DemoTraces) -> None:
        self.demo = demo

    def __repr__(self) -> str:
        return f"DemoTraceSource(mesh={self.demo.mesh.name!r}, seed={self.demo.simulator.seed})"

    def services(self) -> list[str]:
        return self.demo.services()

    def find_traces(
        self,
        service: str,
        *,
        start_us: int,
        end_us: int,
        limit: int,
        min_duration_us: int | None = None,
        predicate: TracePredicate | None = None,
    ) -> list[Trace]:
        demo = self.demo
        entries = [entry for entry, names in demo.reachable.items() if service in names]
        if not entries or limit <= 0:
            return []
        history = demo.routing_history()
        found: list[Trace] = []
        for scanned, (start, ref) in enumerate(demo.refs(start_us / 1e6, end_us / 1e6, entries)):
            if scanned >= DEMO_SCAN_LIMIT:
                break
            trace = parse_trace(demo.build(ref, start, history))
            if service not in trace.services or not _long_enough(trace, service, min_duration_us):
                continue
            if predicate is not None and not predicate(trace):
                continue
            found.append(trace)
            if len(found) >= limit:
                break
        return _newest_first(found)

    def get_trace(self, trace_id: str) -> Trace:
        raw = self.demo.trace(trace_id)
        if raw is None:
            raise TraceNotFound(trace_id)
        return parse_trace(raw)


# --- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppRef:
    """A graph app: ``namespace`` and ``app`` (canonical service), narrowed to one ``workload``
    and/or one ``version`` of it when the graph node is that specific."""

    namespace: str
    app: str
    workload: str | None = None
    version: str | None = None

    def candidates(self) -> tuple[str, str]:
        """Trace service names that mean this app: Istio's ``<app>.<namespace>``, then ``<app>``."""
        return (f"{self.app}.{self.namespace}", self.app)

    def call_end(self) -> CallEnd:
        """The spans of this ref (see ``CallEnd``)."""
        return CallEnd(frozenset(self.candidates()), self.namespace, self.workload, self.version)

    @property
    def matched_on(self) -> MatchedOn:
        """What a span must share with this ref: ``workload``, ``version`` or ``app``."""
        return self.call_end().matched_on


def resolve_service(source: TraceSource, ref: AppRef) -> str | None:
    """The name ``source`` knows ``ref`` by, or ``None`` when it has no traces of it."""
    known = set(source.services())
    return next((name for name in ref.candidates() if name in known), None)


def service_traces(
    source: TraceSource,
    ref: AppRef,
    *,
    start_us: int,
    end_us: int,
    limit: int,
    min_duration_us: int | None = None,
    errors_only: bool = False,
) -> list[Trace]:
    """Traces through ``ref`` in the range, newest first; ``[]`` for a service without traces."""
    name = resolve_service(source, ref)
    if name is None:
        return []
    predicate: TracePredicate | None = (lambda trace: trace.has_error) if errors_only else None
    return source.find_traces(
        name, start_us=start_us, end_us=end_us, limit=limit, min_duration_us=min_duration_us, predicate=predicate
    )


def edge_traces(
    source: TraceSource,
    source_app: AppRef,
    target_app: AppRef,
    *,
    start_us: int,
    end_us: int,
    limit: int,
    min_duration_us: int | None = None,
    errors_only: bool = False,
) -> list[Trace]:
    """Traces with a span of ``source_app`` whose child span belongs to ``target_app``, newest first.

    Each end is matched on its workload, else its version, else its app (``AppRef.matched_on``):
    productpage-v1 → reviews-v2 keeps only traces in which productpage-v1 called a reviews-v2 pod.
    """
    name = resolve_service(source, source_app)
    if name is None:
        return []
    caller, callee = source_app.call_end(), target_app.call_end()

    def crosses(trace: Trace) -> bool:
        return trace.has_call_between(caller, callee) and (trace.has_error or not errors_only)

    return source.find_traces(
        name, start_us=start_us, end_us=end_us, limit=limit, min_duration_us=min_duration_us, predicate=crosses
    )
