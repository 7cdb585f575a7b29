"""Which spans are an edge's: matching both ends of a call on workload, version or app (pure).

On the one real Istio trace of the fixtures (Bookinfo, converted from Tempo's OTLP JSON):
ingress → productpage-v1 → reviews-v2 → ratings-v1, and productpage-v1 → details-v1.
"""

from __future__ import annotations

import pytest

from tests.unit.traces.jaeger_fixtures import bookinfo_trace
from traces.model import CallEnd, pod_of_workload
from traces.parse import parse_trace

TRACE = parse_trace(bookinfo_trace())


def productpage(**narrow: str) -> CallEnd:
    return CallEnd(frozenset({"productpage.bookinfo", "productpage"}), "bookinfo", **narrow)


def reviews(**narrow: str) -> CallEnd:
    return CallEnd(frozenset({"reviews.bookinfo", "reviews"}), "bookinfo", **narrow)


def test_a_span_knows_the_pod_and_namespace_of_its_envoy():
    reviews_spans = [s for s in TRACE.spans if s.service == "reviews.bookinfo"]
    assert {s.pod for s in reviews_spans} == {("reviews-v2-6f76498fc8-58wpn", "bookinfo")}


def test_the_call_to_reviews_v2_is_found_on_the_workloads_of_both_ends():
    assert TRACE.has_call_between(productpage(workload="productpage-v1"), reviews(workload="reviews-v2"))


def test_the_same_trace_is_not_a_call_to_reviews_v1():
    # the trace's reviews span ran on reviews-v2: productpage-v1 → reviews-v1 does not hold it
    assert not TRACE.has_call_between(productpage(workload="productpage-v1"), reviews(workload="reviews-v1"))
    assert not TRACE.has_call_between(productpage(version="v1"), reviews(version="v1"))


def test_versions_match_istios_canonical_revision():
    assert TRACE.has_call_between(productpage(version="v1"), reviews(version="v2"))


def test_apps_alone_match_any_version():
    assert TRACE.has_call_between(productpage(), reviews())


def test_a_workload_in_another_namespace_is_another_workload():
    elsewhere = CallEnd(frozenset({"reviews.bookinfo"}), "staging", workload="reviews-v2")
    assert not TRACE.has_call_between(productpage(), elsewhere)


def test_a_span_without_istio_tags_matches_no_workload_and_no_version():
    # given the fixture trace with every node_id and revision tag removed
    raw = bookinfo_trace()
    for span in raw["spans"]:
        span["tags"] = [t for t in span["tags"] if t["key"] not in {"node_id", "istio.canonical_revision"}]
    bare = parse_trace(raw)
    assert bare.has_call_between(productpage(), reviews())
    assert not bare.has_call_between(productpage(), reviews(workload="reviews-v2"))
    assert not bare.has_call_between(productpage(), reviews(version="v2"))


@pytest.mark.parametrize(
    ("pod", "workload", "expected"),
    [
        ("reviews-v2-6f76498fc8-58wpn", "reviews-v2", True),  # Deployment
        ("reviews-v2-6f76498fc8-58wpn", "reviews", False),  # a longer workload's pod
        ("mysql-0", "mysql", True),  # StatefulSet
        ("fluentd-x7k2p", "fluentd", True),  # DaemonSet
        ("reviews-v20-6f76498fc8-58wpn", "reviews-v2", False),
    ],
)
def test_pods_belong_to_the_workload_their_name_extends(pod, workload, expected):
    assert pod_of_workload(pod, workload) is expected


def test_matched_on_says_what_decided():
    assert productpage(workload="productpage-v1").matched_on == "workload"
    assert productpage(version="v1").matched_on == "version"
    assert productpage().matched_on == "app"
