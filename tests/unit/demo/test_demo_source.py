"""The demo mesh through ``DemoTelemetrySource``: shapes, determinism, history, who reports what."""

from __future__ import annotations

import itertools
import math

import pytest

from demo.simulate import BUCKET_BOUNDS, Simulator
from demo.source import DemoTelemetrySource, demo_mesh
from topology.graph.build import build_graph
from topology.graph.telemetry import DURATION_BUCKET_LABELS, EDGE_LABELS, REQUEST_LABELS, TCP_LABELS
from topology.graph.types import GraphOptions, GraphType, NodeKind

# A fixed instant in the past (2026-11-21); the demo answers for any time.
T = 1_795_300_000.0


def quiet_time(source: DemoTelemetrySource, start: float = T, margin: float = 900.0) -> float:
    """The first instant from ``start`` on (in 60 s steps) with no incident within ``margin`` s."""
    for step in range(200):
        t = start + 60.0 * step
        if not source.simulator.incidents(t - margin, t + margin):
            return t
    raise AssertionError("no quiet time found")


def total(samples, **match: str) -> float:
    return sum(s.value for s in samples if all(s.labels.get(k) == v for k, v in match.items()))


def test_a_read_fills_all_five_lists_with_exactly_the_contract_labels():
    # given the Bookinfo demo
    source = DemoTelemetrySource()
    # when a minute is read
    telemetry = source.read(query_time=T, window_s=60, namespaces=None)
    # then every list holds samples grouped by exactly its label tuple
    assert telemetry.requests
    assert telemetry.duration_buckets
    assert telemetry.duration_sum
    assert telemetry.tcp_sent
    assert telemetry.tcp_received
    assert {tuple(s.labels) for s in telemetry.requests} == {REQUEST_LABELS}
    assert {tuple(s.labels) for s in telemetry.duration_buckets} == {DURATION_BUCKET_LABELS}
    assert {tuple(s.labels) for s in telemetry.duration_sum} == {EDGE_LABELS}
    assert {tuple(s.labels) for s in telemetry.tcp_sent + telemetry.tcp_received} == {TCP_LABELS}
    assert (telemetry.query_time, telemetry.window_s, telemetry.warnings) == (T, 60, [])


def test_same_seed_and_time_give_the_same_samples():
    # given two sources with the same seed
    first, second = DemoTelemetrySource(seed=7), DemoTelemetrySource(seed=7)
    # when both read the same window
    a = first.read(query_time=T, window_s=300, namespaces=None)
    b = second.read(query_time=T, window_s=300, namespaces=None)
    # then the samples are identical
    assert a.requests == b.requests
    assert a.duration_buckets == b.duration_buckets
    assert a.tcp_sent == b.tcp_sent


def test_another_seed_gives_other_rates():
    # given two seeds
    a = DemoTelemetrySource(seed=1).read(query_time=T, window_s=300, namespaces=None)
    b = DemoTelemetrySource(seed=2).read(query_time=T, window_s=300, namespaces=None)
    # then the same series have different rates
    rates_a = {tuple(s.labels.values()): s.value for s in a.requests}
    rates_b = {tuple(s.labels.values()): s.value for s in b.requests}
    common = rates_a.keys() & rates_b.keys()
    assert common
    assert any(not math.isclose(rates_a[k], rates_b[k]) for k in common)


def test_rates_drift_over_time():
    # given the demo
    source = DemoTelemetrySource()
    match = {"reporter": "destination", "destination_workload": "productpage-v1"}
    # when the same series is read at instants ten minutes apart
    rates = [
        total(source.read(query_time=T + 600 * i, window_s=60, namespaces=None).requests, **match) for i in range(6)
    ]
    # then the rate changes but stays near the defined 6 req/s
    assert len({round(r, 6) for r in rates}) == 6
    assert all(6.0 * 0.6 <= r <= 6.0 * 1.4 for r in rates)


def test_a_window_is_the_sum_of_its_parts():
    # given the simulator and a window cut in three
    sim = DemoTelemetrySource().simulator
    whole = sim.traffic(T - 3600, T)
    parts = [sim.traffic(T - 3600, T - 2000), sim.traffic(T - 2000, T - 17.5), sim.traffic(T - 17.5, T)]
    # then every series' total is the sum of the parts' totals
    for key, (count, _) in whole.requests.items():
        assert count == pytest.approx(sum(p.requests[key][0] for p in parts if key in p.requests), rel=1e-9)
    for key, (sent, received) in whole.tcp.items():
        assert sent == pytest.approx(sum(p.tcp[key][0] for p in parts if key in p.tcp), rel=1e-9)
        assert received == pytest.approx(sum(p.tcp[key][1] for p in parts if key in p.tcp), rel=1e-9)


def test_a_seven_day_window_has_full_history():
    # given a source
    source = DemoTelemetrySource()
    # when seven days and their last hour are read
    week = source.read(query_time=T, window_s=7 * 86400, namespaces=None)
    hour = source.read(query_time=T, window_s=3600, namespaces=None)
    # then the week has traffic on every series of the hour at a similar mean rate
    match = {"reporter": "destination", "destination_workload": "details-v1", "response_code": "200"}
    assert total(week.requests, **match) == pytest.approx(6.0 * 0.99, rel=0.05)
    assert {tuple(s.labels.values()) for s in hour.requests} <= {tuple(s.labels.values()) for s in week.requests}


def test_in_mesh_http_traffic_is_reported_by_both_sides():
    # given a quiet minute of Bookinfo
    source = DemoTelemetrySource()
    telemetry = source.read(query_time=quiet_time(source), window_s=60, namespaces=frozenset({"bookinfo"}))
    # then each call to a workload is reported by the source and by the destination, at the same rate
    for workload in ("productpage-v1", "details-v1", "reviews-v1", "reviews-v2", "reviews-v3", "ratings-v1"):
        by_source = total(telemetry.requests, reporter="source", destination_workload=workload)
        by_destination = total(telemetry.requests, reporter="destination", destination_workload=workload)
        assert by_source > 0
        assert by_source == pytest.approx(by_destination, rel=1e-12)


def test_mtls_shows_on_destination_reports_and_source_reports_say_unknown():
    # given the demo
    telemetry = DemoTelemetrySource().read(query_time=T, window_s=60, namespaces=None)
    # then destination reports carry the service's policy, source reports "unknown"
    policies = {
        (s.labels["reporter"], s.labels["destination_service_name"], s.labels["connection_security_policy"])
        for s in telemetry.requests + telemetry.tcp_sent
    }
    assert ("destination", "reviews", "mutual_tls") in policies
    assert ("destination", "frontend", "none") in policies
    assert ("destination", "postgres", "mutual_tls") in policies
    assert {p for r, _, p in policies if r == "source"} == {"unknown"}


def test_clients_outside_the_mesh_are_reported_by_the_destination_only():
    # given the demo
    telemetry = DemoTelemetrySource().read(query_time=T, window_s=60, namespaces=None)
    # when the series from unknown sources are taken
    unknown = [s for s in telemetry.requests if s.labels["source_workload"] == "unknown"]
    # then they reach shop/frontend, reported by the destination only, with unknown source labels
    assert unknown
    assert {s.labels["reporter"] for s in unknown} == {"destination"}
    assert {s.labels["destination_workload"] for s in unknown} == {"frontend-v1"}
    assert {
        (
            s.labels["source_cluster"],
            s.labels["source_workload_namespace"],
            s.labels["source_canonical_service"],
        )
        for s in unknown
    } == {("unknown", "unknown", "unknown")}


def test_external_hosts_are_reported_by_the_source_only():
    # given the demo
    telemetry = DemoTelemetrySource().read(query_time=T, window_s=60, namespaces=None)
    # when the series to workloads outside the mesh are taken (FI aborts aside: none without routing)
    outside = [s for s in telemetry.requests if s.labels["destination_workload"] == "unknown"]
    # then the ServiceEntry host and the PassthroughCluster host are there, source-reported only
    assert {s.labels["reporter"] for s in outside} == {"source"}
    assert {(s.labels["destination_service"], s.labels["destination_service_name"]) for s in outside} == {
        ("api.stripe.com", "api.stripe.com"),
        ("hooks.slack.com", "PassthroughCluster"),
    }


def test_tcp_database_traffic_has_bytes_both_ways_from_both_reporters():
    # given the demo
    telemetry = DemoTelemetrySource().read(query_time=T, window_s=60, namespaces=None)
    # then postgres has sent and received bytes, reported by both sides, and no request metrics
    for samples in (telemetry.tcp_sent, telemetry.tcp_received):
        assert {(s.labels["reporter"], s.labels["destination_workload"]) for s in samples} == {
            ("source", "postgres"),
            ("destination", "postgres"),
        }
        assert all(s.labels["request_protocol"] == "tcp" for s in samples)
    sent = total(telemetry.tcp_sent, reporter="destination", source_workload="cart-v1")
    received = total(telemetry.tcp_received, reporter="destination", source_workload="cart-v1")
    assert received == pytest.approx(0.6 * sent, rel=1e-12)
    assert not [s for s in telemetry.requests if s.labels["destination_workload"] == "postgres"]


def test_grpc_calls_carry_grpc_statuses_with_occasional_errors():
    # given a quiet ten minutes of the demo
    source = DemoTelemetrySource()
    telemetry = source.read(query_time=quiet_time(source), window_s=600, namespaces=frozenset({"shop"}))
    # when the destination reports of calls to checkout are taken
    checkout = [
        s
        for s in telemetry.requests
        if s.labels["destination_service_name"] == "checkout" and s.labels["reporter"] == "destination"
    ]
    # then they are gRPC with status 0 and 2 % status 14 (UNAVAILABLE)
    assert {s.labels["request_protocol"] for s in checkout} == {"grpc"}
    statuses = {s.labels["grpc_response_status"] for s in checkout}
    assert statuses == {"0", "14"}
    errors = sum(s.value for s in checkout if s.labels["grpc_response_status"] == "14")
    assert errors / sum(s.value for s in checkout) == pytest.approx(0.02, rel=1e-9)


def test_ratings_fails_one_and_a_half_percent_and_details_answers_some_404s():
    # given a quiet ten minutes of Bookinfo
    source = DemoTelemetrySource()
    telemetry = source.read(query_time=quiet_time(source), window_s=600, namespaces=frozenset({"bookinfo"}))
    # then the background error shares are the defined ones
    ratings = total(telemetry.requests, reporter="destination", destination_workload="ratings-v1")
    ratings_503 = total(
        telemetry.requests, reporter="destination", destination_workload="ratings-v1", response_code="503"
    )
    details = total(telemetry.requests, reporter="destination", destination_workload="details-v1")
    details_404 = total(
        telemetry.requests, reporter="destination", destination_workload="details-v1", response_code="404"
    )
    assert ratings_503 / ratings == pytest.approx(0.015, rel=1e-9)
    assert details_404 / details == pytest.approx(0.01, rel=1e-9)


def _mean_latency(telemetry, workload: str) -> float:
    match = {"reporter": "destination", "destination_workload": workload}
    count = total([s for s in telemetry.duration_buckets if s.labels["le"] == "+Inf"], **match)
    return total(telemetry.duration_sum, **match) / count


def test_reviews_v3_is_slower_than_v2_which_is_slower_than_v1():
    # given a quiet ten minutes of Bookinfo
    source = DemoTelemetrySource()
    telemetry = source.read(query_time=quiet_time(source), window_s=600, namespaces=frozenset({"bookinfo"}))
    # then the mean server times are ordered v1 < v2 < v3
    v1, v2, v3 = (_mean_latency(telemetry, f"reviews-v{n}") for n in (1, 2, 3))
    assert v1 < v2 < v3
    assert v3 > 2 * v2


def test_histogram_buckets_are_complete_and_cumulative():
    # given the demo
    telemetry = DemoTelemetrySource().read(query_time=T, window_s=60, namespaces=None)
    # when the buckets are grouped per edge
    per_edge: dict[tuple, dict[str, float]] = {}
    for s in telemetry.duration_buckets:
        per_edge.setdefault(tuple(s.labels[k] for k in EDGE_LABELS), {})[s.labels["le"]] = s.value
    # then each edge has the 20 bounds, non-decreasing, and +Inf equals its request rate
    assert per_edge
    requests = {}
    for s in telemetry.requests:
        key = tuple(s.labels[k] for k in EDGE_LABELS)
        requests[key] = requests.get(key, 0.0) + s.value
    for edge, buckets in per_edge.items():
        assert tuple(buckets) == BUCKET_BOUNDS
        values = [buckets[le] for le in BUCKET_BOUNDS]
        assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))
        assert values[-1] == pytest.approx(requests[edge], rel=1e-9)


def test_every_node_kind_and_protocol_shows_up_in_the_graphs():
    # given a read of the whole demo
    telemetry = DemoTelemetrySource().read(query_time=T, window_s=600, namespaces=None)
    # when workload (with service nodes) and app graphs are built
    workload_graph = build_graph(telemetry, GraphOptions(GraphType.WORKLOAD, inject_service_nodes=True))
    app_graph = build_graph(telemetry, GraphOptions(GraphType.APP))
    # then workload, service, app, unknown, external and gateway nodes and all protocols are there
    kinds = {n.kind for n in workload_graph.nodes.values()} | {n.kind for n in app_graph.nodes.values()}
    assert kinds == {NodeKind.WORKLOAD, NodeKind.SERVICE, NodeKind.APP, NodeKind.UNKNOWN, NodeKind.EXTERNAL}
    assert [n.name for n in workload_graph.nodes.values() if n.is_gateway] == ["istio-ingressgateway"]
    assert {e.protocol for e in workload_graph.edges.values()} == {"http", "grpc", "tcp"}
    assert {n.name for n in workload_graph.nodes.values() if n.kind == NodeKind.EXTERNAL} == {
        "api.stripe.com",
        "hooks.slack.com",
    }


def test_bookinfo_workload_graph_has_the_bookinfo_edges():
    # given a read of namespace bookinfo
    telemetry = DemoTelemetrySource().read(query_time=T, window_s=60, namespaces=frozenset({"bookinfo"}))
    # when the workload graph is built
    graph = build_graph(telemetry, GraphOptions(GraphType.WORKLOAD, namespaces=frozenset({"bookinfo"})))
    names = {n.id: n.name for n in graph.nodes.values()}
    # then the edges are exactly Bookinfo's calls (reviews-v1 never calls ratings)
    assert {(names[e.source], names[e.target]) for e in graph.edges.values()} == {
        ("istio-ingressgateway", "productpage-v1"),
        ("productpage-v1", "details-v1"),
        ("productpage-v1", "reviews-v1"),
        ("productpage-v1", "reviews-v2"),
        ("productpage-v1", "reviews-v3"),
        ("reviews-v2", "ratings-v1"),
        ("reviews-v3", "ratings-v1"),
    }


def test_the_namespace_hint_narrows_the_read():
    # given the demo
    source = DemoTelemetrySource()
    # when only shop is read
    telemetry = source.read(query_time=T, window_s=60, namespaces=frozenset({"shop"}))
    # then no series is from or to bookinfo
    assert telemetry.requests
    assert all(
        "bookinfo" not in (s.labels["source_workload_namespace"], s.labels["destination_service_namespace"])
        for s in telemetry.requests
    )


def test_incidents_come_every_twenty_to_forty_minutes_and_last_two_to_six():
    # given a day of incidents
    sim = Simulator(demo_mesh(), seed=3)
    incidents = sim.incidents(T, T + 86400)
    # then they follow each other 20-40 minutes apart, each lasting 2-6 minutes, without overlap
    assert len(incidents) in (48, 49)
    starts = [i.start for i in incidents]
    assert all(1200.0 <= b - a <= 2400.0 for a, b in itertools.pairwise(starts))
    assert all(120.0 <= i.end - i.start <= 360.0 for i in incidents)
    assert {i.kind for i in incidents} == {"errors", "latency"}
    assert all(i.end < j.start for i, j in itertools.pairwise(incidents))


def test_an_error_incident_fails_its_share_of_the_service_requests():
    # given an error incident of the demo on an HTTP service without background 503s
    source = DemoTelemetrySource(seed=3)
    incident = next(
        i
        for i in source.simulator.incidents(T, T + 86400)
        if i.kind == "errors" and source.mesh.service_index[i.service].protocol == "http" and i.service[1] != "ratings"
    )
    # when a minute inside it is read
    telemetry = source.read(query_time=incident.end - 1, window_s=60, namespaces=None)
    # then that share of the service's requests (as its workloads report them) fails with 503
    served = [
        s
        for s in telemetry.requests
        if s.labels["reporter"] == "destination" and s.labels["destination_service_name"] == incident.service[1]
    ]
    failed = sum(s.value for s in served if s.labels["response_code"] == "503")
    assert failed / sum(s.value for s in served) == pytest.approx(incident.severity, rel=1e-9)


def test_a_latency_incident_slows_the_service_down():
    # given a latency incident of the demo on an HTTP service
    source = DemoTelemetrySource(seed=3)
    incident = next(i for i in source.simulator.incidents(T, T + 86400) if i.kind == "latency")
    service = source.mesh.service_index[incident.service]
    workload = service.workloads[0]
    # when a minute inside it and the minute before it are read
    during = source.read(query_time=incident.end - 1, window_s=60, namespaces=None)
    before = source.read(query_time=incident.start - 1, window_s=60, namespaces=None)
    # then the workload's mean server time is longer by the severity
    assert _mean_latency(during, workload) == pytest.approx(
        incident.severity * _mean_latency(before, workload), rel=1e-6
    )


def test_a_window_needs_a_positive_length():
    with pytest.raises(ValueError, match="window_s must be positive"):
        DemoTelemetrySource().read(query_time=T, window_s=0, namespaces=None)
