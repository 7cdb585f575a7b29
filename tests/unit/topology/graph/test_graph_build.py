"""build_graph on literal Istio samples: counting once, node kinds, graph types, filters, ids."""

from __future__ import annotations

import hashlib

from graph_mesh import CART1, CART2, DB, FRONT, INGRESS, PAY, both, buckets, duration_sum, req, tcp

from topology.graph.build import build_graph
from topology.graph.telemetry import MeshTelemetry
from topology.graph.types import Edge, GraphOptions, GraphType, MeshGraph, Node, NodeKind


def telemetry(**lists: list) -> MeshTelemetry:
    return MeshTelemetry(query_time=1_795_310_940, window_s=300, **lists)


def node_named(graph: MeshGraph, name: str, kind: NodeKind | None = None) -> Node:
    found = [n for n in graph.nodes.values() if n.name == name and (kind is None or n.kind == kind)]
    assert len(found) == 1, f"{len(found)} nodes named {name}"
    return found[0]


def edge_between(graph: MeshGraph, source: str, target: str, protocol: str | None = None) -> Edge:
    found = [
        e
        for e in graph.edges.values()
        if graph.nodes[e.source].name == source
        and graph.nodes[e.target].name == target
        and (protocol is None or e.protocol == protocol)
    ]
    assert len(found) == 1, f"{len(found)} edges {source} -> {target}"
    return found[0]


def short_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def test_request_reported_by_both_proxies_is_counted_once() -> None:
    # given 10 req/s reported by the source and by the destination proxy
    samples = both(FRONT, CART1, 10.0)
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions())
    # then
    edge = edge_between(graph, "frontend-v1", "cart-v1")
    assert edge.stats.request_rate == 10.0
    assert edge.stats.responses == {"200": 10.0}
    assert len(graph.edges) == 1


def test_fault_injected_abort_reported_only_by_source_goes_to_a_service_node() -> None:
    # given 8 req/s reaching cart-v1 and 2 req/s aborted by fault injection before any workload
    samples = [
        *both(FRONT, CART1, 8.0),
        req("source", FRONT, None, 2.0, code="555", flags="FI", service="cart.shop.svc.cluster.local"),
    ]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions())
    # then the aborts land on the cart service, the rest on the workload; 10 req/s in all
    aborted = edge_between(graph, "frontend-v1", "cart")
    assert graph.nodes[aborted.target].kind == NodeKind.SERVICE
    assert graph.nodes[aborted.target].namespace == "shop"
    assert aborted.stats.request_rate == 2.0
    assert aborted.stats.flags == {"FI": 2.0}
    assert aborted.stats.error_rate == 1.0
    assert edge_between(graph, "frontend-v1", "cart-v1").stats.request_rate == 8.0


def test_upstream_failures_reported_only_by_source_are_added_to_the_destination_reports() -> None:
    # given 10 req/s answered 200 (both reporters) and source-only failures UF, URX on the same edge
    samples = [
        *both(FRONT, CART1, 10.0),
        req("source", FRONT, CART1, 1.0, code="503", flags="UF"),
        req("source", FRONT, CART1, 0.5, code="503", flags="URX"),
    ]
    # when
    edge = edge_between(build_graph(telemetry(requests=samples), GraphOptions()), "frontend-v1", "cart-v1")
    # then every request once: 11.5 req/s of which 1.5 failed
    assert edge.stats.request_rate == 11.5
    assert edge.stats.flags == {"-": 10.0, "UF": 1.0, "URX": 0.5}
    assert edge.stats.http_5xx_rate == 1.5
    assert round(edge.stats.error_rate, 6) == round(1.5 / 11.5, 6)


def test_no_route_request_goes_to_the_unknown_service_node() -> None:
    # given a source-only 404 NR with every destination label "unknown"
    samples = [req("source", FRONT, None, 4.0, code="404", flags="NR")]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions())
    # then
    edge = edge_between(graph, "frontend-v1", "unknown")
    target = graph.nodes[edge.target]
    assert (target.kind, target.namespace, target.service, target.cluster) == (
        NodeKind.SERVICE,
        None,
        "unknown",
        None,
    )
    assert edge.stats.client_error_rate == 1.0
    assert edge.stats.error_rate == 0.0


def test_traffic_from_outside_the_mesh_comes_from_the_unknown_node() -> None:
    # given requests reported only by the destination, source "unknown"
    samples = [req("destination", None, FRONT, 6.0)]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions())
    # then
    source = graph.nodes[edge_between(graph, "unknown", "frontend-v1").source]
    assert (source.kind, source.namespace, source.cluster, source.workload) == (
        NodeKind.UNKNOWN,
        None,
        None,
        None,
    )
    assert source.id == short_hash("unknown|")


def test_destinations_outside_the_mesh_are_external_nodes() -> None:
    # given calls to a passthrough host and to a ServiceEntry host, and one to an in-mesh service
    # that has no workload (destination_workload "unknown")
    samples = [
        req("source", PAY, None, 1.0, service="Passthrough"),
        req("source", PAY, None, 2.0, service="api.stripe.com"),
        req("source", PAY, None, 3.0, code="503", flags="UH", service="ledger.payments.svc.cluster.local"),
    ]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions())
    # then
    assert node_named(graph, "Passthrough").kind == NodeKind.EXTERNAL
    stripe = node_named(graph, "api.stripe.com")
    assert (stripe.kind, stripe.namespace, stripe.id) == (
        NodeKind.EXTERNAL,
        None,
        short_hash("ext|api.stripe.com"),
    )
    assert node_named(graph, "ledger").kind == NodeKind.SERVICE
    assert edge_between(graph, "pay-v1", "api.stripe.com").stats.request_rate == 2.0


def test_grpc_status_other_than_zero_is_an_error() -> None:
    # given a grpc edge: 9 req/s OK, 1 req/s HTTP 200 with grpc status 14 (UNAVAILABLE)
    samples = [
        *both(FRONT, PAY, 9.0, grpc="0", protocol="grpc"),
        *both(FRONT, PAY, 1.0, grpc="14", protocol="grpc"),
    ]
    # when
    edge = edge_between(build_graph(telemetry(requests=samples), GraphOptions()), "frontend-v1", "pay-v1")
    # then
    assert edge.protocol == "grpc"
    assert edge.stats.request_rate == 10.0
    assert edge.stats.grpc_error_rate == 1.0
    assert edge.stats.error_rate == 0.1
    assert edge.stats.grpc_responses == {"0": 9.0, "14": 1.0}


def test_grpc_status_on_an_http_edge_is_not_an_error() -> None:
    # given an http edge whose series carries a grpc status label
    samples = both(FRONT, CART1, 5.0, grpc="2")
    # when
    edge = edge_between(build_graph(telemetry(requests=samples), GraphOptions()), "frontend-v1", "cart-v1")
    # then
    assert edge.stats.error_rate == 0.0


def test_no_response_codes_count_as_errors() -> None:
    # given responses "0" and "-" (no response) beside 200s
    samples = [
        *both(FRONT, CART1, 6.0),
        *both(FRONT, CART1, 3.0, code="0", flags="DC"),
        req("source", FRONT, CART1, 1.0, code="-", flags="UF"),
    ]
    # when
    edge = edge_between(build_graph(telemetry(requests=samples), GraphOptions()), "frontend-v1", "cart-v1")
    # then
    assert edge.stats.no_response_rate == 4.0
    assert edge.stats.error_rate == 0.4


def test_tcp_bytes_are_counted_once_and_tcp_edges_have_no_request_figures() -> None:
    # given 100 B/s sent reported by both proxies, 40 B/s received, and 7 B/s only by the source
    sent = [tcp("source", CART1, DB, 100.0), tcp("destination", CART1, DB, 100.0, mtls=True)]
    received = [
        tcp("source", CART1, DB, 40.0),
        tcp("destination", CART1, DB, 40.0, mtls=True),
        tcp("source", CART2, DB, 7.0),
    ]
    # when
    graph = build_graph(telemetry(tcp_sent=sent, tcp_received=received), GraphOptions())
    # then
    edge = edge_between(graph, "cart-v1", "db-0")
    assert edge.protocol == "tcp"
    assert (edge.stats.tcp_sent_bytes_per_s, edge.stats.tcp_received_bytes_per_s) == (100.0, 40.0)
    assert edge.stats.request_rate == 0.0
    assert edge.stats.mtls_ratio == 1.0
    source_only = edge_between(graph, "cart-v2", "db-0")
    assert (source_only.stats.tcp_sent_bytes_per_s, source_only.stats.tcp_received_bytes_per_s) == (0.0, 7.0)
    assert source_only.stats.mtls_ratio is None


def test_mtls_ratio_is_the_share_of_destination_reported_requests_over_mutual_tls() -> None:
    # given 8 req/s over mTLS and 2 req/s plaintext, plus a source-only call elsewhere
    samples = [
        req("source", FRONT, CART1, 10.0),
        req("destination", FRONT, CART1, 8.0, mtls=True),
        req("destination", FRONT, CART1, 2.0, mtls=False),
        req("source", FRONT, PAY, 1.0),
    ]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions())
    # then connection_security_policy does not split the identity: 10 req/s, 80% mTLS
    edge = edge_between(graph, "frontend-v1", "cart-v1")
    assert edge.stats.request_rate == 10.0
    assert edge.stats.mtls_ratio == 0.8
    assert edge_between(graph, "frontend-v1", "pay-v1").stats.mtls_ratio is None


def test_latency_uses_destination_buckets_once_and_avg_is_sum_over_count() -> None:
    # given the same histogram from both reporters (20 req/s) and a sum of 2000 ms/s
    counts = {"10": 5.0, "50": 10.0, "100": 18.0, "+Inf": 20.0}
    samples = [
        *buckets("source", FRONT, CART1, counts),
        *buckets("destination", FRONT, CART1, counts),
    ]
    sums = [duration_sum("source", FRONT, CART1, 2000.0), duration_sum("destination", FRONT, CART1, 2000.0)]
    # when
    graph = build_graph(
        telemetry(requests=both(FRONT, CART1, 20.0), duration_buckets=samples, duration_sum=sums),
        GraphOptions(),
    )
    # then p50: rank 10 ends bucket (10, 50] -> 50; p95: rank 19 in (100, +Inf] -> 100;
    # p99 likewise 100; avg 2000/20
    latency = edge_between(graph, "frontend-v1", "cart-v1").stats.latency
    assert latency is not None
    assert (latency.p50, latency.p95, latency.p99, latency.avg) == (50.0, 100.0, 100.0, 100.0)


def test_latency_is_none_without_duration_data() -> None:
    # given only request counts
    graph = build_graph(telemetry(requests=both(FRONT, CART1, 1.0)), GraphOptions())
    # then
    assert edge_between(graph, "frontend-v1", "cart-v1").stats.latency is None


def test_app_graph_merges_the_versions_of_an_app() -> None:
    # given frontend calling cart v1 and v2
    samples = [*both(FRONT, CART1, 3.0), *both(FRONT, CART2, 1.0, code="500")]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions(graph_type=GraphType.APP))
    # then
    edge = edge_between(graph, "frontend", "cart")
    cart = graph.nodes[edge.target]
    assert (cart.kind, cart.app, cart.workload, cart.version) == (NodeKind.APP, "cart", None, None)
    assert cart.id == short_hash("app|east|shop|cart")
    assert edge.stats.request_rate == 4.0
    assert edge.stats.error_rate == 0.25


def test_versioned_app_graph_groups_versions_under_an_app_node() -> None:
    # given frontend calling cart v1 and v2
    samples = [*both(FRONT, CART1, 3.0), *both(FRONT, CART2, 1.0)]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions(graph_type=GraphType.VERSIONED_APP))
    # then
    group = node_named(graph, "cart")
    assert (group.kind, group.is_group, group.id) == (NodeKind.APP, True, short_hash("appbox|east|shop|cart"))
    v1, v2 = node_named(graph, "cart v1"), node_named(graph, "cart v2")
    assert (v1.parent, v2.parent) == (group.id, group.id)
    assert (v1.version, v2.version, v1.id) == ("v1", "v2", short_hash("vapp|east|shop|cart|v1"))
    assert edge_between(graph, "frontend v1", "cart v2").stats.request_rate == 1.0
    assert not any(group.id in (e.source, e.target) for e in graph.edges.values())


def test_latest_revision_is_no_version() -> None:
    # given a workload whose canonical revision is "latest"
    graph = build_graph(telemetry(requests=both(CART1, DB, 1.0)), GraphOptions())
    # then
    assert node_named(graph, "db-0").version is None


def test_service_graph_uses_callers_services_and_keeps_pure_clients_as_workloads() -> None:
    # given ingress -> frontend -> cart (v1, v2); the ingress is never called
    samples = [*both(INGRESS, FRONT, 5.0), *both(FRONT, CART1, 3.0), *both(FRONT, CART2, 1.0)]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions(graph_type=GraphType.SERVICE))
    # then
    assert edge_between(graph, "frontend", "cart").stats.request_rate == 4.0
    ingress_edge = edge_between(graph, "istio-ingressgateway", "frontend")
    ingress = graph.nodes[ingress_edge.source]
    assert (ingress.kind, ingress.is_gateway) == (NodeKind.WORKLOAD, True)
    assert {n.kind for n in graph.nodes.values()} == {NodeKind.SERVICE, NodeKind.WORKLOAD}
    assert graph.nodes[ingress_edge.target].id == short_hash("svc|east|shop|frontend")


def test_workload_graph_shows_a_service_node_only_where_no_workload_was_reached() -> None:
    # given a normal call and a call to a service without workload
    samples = [
        *both(FRONT, CART1, 3.0),
        req("source", FRONT, None, 1.0, code="503", flags="UH", service="cart.shop.svc.cluster.local"),
    ]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions())
    # then
    assert sorted(n.kind.value for n in graph.nodes.values()) == ["service", "workload", "workload"]
    assert graph.nodes[edge_between(graph, "frontend-v1", "cart-v1").target].service == "cart"


def test_inject_service_nodes_puts_the_service_between_caller_and_workload() -> None:
    # given frontend calling cart v1 and v2 through service cart
    samples = [*both(FRONT, CART1, 3.0), *both(FRONT, CART2, 1.0)]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions(inject_service_nodes=True))
    # then
    assert edge_between(graph, "frontend-v1", "cart").stats.request_rate == 4.0
    assert edge_between(graph, "cart", "cart-v1").stats.request_rate == 3.0
    assert edge_between(graph, "cart", "cart-v2").stats.request_rate == 1.0
    assert len(graph.edges) == 3


def test_namespace_filter_keeps_traffic_from_or_into_selected_namespaces() -> None:
    # given shop -> payments, ingress(istio-system) -> shop, and data-only traffic
    samples = [*both(FRONT, PAY, 1.0), *both(INGRESS, FRONT, 2.0), *both(DB, DB, 3.0)]
    # when
    graph = build_graph(telemetry(requests=samples), GraphOptions(namespaces=frozenset({"payments"})))
    wide = build_graph(telemetry(requests=samples), GraphOptions(namespaces=frozenset({"shop"})))
    everything = build_graph(telemetry(requests=samples), GraphOptions())
    # then
    assert sorted(n.name for n in graph.nodes.values()) == ["frontend-v1", "pay-v1"]
    assert graph.namespaces == ("payments",)
    assert sorted(n.name for n in wide.nodes.values()) == ["frontend-v1", "istio-ingressgateway", "pay-v1"]
    assert everything.namespaces == ("data", "istio-system", "payments", "shop")


def test_idle_edges_are_dropped_unless_asked_for() -> None:
    # given an edge with traffic and one with a zero rate
    samples = [*both(FRONT, CART1, 1.0), *both(FRONT, CART2, 0.0)]
    # when
    busy = build_graph(telemetry(requests=samples), GraphOptions())
    idle = build_graph(telemetry(requests=samples), GraphOptions(include_idle=True))
    # then
    assert sorted(n.name for n in busy.nodes.values()) == ["cart-v1", "frontend-v1"]
    assert edge_between(idle, "frontend-v1", "cart-v2").stats.is_idle


def test_ids_are_stable_hashes_of_identities() -> None:
    # given the same telemetry built twice, in different sample orders
    samples = [*both(FRONT, CART1, 1.0), *both(FRONT, PAY, 1.0)]
    first = build_graph(telemetry(requests=samples), GraphOptions())
    second = build_graph(telemetry(requests=list(reversed(samples))), GraphOptions())
    # then
    assert set(first.edges) == set(second.edges)
    cart_id = short_hash("wl|east|shop|cart-v1")
    front_id = short_hash("wl|east|shop|frontend-v1")
    assert cart_id in first.nodes
    assert short_hash(f"{front_id}|{cart_id}|http") in first.edges


def test_unknown_cluster_is_none_and_gateways_are_flagged() -> None:
    # given ingress traffic where the destination proxy reports cluster "unknown"
    sample = req("destination", INGRESS, FRONT, 1.0)
    sample.labels["destination_cluster"] = "unknown"
    # when
    graph = build_graph(telemetry(requests=[sample]), GraphOptions())
    # then
    front = node_named(graph, "frontend-v1")
    assert front.cluster is None
    assert front.id == short_hash("wl||shop|frontend-v1")
    assert node_named(graph, "istio-ingressgateway").is_gateway
    assert not front.is_gateway


def test_missing_labels_read_as_empty() -> None:
    # given a destination-reported series without grpc_response_status / request_protocol
    sample = req("destination", FRONT, CART1, 2.0)
    del sample.labels["grpc_response_status"]
    del sample.labels["request_protocol"]
    # when
    edge = edge_between(build_graph(telemetry(requests=[sample]), GraphOptions()), "frontend-v1", "cart-v1")
    # then
    assert (edge.protocol, edge.stats.request_rate) == ("http", 2.0)


def test_a_timeout_seen_by_both_proxies_is_counted_once() -> None:
    # given 9 req/s answered 200 and 1 req/s timed out: the source reports 504 UT, the
    # destination the same requests as 0 DC (the client went away)
    samples = [
        *both(FRONT, CART1, 9.0),
        req("source", FRONT, CART1, 1.0, code="504", flags="UT"),
        req("destination", FRONT, CART1, 1.0, code="0", flags="DC"),
    ]
    # when
    edge = edge_between(build_graph(telemetry(requests=samples), GraphOptions()), "frontend-v1", "cart-v1")
    # then each request once, the timed-out ones as the destination saw them
    assert edge.stats.request_rate == 10.0
    assert edge.stats.flags == {"-": 9.0, "DC": 1.0}
    assert edge.stats.error_rate == 0.1
