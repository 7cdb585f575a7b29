"""Subsets and known hosts come from whatever telemetry source is configured, not only the demo."""

import pytest

import sources
from metrics.errors import PrometheusUnavailable
from tests.unit.topology.test_graph_api import LiteralSource, requests
from topology import service
from topology.graph.telemetry import MeshTelemetry
from traffic.fetch import known_hosts, seen_versions


@pytest.fixture
def telemetry_of(monkeypatch):
    def install(source) -> None:
        monkeypatch.setattr(sources, "telemetry_source", lambda: source)
        monkeypatch.setattr(service, "_shared_reads", service.SharedReads(ttl_s=5))

    return install


def test_versions_are_read_from_the_telemetry_source(telemetry_of):
    # given telemetry (as Prometheus would give it) with cart-v1 and cart-v2 behind service cart
    v2 = requests("destination", "web", "cart", "200", 1.0)
    v2 = type(v2)({**v2.labels, "destination_workload": "cart-v2", "destination_canonical_revision": "v2"}, 1.0)
    v1 = requests("destination", "web", "cart", "200", 3.0)
    # and a workload without a version label (Istio reports "unknown"): no subset comes of it
    bare = requests("destination", "web", "cart", "200", 1.0)
    bare = type(bare)({**bare.labels, "destination_workload": "cart-bare", "destination_canonical_revision": "unknown"},
                      1.0)  # fmt: skip
    telemetry_of(LiteralSource(MeshTelemetry(query_time=0, window_s=3600, requests=[v1, v2, bare])))
    # when / then
    assert seen_versions("shop", "cart") == ["v1", "v2"]
    assert seen_versions("shop", "nothing") == []
    assert {"cart.shop.svc.cluster.local", "web.shop.svc.cluster.local"} & known_hosts() == {
        "cart.shop.svc.cluster.local"
    }


class DownSource:
    def read(self, **_):
        raise PrometheusUnavailable(
            "Prometheus at prom:9090 refused the connection", reason="connection_refused", host="prom:9090"
        )


def test_without_telemetry_the_hints_are_empty_not_errors(telemetry_of):
    # given Prometheus down
    telemetry_of(DownSource())
    # then traffic reads still work, without telemetry hints
    assert seen_versions("shop", "cart") == []
    assert known_hosts() is None
