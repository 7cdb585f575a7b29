"""The trace model: what meshui knows of a trace, independent of where it came from (pure).

A ``Trace`` is a list of ``Span``s; a span's ``parent_span_id`` is its first CHILD_OF
reference (else its first FOLLOWS_FROM one); ``references`` keeps them all. Services are
the names the trace source uses (Istio: ``<app>.<namespace>``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CHILD_OF = "CHILD_OF"
FOLLOWS_FROM = "FOLLOWS_FROM"


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
        index = self.span_index()
        for span in self.spans:
            if span.service not in target or not span.parent_span_id:
                continue
            parent = index.get(span.parent_span_id)
            if parent is not None and parent is not span and parent.service in source:
                return True
        return False
