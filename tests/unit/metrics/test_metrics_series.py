"""Pure range plans and series shaping (``metrics.series``), from literal telemetry."""

from __future__ import annotations

import pytest

from metrics.series import Direction, Kind, Target, plan_range, response_class, shape_series, step_figures
from topology.graph.telemetry import REQUEST_LABELS, MeshTelemetry, Sample


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
    steps = [
        {
            name: {}
            for name in (
                "request_rate",
                "error_rate",
                "latency_p50_ms",
                "latency_p95_ms",
                "latency_p99_ms",
                "latency_avg_ms",
                "tcp_sent_bytes_per_s",
                "tcp_received_bytes_per_s",
            )
        }
        for _ in range(2)
    ]
    steps[1]["request_rate"] = {(("response_code", "200"),): 1.234567}
    series = shape_series([100, 160], steps)
    assert series["request_rate"] == [{"labels": {"response_code": "200"}, "points": [[100, None], [160, 1.235]]}]
    assert series["error_rate"] == []
