"""The graph's data types: options in, nodes/edges/health out.

Every result type is immutable (frozen, slotted dataclasses; the edges a read-only column table)
so that a built graph can be cached and shared between requests without anyone changing it under
another's feet. Rates are per second, averaged
over the telemetry window; ratios are fractions in 0..1.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
class OutcomeKeys:
    """The keys of an edge's three outcome maps, in the order the builder first met them.

    Edges with the same keys (most edges of a mesh: the same few response codes and flags) share
    one instance; their values sit in ``EdgeTable.outcome_values``, responses first, then gRPC
    statuses, then flags.
    """

    responses: tuple[str, ...]
    grpc_responses: tuple[str, ...]
    flags: tuple[str, ...]


# Bits of ``EdgeTable.absent``: which optional figures of a row are ``None``.
NO_LATENCY, NO_P50, NO_P95, NO_P99, NO_TCP, NO_MTLS = 1, 2, 4, 8, 16, 32


class EdgeTable(Mapping[str, "Edge"]):
    """The edges of a graph, stored column by column: a read-only mapping of edge id to ``Edge``.

    Row ``i`` is the edge ``ids[i]``; rows are sorted by id, so lookups bisect and ``graph_to_wire``
    lists them without sorting. ``Edge`` and ``EdgeStats`` are views made on access: a 10k-edge
    graph holds a few dozen arrays instead of 10k objects each with three dicts and a dozen floats
    (decision 0017). The columns are public for the graph core's own readers (``health``,
    ``wire``), which read them directly; nobody may change them.

    Float columns hold the figures of ``EdgeStats`` of the same name; a figure whose bit is set
    in ``absent`` is ``None`` (its float is meaningless). ``outcome_keys[i]`` and
    ``outcome_start[i]`` locate row ``i``'s outcome values in ``outcome_values``.
    """

    __slots__ = (
        "absent",
        "avg",
        "grpc_error_rate",
        "http_4xx_rate",
        "http_5xx_rate",
        "ids",
        "mtls_ratio",
        "no_response_rate",
        "outcome_keys",
        "outcome_start",
        "outcome_values",
        "p50",
        "p95",
        "p99",
        "protocols",
        "request_rate",
        "sources",
        "targets",
        "tcp_received",
        "tcp_sent",
    )

    ids: list[str]
    sources: list[str]
    targets: list[str]
    protocols: list[str]
    request_rate: array[float]
    http_5xx_rate: array[float]
    http_4xx_rate: array[float]
    grpc_error_rate: array[float]
    no_response_rate: array[float]
    p50: array[float]
    p95: array[float]
    p99: array[float]
    avg: array[float]
    tcp_sent: array[float]
    tcp_received: array[float]
    mtls_ratio: array[float]
    absent: array[int]
    outcome_keys: list[OutcomeKeys]
    outcome_start: array[int]
    outcome_values: array[float]

    def __init__(self, **columns: Any) -> None:
        """Take every column named in ``__slots__`` (equal lengths, rows sorted by id)."""
        for name in self.__slots__:
            setattr(self, name, columns.pop(name))
        if columns:
            raise TypeError(f"unknown columns: {', '.join(sorted(columns))}")

    def row(self, edge_id: str) -> int:
        """The row of ``edge_id``; raises ``KeyError`` when the graph has no such edge."""
        ids = self.ids
        row = bisect_left(ids, edge_id)
        if row == len(ids) or ids[row] != edge_id:
            raise KeyError(edge_id)
        return row

    def __getitem__(self, edge_id: str) -> Edge:
        return Edge(self, self.row(edge_id))

    def __contains__(self, edge_id: object) -> bool:
        ids = self.ids
        row = bisect_left(ids, edge_id) if isinstance(edge_id, str) else len(ids)
        return row < len(ids) and ids[row] == edge_id

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def values(self) -> _EdgeValues:
        """The edges in row (id) order."""
        return _EdgeValues(self)

    def items(self) -> _EdgeItems:
        """``(id, edge)`` pairs in row (id) order."""
        return _EdgeItems(self)

    def outcomes(self, row: int) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        """Row ``row``'s responses, gRPC responses and flags as fresh dicts (rate per key)."""
        keys = self.outcome_keys[row]
        start = self.outcome_start[row]
        values = self.outcome_values
        grpc_start = start + len(keys.responses)
        flags_start = grpc_start + len(keys.grpc_responses)
        return (
            dict(zip(keys.responses, values[start:grpc_start], strict=True)),
            dict(zip(keys.grpc_responses, values[grpc_start:flags_start], strict=True)),
            dict(zip(keys.flags, values[flags_start : flags_start + len(keys.flags)], strict=True)),
        )


class _EdgeValues(ValuesView):
    _mapping: EdgeTable

    def __iter__(self) -> Iterator[Edge]:
        table = self._mapping
        return (Edge(table, row) for row in range(len(table.ids)))


class _EdgeItems(ItemsView):
    _mapping: EdgeTable

    def __iter__(self) -> Iterator[tuple[str, Edge]]:
        table = self._mapping
        return ((edge_id, Edge(table, row)) for row, edge_id in enumerate(table.ids))


class EdgeStats:
    """The traffic on one edge, each request and each byte counted once (a view of one row of an
    ``EdgeTable``; compares by value).

    Request outcomes are split into disjoint classes (a request falls in the first that applies):
    ``no_response_rate`` (response code ``0`` or ``-``), ``http_5xx_rate``, ``grpc_error_rate``
    (gRPC status other than ``0`` on a grpc edge), ``http_4xx_rate``. ``mtls_ratio`` is the share of
    destination-reported requests (bytes, for TCP) that used mutual TLS, ``None`` when nothing was
    reported by a destination. TCP figures are ``None`` on request edges, request figures are zero
    on TCP edges. ``responses``, ``grpc_responses`` and ``flags`` (rate per response code, gRPC
    status, response flags) are fresh dicts on each access.
    """

    __slots__ = ("_row", "_table")

    def __init__(self, table: EdgeTable, row: int) -> None:
        self._table = table
        self._row = row

    @property
    def request_rate(self) -> float:
        """Requests per second."""
        return self._table.request_rate[self._row]

    @property
    def http_5xx_rate(self) -> float:
        """Requests per second answered with an HTTP 5xx."""
        return self._table.http_5xx_rate[self._row]

    @property
    def http_4xx_rate(self) -> float:
        """Requests per second answered with an HTTP 4xx."""
        return self._table.http_4xx_rate[self._row]

    @property
    def grpc_error_rate(self) -> float:
        """Requests per second of a grpc edge with a gRPC status other than ``0``."""
        return self._table.grpc_error_rate[self._row]

    @property
    def no_response_rate(self) -> float:
        """Requests per second without a response (code ``0`` or ``-``)."""
        return self._table.no_response_rate[self._row]

    @property
    def responses(self) -> dict[str, float]:
        """Requests per second by response code."""
        return self._table.outcomes(self._row)[0]

    @property
    def grpc_responses(self) -> dict[str, float]:
        """Requests per second by gRPC status (empty on non-grpc edges)."""
        return self._table.outcomes(self._row)[1]

    @property
    def flags(self) -> dict[str, float]:
        """Requests per second by Envoy response flags."""
        return self._table.outcomes(self._row)[2]

    @property
    def latency(self) -> Latency | None:
        """The edge's request durations, ``None`` without duration data."""
        table, row = self._table, self._row
        absent = table.absent[row]
        if absent & NO_LATENCY:
            return None
        return Latency(
            p50=None if absent & NO_P50 else table.p50[row],
            p95=None if absent & NO_P95 else table.p95[row],
            p99=None if absent & NO_P99 else table.p99[row],
            avg=table.avg[row],
        )

    @property
    def tcp_sent_bytes_per_s(self) -> float | None:
        """Bytes per second sent by the source (``None`` on request edges)."""
        return None if self._table.absent[self._row] & NO_TCP else self._table.tcp_sent[self._row]

    @property
    def tcp_received_bytes_per_s(self) -> float | None:
        """Bytes per second received by the source (``None`` on request edges)."""
        return None if self._table.absent[self._row] & NO_TCP else self._table.tcp_received[self._row]

    @property
    def mtls_ratio(self) -> float | None:
        """Share (0..1) of destination-reported traffic over mutual TLS, ``None`` without any."""
        return None if self._table.absent[self._row] & NO_MTLS else self._table.mtls_ratio[self._row]

    @property
    def error_rate(self) -> float:
        """Fraction (0..1) of requests that failed server-side: 5xx, no response, gRPC error."""
        return error_share(
            self.request_rate, self.http_5xx_rate, self.no_response_rate, self.grpc_error_rate
        )

    @property
    def client_error_rate(self) -> float:
        """Fraction (0..1) of requests answered with an HTTP 4xx."""
        rate = self.request_rate
        if rate <= 0.0:
            return 0.0
        return min(1.0, self.http_4xx_rate / rate)

    @property
    def is_idle(self) -> bool:
        """True when the edge carried neither requests nor bytes in the window."""
        return self.request_rate <= 0.0 and not (self.tcp_sent_bytes_per_s or self.tcp_received_bytes_per_s)

    def _figures(self) -> tuple:
        return (
            self.request_rate,
            self.http_5xx_rate,
            self.http_4xx_rate,
            self.grpc_error_rate,
            self.no_response_rate,
            *self._table.outcomes(self._row),
            self.latency,
            self.tcp_sent_bytes_per_s,
            self.tcp_received_bytes_per_s,
            self.mtls_ratio,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EdgeStats):
            return NotImplemented
        return self._figures() == other._figures()

    __hash__ = None  # type: ignore[assignment]  # holds dicts, as the dataclass it replaced did

    def __repr__(self) -> str:
        return f"EdgeStats{self._figures()!r}"


def error_share(request_rate: float, http_5xx_rate: float, no_response_rate: float, grpc_error_rate: float) -> float:
    """``EdgeStats.error_rate`` from its figures: (5xx + no response + gRPC errors) / requests, in 0..1."""
    if request_rate <= 0.0:
        return 0.0
    return min(1.0, (http_5xx_rate + no_response_rate + grpc_error_rate) / request_rate)


class Edge:
    """A directed edge ``source`` -> ``target`` (node ids) for one protocol (``http``, ``grpc``,
    ``tcp``): a view of one row of an ``EdgeTable``; compares by value."""

    __slots__ = ("_row", "_table")

    def __init__(self, table: EdgeTable, row: int) -> None:
        self._table = table
        self._row = row

    @property
    def id(self) -> str:
        """The edge's id: a hash of source, target and protocol."""
        return self._table.ids[self._row]

    @property
    def source(self) -> str:
        """The id of the calling node."""
        return self._table.sources[self._row]

    @property
    def target(self) -> str:
        """The id of the called node."""
        return self._table.targets[self._row]

    @property
    def protocol(self) -> str:
        """``http``, ``grpc`` or ``tcp``."""
        return self._table.protocols[self._row]

    @property
    def stats(self) -> EdgeStats:
        """The edge's traffic."""
        return EdgeStats(self._table, self._row)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Edge):
            return NotImplemented
        return (self.id, self.source, self.target, self.protocol, self.stats) == (
            other.id,
            other.source,
            other.target,
            other.protocol,
            other.stats,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Edge({self.id!r}, {self.source!r}, {self.target!r}, {self.protocol!r}, {self.stats!r})"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A health judgement and, when not healthy/idle, the rule that decided it (e.g. ``5xx 12.0% ≥ 10%``)."""

    health: Health
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class MeshGraph:
    """A built graph. ``nodes``/``edges`` are keyed by id; ``namespaces`` = the namespaces in view
    (the selected ones, or every namespace with traffic when none were selected), sorted.

    ``node_health``/``edge_health`` are empty until ``health.assess`` fills them (by id), as are
    ``inbound_health``/``outbound_health`` (each node's requests in and out, judged apart) and
    ``error_origins`` (the ids of nodes where errors start rather than pass through).
    """

    graph_type: GraphType
    nodes: dict[str, Node]
    edges: EdgeTable
    namespaces: tuple[str, ...]
    node_health: dict[str, Verdict] = field(default_factory=dict)
    edge_health: dict[str, Verdict] = field(default_factory=dict)
    inbound_health: dict[str, Verdict] = field(default_factory=dict)
    outbound_health: dict[str, Verdict] = field(default_factory=dict)
    error_origins: frozenset[str] = frozenset()
