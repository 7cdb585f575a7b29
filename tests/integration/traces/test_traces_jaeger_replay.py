"""The traces API and client against a loopback Jaeger replaying the real fixtures over HTTP.

Nothing is patched: meshui's client speaks HTTP to the server of ``conftest.py``, which
answers from ``../shared/fixtures/jaeger`` (or hangs, or sends garbage, on cue).
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from meshui.observability import REGISTRY
from tests.integration.traces.conftest import ISTIO_TRACE_ID, STALL_LIMIT_S
from tests.unit.traces.jaeger_fixtures import bookinfo_trace, trace_object
from traces.client import DEADLINE_MARGIN_S, JaegerClient
from traces.errors import TraceNotFound

pytestmark = pytest.mark.integration

PETCLINIC_5 = trace_object("traces/petclinic_5spans_2services.json")
GENAI = trace_object("traces/genai_57spans_10services_generated.json")
BOOKINFO = bookinfo_trace()
TIMEOUT_S = 1.0


def end_of(trace: dict) -> float:
    """Unix seconds just after the trace's last span ends."""
    return max(s["startTime"] + s["duration"] for s in trace["spans"]) / 1e6 + 1


@pytest.fixture
def viewer(db) -> APIClient:
    user = User.objects.create_user("vera", password="not-used-here-123")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def jaeger_settings(settings, jaeger):
    # Jaeger is the trace source whatever the telemetry source: here, the demo.
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    settings.JAEGER = {"URL": jaeger.url, "TOKEN": "jaeger-token", "CA_FILE": "", "TIMEOUT_S": TIMEOUT_S}
    return settings


def test_the_client_reads_services_and_operations(jaeger):
    # given a client of the replaying Jaeger
    client = JaegerClient(jaeger.url, timeout_s=TIMEOUT_S)
    # when it reads the services and one service's operations
    services = client.services()
    operations = client.operations("customers-service")
    # then they are the fixtures' names
    assert "api-gateway" in services
    assert "customers-service" in services
    assert "api-edge" in services
    assert "api-gateway.petclinic" in services
    expected_ops = {
        s["operationName"]
        for name in ("traces/petclinic_5spans_2services.json", "traces/petclinic_17spans_2services.json")
        for t in [trace_object(name)]
        for s in t["spans"]
        if t["processes"][s["processID"]]["serviceName"] == "customers-service"
    }
    assert set(operations) == expected_ops
    assert jaeger.requests[-1][0] == "/api/services/customers-service/operations"


def test_a_trace_by_id_and_an_unknown_id(jaeger):
    client = JaegerClient(jaeger.url, timeout_s=TIMEOUT_S)
    assert client.get_trace(GENAI["traceID"]).trace_id == GENAI["traceID"]
    with pytest.raises(TraceNotFound):
        client.get_trace("123456")


def test_service_traces_come_from_jaeger_with_the_search_it_was_sent(viewer, jaeger_settings, jaeger):
    # when the traces of the plain-named service api-gateway are asked for, ending after the trace
    query_time = end_of(PETCLINIC_5)
    response = viewer.get(
        "/api/v1/namespaces/default/services/api-gateway/traces",
        {"window": "1h", "limit": "5", "query_time": str(query_time)},
    )
    # then the fixture trace is summarised
    assert response.status_code == 200
    starts = [s["startTime"] for s in PETCLINIC_5["spans"]]
    ends = [s["startTime"] + s["duration"] for s in PETCLINIC_5["spans"]]
    assert response.json() == {
        "traces": [
            {
                "trace_id": PETCLINIC_5["traceID"],
                "start_time_us": min(starts),
                "duration_ms": round((max(ends) - min(starts)) / 1000, 3),
                "span_count": 5,
                "services": ["api-gateway", "customers-service"],
                "root": {"service": "api-gateway", "operation": "GET /api/customer/owners/8/pets/10"},
                "has_error": False,
            }
        ]
    }
    # and Jaeger was asked with the service name it knows, the range in µs and the token
    path, query, headers = jaeger.requests[-1]
    assert path == "/api/traces"
    assert query["service"] == ["api-gateway"]
    assert query["end"] == [str(int(query_time * 1e6))]
    assert query["start"] == [str(int((query_time - 3600) * 1e6))]
    assert query["limit"] == ["5"]
    assert headers["Authorization"] == "Bearer jaeger-token"


def test_istio_names_map_to_app_dot_namespace(viewer, jaeger_settings, jaeger):
    # when the traces of petclinic/api-gateway are asked for
    response = viewer.get(
        "/api/v1/namespaces/petclinic/services/api-gateway/traces", {"window": "1h", "query_time": end_of(PETCLINIC_5)}
    )
    # then Jaeger is searched for api-gateway.petclinic, and the Istio-named trace comes back
    assert [t["trace_id"] for t in response.json()["traces"]] == [ISTIO_TRACE_ID]
    assert jaeger.requests[-1][1]["service"] == ["api-gateway.petclinic"]


def test_an_unknown_service_is_an_empty_list_without_a_search(viewer, jaeger_settings, jaeger):
    response = viewer.get("/api/v1/namespaces/bookinfo/services/nobody/traces")
    assert response.status_code == 200
    assert response.json() == {"traces": []}
    assert [path for path, _, _ in jaeger.requests] == ["/api/services"]


def test_edge_traces_keep_traces_where_the_source_calls_the_target(viewer, jaeger_settings, jaeger):
    # when the traces of api-gateway → customers-service around the 5-span trace are asked for
    response = viewer.get(
        "/api/v1/edges/traces",
        {"source": "default/api-gateway", "target": "default/customers-service", "query_time": end_of(PETCLINIC_5)},
    )
    reverse = viewer.get(
        "/api/v1/edges/traces",
        {"source": "default/customers-service", "target": "default/api-gateway", "query_time": end_of(PETCLINIC_5)},
    )
    # then the trace crosses that edge, and not the reverse one
    assert [t["trace_id"] for t in response.json()["traces"]] == [PETCLINIC_5["traceID"]]
    assert reverse.json() == {"traces": [], "matched_on": {"source": "app", "target": "app"}}


@pytest.mark.parametrize(
    ("narrowing", "expected_ids", "matched_on"),
    [
        # the real Bookinfo trace: productpage-v1 called reviews on a reviews-v2 pod
        ({"source_workload": "productpage-v1", "target_workload": "reviews-v2"}, [BOOKINFO["traceID"]],
         {"source": "workload", "target": "workload"}),
        ({"source_workload": "productpage-v1", "target_workload": "reviews-v1"}, [],
         {"source": "workload", "target": "workload"}),
        ({"source_version": "v1", "target_version": "v2"}, [BOOKINFO["traceID"]],
         {"source": "version", "target": "version"}),
        ({"target_version": "v1"}, [], {"source": "app", "target": "version"}),
        ({}, [BOOKINFO["traceID"]], {"source": "app", "target": "app"}),
    ],
)  # fmt: skip
def test_an_edges_traces_are_matched_on_the_workloads_or_versions_of_both_ends(
    viewer, jaeger_settings, jaeger, narrowing, expected_ids, matched_on
):
    # when the traces of a productpage → reviews edge around the Bookinfo trace are asked for
    response = viewer.get(
        "/api/v1/edges/traces",
        {"source": "bookinfo/productpage", "target": "bookinfo/reviews", "query_time": end_of(BOOKINFO), **narrowing},
    )
    # then Jaeger was searched for productpage's traces and meshui kept those that crossed that edge
    assert response.status_code == 200
    assert [t["trace_id"] for t in response.json()["traces"]] == expected_ids
    assert response.json()["matched_on"] == matched_on
    assert jaeger.requests[-1][1]["service"] == ["productpage.bookinfo"]


def test_errors_only_keeps_traces_with_an_error_span(viewer, jaeger_settings, jaeger):
    query = {"window": "1h", "query_time": end_of(GENAI)}
    everything = viewer.get("/api/v1/namespaces/default/services/api-edge/traces", query).json()["traces"]
    errors = viewer.get("/api/v1/namespaces/default/services/api-edge/traces", {**query, "errors_only": "1"})
    assert [t["has_error"] for t in everything] == [True]
    assert [t["trace_id"] for t in errors.json()["traces"]] == [GENAI["traceID"]]


def test_a_multi_service_trace_has_all_spans_and_its_edges(viewer, jaeger_settings, jaeger):
    # when the 57-span trace is read
    response = viewer.get(f"/api/v1/traces/{GENAI['traceID']}")
    # then every span, its service and its parent are there, and the service edges
    body = response.json()
    assert response.status_code == 200
    assert len(body["spans"]) == 57
    assert len({s["service"] for s in body["spans"]}) == 10
    by_id = {s["span_id"]: s for s in body["spans"]}
    raw_parent = {s["spanID"]: (s["references"] or [{}])[0].get("spanID") for s in GENAI["spans"]}
    assert {sid: s["parent_span_id"] for sid, s in by_id.items()} == raw_parent
    assert by_id["0000000000000011"]["has_error"] is True
    assert by_id["0000000000000011"]["tags"]["http.response.status_code"] == 500
    assert {"source": "api-edge", "target": "graphql-gateway", "calls": 1} in body["edges"]


def test_an_unknown_trace_is_the_404_envelope(viewer, jaeger_settings, jaeger):
    response = viewer.get("/api/v1/traces/123456")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "trace_not_found",
        "message": "no trace with id 123456",
        "field": "trace_id",
        "details": {"trace_id": "123456"},
    }
    assert jaeger.requests[-1][0] == "/api/traces/123456"


def test_jaeger_down_is_503_jaeger_unavailable(viewer, jaeger_settings, jaeger):
    # given a URL nobody listens on (the replay server's port, once it is closed, is not reused here)
    jaeger_settings.JAEGER = {**jaeger_settings.JAEGER, "URL": "http://127.0.0.1:9"}
    response = viewer.get("/api/v1/traces/abcdef")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "jaeger_unavailable"
    assert error["details"]["reason"] == "connection_refused"


def test_jaeger_slow_is_503_within_the_timeout(viewer, jaeger_settings, jaeger):
    # given a Jaeger that never answers
    jaeger.mode = "hang"
    before = REGISTRY.get_sample_value(
        "meshui_upstream_errors_total", {"upstream": "jaeger", "error": "JaegerUnavailable"}
    ) or 0.0
    # when a trace is asked for
    started = time.monotonic()
    response = viewer.get("/api/v1/traces/abcdef")
    elapsed = time.monotonic() - started
    # then the answer is a 503 timeout, bounded by the configured timeout, and it was counted
    assert response.status_code == 503
    assert response.json()["error"]["details"]["reason"] == "timeout"
    assert elapsed < TIMEOUT_S + DEADLINE_MARGIN_S + 0.5 < STALL_LIMIT_S
    after = REGISTRY.get_sample_value(
        "meshui_upstream_errors_total", {"upstream": "jaeger", "error": "JaegerUnavailable"}
    )
    assert after == before + 1


def test_malformed_json_is_502(viewer, jaeger_settings, jaeger):
    jaeger.mode = "malformed"
    response = viewer.get("/api/v1/namespaces/default/services/api-gateway/traces")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "jaeger_bad_response"


def test_a_storage_error_is_503_with_jaegers_message(viewer, jaeger_settings, jaeger):
    jaeger.mode = "storage_error"
    response = viewer.get("/api/v1/traces/abcdef")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "jaeger_unavailable"
    assert "whatsamattayou" in error["message"]
    assert error["details"]["reason"] == "http_status"
