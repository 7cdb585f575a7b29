"""Range plans and series shaping for the metrics pages (pure: no Django, no I/O).

A detail page's chart is a sequence of graph reads, one per step: each step's telemetry (the
rates over ``rate_interval_s`` ending at that instant, as any ``TelemetrySource`` delivers
them) is narrowed to the identities that flow *into* (inbound) or *out of* (outbound) the
target, and those are handed to the graph builder — so each request is counted once and
classified exactly as on the graph's edges (decision 0002). The totals are therefore the sum
of the target's graph edges in that direction, by construction.

* inbound of a service: identities whose destination service is it (aborted requests that
  never reached a workload included, as on the graph's service node);
* inbound of a workload / app: identities whose destination workload / canonical service is it;
* outbound of a workload / app: identities whose source workload / canonical service is it;
* outbound of a service: identities sent by the workloads behind it (those seen receiving its
  traffic in the same telemetry).

Latency quantiles are computed from the merged histogram of the selected identities, each
identity's buckets taken from the destination report when it has one, else from the source's
(``topology.graph.build.one_report_per_identity``: the builder's own rule, not a copy), with
``topology.graph.quantile`` — Prometheus' algorithm.

Request / response sizes (bytes/s) are the ``istio_request_bytes`` / ``istio_response_bytes``
``_sum`` rates of the selected identities, each identity counted once with the same rule as
the latency histograms. They are present only where the telemetry carries them
(``topology.graph.telemetry.RangeTelemetry``): a target whose traffic exports none, or the
demo, gets no entry at all.

``by`` splits a metric by a label of the identity (``source_app``, ``destination_version``…)
or, for request volume only, by ``response_code`` / ``response_class``; a metric that does not
carry the grouping label (latency and bytes by response code) stays one total entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from topology.graph.build import build_graph, one_report_per_identity
from topology.graph.quantile import histogram_quantiles
from topology.graph.telemetry import IDENTITY_LABELS, MeshTelemetry, RangePlan, RangeTelemetry, Sample
from topology.graph.types import EdgeStats, GraphOptions, GraphType, Health, Latency, MeshGraph, NodeKind
from topology.graph.wire import sig4

# Far below Prometheus' 11,000 points per series: a chart is a few hundred pixels wide, and each
# point is one graph build.
MAX_POINTS = 1_000
METRIC_NAMES: tuple[str, ...] = (
    "request_rate",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_avg_ms",
    "tcp_sent_bytes_per_s",
    "tcp_received_bytes_per_s",
    "request_bytes_per_s",
    "response_bytes_per_s",
)
# RangeTelemetry field → the metric it yields.
BYTE_METRICS: dict[str, str] = {"request_bytes": "request_bytes_per_s", "response_bytes": "response_bytes_per_s"}
_FIELDS: tuple[str, ...] = ("requests", "duration_buckets", "duration_sum", "tcp_sent", "tcp_received", *BYTE_METRICS)
_INDEX = {name: i for i, name in enumerate(IDENTITY_LABELS)}
_UNSET = frozenset({"", "unknown"})


class Kind(StrEnum):
    """What a list or detail page is about."""

    SERVICE = "service"
    WORKLOAD = "workload"
    APP = "app"


class Direction(StrEnum):
    """Traffic sent to the target (inbound) or by it (outbound)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


GRAPH_TYPE_OF = {Kind.SERVICE: GraphType.SERVICE, Kind.WORKLOAD: GraphType.WORKLOAD, Kind.APP: GraphType.APP}
NODE_KIND_OF = {Kind.SERVICE: NodeKind.SERVICE, Kind.WORKLOAD: NodeKind.WORKLOAD, Kind.APP: NodeKind.APP}

# ``by`` values: the friendly name → the identity label it reads.
GROUP_LABELS: dict[str, str] = {
    "source_app": "source_canonical_service",
    "source_version": "source_canonical_revision",
    "source_workload": "source_workload",
    "source_namespace": "source_workload_namespace",
    "destination_service": "destination_service_name",
    "destination_app": "destination_canonical_service",
    "destination_version": "destination_canonical_revision",
    "destination_workload": "destination_workload",
}
RESPONSE_GROUPS = ("response_code", "response_class")
GROUP_BY_CHOICES: tuple[str, ...] = (*GROUP_LABELS, *RESPONSE_GROUPS)


@dataclass(frozen=True, slots=True)
class Target:
    """A service, workload or app (canonical service) in a namespace."""

    kind: Kind
    namespace: str
    name: str


def plan_range(
    *, end: float, window_s: int, step_s: int, rate_interval_s: int, max_points: int = MAX_POINTS
) -> RangePlan:
    """The plan of a chart of ``window_s`` seconds ending at ``end``.

    ``step_s`` is raised to the smallest whole number of seconds that keeps the plan within
    ``max_points`` instants. Raises ``ValueError`` for a non-positive window, step or interval.
    """
    if window_s <= 0 or step_s <= 0 or rate_interval_s <= 0:
        raise ValueError("window_s, step_s and rate_interval_s must be positive")
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    step = max(step_s, math.ceil(window_s / (max_points - 1)))
    steps = window_s // step
    return RangePlan(end - steps * step, end, step, window_s, rate_interval_s)


def _ident(sample: Sample) -> tuple[str, ...]:
    if sample.identity is not None:
        return sample.identity
    return tuple(sample.labels.get(name, "") for name in IDENTITY_LABELS)


def _matcher(target: Target, direction: Direction, telemetry: MeshTelemetry) -> Callable[[tuple[str, ...]], bool]:
    """The predicate on identities that selects the target's traffic in ``direction``."""
    ns, name = target.namespace, target.name
    if direction == Direction.INBOUND:
        ns_at = _INDEX[
            "destination_service_namespace" if target.kind == Kind.SERVICE else "destination_workload_namespace"
        ]
        name_at = _INDEX[
            {
                Kind.SERVICE: "destination_service_name",
                Kind.WORKLOAD: "destination_workload",
                Kind.APP: "destination_canonical_service",
            }[target.kind]
        ]
        return lambda ident: ident[name_at] == name and ident[ns_at] == ns
    src_ns = _INDEX["source_workload_namespace"]
    if target.kind == Kind.SERVICE:
        workloads = service_workloads(telemetry, target)
        src_wl = _INDEX["source_workload"]
        return lambda ident: ident[src_ns] == ns and ident[src_wl] in workloads
    name_at = _INDEX["source_workload" if target.kind == Kind.WORKLOAD else "source_canonical_service"]
    return lambda ident: ident[name_at] == name and ident[src_ns] == ns


def service_workloads(telemetry: MeshTelemetry, target: Target) -> frozenset[str]:
    """The workloads seen receiving the service's requests or bytes in ``telemetry``."""
    return frozenset(workload for workload, _ in _service_backends(telemetry, target))


def service_apps(telemetry: MeshTelemetry, target: Target) -> frozenset[str]:
    """The apps (canonical services) of the workloads behind the service in ``telemetry``."""
    return frozenset(app for _, app in _service_backends(telemetry, target) if app not in _UNSET)


def _service_backends(telemetry: MeshTelemetry, target: Target) -> set[tuple[str, str]]:
    svc, svc_ns = _INDEX["destination_service_name"], _INDEX["destination_service_namespace"]
    wl, wl_ns = _INDEX["destination_workload"], _INDEX["destination_workload_namespace"]
    app = _INDEX["destination_canonical_service"]
    found = set()
    for samples in (telemetry.requests, telemetry.tcp_sent, telemetry.tcp_received):
        for sample in samples:
            ident = _ident(sample)
            if (
                ident[svc] == target.name
                and ident[svc_ns] == target.namespace
                and ident[wl_ns] == target.namespace
                and ident[wl] not in _UNSET
            ):
                found.add((ident[wl], ident[app]))
    return found


def select(telemetry: MeshTelemetry, target: Target, direction: Direction) -> RangeTelemetry:
    """The part of ``telemetry`` that is the target's traffic in ``direction`` (whole identities:
    both reports of an identity stay together, so counting each request once is unchanged)."""
    keep = _matcher(target, direction, telemetry)

    def narrow(samples: list[Sample]) -> list[Sample]:
        return [sample for sample in samples if keep(_ident(sample))]

    return RangeTelemetry(
        query_time=telemetry.query_time,
        window_s=telemetry.window_s,
        warnings=list(telemetry.warnings),
        **{name: narrow(getattr(telemetry, name, [])) for name in _FIELDS},
    )


def merged_latency(telemetry: MeshTelemetry, key: Callable[[tuple[str, ...]], object | None]) -> dict[object, Latency]:
    """Latency of the merged histogram of every identity per ``key(identity)`` (``None``: skipped).

    Quantiles as Prometheus' ``histogram_quantile`` computes them; ``avg`` = sum / count. A
    group without observations is left out.
    """
    buckets: dict[object, dict[float, float]] = {}
    sums: dict[object, float] = {}
    for ident, per_le in one_report_per_identity(telemetry.duration_buckets, with_le=True).items():
        group = key(ident)
        if group is None:
            continue
        merged = buckets.setdefault(group, {})
        for le, value in per_le.items():
            try:
                bound = float(le)
            except ValueError:
                continue
            if bound == bound:
                merged[bound] = merged.get(bound, 0.0) + value
    for ident, rate in one_report_per_identity(telemetry.duration_sum, with_le=False).items():
        group = key(ident)
        if group is not None:
            sums[group] = sums.get(group, 0.0) + rate
    result: dict[object, Latency] = {}
    for group, merged in buckets.items():
        count = merged.get(math.inf, 0.0)
        if count <= 0.0:
            continue
        p50, p95, p99 = histogram_quantiles((0.5, 0.95, 0.99), sorted(merged.items()))
        result[group] = Latency(p50=p50, p95=p95, p99=p99, avg=sums.get(group, 0.0) / count)
    return result


@dataclass(slots=True)
class Totals:
    """Summed edge figures: the request outcomes by class, responses by code, bytes."""

    request_rate: float = 0.0
    bad_rate: float = 0.0
    responses: dict[str, float] = field(default_factory=dict)
    tcp_sent: float = 0.0
    tcp_received: float = 0.0

    def add(self, stats: EdgeStats) -> None:
        """Add one graph edge's figures."""
        self.request_rate += stats.request_rate
        self.bad_rate += stats.http_5xx_rate + stats.no_response_rate + stats.grpc_error_rate
        for code, rate in stats.responses.items():
            self.responses[code] = self.responses.get(code, 0.0) + rate
        self.tcp_sent += stats.tcp_sent_bytes_per_s or 0.0
        self.tcp_received += stats.tcp_received_bytes_per_s or 0.0

    @property
    def error_rate(self) -> float | None:
        """Failed share (5xx, no response, gRPC error) as on ``EdgeStats``; ``None`` without requests."""
        if self.request_rate <= 0.0:
            return None
        return min(1.0, self.bad_rate / self.request_rate)


def totals_of(telemetry: MeshTelemetry, graph_type: GraphType) -> Totals:
    """The sum of every edge the graph builder makes of ``telemetry``."""
    totals = Totals()
    for edge in build_graph(telemetry, GraphOptions(graph_type=graph_type)).edges.values():
        totals.add(edge.stats)
    return totals


def response_class(code: str) -> str:
    """``"503"`` → ``"5xx"``; a missing answer (``0``, ``-``, ``""``) → ``"no response"``."""
    if len(code) == 3 and code.isdigit() and code[0] in "12345":
        return f"{code[0]}xx"
    return "no response"


def byte_rates(telemetry: MeshTelemetry) -> dict[str, float]:
    """Per size metric the telemetry has samples of (``BYTE_METRICS``): the bytes/s of every
    identity summed, each identity's from the destination report when it has one, else the
    source's. A metric without samples is left out."""
    rates = {}
    for field_name, metric in BYTE_METRICS.items():
        per_identity = one_report_per_identity(getattr(telemetry, field_name, ()), with_le=False)
        if per_identity:
            rates[metric] = sum(per_identity.values())
    return rates


def _partition(telemetry: MeshTelemetry, label: str) -> dict[str, RangeTelemetry]:
    at = _INDEX[label]
    parts: dict[str, RangeTelemetry] = {}
    for field_name in _FIELDS:
        for sample in getattr(telemetry, field_name, ()):
            value = _ident(sample)[at]
            part = parts.get(value)
            if part is None:
                part = parts[value] = RangeTelemetry(query_time=telemetry.query_time, window_s=telemetry.window_s)
            getattr(part, field_name).append(sample)
    return parts


def _figures(totals: Totals, latency: Latency | None) -> dict[str, float | None]:
    return {
        "request_rate": totals.request_rate,
        "error_rate": totals.error_rate,
        "latency_p50_ms": latency.p50 if latency else None,
        "latency_p95_ms": latency.p95 if latency else None,
        "latency_p99_ms": latency.p99 if latency else None,
        "latency_avg_ms": latency.avg if latency else None,
        "tcp_sent_bytes_per_s": totals.tcp_sent,
        "tcp_received_bytes_per_s": totals.tcp_received,
    }


def step_figures(
    telemetry: MeshTelemetry, target: Target, direction: Direction, by: str | None
) -> dict[str, dict[tuple[tuple[str, str], ...], float | None]]:
    """One instant of every metric: ``{metric: {labels (sorted pairs): value}}``.

    Without ``by`` each metric has one entry with no labels, except the size metrics, which
    have none when the selected traffic carries no size samples. Raises ``ValueError`` for an
    unknown ``by``.
    """
    if by is not None and by not in GROUP_BY_CHOICES:
        raise ValueError(f"{by!r} is not one of {', '.join(GROUP_BY_CHOICES)}")
    selected = select(telemetry, target, direction)
    graph_type = GRAPH_TYPE_OF[target.kind]
    figures: dict[str, dict[tuple, float | None]] = {name: {} for name in METRIC_NAMES}
    if by in GROUP_LABELS:
        label = GROUP_LABELS[by]
        for value, part in sorted(_partition(selected, label).items()):
            latency = merged_latency(part, lambda _ident: "all").get("all")
            for name, figure in _figures(totals_of(part, graph_type), latency).items():
                figures[name][((by, value),)] = figure
            for name, figure in byte_rates(part).items():
                figures[name][((by, value),)] = figure
        return figures
    totals = totals_of(selected, graph_type)
    latency = merged_latency(selected, lambda _ident: "all").get("all")
    for name, figure in _figures(totals, latency).items():
        figures[name][()] = figure
    for name, figure in byte_rates(selected).items():
        figures[name][()] = figure
    if by in RESPONSE_GROUPS:
        split: dict[str, float] = {}
        for code, rate in totals.responses.items():
            group = code if by == "response_code" else response_class(code)
            split[group] = split.get(group, 0.0) + rate
        figures["request_rate"] = {((by, group),): rate for group, rate in sorted(split.items())}
    return figures


def shape_series(
    timestamps: Sequence[float], per_step: Sequence[dict[str, dict[tuple, float | None]]]
) -> dict[str, list[dict]]:
    """The API's ``series``: per metric, one ``{"labels", "points"}`` entry per label set seen
    at any step, with ``[t, value]`` at every instant (``null`` where the label set was absent
    or the value undefined). Values are rounded to 4 significant digits like the graph's."""
    series: dict[str, list[dict]] = {}
    for name in METRIC_NAMES:
        keys = sorted({key for step in per_step for key in step[name]})
        entries = []
        for key in keys:
            points = []
            for t, step in zip(timestamps, per_step, strict=True):
                value = step[name].get(key)
                points.append([int(t) if float(t).is_integer() else t, sig4(value)])
            entries.append({"labels": dict(key), "points": points})
        series[name] = entries
    return series


# --- lists ------------------------------------------------------------------------------------


def _list_key(kind: Kind, namespace: str) -> Callable[[tuple[str, ...]], str | None]:
    """Identity → the name of the listed entity it flows into (in ``namespace``), else ``None``."""
    if kind == Kind.SERVICE:
        ns_at, name_at = _INDEX["destination_service_namespace"], _INDEX["destination_service_name"]
    else:
        ns_at = _INDEX["destination_workload_namespace"]
        name_at = _INDEX["destination_workload" if kind == Kind.WORKLOAD else "destination_canonical_service"]
    return lambda ident: ident[name_at] if ident[ns_at] == namespace and ident[name_at] not in _UNSET else None


def _versions(telemetry: MeshTelemetry, kind: Kind, namespace: str) -> dict[str, set[str]]:
    key = _list_key(kind, namespace)
    rev = _INDEX["destination_canonical_revision"]
    found: dict[str, set[str]] = {}
    for samples in (telemetry.requests, telemetry.tcp_sent):
        for sample in samples:
            ident = _ident(sample)
            name = key(ident)
            if name is not None and ident[rev] not in ("", "unknown", "latest"):
                found.setdefault(name, set()).add(ident[rev])
    return found


_HEALTH_RANK = {Health.FAILING: 0, Health.DEGRADED: 1, Health.UNKNOWN: 2, Health.HEALTHY: 3, Health.IDLE: 4}


def list_items(graph: MeshGraph, telemetry: MeshTelemetry, kind: Kind, namespace: str) -> list[dict]:
    """The services, workloads or apps of ``namespace`` in an assessed ``graph`` (built from
    ``telemetry`` with the kind's graph type), sorted by name.

    Each item: ``name``, ``health`` and ``health_reason`` (the node's verdict), the same per
    direction (``inbound_health``/``outbound_health`` and their reasons), ``error_origin``, ``request_rate``
    and ``error_rate`` (the sum of its inbound graph edges; ``error_rate`` ``None`` without
    requests), ``latency_ms.p95`` (the merged inbound histogram), ``tcp_bytes_per_s`` and
    ``versions``.
    """
    node_kind = NODE_KIND_OF[kind]
    inbound: dict[str, Totals] = {}
    for edge in graph.edges.values():
        inbound.setdefault(edge.target, Totals()).add(edge.stats)
    latency = merged_latency(telemetry, _list_key(kind, namespace))
    versions = _versions(telemetry, kind, namespace)
    items = []
    for node_id, node in graph.nodes.items():
        if node.kind != node_kind or node.namespace != namespace or node.is_group:
            continue
        totals = inbound.get(node_id, Totals())
        verdict = graph.node_health.get(node_id)
        known = set(versions.get(node.name, ()))
        if kind == Kind.WORKLOAD and node.version:
            known.add(node.version)
        lat = latency.get(node.name)
        items.append(
            {
                "name": node.name,
                "health": verdict.health.value if verdict else Health.UNKNOWN.value,
                "health_reason": verdict.reason if verdict else None,
                **direction_fields(graph, node_id),
                "request_rate": sig4(totals.request_rate),
                "error_rate": sig4(totals.error_rate),
                "latency_ms": {"p95": sig4(lat.p95) if lat else None},
                "tcp_bytes_per_s": sig4(totals.tcp_sent + totals.tcp_received),
                "versions": sorted(known),
                "cluster": node.cluster,
            }
        )
    items.sort(key=lambda item: (item["name"], item["cluster"] or ""))
    return items


def direction_fields(graph: MeshGraph, node_id: str) -> dict[str, Any]:
    """``inbound_health``, ``outbound_health`` (with their reasons) and ``error_origin`` of a node
    of an assessed graph."""
    fields: dict[str, Any] = {}
    for direction, verdicts in (("inbound", graph.inbound_health), ("outbound", graph.outbound_health)):
        verdict = verdicts.get(node_id)
        fields[f"{direction}_health"] = verdict.health.value if verdict else Health.UNKNOWN.value
        fields[f"{direction}_health_reason"] = verdict.reason if verdict else None
    fields["error_origin"] = node_id in graph.error_origins
    return fields


def health_items(graph: MeshGraph, kind: Kind) -> list[dict]:
    """Every node of the kind in an assessed ``graph``: namespace, name, health and reason,
    worst first, then by namespace and name."""
    node_kind = NODE_KIND_OF[kind]
    items = []
    for node_id, node in graph.nodes.items():
        if node.kind != node_kind or node.is_group or not node.namespace:
            continue
        verdict = graph.node_health.get(node_id)
        health = verdict.health if verdict else Health.UNKNOWN
        items.append(
            {
                "namespace": node.namespace,
                "name": node.name,
                "health": health.value,
                "reason": verdict.reason if verdict else None,
                **direction_fields(graph, node_id),
            }
        )
    items.sort(key=lambda item: (_HEALTH_RANK[Health(item["health"])], item["namespace"], item["name"]))
    return items


def neighbours(graph: MeshGraph, node_id: str) -> dict[str, list[dict]]:
    """The callers (``inbound``) and callees (``outbound``) of ``node_id`` in an assessed graph,
    each with its node fields, the edge's protocol, rate, error rate and health (``health``), the
    neighbour's own verdict (``node_health``), busiest first."""
    result: dict[str, list[dict]] = {"inbound": [], "outbound": []}
    for edge in graph.edges.values():
        if edge.target == node_id:
            side, other_id = "inbound", edge.source
        elif edge.source == node_id:
            side, other_id = "outbound", edge.target
        else:
            continue
        verdict = graph.edge_health.get(edge.id)
        other = graph.nodes[other_id]
        node_verdict = graph.node_health.get(other_id)
        result[side].append(
            {
                "kind": other.kind.value,
                "namespace": other.namespace,
                "name": other.name,
                "protocol": edge.protocol,
                "request_rate": sig4(edge.stats.request_rate),
                "error_rate": sig4(edge.stats.error_rate) if edge.stats.request_rate > 0 else None,
                "tcp_bytes_per_s": sig4(
                    (edge.stats.tcp_sent_bytes_per_s or 0.0) + (edge.stats.tcp_received_bytes_per_s or 0.0)
                ),
                "health": verdict.health.value if verdict else Health.UNKNOWN.value,
                "node_health": node_verdict.health.value if node_verdict else Health.UNKNOWN.value,
                "error_origin": other_id in graph.error_origins,
            }
        )
    for entries in result.values():
        entries.sort(
            key=lambda entry: (-(entry["request_rate"] or 0.0), -(entry["tcp_bytes_per_s"] or 0.0), entry["name"])
        )
    return result


def namespace_inbound(graph: MeshGraph) -> dict[str, Totals]:
    """Per namespace, the sum of the graph edges into its nodes (group nodes have no edges)."""
    totals: dict[str, Totals] = {}
    for edge in graph.edges.values():
        namespace = graph.nodes[edge.target].namespace
        if namespace and namespace != "unknown":
            totals.setdefault(namespace, Totals()).add(edge.stats)
    return totals
