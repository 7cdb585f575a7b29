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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class Sample:
    """One series of a query result: its grouping labels and its value (a per-second rate)."""

    labels: dict[str, str]
    value: float


@dataclass(slots=True)
class MeshTelemetry:
    """Everything the graph is built from, for one window ending at ``query_time``.

    ``warnings`` carries the upstream's own warnings (e.g. Prometheus' partial-data notes);
    they reach the API response unchanged.
    """

    query_time: float
    window_s: int
    requests: list[Sample] = field(default_factory=list)
    duration_buckets: list[Sample] = field(default_factory=list)
    duration_sum: list[Sample] = field(default_factory=list)
    tcp_sent: list[Sample] = field(default_factory=list)
    tcp_received: list[Sample] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class TelemetrySource(Protocol):
    """Anything that can read the mesh's traffic for a window.

    ``namespaces`` is a hint: a source may narrow its read to traffic from or to those
    namespaces, or read the whole mesh; the graph builder filters either way. ``None`` means
    the whole mesh. Implementations raise their own named errors when the upstream fails.
    """

    def read(self, *, query_time: float, window_s: int, namespaces: frozenset[str] | None) -> MeshTelemetry: ...
