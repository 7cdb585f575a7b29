"""The trace model: what meshui knows of a trace, independent of where it came from (pure).

A ``Trace`` is a list of ``Span``s; a span's ``parent_span_id`` is its first CHILD_OF
reference (else its first FOLLOWS_FROM one); ``references`` keeps them all. Services are
the names the trace source uses (Istio: ``<app>.<namespace>``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

CHILD_OF = "CHILD_OF"
FOLLOWS_FROM = "FOLLOWS_FROM"
# What a pod's name adds to its workload's: a Deployment's ``<pod-template-hash>-<5>``, a
# DaemonSet's or Job's ``<5>``, a StatefulSet's ordinal. ``reviews-v1-6f76498fc8-58wpn`` is a pod
# of ``reviews-v1`` and not of ``reviews`` (``v1-6f76498fc8-58wpn`` is no such suffix).
_POD_SUFFIX = re.compile(r"^(?:(?:[a-z0-9]{1,10}-)?[a-z0-9]{5}|[0-9]+)$")
MatchedOn = Literal["workload", "version", "app"]


@dataclass(frozen=True, slots=True)
class Reference:
    """A link from a span to another span: ``ref_type`` is ``CHILD_OF`` or ``FOLLOWS_FROM``."""

    ref_type: str
    span_id: str


@dataclass(frozen=True, slots=True)
class Span:
    """One span. Times in microseconds since the epoch; ``tags`` maps key → JSON value."""

    span_id: str
    parent_span_id: str | None
    service: str
    operation: str
    start_time_us: int
    duration_us: int
    has_error: bool
    tags: dict[str, Any] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()

    @property
    def end_time_us(self) -> int:
        return self.start_time_us + self.duration_us

    @property
    def pod(self) -> tuple[str, str] | None:
        """``(pod, namespace)`` of the Envoy that reported the span, from Istio's ``node_id`` tag
        (``sidecar~10.244.0.23~reviews-v2-6f76498fc8-58wpn.bookinfo~bookinfo.svc.cluster.local``);
        ``None`` when the span has no such tag (an application reporting for itself)."""
        parts = str(self.tags.get("node_id", "")).split("~")
        if len(parts) != 4:
            return None
        pod, dot, namespace = parts[2].rpartition(".")
        return (pod, namespace) if dot and pod and namespace else None


def pod_of_workload(pod: str, workload: str) -> bool:
    """True when ``pod`` is named as a pod of the controller ``workload`` names
    (``<workload>-<hash>-<id>``, ``<workload>-<id>``, ``<workload>-<ordinal>``)."""
    return pod.startswith(f"{workload}-") and _POD_SUFFIX.match(pod[len(workload) + 1 :]) is not None


@dataclass(frozen=True, slots=True)
class CallEnd:
    """One end of a call, as spans identify it.

    ``services`` are the trace service names of its app (Istio: ``<app>.<namespace>``). With
    ``workload`` a span matches only when its Envoy's pod (``node_id``) is a pod of that workload
    in ``namespace``; with ``version`` only when its ``istio.canonical_revision`` is that version
    (both given: both must hold); with neither, any span of the services matches. A span
    without those Istio tags matches no workload or version.
    """

    services: frozenset[str]
    namespace: str
    workload: str | None = None
    version: str | None = None

    @property
    def matched_on(self) -> MatchedOn:
        """The narrowest identity a span must share with this end: ``workload`` (a workload, and
        its version when one is given too), ``version`` or ``app``."""
        if self.workload is not None:
            return "workload"
        return "version" if self.version is not None else "app"

    def holds(self, span: Span) -> bool:
        """True when ``span`` was reported at this end."""
        if span.service not in self.services:
            return False
        if self.workload is not None:
            pod = span.pod
            if pod is None or pod[1] != self.namespace or not pod_of_workload(pod[0], self.workload):
                return False
        return self.version is None or str(span.tags.get("istio.canonical_revision", "")) == self.version


@dataclass(frozen=True, slots=True)
class Edge:
    """``calls`` spans of ``target`` whose parent span belongs to ``source`` (another service)."""

    source: str
    target: str
    calls: int


@dataclass(frozen=True, slots=True)
class Trace:
    """A whole trace; ``spans`` sorted by start time (then span id)."""

    trace_id: str
    spans: tuple[Span, ...]

    @property
    def start_time_us(self) -> int:
        """Start of the earliest span (0 for a trace without spans)."""
        return min((s.start_time_us for s in self.spans), default=0)

    @property
    def duration_us(self) -> int:
        """From the first span's start to the last span's end."""
        if not self.spans:
            return 0
        return max(s.end_time_us for s in self.spans) - self.start_time_us

    @property
    def services(self) -> list[str]:
        """Distinct services in order of their first span."""
        return list(dict.fromkeys(s.service for s in self.spans))

    @property
    def has_error(self) -> bool:
        return any(s.has_error for s in self.spans)

    @property
    def root(self) -> Span | None:
        """The earliest span whose parent is not in the trace (the earliest span if every span has one)."""
        ids = {s.span_id for s in self.spans}
        orphans = [s for s in self.spans if s.parent_span_id is None or s.parent_span_id not in ids]
        candidates = orphans or list(self.spans)
        return candidates[0] if candidates else None

    def span_index(self) -> dict[str, Span]:
        """Span id → span (the first one when Jaeger repeats an id, as shared client/server spans do)."""
        index: dict[str, Span] = {}
        for span in self.spans:
            index.setdefault(span.span_id, span)
        return index

    def edges(self) -> list[Edge]:
        """Service-to-service calls: each span whose parent span is of another service counts
        one call from the parent's service to its own; sorted by source then target."""
        index = self.span_index()
        counts: Counter[tuple[str, str]] = Counter()
        for span in self.spans:
            parent = index.get(span.parent_span_id) if span.parent_span_id else None
            if parent is not None and parent is not span and parent.service != span.service:
                counts[(parent.service, span.service)] += 1
        return [Edge(s, t, n) for (s, t), n in sorted(counts.items())]

    def has_call(self, source: frozenset[str], target: frozenset[str]) -> bool:
        """True when a span of a service in ``source`` has a child span of a service in ``target``."""
        return self.has_call_between(CallEnd(source, ""), CallEnd(target, ""))

    def has_call_between(self, source: CallEnd, target: CallEnd) -> bool:
        """True when a span ``source`` holds has a child span ``target`` holds:
        the call crossed that edge (for Istio, the caller's client span and the callee's server span)."""
        index = self.span_index()
        for span in self.spans:
            if not span.parent_span_id or not target.holds(span):
                continue
            parent = index.get(span.parent_span_id)
            if parent is not None and parent is not span and source.holds(parent):
                return True
        return False
