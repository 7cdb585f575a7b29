"""The contract between a telemetry source and the graph builder.

A telemetry source (the Prometheus reader in ``metrics``; the built-in demo mesh) answers one
question — "what traffic flowed during ``window_s`` seconds ending at ``query_time``?" — with a
``MeshTelemetry``: five lists of ``Sample`` rates, each grouped by exactly the labels named
here. The graph builder relies on nothing else, so any source that fills these lists the same
way yields the same graph.

Each ``Sample.value`` is a per-second rate averaged over the window (PromQL ``rate``), for
requests in requests/s, for histograms in observations/s (buckets) or milliseconds/s (sum),
for TCP in bytes/s. Label values are Istio's own strings ("unknown" included); a label Istio
did not emit is absent or ``""``.

A source may precompute a sample's identity (``Sample.identity``: the ``IDENTITY_LABELS``
values, in that order); its ``labels`` then need not repeat those labels. The builder uses the
identity when present and reads the labels otherwise, so ``Sample(labels, value)`` keeps working.

A source may also leave out the reports the builder would discard (docs/decisions/0002: per
identity, the source proxy's report when the destination side reported it too), as the
Prometheus reader does; it must keep ``reporter``. The builder's rule applied to already
deduplicated input changes nothing, so both kinds of source yield the same graph.

The detail charts read ranges: a ``RangeSource`` answers a ``RangePlan`` with one
``RangeTelemetry`` (a ``MeshTelemetry`` plus request/response sizes) per instant. The port
errors every source raises live in ``topology.graph.errors``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import msgspec

# Who the traffic went from and to: enough to place a request on an edge of every graph type.
EDGE_LABELS: tuple[str, ...] = (
    "reporter",
    "source_cluster",
    "source_workload_namespace",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "destination_cluster",
    "destination_service_namespace",
    "destination_service",
    "destination_service_name",
    "destination_workload_namespace",
    "destination_workload",
    "destination_canonical_service",
    "destination_canonical_revision",
    "request_protocol",
)

# The series identity of an edge: EDGE_LABELS without "reporter", in EDGE_LABELS order.
IDENTITY_LABELS: tuple[str, ...] = tuple(name for name in EDGE_LABELS if name != "reporter")

# Envoy response flags of a request that never reached a destination proxy (fault-injected
# abort, no healthy upstream, connection failure, retries exhausted, overflow, no route, no
# cluster, rate limited, external authorisation denied). Only the source reports such a
# request, so the source's report counts even where the destination reported other requests
# of the same edge; any other source-only outcome (e.g. ``504 UT``, which the destination
# reports as ``0 DC``) is a request the destination already counted.
NEVER_REACHED_FLAGS: tuple[str, ...] = ("FI", "UH", "UF", "URX", "UO", "NR", "NC", "RL", "UAEX", "RLSE")


def never_reached(response_flags: str) -> bool:
    """True when ``response_flags`` (comma-separated) marks a request that reached no destination proxy."""
    return any(flag in NEVER_REACHED_FLAGS for flag in response_flags.split(","))

# istio_requests_total: the edge plus the outcome of each request.
REQUEST_LABELS: tuple[str, ...] = (
    *EDGE_LABELS,
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
)

# istio_request_duration_milliseconds_bucket: the edge plus the bucket bound.
DURATION_BUCKET_LABELS: tuple[str, ...] = (*EDGE_LABELS, "le")

# istio_request_duration_milliseconds_sum: the edge only.
DURATION_SUM_LABELS: tuple[str, ...] = EDGE_LABELS

# istio_tcp_sent_bytes_total / istio_tcp_received_bytes_total: the edge plus mTLS.
TCP_LABELS: tuple[str, ...] = (*EDGE_LABELS, "response_flags", "connection_security_policy")


class Sample(msgspec.Struct, frozen=True, gc=False):
    """One series of a query result: its grouping labels and its value (a per-second rate).

    ``identity``, when not ``None``, is the tuple of the ``IDENTITY_LABELS`` values of the series
    (``""`` for an absent label) and wins over whatever ``labels`` says about those labels;
    ``labels`` must still hold the others (``reporter``, ``le``, the outcome labels...). Built
    with ``Sample(labels, value)`` the identity is read from ``labels``. A frozen ``msgspec``
    struct rather than a dataclass: the Prometheus reader creates hundreds of thousands of them
    per read, four times faster this way; construction, fields and equality are unchanged.
    Instances are not tracked by the cyclic GC (``gc=False``): a sample holds a dict of strings,
    a float and a tuple of strings, none of which can lead back to it.
    """

    labels: dict[str, str]
    value: float
    identity: tuple[str, ...] | None = None

    def label(self, name: str) -> str:
        """The value of label ``name`` (``""`` when absent), from the identity when there is one."""
        if self.identity is not None and name in _IDENTITY_INDEX:
            return self.identity[_IDENTITY_INDEX[name]]
        return self.labels.get(name, "")

    def all_labels(self) -> dict[str, str]:
        """Every label of the series as one dict: ``labels`` plus the identity labels, if any."""
        if self.identity is None:
            return dict(self.labels)
        return {**self.labels, **dict(zip(IDENTITY_LABELS, self.identity, strict=True))}


_IDENTITY_INDEX: dict[str, int] = {name: index for index, name in enumerate(IDENTITY_LABELS)}


@dataclass(slots=True)
class MeshTelemetry:
    """Everything the graph is built from, for one window ending at ``query_time``.

    ``warnings`` carries the upstream's own warnings (e.g. Prometheus' partial-data notes);
    they reach the API response unchanged. ``recorded`` names the fields a source read from
    pre-aggregated recorded series (Prometheus recording rules) rather than raw ones.
    """

    query_time: float
    window_s: int
    requests: list[Sample] = field(default_factory=list)
    duration_buckets: list[Sample] = field(default_factory=list)
    duration_sum: list[Sample] = field(default_factory=list)
    tcp_sent: list[Sample] = field(default_factory=list)
    tcp_received: list[Sample] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recorded: tuple[str, ...] = ()


class TelemetrySource(Protocol):
    """Anything that can read the mesh's traffic for a window.

    ``namespaces`` is a hint: a source may narrow its read to traffic from or to those
    namespaces, or read the whole mesh; the graph builder filters either way. ``None`` means
    the whole mesh. Implementations raise their own named errors when the upstream fails.
    """

    def read(self, *, query_time: float, window_s: int, namespaces: frozenset[str] | None) -> MeshTelemetry: ...


# --- ranges: what the detail charts read -----------------------------------------------------


@dataclass(slots=True)
class RangeTelemetry(MeshTelemetry):
    """A ``MeshTelemetry`` plus what only the detail pages chart (the graph builder ignores it).

    ``request_bytes`` / ``response_bytes``: rates of ``istio_request_bytes_sum`` /
    ``istio_response_bytes_sum`` in bytes/s, grouped like ``duration_sum`` (the identity and
    ``reporter``). A plain ``MeshTelemetry`` reads as one without them.
    """

    request_bytes: list[Sample] = field(default_factory=list)
    response_bytes: list[Sample] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RangePlan:
    """Evaluation instants ``start, start + step_s, …, end`` (``end`` included).

    ``window_s`` is the chart's span as asked; ``rate_interval_s`` the range of each rate.
    """

    start: float
    end: float
    step_s: int
    window_s: int
    rate_interval_s: int

    @property
    def timestamps(self) -> list[float]:
        """Every instant of the plan, oldest first."""
        count = round((self.end - self.start) / self.step_s) + 1
        return [self.start + i * self.step_s for i in range(count)]


class RangeSource(Protocol):
    """Anything that can read the mesh's traffic at every instant of a ``RangePlan``.

    ``max_points`` is the most instants one read may have (the caller coarsens its plan to
    fit). ``read_range`` returns one ``RangeTelemetry`` per instant of ``plan``, oldest first,
    each the rates over ``plan.rate_interval_s`` ending at that instant and grouped like a
    ``TelemetrySource``'s, so the graph builder reads each like any ``MeshTelemetry``; only the
    ``RangeTelemetry`` fields named in ``fields`` need be filled (all of them by default), and
    the size fields may stay empty when the upstream has none. ``namespaces`` is a hint, as for
    ``TelemetrySource``. Implementations raise the port's errors (``topology.graph.errors``)
    when the upstream fails.
    """

    max_points: int

    def read_range(
        self, plan: RangePlan, *, namespaces: frozenset[str] | None, fields: tuple[str, ...] = ...
    ) -> list[RangeTelemetry]: ...
