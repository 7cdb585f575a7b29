"""build_graph on the Prometheus reader's shapes: precomputed identities, unknown destination
clusters, and latency from the prepared bucket order (same figures as the generic quantile)."""

from __future__ import annotations

import math

import pytest
from graph_mesh import CART1, CART2, FRONT, PAY, both, buckets, duration_sum, req, tcp
from hypothesis import given, settings
from hypothesis import strategies as st

from topology.graph.build import build_graph
from topology.graph.quantile import histogram_quantiles
from topology.graph.telemetry import IDENTITY_LABELS, MeshTelemetry, Sample
from topology.graph.types import GraphOptions, GraphType, MeshGraph, NodeKind
from topology.graph.wire import graph_to_wire

CART_HOST = "cart.shop.svc.cluster.local"


def telemetry(**lists: list) -> MeshTelemetry:
    return MeshTelemetry(query_time=1_795_310_940, window_s=300, **lists)


def relabel(sample: Sample, **labels: str) -> Sample:
    return Sample({**sample.labels, **labels}, sample.value)


def compact(sample: Sample) -> Sample:
    """``sample`` as the reader returns it: identity precomputed, identity labels left out."""
    identity = tuple(sample.labels.get(name, "") for name in IDENTITY_LABELS)
    rest = {k: v for k, v in sample.labels.items() if k not in IDENTITY_LABELS}
    return Sample(rest, sample.value, identity)


def service_nodes(graph: MeshGraph, name: str) -> list[tuple[str | None, str | None]]:
    return sorted(
        (n.namespace, n.cluster) for n in graph.nodes.values() if n.kind == NodeKind.SERVICE and n.name == name
    )


def mixed_mesh() -> dict[str, list[Sample]]:
    return {
        "requests": [
            *both(FRONT, CART1, 8.0, mtls=True),
            *both(FRONT, CART2, 2.0, code="503"),
            req("source", FRONT, CART1, 0.5, code="503", flags="UF"),
            req("source", FRONT, None, 0.25, code="500", flags="FI", service=CART_HOST),
            req("destination", None, FRONT, 3.0),
            *both(CART1, PAY, 1.0, protocol="grpc", grpc="14"),
        ],
        "duration_buckets": [
            *buckets("destination", FRONT, CART1, {"10": 2.0, "100": 7.0, "+Inf": 8.0}),
            *buckets("source", FRONT, CART1, {"10": 1.0, "100": 1.0, "+Inf": 8.0}),
            *buckets("destination", FRONT, CART2, {"10": 0.5, "1e2": 1.5, "+Inf": 2.0}),
        ],
        "duration_sum": [
            duration_sum("destination", FRONT, CART1, 320.0),
            duration_sum("source", FRONT, CART1, 900.0),
            duration_sum("destination", FRONT, CART2, 50.0),
        ],
        "tcp_sent": [tcp("source", CART1, PAY, 700.0), tcp("destination", CART1, PAY, 650.0, mtls=True)],
        "tcp_received": [tcp("destination", CART1, PAY, 90.0)],
    }


@pytest.mark.parametrize("inject", [False, True])
@pytest.mark.parametrize("graph_type", list(GraphType))
def test_precomputed_identities_build_the_same_graph(graph_type, inject):
    # given the same samples with labels spelled out and with the identity precomputed
    spelled = mixed_mesh()
    precomputed = {field: [compact(s) for s in samples] for field, samples in spelled.items()}
    options = GraphOptions(graph_type=graph_type, inject_service_nodes=inject)
    # when building both
    documents = [
        graph_to_wire(build_graph(telemetry(**lists), options), query_time=1, window_s=300, warnings=[])
        for lists in (spelled, precomputed)
    ]
    # then the API documents are identical
    assert documents[0] == documents[1]
    assert documents[0]["edges"]


def test_identity_wins_over_labels_and_labels_serve_without_it():
    sample = Sample({"reporter": "source", "source_workload": "stale"}, 1.0, ("x",) * len(IDENTITY_LABELS))
    assert sample.label("source_workload") == "x"
    assert sample.label("reporter") == "source"
    assert sample.label("le") == ""
    assert Sample({"source_workload": "a"}, 2.0).label("source_workload") == "a"
    assert sample.all_labels()["destination_service"] == "x"
    assert sample.all_labels()["reporter"] == "source"


def test_unknown_destination_cluster_takes_the_cluster_the_service_was_seen_in():
    # given cart served in cluster east, and fault-injected aborts the source reports with
    # destination_cluster "unknown"
    aborted = relabel(
        req("source", FRONT, None, 0.5, code="500", flags="FI", service=CART_HOST), destination_cluster="unknown"
    )
    samples = [*both(FRONT, CART1, 4.0), aborted]
    # when building the service graph
    graph = build_graph(telemetry(requests=samples), GraphOptions(graph_type=GraphType.SERVICE))
    # then there is one cart node, in east, receiving every request
    assert service_nodes(graph, "cart") == [("shop", "east")]
    [edge] = [e for e in graph.edges.values() if graph.nodes[e.target].name == "cart"]
    assert edge.stats.request_rate == 4.5


def test_unknown_destination_cluster_prefers_the_callers_cluster_among_several():
    # given cart served in east and in west, and aborts from a west caller with cluster unknown
    west_front = [relabel(s, source_cluster="west") for s in both(FRONT, CART2, 1.0)]
    west_front = [relabel(s, destination_cluster="west") for s in west_front]
    aborted = relabel(
        req("source", FRONT, None, 0.5, code="500", flags="FI", service=CART_HOST),
        destination_cluster="unknown",
        source_cluster="west",
    )
    samples = [*both(FRONT, CART1, 4.0), *west_front, aborted]
    # when building the workload graph (the aborts reach no workload: a service node)
    graph = build_graph(telemetry(requests=samples), GraphOptions())
    # then the aborts land on cart in west
    [node] = [n for n in graph.nodes.values() if n.kind == NodeKind.SERVICE]
    assert (node.name, node.cluster) == ("cart", "west")


def test_unknown_destination_cluster_of_a_service_seen_nowhere_else_is_the_callers():
    aborted = relabel(
        req("source", FRONT, None, 0.5, code="503", flags="UF", service=CART_HOST), destination_cluster="unknown"
    )
    graph = build_graph(telemetry(requests=[aborted]), GraphOptions())
    assert service_nodes(graph, "cart") == [("shop", "east")]


SPELLINGS = {"5": 5.0, "10": 10.0, "1e1": 10.0, "25": 25.0, "100": 100.0, "100.0": 100.0, "+Inf": math.inf}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(sorted(SPELLINGS)),
            st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
            min_size=1,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_latency_equals_the_generic_histogram_quantile(histograms):
    # given up to three workloads' histograms on one edge (any spellings, dips, missing bounds)
    sources = [("shop", f"front-{i}", "frontend", "v1") for i in range(len(histograms))]
    samples = [
        s
        for source, counts in zip(sources, histograms, strict=True)
        for s in buckets("destination", source, CART1, counts)
    ]
    sums = [duration_sum("destination", source, CART1, 42.0) for source in sources]
    requests = [req("destination", source, CART1, 1.0) for source in sources]
    # when building the app graph (all callers are one app: one edge)
    graph = build_graph(
        telemetry(requests=requests, duration_buckets=samples, duration_sum=sums),
        GraphOptions(graph_type=GraphType.APP),
    )
    [edge] = graph.edges.values()
    # then the latency is what the generic quantile computes over the merged buckets
    merged: dict[str, float] = {}
    for counts in histograms:
        for le, value in counts.items():
            merged[le] = merged.get(le, 0.0) + value
    total = sum(value for le, value in merged.items() if SPELLINGS[le] == math.inf)
    if total <= 0:
        assert edge.stats.latency is None
        return
    expected = histogram_quantiles((0.5, 0.95, 0.99), [(SPELLINGS[le], v) for le, v in merged.items()])
    latency = edge.stats.latency
    assert [latency.p50, latency.p95, latency.p99] == expected
    assert latency.avg == 42.0 * len(histograms) / total
