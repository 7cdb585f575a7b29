"""Every edge of every graph type, built from the real Prometheus, against the known mesh.

The reader fetches the known mesh (tests.support.mesh_truth) from Debian's Prometheus; the pure
builder turns it into a graph; each edge must carry exactly the truth's traffic: each request
counted once whatever reported it, outcomes split into 5xx / 4xx / gRPC errors, latency
quantiles as Prometheus' histogram_quantile computes them, TCP bytes once.

Expected placement, written from the truth (not from the builder's code):
* source: an unknown source is the ``unknown`` node; otherwise the workload (workload graph),
  its app (app graph), ``"<app> <version>"`` or ``<app>`` for version ``latest`` (versioned app
  graph); in the service graph a workload whose app names a service that received traffic is
  that service, any other workload stays a workload.
* target: PassthroughCluster is an ``external`` node named by the host; an unknown destination
  workload is the service node; otherwise the destination workload/app/versioned app, or the
  service in the service graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from metrics.client import PrometheusClient
from metrics.reader import QUERY_PLAN, PrometheusTelemetrySource, RecordedSeriesProbe, rate_query
from metrics.rules import render_rules
from tests.support import mesh_truth
from tests.support.mesh_truth import Stream, Workload
from tests.support.prometheus import (
    RunningPrometheus,
    start_prometheus,
    start_prometheus_with_rules,
    write_openmetrics,
)
from topology.graph.build import build_graph
from topology.graph.telemetry import MeshTelemetry
from topology.graph.types import GraphOptions, GraphType
from topology.graph.wire import graph_to_wire

pytestmark = pytest.mark.integration

WINDOW_S = 600
RECORDED_WINDOW_S = 300
NodeLabel = tuple[str, str | None, str]
# Services that received traffic at a known workload: the service graph shows their apps as them.
SERVED = {(s.service.namespace, s.service.name) for s in mesh_truth.STREAMS if s.destination is not None}


@pytest.fixture(scope="module")
def mesh_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    tmp: Path = tmp_path_factory.mktemp("graph-prometheus")
    write_openmetrics(mesh_truth.series(), tmp / "mesh.om")
    running: RunningPrometheus = start_prometheus(tmp / "mesh.om", tmp)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def recorded_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    """The same mesh with meshui's recording rules backfilled over its last 20 minutes."""
    tmp: Path = tmp_path_factory.mktemp("graph-prometheus-recorded")
    write_openmetrics(mesh_truth.series(), tmp / "mesh.om")
    running = start_prometheus_with_rules(
        tmp / "mesh.om",
        tmp,
        render_rules(["mesh_id"]),
        start=mesh_truth.DATA_END - 1200,
        end=mesh_truth.DATA_END,
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module", params=["raw", "recorded"])
def telemetry(request: pytest.FixtureRequest) -> MeshTelemetry:
    """The whole mesh read raw (10m window) or from the recorded series (5m window)."""
    if request.param == "raw":
        running: RunningPrometheus = request.getfixturevalue("mesh_prometheus")
        client = PrometheusClient(running.url, timeout_s=10, scope=mesh_truth.SCOPE)
        return PrometheusTelemetrySource(client).read(query_time=running.data_end, window_s=WINDOW_S, namespaces=None)
    running = request.getfixturevalue("recorded_prometheus")
    client = PrometheusClient(running.url, timeout_s=10, scope=mesh_truth.SCOPE)
    # The rules' last evaluation before the data's end is the read's time.
    source = PrometheusTelemetrySource(client, probe=RecordedSeriesProbe(client))
    read = source.read(query_time=running.data_end, window_s=RECORDED_WINDOW_S, namespaces=None)
    assert read.recorded == ("requests", "duration_buckets", "duration_sum", "tcp_sent", "tcp_received")
    return read


@pytest.fixture(scope="module")
def every_report(mesh_prometheus: RunningPrometheus) -> MeshTelemetry:
    """The same window read the plain way: every reporter's series, every label spelled out."""
    client = PrometheusClient(mesh_prometheus.url, timeout_s=10, scope=mesh_truth.SCOPE)
    telemetry = MeshTelemetry(query_time=mesh_prometheus.data_end, window_s=WINDOW_S)
    for field_name, metric, *_, labels in QUERY_PLAN:
        promql = rate_query(metric, labels, WINDOW_S, None, mesh_truth.SCOPE)
        setattr(telemetry, field_name, client.query(promql, time=mesh_prometheus.data_end).samples)
    return telemetry


def workload_node(workload: Workload, graph_type: GraphType) -> NodeLabel:
    if graph_type == GraphType.APP:
        return ("app", workload.namespace, workload.app)
    if graph_type == GraphType.VERSIONED_APP:
        name = workload.app if workload.version == "latest" else f"{workload.app} {workload.version}"
        return ("app", workload.namespace, name)
    return ("workload", workload.namespace, workload.name)


def expected_source(stream: Stream, graph_type: GraphType) -> NodeLabel:
    if stream.source is None:
        return ("unknown", None, "unknown")
    if graph_type == GraphType.SERVICE and (stream.source.namespace, stream.source.app) in SERVED:
        return ("service", stream.source.namespace, stream.source.app)
    return workload_node(stream.source, graph_type)


def expected_target(stream: Stream, graph_type: GraphType) -> NodeLabel:
    if stream.service.name == "PassthroughCluster":
        return ("external", None, stream.service.host)
    if stream.destination is None or graph_type == GraphType.SERVICE:
        return ("service", stream.service.namespace, stream.service.name)
    return workload_node(stream.destination, graph_type)


def expected_edges(graph_type: GraphType, streams: Iterable[Stream] = mesh_truth.STREAMS) -> dict[tuple, dict]:
    edges: dict[tuple, dict] = {}
    for stream in streams:
        key = (expected_source(stream, graph_type), expected_target(stream, graph_type), stream.protocol)
        edge = edges.setdefault(
            key,
            {
                "rate": 0.0,
                "5xx": 0.0,
                "4xx": 0.0,
                "grpc": 0.0,
                "sent": 0.0,
                "received": 0.0,
                "buckets": {},
                "sum": 0.0,
            },
        )
        if stream.protocol == "tcp":
            edge["sent"] += stream.rate
            edge["received"] += stream.received
            continue
        edge["rate"] += stream.rate
        edge["sum"] += stream.rate * stream.mean_ms
        if stream.response_code.startswith("5"):
            edge["5xx"] += stream.rate
        elif stream.protocol == "grpc" and stream.grpc_status not in ("", "0"):
            edge["grpc"] += stream.rate
        elif stream.response_code.startswith("4"):
            edge["4xx"] += stream.rate
        for le, share in stream.cumulative_buckets().items():
            edge["buckets"][float(le)] = edge["buckets"].get(float(le), 0.0) + stream.rate * share
    return edges


@pytest.mark.parametrize("graph_type", list(GraphType))
def test_every_edge_matches_the_truth(telemetry, graph_type):
    # when building the graph of the whole mesh
    graph = build_graph(telemetry, GraphOptions(graph_type=graph_type))
    label = {nid: (n.kind.value, n.namespace, n.name) for nid, n in graph.nodes.items()}
    keys = sorted((label[e.source], label[e.target], e.protocol) for e in graph.edges.values())
    actual = {(label[e.source], label[e.target], e.protocol): e.stats for e in graph.edges.values()}
    expected = expected_edges(graph_type)
    # then the graph has exactly the truth's edges, each once (one service is one node, whichever
    # proxy reported the traffic)
    assert len(keys) == len(actual), [k for k in keys if keys.count(k) > 1]
    assert set(actual) == set(expected)
    for key, truth in expected.items():
        stats = actual[key]
        if key[2] == "tcp":
            assert stats.tcp_sent_bytes_per_s == pytest.approx(truth["sent"], rel=1e-9), key
            assert stats.tcp_received_bytes_per_s == pytest.approx(truth["received"], rel=1e-9), key
            assert stats.request_rate == 0.0
            continue
        # and each edge carries each request once, its outcomes and its latency
        assert stats.request_rate == pytest.approx(truth["rate"], rel=1e-9), key
        assert stats.http_5xx_rate == pytest.approx(truth["5xx"], rel=1e-9, abs=1e-12), key
        assert stats.http_4xx_rate == pytest.approx(truth["4xx"], rel=1e-9, abs=1e-12), key
        assert stats.grpc_error_rate == pytest.approx(truth["grpc"], rel=1e-9, abs=1e-12), key
        assert stats.error_rate == pytest.approx(
            (truth["5xx"] + truth["grpc"]) / truth["rate"], rel=1e-9, abs=1e-12
        )
        assert stats.client_error_rate == pytest.approx(truth["4xx"] / truth["rate"], rel=1e-9, abs=1e-12)
        assert stats.tcp_sent_bytes_per_s is None
        assert stats.latency is not None, key
        expected_quantiles = [mesh_truth.histogram_quantile(q, truth["buckets"]) for q in (0.5, 0.95, 0.99)]
        actual_quantiles = [stats.latency.p50, stats.latency.p95, stats.latency.p99]
        assert actual_quantiles == pytest.approx(expected_quantiles, rel=1e-9), key
        assert stats.latency.avg == pytest.approx(truth["sum"] / truth["rate"], rel=1e-9), key


@pytest.mark.parametrize("inject", [False, True])
@pytest.mark.parametrize("graph_type", list(GraphType))
def test_counting_once_in_promql_gives_the_graph_of_counting_once_in_python(
    telemetry, every_report, graph_type, inject
):
    # given the deduped compact read and the plain read of every reporter's series
    assert len(every_report.requests) > len(telemetry.requests)
    options = GraphOptions(graph_type=graph_type, inject_service_nodes=inject)
    # when both are built into the same graph type
    documents = [
        graph_to_wire(build_graph(read, options), query_time=read.query_time, window_s=WINDOW_S, warnings=[])
        for read in (telemetry, every_report)
    ]
    # then the API documents are the same (rates rounded to 4 digits: two sums of the same
    # floats in another order may differ in the last bit)
    assert documents[0] == documents[1]


class _NoNamespacesProbe(RecordedSeriesProbe):
    """The real probe, but as if it had not learnt the mesh's namespaces: selections stay selected."""

    def lookup(self, window_s, query_time):
        check = super().lookup(window_s, query_time)
        return type(check)(check.fields, frozenset())


def touches(stream: Stream, namespace: str) -> bool:
    """Whether ``stream`` is traffic from, to a service of, or to a workload of ``namespace``."""
    return namespace in (
        stream.source.namespace if stream.source else None,
        stream.service.namespace,
        stream.destination.namespace if stream.destination else None,
    )


@pytest.mark.parametrize("graph_type", list(GraphType))
def test_a_recorded_selection_read_as_the_whole_mesh_gives_the_selected_graph(recorded_prometheus, graph_type):
    # given the recorded mesh and a selection of one of its two namespaces (half of it: wide
    # enough for the reader to read the whole mesh and let the builder keep the selection)
    client = PrometheusClient(recorded_prometheus.url, timeout_s=10, scope=mesh_truth.SCOPE)
    selection = frozenset({"pay"})
    probe = RecordedSeriesProbe(client)
    check = probe.lookup(RECORDED_WINDOW_S, recorded_prometheus.data_end)
    assert check.namespaces >= {"pay", "shop"}
    assert PrometheusTelemetrySource.selection_read(selection, check) is None
    reads = [
        source.read(query_time=recorded_prometheus.data_end, window_s=RECORDED_WINDOW_S, namespaces=selection)
        for source in (PrometheusTelemetrySource(client, probe=probe),
                       PrometheusTelemetrySource(client, probe=_NoNamespacesProbe(client)))
    ]  # fmt: skip
    # the whole mesh was read by the first and only the selection by the second
    assert len(reads[0].requests) > len(reads[1].requests)
    graphs = [build_graph(read, GraphOptions(graph_type=graph_type, namespaces=selection)) for read in reads]
    # then the widened read gives exactly the truth's edges of the selection, each with its rate
    label = {nid: (n.kind.value, n.namespace, n.name) for nid, n in graphs[0].nodes.items()}
    actual = {(label[e.source], label[e.target], e.protocol): e.stats for e in graphs[0].edges.values()}
    expected = expected_edges(graph_type, [s for s in mesh_truth.STREAMS if touches(s, "pay")])
    assert set(actual) == set(expected)
    for key, truth in expected.items():
        if key[2] != "tcp":
            assert actual[key].request_rate == pytest.approx(truth["rate"], rel=1e-9), key
    # and the same figures as the selected read, on the same edges but in the service graph:
    # there a caller outside the selection whose app is a service is that service — as in the
    # whole mesh's graph — which only the whole read can tell.
    if graph_type != GraphType.SERVICE:
        documents = [
            graph_to_wire(graph, query_time=recorded_prometheus.data_end, window_s=RECORDED_WINDOW_S, warnings=[])
            for graph in graphs
        ]
        assert documents[0] == documents[1]
