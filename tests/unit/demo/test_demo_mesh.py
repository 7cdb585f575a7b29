"""Mesh definitions: the built-in demo's validation and the synthetic size knob."""

from __future__ import annotations

import pytest

from demo.mesh import Call, MeshDefinition, Service, Workload, bookinfo_mesh, synthetic_mesh
from demo.source import DemoTelemetrySource, demo_mesh
from topology.graph.build import build_graph
from topology.graph.types import GraphOptions, GraphType

T = 1_795_300_000.0


def test_a_synthetic_mesh_has_about_ten_workload_edges_per_service():
    # given a synthetic mesh of 200 services
    mesh = synthetic_mesh(200, seed=4)
    # when a window is read and its workload graph built
    telemetry = DemoTelemetrySource(mesh, seed=4).read(query_time=T, window_s=600, namespaces=None)
    graph = build_graph(telemetry, GraphOptions(GraphType.WORKLOAD))
    # then it has the services asked for, spread over namespaces, and about ten edges per service
    assert len(mesh.services) == 200
    assert len({s.namespace for s in mesh.services}) == 10
    assert 9.5 <= len(graph.edges) / 200 <= 10.5
    assert {e.protocol for e in graph.edges.values()} == {"http", "grpc", "tcp"}
    assert max(len(s.workloads) for s in mesh.services) > 1


def test_the_same_size_and_seed_give_the_same_synthetic_mesh():
    assert synthetic_mesh(50, seed=9) == synthetic_mesh(50, seed=9)
    assert synthetic_mesh(50, seed=9) != synthetic_mesh(50, seed=10)


def test_demo_mesh_size_zero_is_bookinfo_and_a_size_is_synthetic():
    assert demo_mesh(0).name == "bookinfo"
    assert demo_mesh(30, seed=2) == synthetic_mesh(30, seed=2)
    with pytest.raises(ValueError, match="size must not be negative"):
        demo_mesh(-1)
    with pytest.raises(ValueError, match="services must be at least 2"):
        demo_mesh(1)


def test_the_builtin_mesh_has_both_namespaces_and_the_gateway():
    mesh = bookinfo_mesh()
    assert {w.namespace for w in mesh.workloads} == {"istio-system", "bookinfo", "shop"}
    assert mesh.service_index[("bookinfo", "reviews")].workloads == ("reviews-v1", "reviews-v2", "reviews-v3")


@pytest.mark.parametrize(
    ("services", "calls", "message"),
    [
        ((Service("ns", "a", "http", ("a-v9",)),), (), "unknown workload 'a-v9'"),
        ((Service("ns", "a", "smtp", ("a-v1",)),), (), "unknown protocol 'smtp'"),
        ((Service("ns", "a", "http", ("a-v1",)),), (Call(("ns", "b-v1"), ("ns", "a")),), "unknown workload"),
        ((Service("ns", "a", "http", ("a-v1",)),), (Call(("ns", "a-v1"), ("ns", "zz")),), "unknown service"),
        (
            (Service("ns", "a", "http", ("a-v1",)),),
            (Call(("ns", "a-v1")),),
            "exactly one of service and external",
        ),
        (
            (Service("ns", "a", "http", ("a-v1",)),),
            (Call(None, external="x.example.com"),),
            "unknown external host",
        ),
    ],
)
def test_a_definition_with_a_dangling_reference_is_refused(services, calls, message):
    with pytest.raises(ValueError, match=message):
        MeshDefinition("bad", (Workload("ns", "a-v1", "a", "v1"),), services, calls)
