import time

import pytest
from rest_framework.exceptions import ValidationError

from topology.api.params import format_duration, parse_duration_s, parse_graph_request, parse_window_request
from topology.graph.types import GraphType


def test_it_reads_the_defaults_of_the_graph_api():
    # when
    request = parse_graph_request({})
    # then
    assert request.graph_type is GraphType.WORKLOAD
    assert request.namespaces is None
    assert request.window_s == 300
    assert request.query_time is None
    assert request.include_idle is False
    assert request.inject_service_nodes is False


def test_it_reads_every_graph_parameter():
    # given
    query = {
        "namespaces": "bookinfo, payments",
        "graph_type": "versioned_app",
        "window": "1h30m",
        "query_time": "1795310940",
        "include_idle": "true",
        "inject_service_nodes": "1",
    }
    # when
    request = parse_graph_request(query)
    # then
    assert request.namespaces == frozenset({"bookinfo", "payments"})
    assert request.graph_type is GraphType.VERSIONED_APP
    assert request.window_s == 5400
    assert request.query_time == 1795310940.0
    assert request.include_idle is True
    assert request.inject_service_nodes is True


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"window": "30s"}, "window"),
        ({"window": "8d"}, "window"),
        ({"window": "5 minutes"}, "window"),
        ({"window": "1500ms"}, "window"),
        ({"namespaces": "Book_Info"}, "namespaces"),
        ({"namespaces": 'x"} or vector(1) #'}, "namespaces"),
        ({"namespaces": "a" * 64}, "namespaces"),
        ({"graph_type": "cluster"}, "graph_type"),
        ({"query_time": "yesterday"}, "query_time"),
        ({"query_time": str(time.time() + 3600)}, "query_time"),
        ({"query_time": "12"}, "query_time"),
        ({"include_idle": "maybe"}, "include_idle"),
        ({"namespace": "bookinfo"}, "namespace"),
    ],
)
def test_it_rejects_a_bad_parameter_naming_it(query, field):
    # when
    with pytest.raises(ValidationError) as caught:
        parse_graph_request(query)
    # then
    assert list(caught.value.detail) == [field]


def test_the_window_endpoint_takes_only_window_and_query_time():
    # when
    window_s, query_time = parse_window_request({"window": "7d"})
    # then
    assert (window_s, query_time) == (604800, None)
    with pytest.raises(ValidationError) as caught:
        parse_window_request({"graph_type": "app"})
    assert list(caught.value.detail) == ["graph_type"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m", 60), ("5m", 300), ("1h30m", 5400), ("7d", 604800), ("1w", 604800), ("90s", 90)],
)
def test_it_parses_prometheus_durations(text, seconds):
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "5M", "1.5h", "-5m", "5m "])
def test_it_refuses_what_is_not_a_prometheus_duration(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration_s(text)


@pytest.mark.parametrize(("seconds", "text"), [(300, "5m"), (3600, "1h"), (86400, "1d"), (90, "90s")])
def test_it_formats_whole_seconds_as_the_shortest_duration(seconds, text):
    assert format_duration(seconds) == text
