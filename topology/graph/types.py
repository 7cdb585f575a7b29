"""The graph's data types: options in, nodes/edges/health out.

Every result type is a frozen, slotted dataclass so that a built graph can be cached and shared
between requests without anyone changing it under another's feet. Rates are per second, averaged
over the telemetry window; ratios are fractions in 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class GraphType(StrEnum):
    """What a node stands for: a workload, an app (canonical service), an app version, a service."""

    WORKLOAD = "workload"
    APP = "app"
    VERSIONED_APP = "versioned_app"
    SERVICE = "service"


class NodeKind(StrEnum):
    """The kind of a node; ``unknown`` is traffic from outside the mesh, ``external`` a destination
    outside it (PassthroughCluster, BlackHoleCluster, a ServiceEntry host)."""

    WORKLOAD = "workload"
    APP = "app"
    SERVICE = "service"
    UNKNOWN = "unknown"
    EXTERNAL = "external"


class Health(StrEnum):
    """Health of a node or edge, from best to worst for the judged states; ``idle`` = no traffic,
    ``unknown`` = traffic, but nothing the rules can judge."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    IDLE = "idle"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class GraphOptions:
    """What graph to build.

    ``namespaces``: ``None`` = the whole mesh; otherwise keep the traffic whose source or
    destination lies in one of them. ``include_idle`` keeps edges whose rate and bytes are zero.
    ``inject_service_nodes`` puts a service node between caller and callee in workload and app graphs.
    """

    graph_type: GraphType = GraphType.WORKLOAD
    namespaces: frozenset[str] | None = None
    include_idle: bool = False
    inject_service_nodes: bool = False


@dataclass(frozen=True, slots=True)
class Node:
    """One node. ``id`` is stable across calls (a hash of its identity, see ``build.node_id``).

    Fields that do not apply to the kind are ``None``: ``namespace`` for unknown/external nodes,
    ``workload`` for app/service nodes, ``version`` when the revision is unset. ``parent`` is the id
    of the app group node of a versioned-app node; group nodes have ``is_group`` set.
    """

    id: str
    kind: NodeKind
    name: str
    namespace: str | None = None
    workload: str | None = None
    app: str | None = None
    version: str | None = None
    service: str | None = None
    cluster: str | None = None
    is_gateway: bool = False
    parent: str | None = None
    is_group: bool = False


@dataclass(frozen=True, slots=True)
class Latency:
    """Request duration in milliseconds: quantiles from the merged histogram, mean from sum/count.

    A quantile is ``None`` when the histogram cannot answer it (e.g. no observations)."""

    p50: float | None
    p95: float | None
    p99: float | None
    avg: float | None


@dataclass(frozen=True, slots=True)
class EdgeStats:
    """The traffic on one edge, each request and each byte counted once.

    Request outcomes are split into disjoint classes (a request falls in the first that applies):
    ``no_response_rate`` (response code ``0`` or ``-``), ``http_5xx_rate``, ``grpc_error_rate``
    (gRPC status other than ``0`` on a grpc edge), ``http_4xx_rate``. ``mtls_ratio`` is the share of
    destination-reported requests (bytes, for TCP) that used mutual TLS, ``None`` when nothing was
    reported by a destination. TCP figures are ``None`` on request edges, request figures are zero
    on TCP edges.
    """

    request_rate: float = 0.0
    http_5xx_rate: float = 0.0
    http_4xx_rate: float = 0.0
    grpc_error_rate: float = 0.0
    no_response_rate: float = 0.0
    responses: dict[str, float] = field(default_factory=dict)
    grpc_responses: dict[str, float] = field(default_factory=dict)
    flags: dict[str, float] = field(default_factory=dict)
    latency: Latency | None = None
    tcp_sent_bytes_per_s: float | None = None
    tcp_received_bytes_per_s: float | None = None
    mtls_ratio: float | None = None

    @property
    def error_rate(self) -> float:
        """Fraction (0..1) of requests that failed server-side: 5xx, no response, gRPC error."""
        if self.request_rate <= 0.0:
            return 0.0
        bad = self.http_5xx_rate + self.no_response_rate + self.grpc_error_rate
        return min(1.0, bad / self.request_rate)

    @property
    def client_error_rate(self) -> float:
        """Fraction (0..1) of requests answered with an HTTP 4xx."""
        if self.request_rate <= 0.0:
            return 0.0
        return min(1.0, self.http_4xx_rate / self.request_rate)

    @property
    def is_idle(self) -> bool:
        """True when the edge carried neither requests nor bytes in the window."""
        return self.request_rate <= 0.0 and not (self.tcp_sent_bytes_per_s or self.tcp_received_bytes_per_s)


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed edge ``source`` -> ``target`` (node ids) for one protocol (``http``, ``grpc``, ``tcp``)."""

    id: str
    source: str
    target: str
    protocol: str
    stats: EdgeStats


@dataclass(frozen=True, slots=True)
class Verdict:
    """A health judgement and, when not healthy/idle, the rule that decided it (e.g. ``5xx 12.0% ≥ 10%``)."""

    health: Health
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class MeshGraph:
    """A built graph. ``nodes``/``edges`` are keyed by id; ``namespaces`` = the namespaces in view
    (the selected ones, or every namespace with traffic when none were selected), sorted.

    ``node_health``/``edge_health`` are empty until ``health.assess`` fills them (by id).
    """

    graph_type: GraphType
    nodes: dict[str, Node]
    edges: dict[str, Edge]
    namespaces: tuple[str, ...]
    node_health: dict[str, Verdict] = field(default_factory=dict)
    edge_health: dict[str, Verdict] = field(default_factory=dict)
