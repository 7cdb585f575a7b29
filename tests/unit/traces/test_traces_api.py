"""The traces API over the demo's traces (no Jaeger, no Prometheus): shapes, filters, errors.

The same endpoints against Jaeger's replayed fixtures are in tests/integration/traces/.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

import sources
from demo.mesh import bookinfo_mesh
from demo.simulate import Simulator
from demo.traces import DemoTraces
from traces.parse import parse_trace
from traces.source import DemoTraceSource, JaegerTraceSource

# 2026-11-22 00:00 UTC: a fixed past instant, so every answer is reproducible.
T0 = 1795305600
REVIEWS_RATINGS = {"source": "bookinfo/reviews", "target": "bookinfo/ratings"}
SUMMARY_KEYS = {"trace_id", "start_time_us", "duration_ms", "span_count", "services", "root", "has_error"}


@pytest.fixture
def viewer_client(db) -> APIClient:
    user = User.objects.create_user("vera", password="not-used-here-123")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def demo_settings(settings):
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    settings.JAEGER = {**settings.JAEGER, "URL": ""}
    settings.DEMO_SIZE = 0
    settings.DEMO_SEED = 1
    return settings


def expected_traces(a: float, b: float, keep) -> list:
    d = DemoTraces(Simulator(bookinfo_mesh(), 1))
    found = [parse_trace(d.build(ref, start, {})) for start, ref in d.refs(a, b)]
    return [t for t in found if keep(t)]


def test_service_traces_are_the_demo_traces_through_it_newest_first(viewer_client, demo_settings):
    # when the traces through bookinfo/details of the 10 minutes before T0 are asked for
    response = viewer_client.get(
        "/api/v1/namespaces/bookinfo/services/details/traces", {"window": "10m", "limit": "5", "query_time": T0}
    )
    # then they are the five newest demo traces that contain details, summarised
    assert response.status_code == 200
    body = response.json()
    expected = expected_traces(T0 - 600, T0, lambda t: "details.bookinfo" in t.services)[:5]
    assert [t["trace_id"] for t in body["traces"]] == [t.trace_id for t in expected]
    first = body["traces"][0]
    assert set(first) == SUMMARY_KEYS
    assert first["root"] == {"service": "istio-ingressgateway.istio-system", "operation": expected[0].root.operation}
    assert first["span_count"] == len(expected[0].spans)
    assert first["duration_ms"] == round(expected[0].duration_us / 1000, 3)
    assert first["services"][:2] == ["istio-ingressgateway.istio-system", "productpage.bookinfo"]
    starts = [t["start_time_us"] for t in body["traces"]]
    assert starts == sorted(starts, reverse=True)


def test_errors_only_and_min_duration_filter(viewer_client, demo_settings):
    # when only error traces through reviews are asked for over two hours
    errors = viewer_client.get(
        "/api/v1/namespaces/bookinfo/services/reviews/traces",
        {"window": "2h", "limit": "200", "errors_only": "true", "query_time": T0},
    ).json()["traces"]
    slow = viewer_client.get(
        "/api/v1/namespaces/bookinfo/services/reviews/traces",
        {"window": "30m", "limit": "200", "min_duration_ms": "60", "query_time": T0},
    ).json()["traces"]
    # then each has an error, and each slow one has a reviews span of at least 60 ms
    assert errors
    assert all(t["has_error"] for t in errors)
    expected_slow = expected_traces(
        T0 - 1800,
        T0,
        lambda t: any(s.service == "reviews.bookinfo" and s.duration_us >= 60_000 for s in t.spans),
    )
    assert [t["trace_id"] for t in slow] == [t.trace_id for t in expected_slow][:200]


def test_an_unknown_service_has_no_traces(viewer_client, demo_settings):
    response = viewer_client.get("/api/v1/namespaces/bookinfo/services/no-such-app/traces")
    assert response.status_code == 200
    assert response.json() == {"traces": []}


def test_edge_traces_contain_the_call_from_source_to_target(viewer_client, demo_settings):
    # when the traces of reviews → ratings are asked for
    response = viewer_client.get(
        "/api/v1/edges/traces",
        {"source": "bookinfo/reviews", "target": "bookinfo/ratings", "window": "15m", "limit": "10", "query_time": T0},
    )
    # then each one has a reviews span whose child is a ratings span, newest first
    traces = response.json()["traces"]
    expected = expected_traces(
        T0 - 900,
        T0,
        lambda t: t.has_call(frozenset({"reviews.bookinfo"}), frozenset({"ratings.bookinfo"})),
    )[:10]
    assert response.status_code == 200
    assert [t["trace_id"] for t in traces] == [t.trace_id for t in expected]
    assert all("ratings.bookinfo" in t["services"] for t in traces)


def test_edge_traces_of_a_pair_that_never_calls_are_empty(viewer_client, demo_settings):
    response = viewer_client.get("/api/v1/edges/traces", {"source": "bookinfo/details", "target": "bookinfo/ratings"})
    assert response.status_code == 200
    assert response.json() == {"traces": [], "matched_on": {"source": "app", "target": "app"}}


def reviews_revisions_called_by_productpage(trace_id: str, start: float, end: float) -> set[str]:
    """The ``istio.canonical_revision`` of each reviews span whose parent is a productpage span."""
    trace = next(t for t in expected_traces(start, end, lambda t: True) if t.trace_id == trace_id)
    index = trace.span_index()
    return {
        s.tags["istio.canonical_revision"]
        for s in trace.spans
        if s.service == "reviews.bookinfo" and s.parent_span_id in index
        and index[s.parent_span_id].service == "productpage.bookinfo"
    }


def test_edge_traces_of_a_workload_edge_are_calls_to_that_workload(viewer_client, demo_settings):
    # given the demo's productpage → reviews calls, spread over reviews v1, v2 and v3
    edge = {"source": "bookinfo/productpage", "target": "bookinfo/reviews", "window": "10m", "limit": "20",
            "query_time": T0}  # fmt: skip
    any_version = viewer_client.get("/api/v1/edges/traces", edge).json()
    # when the productpage-v1 → reviews-v2 edge's traces are asked for
    response = viewer_client.get(
        "/api/v1/edges/traces", {**edge, "source_workload": "productpage-v1", "target_workload": "reviews-v2"}
    )
    # then every trace is one in which productpage called reviews on reviews-v2, and says so
    assert response.status_code == 200
    body = response.json()
    assert body["matched_on"] == {"source": "workload", "target": "workload"}
    expected = [
        t.trace_id for t in expected_traces(T0 - 600, T0, lambda t: True)
        if "v2" in reviews_revisions_called_by_productpage(t.trace_id, T0 - 600, T0)
    ][:20]  # fmt: skip
    assert expected
    assert [t["trace_id"] for t in body["traces"]] == expected
    # while the app edge also lists traces whose reviews span ran on another version
    others = [
        t for t in any_version["traces"]
        if "v2" not in reviews_revisions_called_by_productpage(t["trace_id"], T0 - 600, T0)
    ]  # fmt: skip
    assert others
    assert any_version["matched_on"] == {"source": "app", "target": "app"}


def test_a_workload_and_a_version_that_disagree_match_nothing(viewer_client, demo_settings):
    # reviews-v2's pods report revision v2: asking for reviews-v2 at v1 finds no span
    response = viewer_client.get(
        "/api/v1/edges/traces",
        {"source": "bookinfo/productpage", "target": "bookinfo/reviews", "target_workload": "reviews-v2",
         "target_version": "v1", "window": "10m", "query_time": T0},
    )  # fmt: skip
    assert response.json() == {"traces": [], "matched_on": {"source": "app", "target": "workload"}}


def test_edge_traces_of_a_versioned_app_edge_match_the_version(viewer_client, demo_settings):
    response = viewer_client.get(
        "/api/v1/edges/traces",
        {"source": "bookinfo/productpage", "target": "bookinfo/reviews", "target_version": "v3", "window": "10m",
         "query_time": T0},
    )  # fmt: skip
    body = response.json()
    assert body["matched_on"] == {"source": "app", "target": "version"}
    assert body["traces"]
    for trace in body["traces"]:
        assert "v3" in reviews_revisions_called_by_productpage(trace["trace_id"], T0 - 600, T0)


def test_a_trace_has_spans_with_parents_tags_and_service_edges(viewer_client, demo_settings):
    # given a demo trace through ratings
    trace = expected_traces(T0 - 600, T0, lambda t: "ratings.bookinfo" in t.services)[0]
    # when it is read
    response = viewer_client.get(f"/api/v1/traces/{trace.trace_id}")
    # then spans and edges are in the API's shape
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"trace_id", "spans", "edges"}
    assert body["trace_id"] == trace.trace_id
    assert len(body["spans"]) == len(trace.spans)
    span = body["spans"][0]
    assert set(span) == {
        "span_id", "parent_span_id", "service", "operation", "start_time_us", "duration_us", "has_error", "tags"
    }  # fmt: skip
    assert span["parent_span_id"] is None
    assert span["tags"]["span.kind"] == "client"
    assert {"source": "reviews.bookinfo", "target": "ratings.bookinfo", "calls": 1} in body["edges"]
    ids = {s["span_id"] for s in body["spans"]}
    assert all(s["parent_span_id"] in ids for s in body["spans"][1:])


def test_an_unknown_trace_is_a_404_envelope(viewer_client, demo_settings):
    response = viewer_client.get("/api/v1/traces/" + "ab" * 16)
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "trace_not_found",
            "message": f"no trace with id {'ab' * 16}",
            "field": "trace_id",
            "details": {"trace_id": "ab" * 16},
        }
    }


@pytest.mark.parametrize("trace_id", ["xyz", "a" * 33, "12-34"])
def test_a_trace_id_that_is_not_hex_is_a_400(viewer_client, demo_settings, trace_id):
    response = viewer_client.get(f"/api/v1/traces/{trace_id}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert response.json()["error"]["field"] == "trace_id"


@pytest.mark.parametrize(
    ("url", "query", "field"),
    [
        ("/api/v1/namespaces/Bad_NS/services/details/traces", {}, "namespace"),
        ("/api/v1/namespaces/bookinfo/services/Details!/traces", {}, "service"),
        ("/api/v1/namespaces/bookinfo/services/details/traces", {"window": "10x"}, "window"),
        ("/api/v1/namespaces/bookinfo/services/details/traces", {"limit": "0"}, "limit"),
        ("/api/v1/namespaces/bookinfo/services/details/traces", {"limit": "201"}, "limit"),
        ("/api/v1/namespaces/bookinfo/services/details/traces", {"min_duration_ms": "-1"}, "min_duration_ms"),
        ("/api/v1/namespaces/bookinfo/services/details/traces", {"errors_only": "maybe"}, "errors_only"),
        ("/api/v1/namespaces/bookinfo/services/details/traces", {"query_time": "4102444800"}, "query_time"),
        ("/api/v1/namespaces/bookinfo/services/details/traces", {"lookback": "1h"}, "lookback"),
        ("/api/v1/edges/traces", {"target": "bookinfo/ratings"}, "source"),
        ("/api/v1/edges/traces", {"source": "reviews", "target": "bookinfo/ratings"}, "source"),
        ("/api/v1/edges/traces", {"source": "bookinfo/reviews", "target": "bookinfo/Ratings"}, "target"),
        ("/api/v1/edges/traces", {**REVIEWS_RATINGS, "source_workload": "Reviews_V1"}, "source_workload"),
        ("/api/v1/edges/traces", {**REVIEWS_RATINGS, "target_workload": "ratings-v1\n"}, "target_workload"),
        ("/api/v1/edges/traces", {**REVIEWS_RATINGS, "target_version": "v1/../x"}, "target_version"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(viewer_client, demo_settings, url, query, field):
    response = viewer_client.get(url, query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert response.json()["error"]["field"] == field


def test_with_prometheus_and_no_jaeger_traces_are_not_configured(viewer_client, settings):
    # given a real telemetry source and no Jaeger
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": "http://127.0.0.1:9"}
    settings.JAEGER = {**settings.JAEGER, "URL": ""}
    # when traces are asked for
    response = viewer_client.get("/api/v1/namespaces/bookinfo/services/details/traces")
    # then the answer says how to configure Jaeger
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "jaeger_not_configured"
    assert "MESHUI_JAEGER_URL" in error["message"]


def test_a_jaeger_url_wins_over_the_demo(demo_settings):
    demo_settings.JAEGER = {**demo_settings.JAEGER, "URL": "http://127.0.0.1:16686"}
    assert isinstance(sources.trace_source(), JaegerTraceSource)
    demo_settings.JAEGER = {**demo_settings.JAEGER, "URL": ""}
    assert isinstance(sources.trace_source(), DemoTraceSource)


@pytest.mark.django_db
def test_anonymous_reads_are_refused_unless_anonymous_read_is_on(demo_settings):
    client = APIClient()
    demo_settings.ANONYMOUS_READ = False
    refused = client.get("/api/v1/namespaces/bookinfo/services/details/traces")
    demo_settings.ANONYMOUS_READ = True
    allowed = client.get("/api/v1/namespaces/bookinfo/services/details/traces")
    assert refused.status_code == 401
    assert allowed.status_code == 200


def test_the_trace_page_is_a_shell_for_the_api(viewer_client, demo_settings):
    # given a signed-in viewer
    user = User.objects.get(username="vera")
    viewer_client.force_login(user)
    # when the page of a trace id and of a bad id are opened
    page = viewer_client.get("/traces/ABCDEF0123")
    bad = viewer_client.get("/traces/not-hex")
    # then the page points its script at the API, and a bad id is a 400 page
    assert page.status_code == 200
    assert 'data-api-url="/api/v1/traces/abcdef0123"' in page.content.decode()
    assert bad.status_code == 400
    assert 'data-testid="trace-invalid"' in bad.content.decode()
