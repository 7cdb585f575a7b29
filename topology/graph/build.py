"""Telemetry in, graph out: ``build_graph``.

The build runs in three passes, each linear in its input:

1. **Count once.** Group every sample by its series identity without ``reporter`` (and without
   the reporter-dependent ``connection_security_policy``), separately per reporter. For each
   identity keep the destination report when there is one, else the source report
   (docs/decisions/0002-counting-each-request-once.md). Histograms and TCP bytes follow the same
   rule per edge identity.
2. **Place.** Map each edge identity (the ``EDGE_LABELS`` values) once to its node(s) for the
   requested graph type, dropping traffic outside the selected namespaces.
3. **Sum.** Add each kept series into its graph edge and turn the sums into ``EdgeStats``.

Keys are tuples of label values: ``Sample.identity`` when the source precomputed it (the
Prometheus reader does), else taken from the labels with ``operator.itemgetter``; no per-sample
dict is built.

A destination service whose cluster Istio did not know (``destination_cluster="unknown"``, as
the source proxy reports requests that never reached a destination: FI, UF, NR) is placed in the
cluster where the same service (namespace and name) was seen by other reports — the source's own
cluster when it is one of them, else the first by name — and, when it was seen nowhere, in the
source's cluster (a service named ``unknown`` — no route — stays without cluster). One service is
then one node, whichever proxy reported its traffic.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, islice
from operator import add, attrgetter, itemgetter
from operator import le as le_

from topology.graph.quantile import quantiles_of_prepared
from topology.graph.telemetry import IDENTITY_LABELS, MeshTelemetry, Sample, never_reached
from topology.graph.types import (
    NO_LATENCY,
    NO_MTLS,
    NO_P50,
    NO_P95,
    NO_P99,
    NO_TCP,
    EdgeTable,
    GraphOptions,
    GraphType,
    MeshGraph,
    Node,
    NodeKind,
    OutcomeKeys,
)

__all__ = ["DESTINATION_REPORTERS", "IDENTITY_LABELS", "build_graph", "one_report_per_identity", "stable_id"]
(
    _S_CLUSTER,
    _S_NS,
    _S_WL,
    _S_APP,
    _S_VER,
    _D_CLUSTER,
    _D_SVC_NS,
    _D_SVC,
    _D_SVC_NAME,
    _D_WL_NS,
    _D_WL,
    _D_APP,
    _D_VER,
    _PROTO,
) = range(len(IDENTITY_LABELS))

_identity_of = itemgetter(*IDENTITY_LABELS)
_OUTCOME_LABELS = ("response_code", "grpc_response_status", "response_flags")
_outcome_of = itemgetter(*_OUTCOME_LABELS)

# Reporters whose report comes from the proxy in front of the destination (ambient waypoints act
# for the destination workload).
DESTINATION_REPORTERS = frozenset({"destination", "waypoint"})
_MTLS = "mutual_tls"
_UNSET = frozenset({"", "unknown"})
_NO_VERSION = frozenset({"", "unknown", "latest"})
_EXTERNAL_SERVICE_NAMES = frozenset({"PassthroughCluster", "BlackHoleCluster"})
_GATEWAY_MARKS = ("ingressgateway", "egressgateway")
_ID_LEN = 16
_NOT_LAID_OUT = object()
_QUANTILES = (0.5, 0.95, 0.99)

# Outcome classes, in the order a request is assigned to the first that applies.
_OK, _NO_RESPONSE, _5XX, _GRPC_ERROR, _4XX = range(5)
_rate_of = attrgetter("rate")
_classes_of = attrgetter("classes")
_responses_of = attrgetter("responses")
_grpc_responses_of = attrgetter("grpc_responses")
_flags_of = attrgetter("flags")
_FLOAT_COLUMNS = (
    "request_rate",
    "http_5xx_rate",
    "http_4xx_rate",
    "grpc_error_rate",
    "no_response_rate",
    "p50",
    "p95",
    "p99",
    "avg",
    "tcp_sent",
    "tcp_received",
    "mtls_ratio",
)


def stable_id(raw: str) -> str:
    """The first 16 hex digits of sha256(``raw``): ids that survive restarts and replicas."""
    return hashlib.sha256(raw.encode()).hexdigest()[:_ID_LEN]


def _identity(labels: dict[str, str]) -> tuple[str, ...]:
    try:
        return _identity_of(labels)
    except KeyError:
        return tuple(labels.get(name, "") for name in IDENTITY_LABELS)


def _identity_of_sample(sample: Sample) -> tuple[str, ...]:
    ident = sample.identity
    return _identity(sample.labels) if ident is None else ident


def _outcome(labels: dict[str, str]) -> tuple[str, str, str]:
    try:
        return _outcome_of(labels)
    except KeyError:
        return (
            labels.get("response_code", ""),
            labels.get("grpc_response_status", ""),
            labels.get("response_flags", ""),
        )


def _cluster(value: str) -> str | None:
    return None if value in _UNSET else value


def _is_gateway(*names: str | None) -> bool:
    return any(name and any(mark in name for mark in _GATEWAY_MARKS) for name in names)


def _is_mesh_host(host: str) -> bool:
    """``<name>.<ns>.svc.<domain>``: a Kubernetes service in the mesh registry."""
    parts = host.split(".")
    return len(parts) >= 4 and parts[2] == "svc" and all(parts[:2])


class _Acc:
    """Running sums for one graph edge."""

    __slots__ = (
        "buckets",
        "classes",
        "dur_sum",
        "flags",
        "grpc_responses",
        "mtls_den",
        "mtls_num",
        "rate",
        "received",
        "responses",
        "sent",
    )

    def __init__(self) -> None:
        self.rate = 0.0
        self.classes = [0.0, 0.0, 0.0, 0.0, 0.0]
        self.responses: dict[str, float] = {}
        self.grpc_responses: dict[str, float] = {}
        self.flags: dict[str, float] = {}
        self.mtls_num = 0.0
        self.mtls_den = 0.0
        self.buckets: dict[str, float] | None = None
        self.dur_sum = 0.0
        self.sent: float | None = None
        self.received: float | None = None


def _classify(outcome: tuple[str, str, str], grpc: bool) -> int:
    code, grpc_status, _flags = outcome
    if code in ("0", "-"):
        return _NO_RESPONSE
    if code.startswith("5"):
        return _5XX
    if grpc and grpc_status not in ("", "0"):
        return _GRPC_ERROR
    if code.startswith("4"):
        return _4XX
    return _OK


class _Placer:
    """Maps an edge identity to graph nodes for one graph type; registers the nodes it names."""

    def __init__(
        self,
        options: GraphOptions,
        dest_services: set[tuple[str, str, str]],
        identities: tuple[Iterable[tuple[str, ...]], ...] = (),
    ) -> None:
        self.graph_type = options.graph_type
        self.identities = identities
        self.service_clusters: dict[tuple[str, str], set[str]] | None = None
        self.inject = options.inject_service_nodes and options.graph_type != GraphType.SERVICE
        self.selected = options.namespaces
        self.dest_services = dest_services
        # node key (a tuple) -> [Node fields...] filled on first sight.
        self.nodes: dict[tuple[str, ...], dict[str, object]] = {}
        self.cache: dict[tuple[str, ...], tuple[tuple[tuple, tuple], ...]] = {}

    def place(self, ident: tuple[str, ...]) -> tuple[tuple[tuple, tuple], ...]:
        """The (source node key, target node key) hops this identity's traffic runs along."""
        hit = self.cache.get(ident)
        if hit is None:
            hit = self.cache[ident] = self._place(ident)
        return hit

    def _in_view(self, ident: tuple[str, ...]) -> bool:
        if self.selected is None:
            return True
        selected = self.selected
        return ident[_S_NS] in selected or ident[_D_SVC_NS] in selected or ident[_D_WL_NS] in selected

    def _place(self, ident: tuple[str, ...]) -> tuple[tuple[tuple, tuple], ...]:
        if not self._in_view(ident):
            return ()
        source = self._source(ident)
        host = ident[_D_SVC]
        svc_name = ident[_D_SVC_NAME]
        dest_workload = ident[_D_WL]
        if svc_name in _EXTERNAL_SERVICE_NAMES or (
            dest_workload in _UNSET and host not in _UNSET and not _is_mesh_host(host)
        ):
            return ((source, self._external(host if host not in _UNSET else svc_name)),)
        if dest_workload in _UNSET:
            return ((source, self._service(self._dest_cluster(ident), ident[_D_SVC_NS], svc_name or host)),)
        if self.graph_type == GraphType.SERVICE and svc_name:
            return ((source, self._service(ident[_D_CLUSTER], ident[_D_SVC_NS], svc_name)),)
        target = self._destination_workload(ident)
        if self.inject and svc_name:
            service = self._service(ident[_D_CLUSTER], ident[_D_SVC_NS], svc_name)
            return ((source, service), (service, target))
        return ((source, target),)

    def _dest_cluster(self, ident: tuple[str, ...]) -> str:
        """The destination cluster, or for an unknown one the cluster the service was seen in."""
        cluster = ident[_D_CLUSTER]
        name = ident[_D_SVC_NAME] or ident[_D_SVC]
        if cluster not in _UNSET or name in _UNSET:
            # No route (every destination label unknown) is no service of any cluster.
            return cluster
        if self.service_clusters is None:
            seen: dict[tuple[str, str], set[str]] = {}
            for identities in self.identities:
                for other in identities:
                    if other[_D_CLUSTER] not in _UNSET:
                        name = other[_D_SVC_NAME] or other[_D_SVC]
                        seen.setdefault((other[_D_SVC_NS], name), set()).add(other[_D_CLUSTER])
            self.service_clusters = seen
        known = self.service_clusters.get((ident[_D_SVC_NS], name))
        source = ident[_S_CLUSTER]
        if known and source not in known:
            return min(known)
        return source

    def _source(self, ident: tuple[str, ...]) -> tuple:
        workload = ident[_S_WL]
        cluster = _cluster(ident[_S_CLUSTER])
        if workload in _UNSET:
            key = ("unknown", cluster)
            if key not in self.nodes:
                self.nodes[key] = {"kind": NodeKind.UNKNOWN, "name": "unknown", "cluster": cluster}
            return key
        ns, app, version = ident[_S_NS], ident[_S_APP], ident[_S_VER]
        if (
            self.graph_type == GraphType.SERVICE
            and app not in _UNSET
            and (ident[_S_CLUSTER], ns, app) in self.dest_services
        ):
            return self._service(ident[_S_CLUSTER], ns, app)
        return self._workload_like(cluster, ns, workload, app, version, None)

    def _destination_workload(self, ident: tuple[str, ...]) -> tuple:
        return self._workload_like(
            _cluster(ident[_D_CLUSTER]),
            ident[_D_WL_NS],
            ident[_D_WL],
            ident[_D_APP],
            ident[_D_VER],
            ident[_D_SVC_NAME] or None,
        )

    def _workload_like(
        self, cluster: str | None, ns: str, workload: str, app: str, version: str, service: str | None
    ) -> tuple:
        app_known = app not in _UNSET
        version_value = None if version in _NO_VERSION else version
        if self.graph_type == GraphType.APP and app_known:
            key = ("app", cluster, ns, app)
        elif self.graph_type == GraphType.VERSIONED_APP and app_known:
            key = ("vapp", cluster, ns, app, version_value or "")
        else:
            key = ("wl", cluster, ns, workload)
        known = self.nodes.get(key)
        if known is not None:
            if service and (known["service"] is None or service < known["service"]):
                # A workload behind several services names the smallest, so the answer is stable.
                known["service"] = service
            return key
        # First sight of the node: its fields come from this identity.
        tag = key[0]
        if tag == "app":
            fields: dict[str, object] = {"kind": NodeKind.APP, "name": app, "app": app}
        elif tag == "vapp":
            name = f"{app} {version_value}" if version_value else app
            fields = {"kind": NodeKind.APP, "name": name, "app": app, "version": version_value, "group": True}
        else:
            fields = {
                "kind": NodeKind.WORKLOAD,
                "name": workload,
                "workload": workload,
                "app": app if app_known else None,
                "version": version_value,
            }
        fields["cluster"] = cluster
        fields["namespace"] = ns
        fields["service"] = service
        self.nodes[key] = fields
        return key

    def _service(self, cluster_label: str, ns: str, name: str) -> tuple:
        cluster = _cluster(cluster_label)
        namespace = None if ns in _UNSET else ns
        name = name or "unknown"
        key = ("svc", cluster, namespace, name)
        if key not in self.nodes:
            self.nodes[key] = {
                "kind": NodeKind.SERVICE,
                "name": name,
                "service": name,
                "cluster": cluster,
                "namespace": namespace,
            }
        return key

    def _external(self, host: str) -> tuple:
        key = ("ext", host)
        if key not in self.nodes:
            self.nodes[key] = {"kind": NodeKind.EXTERNAL, "name": host, "service": host}
        return key


def _raw_id(key: tuple) -> str:
    tag = key[0]
    if tag == "unknown":
        return f"unknown|{key[1] or ''}"
    if tag == "ext":
        return f"ext|{key[1]}"
    return "|".join((tag, *(part or "" for part in key[1:])))


def _pick_requests(samples: Iterable[Sample]) -> tuple[dict, dict]:
    """Group request samples by identity and outcome; keep destination reports over source ones.

    Returns ``(chosen, mtls)``: ``chosen[identity][outcome] = rate`` and
    ``mtls[identity] = [mutual-TLS rate, destination-reported rate]``.
    """
    dest: dict[tuple, dict[tuple, float]] = {}
    src: dict[tuple, dict[tuple, float]] = {}
    mtls: dict[tuple, list[float]] = {}
    destination_reporters = DESTINATION_REPORTERS
    for sample in samples:
        labels = sample.labels
        value = sample.value
        ident = sample.identity
        if ident is None:
            ident = _identity(labels)
        outcome = _outcome(labels)
        if labels.get("reporter") in destination_reporters:
            per = dest.get(ident)
            if per is None:
                per = dest[ident] = {}
                mtls[ident] = [0.0, 0.0]
            per[outcome] = per.get(outcome, 0.0) + value
            pair = mtls[ident]
            pair[1] += value
            if labels.get("connection_security_policy") == _MTLS:
                pair[0] += value
        else:
            per = src.get(ident)
            if per is None:
                per = src[ident] = {}
            per[outcome] = per.get(outcome, 0.0) + value
    for ident, outcomes in src.items():
        chosen = dest.get(ident)
        if chosen is None:
            dest[ident] = outcomes
            continue
        # The destination saw this edge: the source adds only what never reached it.
        for outcome, value in outcomes.items():
            if outcome not in chosen and never_reached(outcome[2]):
                chosen[outcome] = value
    return dest, mtls


def one_report_per_identity(samples: Iterable[Sample], with_le: bool) -> dict[tuple, dict[str, float] | float]:
    """Count once, for histograms and sums: ``{identity: {le: rate}}`` (``with_le``) or
    ``{identity: rate}``.

    Samples are summed per identity (and per ``le`` when ``with_le``) separately per reporter
    side; an identity keeps its destination side when it has one, else its source side
    (decision 0002). The graph builder reads latency buckets and sums through this rule, and
    the metrics pages' range series do the same, so a chart agrees with the graph's edges.
    """
    dest: dict[tuple, object] = {}
    src: dict[tuple, object] = {}
    identity_of = _identity_of
    destination_reporters = DESTINATION_REPORTERS
    for sample in samples:
        labels = sample.labels
        ident = sample.identity
        if ident is None:
            try:
                ident = identity_of(labels)
            except KeyError:
                ident = _identity(labels)
        side = dest if labels.get("reporter") in destination_reporters else src
        if with_le:
            per = side.get(ident)
            if per is None:
                side[ident] = {labels.get("le", ""): 0.0 + sample.value}
            else:
                le = labels.get("le", "")
                per[le] = per.get(le, 0.0) + sample.value
        else:
            side[ident] = side.get(ident, 0.0) + sample.value
    for ident, value in src.items():
        if ident not in dest:
            dest[ident] = value
    return dest


def _pick_tcp(samples: Iterable[Sample]) -> tuple[dict[tuple, float], dict[tuple, list[float]]]:
    """Bytes per identity, destination side first; plus ``[mutual-TLS bytes, destination bytes]``."""
    dest: dict[tuple, float] = {}
    src: dict[tuple, float] = {}
    mtls: dict[tuple, list[float]] = {}
    for sample in samples:
        labels = sample.labels
        ident = _identity_of_sample(sample)
        value = sample.value
        if labels.get("reporter") in DESTINATION_REPORTERS:
            dest[ident] = dest.get(ident, 0.0) + value
            pair = mtls.get(ident)
            if pair is None:
                pair = mtls[ident] = [0.0, 0.0]
            pair[1] += value
            if labels.get("connection_security_policy") == _MTLS:
                pair[0] += value
        else:
            src[ident] = src.get(ident, 0.0) + value
    for ident, value in src.items():
        if ident not in dest:
            dest[ident] = value
    return dest, mtls


def _protocol(ident: tuple[str, ...]) -> str:
    proto = ident[_PROTO]
    return proto if proto in ("grpc", "tcp") else "http"


_LE_VALUES: dict[str, float | None] = {}


def _le_value(le: str) -> float | None:
    value = _LE_VALUES.get(le, 0.0)
    if value == 0.0 and le not in _LE_VALUES:
        try:
            value = float(le)
        except ValueError:
            value = None
        if len(_LE_VALUES) < 10_000:  # bounds are a small fixed set; never let odd input grow this
            _LE_VALUES[le] = value
    return value


# A histogram layout: its bounds in order (equal bounds merged, unparseable and NaN ones left
# out); for each bound the positions of its ``le`` spellings among the histogram's keys; and,
# when every bound has one spelling (the usual case), a getter of the counts in bound order
# from the histogram's dict.
_Layout = tuple[list[float], list[tuple[int, ...]], Callable[[dict[str, float]], tuple[float, ...]] | None]


def _layout(les: tuple[str, ...]) -> _Layout | None:
    """The layout of a histogram with keys ``les``; ``None`` when it has no ``+Inf`` bound."""
    by_bound: dict[float, list[int]] = {}
    for position, le in enumerate(les):
        bound = _le_value(le)
        if bound is not None and bound == bound:
            by_bound.setdefault(bound, []).append(position)
    ordered = sorted(by_bound)
    if not ordered or ordered[-1] != math.inf:
        return None
    positions = [tuple(by_bound[bound]) for bound in ordered]
    getter = None
    if len(positions) > 1 and all(len(at) == 1 for at in positions):
        getter = itemgetter(*(les[at[0]] for at in positions))
    return ordered, positions, getter


def _merged_counts(values: list[float], positions: list[tuple[int, ...]]) -> list[float]:
    """One count per bound; equal bounds are one bucket, summed in ascending order as
    ``quantile.histogram_quantiles`` does."""
    counts = []
    for at in positions:
        if len(at) == 1:
            counts.append(values[at[0]])
        else:
            present = sorted(values[i] for i in at)
            value = present[0]
            for other in present[1:]:
                value += other
            counts.append(value)
    return counts


# A row's latency: (p50, p95, p99, avg, the NO_P* bits of the quantiles that are None).
_LatencyRow = tuple[float, float, float, float, int]


def _latency(
    buckets: dict[str, float], dur_sum: float, layouts: dict[tuple[str, ...], _Layout | None]
) -> _LatencyRow | None:
    """Quantiles and mean of one edge's merged histogram, as ``quantile.histogram_quantiles``
    computes them (``None``: no latency). ``layouts`` caches, per tuple of ``le`` keys (most
    edges share one), the order of the bounds, so each edge needs no parsing, sorting or merging
    of its own."""
    les = tuple(buckets)
    layout = layouts.get(les, _NOT_LAID_OUT)
    if layout is _NOT_LAID_OUT:
        layout = layouts[les] = _layout(les)
    if layout is None:
        return None
    bounds, positions, getter = layout
    counts: Sequence[float] = (
        getter(buckets) if getter is not None else _merged_counts(list(buckets.values()), positions)
    )
    count = counts[-1]
    if count <= 0:
        return None
    # Cumulative counts never dip: lift each to the largest below it (Prometheus does the same).
    # Checked first in C: most histograms do not dip (a NaN fails the check and takes the loop).
    if not all(map(le_, counts, islice(counts, 1, None))):
        lifted = list(counts)
        highest = -math.inf
        for index, value in enumerate(lifted):
            if value > highest:
                highest = value
            elif value < highest:
                lifted[index] = highest
        counts = lifted
    avg = dur_sum / count
    if len(bounds) < 2 or math.isnan(counts[-1]):
        return (0.0, 0.0, 0.0, avg, NO_P50 | NO_P95 | NO_P99)
    p50, p95, p99 = quantiles_of_prepared(_QUANTILES, (bounds, counts))
    absent = (NO_P50 if p50 is None else 0) | (NO_P95 if p95 is None else 0) | (NO_P99 if p99 is None else 0)
    return (p50 or 0.0, p95 or 0.0, p99 or 0.0, avg, absent)


def build_graph(telemetry: MeshTelemetry, options: GraphOptions) -> MeshGraph:
    """Build the graph of ``telemetry`` as ``options`` ask.

    Counts each request and each TCP byte once (decision 0002), places the traffic on nodes of
    ``options.graph_type``, keeps traffic from or to ``options.namespaces`` (all when ``None``),
    drops zero-traffic edges and the nodes they leave alone unless ``options.include_idle``.
    The result carries no health; pass it to ``health.assess``. Pure: no I/O, never raises on
    odd label values (missing labels read as ``""``).
    """
    requests, req_mtls = _pick_requests(telemetry.requests)
    buckets = one_report_per_identity(telemetry.duration_buckets, with_le=True)
    dur_sums = one_report_per_identity(telemetry.duration_sum, with_le=False)
    sent, sent_mtls = _pick_tcp(telemetry.tcp_sent)
    received, received_mtls = _pick_tcp(telemetry.tcp_received)

    dest_services: set[tuple[str, str, str]] = set()
    if options.graph_type == GraphType.SERVICE:
        for source in (requests, sent, received):
            for ident in source:
                if ident[_D_SVC_NAME] and ident[_D_WL] not in _UNSET:
                    dest_services.add((ident[_D_CLUSTER], ident[_D_SVC_NS], ident[_D_SVC_NAME]))
    placer = _Placer(options, dest_services, (requests, sent, received))
    accs: dict[tuple, _Acc] = {}

    # The graph edges of each identity, found once (requests and histograms share identities).
    found_edges: tuple[dict[tuple[str, ...], list[_Acc]], dict[tuple[str, ...], list[_Acc]]] = ({}, {})

    def edges_of(ident: tuple[str, ...], tcp: bool) -> list[_Acc]:
        known = found_edges[tcp]
        found = known.get(ident)
        if found is not None:
            return found
        protocol = "tcp" if tcp else _protocol(ident)
        found = known[ident] = []
        for source, target in placer.place(ident):
            key = (source, target, protocol)
            acc = accs.get(key)
            if acc is None:
                acc = accs[key] = _Acc()
            found.append(acc)
        return found

    # Outcome class per outcome, one table for gRPC identities and one for the others.
    class_caches: tuple[dict[tuple[str, str, str], int], dict[tuple[str, str, str], int]] = ({}, {})
    for ident, outcomes in requests.items():
        targets = edges_of(ident, tcp=False)
        if not targets:
            continue
        grpc = ident[_PROTO] == "grpc"
        class_cache = class_caches[grpc]
        pair = req_mtls.get(ident)
        for outcome, value in outcomes.items():
            cls = class_cache.get(outcome)
            if cls is None:
                cls = class_cache[outcome] = _classify(outcome, grpc)
            code, grpc_status, flag = outcome
            for acc in targets:
                acc.rate += value
                acc.classes[cls] += value
                acc.responses[code] = acc.responses.get(code, 0.0) + value
                acc.flags[flag] = acc.flags.get(flag, 0.0) + value
                if grpc and grpc_status:
                    acc.grpc_responses[grpc_status] = acc.grpc_responses.get(grpc_status, 0.0) + value
        if pair is not None:
            for acc in targets:
                acc.mtls_num += pair[0]
                acc.mtls_den += pair[1]

    for ident, per_le in buckets.items():
        dur_sum = dur_sums.get(ident, 0.0)
        targets = edges_of(ident, tcp=False)
        for acc in targets:
            if acc.buckets is None:
                # The picked dict is this build's own: the edge's only identity takes it as is.
                acc.buckets = per_le if len(targets) == 1 else dict(per_le)
            else:
                merged = acc.buckets
                for le, value in per_le.items():
                    merged[le] = merged.get(le, 0.0) + value
            acc.dur_sum += dur_sum

    for values, mtls, attr in ((sent, sent_mtls, "sent"), (received, received_mtls, "received")):
        for ident, value in values.items():
            pair = mtls.get(ident)
            for acc in edges_of(ident, tcp=True):
                setattr(acc, attr, (getattr(acc, attr) or 0.0) + value)
                if pair is not None:
                    acc.mtls_num += pair[0]
                    acc.mtls_den += pair[1]

    return _assemble(accs, placer, options)


_NO_LATENCY_ROW: _LatencyRow = (0.0, 0.0, 0.0, 0.0, NO_LATENCY | NO_P50 | NO_P95 | NO_P99)


def _edge_table(rows: list[tuple[str, str, str, str, _Acc]]) -> EdgeTable:
    """The columns of the edges ``rows`` (edge id, source id, target id, protocol, sums), sorted by id.

    Built column by column (``zip(*...)`` transposes, ``map`` over attribute getters), so most of
    the work per edge runs in C rather than in one Python loop appending to twenty lists."""
    if not rows:
        return _empty_table()
    ids, sources, targets, protocols, accs = zip(*rows, strict=True)
    layouts: dict[tuple[str, ...], _Layout | None] = {}
    latencies = [
        (_latency(acc.buckets, acc.dur_sum, layouts) if acc.buckets else None) or _NO_LATENCY_ROW for acc in accs
    ]
    p50, p95, p99, avg, latency_absent = zip(*latencies, strict=True)
    tcp = [protocol == "tcp" for protocol in protocols]
    absent = [
        bits | (0 if is_tcp else NO_TCP) | (0 if acc.mtls_den > 0 else NO_MTLS)
        for bits, is_tcp, acc in zip(latency_absent, tcp, accs, strict=True)
    ]
    classes = list(map(_classes_of, accs))
    responses = list(map(_responses_of, accs))
    grpc_responses = list(map(_grpc_responses_of, accs))
    flags = list(map(_flags_of, accs))
    shared_keys: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], OutcomeKeys] = {}
    outcome_keys = [
        shared_keys.get(key) or shared_keys.setdefault(key, OutcomeKeys(*key))
        for key in zip(map(tuple, responses), map(tuple, grpc_responses), map(tuple, flags), strict=True)
    ]
    lengths = list(map(len, responses))
    for maps in (grpc_responses, flags):
        lengths = list(map(add, lengths, map(len, maps)))
    outcome_values = array("d")
    for maps in zip(responses, grpc_responses, flags, strict=True):
        for values in maps:
            outcome_values.extend(values.values())
    return EdgeTable(
        ids=list(ids),
        sources=list(sources),
        targets=list(targets),
        protocols=list(protocols),
        request_rate=array("d", map(_rate_of, accs)),
        http_5xx_rate=array("d", map(itemgetter(_5XX), classes)),
        http_4xx_rate=array("d", map(itemgetter(_4XX), classes)),
        grpc_error_rate=array("d", map(itemgetter(_GRPC_ERROR), classes)),
        no_response_rate=array("d", map(itemgetter(_NO_RESPONSE), classes)),
        p50=array("d", p50),
        p95=array("d", p95),
        p99=array("d", p99),
        avg=array("d", avg),
        tcp_sent=array("d", [(acc.sent or 0.0) if is_tcp else 0.0 for acc, is_tcp in zip(accs, tcp, strict=True)]),
        tcp_received=array(
            "d", [(acc.received or 0.0) if is_tcp else 0.0 for acc, is_tcp in zip(accs, tcp, strict=True)]
        ),
        mtls_ratio=array("d", [acc.mtls_num / acc.mtls_den if acc.mtls_den > 0 else 0.0 for acc in accs]),
        absent=array("B", absent),
        outcome_keys=outcome_keys,
        outcome_start=array("L", accumulate(lengths[:-1], initial=0)),
        outcome_values=outcome_values,
    )


def _empty_table() -> EdgeTable:
    return EdgeTable(
        ids=[],
        sources=[],
        targets=[],
        protocols=[],
        absent=array("B"),
        outcome_keys=[],
        outcome_start=array("L"),
        outcome_values=array("d"),
        **{name: array("d") for name in _FLOAT_COLUMNS},
    )


def _assemble(accs: dict[tuple, _Acc], placer: _Placer, options: GraphOptions) -> MeshGraph:
    ids: dict[tuple, str] = {}

    def id_of(key: tuple) -> str:
        found = ids.get(key)
        if found is None:
            found = ids[key] = stable_id(_raw_id(key))
        return found

    rows: list[tuple[str, str, str, str, _Acc]] = []
    used: set[tuple] = set()
    for (source, target, protocol), acc in accs.items():
        if not options.include_idle and acc.rate <= 0.0 and not (acc.sent or acc.received):
            continue
        source_id, target_id = id_of(source), id_of(target)
        rows.append((stable_id(f"{source_id}|{target_id}|{protocol}"), source_id, target_id, protocol, acc))
        used.add(source)
        used.add(target)
    rows.sort(key=itemgetter(0))
    edges = _edge_table(rows)

    nodes: dict[str, Node] = {}
    for key in sorted(used, key=id_of):
        fields = dict(placer.nodes[key])
        parent = None
        if fields.pop("group", False):
            group_key = ("appbox", fields["cluster"], fields["namespace"], fields["app"])
            parent = id_of(group_key)
            if parent not in nodes:
                nodes[parent] = Node(
                    id=parent,
                    kind=NodeKind.APP,
                    name=fields["app"],
                    namespace=fields["namespace"],
                    app=fields["app"],
                    cluster=fields["cluster"],
                    is_gateway=_is_gateway(fields["app"]),
                    is_group=True,
                )
        node_id = id_of(key)
        nodes[node_id] = Node(
            id=node_id,
            parent=parent,
            is_gateway=_is_gateway(fields.get("workload"), fields.get("app"), fields["name"]),
            **fields,
        )

    if options.namespaces is not None:
        namespaces = tuple(sorted(options.namespaces))
    else:
        namespaces = tuple(sorted({node.namespace for node in nodes.values() if node.namespace}))
    return MeshGraph(options.graph_type, nodes, edges, namespaces)
