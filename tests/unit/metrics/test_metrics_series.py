"""Pure range plans and series shaping (``metrics.series``), from literal telemetry."""

from __future__ import annotations

import pytest

from metrics.series import (
    METRIC_NAMES,
    Direction,
    Kind,
    RangeTelemetry,
    Target,
    plan_range,
    response_class,
    shape_series,
    step_figures,
)
from topology.graph.telemetry import EDGE_LABELS, REQUEST_LABELS, MeshTelemetry, Sample


def _request(reporter: str, src_wl: str, dst_wl: str, code: str, rate: float, flags: str = "-") -> Sample:
    values = {
        "reporter": reporter,
        "source_cluster": "c",
        "source_workload_namespace": "ns",
        "source_workload": src_wl,
        "source_canonical_service": src_wl.split("-")[0],
        "source_canonical_revision": "v1",
        "destination_cluster": "c",
        "destination_service_namespace": "ns",
        "destination_service": "b.ns.svc.cluster.local",
        "destination_service_name": "b",
        "destination_workload_namespace": "ns",
        "destination_workload": dst_wl,
        "destination_canonical_service": "b",
        "destination_canonical_revision": "v1",
        "request_protocol": "http",
        "response_code": code,
        "grpc_response_status": "",
        "response_flags": flags,
        "connection_security_policy": "",
    }
    assert set(values) == set(REQUEST_LABELS)
    return Sample(values, rate)


def test_plan_raises_the_step_to_stay_within_max_points():
    plan = plan_range(end=10_000, window_s=7200, step_s=1, rate_interval_s=60, max_points=101)
    assert plan.step_s == 72
    assert len(plan.timestamps) == 101
    assert plan.timestamps[-1] == 10_000


def test_plan_keeps_a_small_step():
    plan = plan_range(end=1000, window_s=600, step_s=60, rate_interval_s=60)
    assert (plan.start, plan.step_s, len(plan.timestamps)) == (400, 60, 11)


def test_plan_rejects_a_zero_step():
    with pytest.raises(ValueError, match="positive"):
        plan_range(end=1000, window_s=600, step_s=0, rate_interval_s=60)


def test_inbound_counts_each_request_once():
    # given both proxies reporting the same 2 req/s and the source alone an abort of 0.5 req/s
    telemetry = MeshTelemetry(
        query_time=0,
        window_s=60,
        requests=[
            _request("destination", "a-v1", "b-v1", "200", 2.0),
            _request("source", "a-v1", "b-v1", "200", 2.0),
            _request("source", "a-v1", "b-v1", "503", 0.5, flags="FI"),
        ],
    )
    figures = step_figures(telemetry, Target(Kind.SERVICE, "ns", "b"), Direction.INBOUND, None)
    assert figures["request_rate"] == {(): 2.5}
    assert figures["error_rate"] == {(): 0.2}


def test_outbound_of_a_workload_is_what_it_sent():
    telemetry = MeshTelemetry(
        query_time=0,
        window_s=60,
        requests=[
            _request("destination", "a-v1", "b-v1", "200", 2.0),
            _request("destination", "c-v1", "b-v1", "200", 1.0),
        ],
    )
    figures = step_figures(telemetry, Target(Kind.WORKLOAD, "ns", "c-v1"), Direction.OUTBOUND, None)
    assert figures["request_rate"] == {(): 1.0}


def test_by_source_app_splits_requests_and_errors():
    telemetry = MeshTelemetry(
        query_time=0,
        window_s=60,
        requests=[
            _request("destination", "a-v1", "b-v1", "200", 3.0),
            _request("destination", "c-v1", "b-v1", "500", 1.0),
        ],
    )
    figures = step_figures(telemetry, Target(Kind.SERVICE, "ns", "b"), Direction.INBOUND, "source_app")
    assert figures["request_rate"] == {(("source_app", "a"),): 3.0, (("source_app", "c"),): 1.0}
    assert figures["error_rate"] == {(("source_app", "a"),): 0.0, (("source_app", "c"),): 1.0}


def test_unknown_by_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        step_figures(MeshTelemetry(query_time=0, window_s=60), Target(Kind.APP, "ns", "b"), Direction.INBOUND, "colour")


@pytest.mark.parametrize(
    ("code", "expected"), [("200", "2xx"), ("503", "5xx"), ("0", "no response"), ("-", "no response")]
)
def test_response_class(code, expected):
    assert response_class(code) == expected


def test_shape_fills_absent_label_sets_with_null():
    steps = [{name: {} for name in METRIC_NAMES} for _ in range(2)]
    steps[1]["request_rate"] = {(("response_code", "200"),): 1.234567}
    series = shape_series([100, 160], steps)
    assert series["request_rate"] == [{"labels": {"response_code": "200"}, "points": [[100, None], [160, 1.235]]}]
    assert series["error_rate"] == []


def _bytes(reporter: str, src_wl: str, rate: float) -> Sample:
    """A size ``_sum`` rate (bytes/s) from ``src_wl`` to b-v1, with the edge labels only."""
    request = _request(reporter, src_wl, "b-v1", "200", rate)
    return Sample({name: request.labels[name] for name in EDGE_LABELS}, rate)


def test_sizes_count_each_identity_once_the_destination_winning():
    # given both proxies reporting a's sizes (slightly different) and only c's source proxy its own
    telemetry = RangeTelemetry(
        query_time=0,
        window_s=60,
        request_bytes=[
            _bytes("destination", "a-v1", 1000.0),
            _bytes("source", "a-v1", 1010.0),
            _bytes("source", "c-v1", 5.0),
        ],
        response_bytes=[_bytes("destination", "a-v1", 4000.0), _bytes("source", "a-v1", 4040.0)],
    )
    # when b's inbound is figured
    figures = step_figures(telemetry, Target(Kind.SERVICE, "ns", "b"), Direction.INBOUND, None)
    # then a counts with the destination's report, c with the source's
    assert figures["request_bytes_per_s"] == {(): 1005.0}
    assert figures["response_bytes_per_s"] == {(): 4000.0}


def test_sizes_split_by_source_app_and_stay_one_total_by_response_code():
    telemetry = RangeTelemetry(
        query_time=0,
        window_s=60,
        requests=[
            _request("destination", "a-v1", "b-v1", "200", 3.0),
            _request("destination", "c-v1", "b-v1", "500", 1.0),
        ],
        request_bytes=[_bytes("destination", "a-v1", 300.0), _bytes("destination", "c-v1", 20.0)],
    )
    target = Target(Kind.SERVICE, "ns", "b")
    by_app = step_figures(telemetry, target, Direction.INBOUND, "source_app")
    by_code = step_figures(telemetry, target, Direction.INBOUND, "response_code")
    assert by_app["request_bytes_per_s"] == {(("source_app", "a"),): 300.0, (("source_app", "c"),): 20.0}
    assert by_app["response_bytes_per_s"] == {}
    assert by_code["request_bytes_per_s"] == {(): 320.0}


def test_traffic_without_size_samples_has_no_size_series():
    # given requests but no size samples (a plain MeshTelemetry, as the graph's sources deliver)
    telemetry = MeshTelemetry(
        query_time=60, window_s=60, requests=[_request("destination", "a-v1", "b-v1", "200", 2.0)]
    )
    # when shaped into series
    figures = step_figures(telemetry, Target(Kind.SERVICE, "ns", "b"), Direction.INBOUND, None)
    series = shape_series([60], [figures])
    # then the size series are empty lists while the others have their entry
    assert (series["request_bytes_per_s"], series["response_bytes_per_s"]) == ([], [])
    assert series["request_rate"] == [{"labels": {}, "points": [[60, 2.0]]}]
