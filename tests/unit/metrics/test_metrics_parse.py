"""Parsing Prometheus answers, including the special values and malformed bodies."""

from __future__ import annotations

import json
import math

import msgspec
import pytest

from metrics.errors import PrometheusQueryError
from metrics.parse import (
    EDGE_LABEL,
    EDGE_SEPARATOR,
    AmbiguousEdge,
    parse_envelope,
    parse_matrix,
    parse_vector,
    vector_samples,
)
from tests.support.fixtures import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES / "prometheus"


def vector(*values: str) -> dict:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"i": str(i)}, "value": [1.5, v]} for i, v in enumerate(values)],
        },
    }


def test_parse_vector_reads_special_values():
    samples = parse_vector(json.dumps(vector("1.25", "NaN", "+Inf", "-Inf")).encode())
    assert [s.labels for s in samples] == [{"i": "0"}, {"i": "1"}, {"i": "2"}, {"i": "3"}]
    assert samples[0].value == 1.25
    assert math.isnan(samples[1].value)
    assert (samples[2].value, samples[3].value) == (math.inf, -math.inf)


def test_parse_vector_of_official_example():
    body = (FIXTURES / "api_docs" / "query_instant_vector_up.json").read_bytes()
    samples = parse_vector(body)
    assert [(s.labels["instance"], s.value) for s in samples] == [
        ("localhost:9090", 1.0),
        ("localhost:9100", 0.0),
    ]


def test_parse_matrix_of_official_example():
    body = (FIXTURES / "api_docs" / "query_range_matrix_up.json").read_bytes()
    series = parse_matrix(body)
    assert [len(s.points) for s in series] == [3, 3]
    assert series[0].points[0] == (1435781430.781, 1.0)


def test_scalar_reads_as_one_unlabelled_sample():
    samples = parse_vector({"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}})
    assert [(s.labels, s.value) for s in samples] == [({}, 2.0)]


def test_warning_status_is_accepted_with_its_warnings():
    body = (FIXTURES / "jaeger_metricstore" / "warning_response.json").read_bytes()
    envelope = parse_envelope(body)
    assert envelope.warnings == ["warning0", "warning1"]


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"not json", "the body is not JSON"),
        (b"[1]", "the body is not a JSON object"),
        (b'{"status":"maybe"}', "status 'maybe' is neither success nor error"),
        (b'{"status":"success","data":[]}', "data is not an object"),
        (
            b'{"status":"success","data":{"resultType":"matrix","result":[]}}',
            "resultType 'matrix', expected 'vector'",
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}',
            "point [1] is not [timestamp, value]",
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}',
            "sample value 2 is not a string",
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}',
            "sample value 'x' is not a number",
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"inf"]}]}}',
            "sample value 'inf' is not a Prometheus number",
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}',
            "metric labels are not an object of strings",
        ),
        (
            b'{"status":"success","warnings":"w","data":{"resultType":"vector","result":[]}}',
            "warnings is not a list of strings",
        ),
    ],
)
def test_malformed_bodies_are_bad_response(body, what):
    with pytest.raises(PrometheusQueryError) as caught:
        parse_vector(body)
    assert caught.value.error_type == "bad_response"
    assert caught.value.error == f"malformed Prometheus response: {what}"


def test_error_envelope_keeps_type_and_message():
    with pytest.raises(PrometheusQueryError) as caught:
        parse_vector({"status": "error", "errorType": "execution", "error": "boom"})
    assert (caught.value.error_type, caught.value.error) == ("execution", "boom")


IDENTITY = ("east", "shop", "cart-v1", "cart", "v1", "east", "pay", "payments.pay.svc.cluster.local",
            "payments", "pay", "payments-v1", "payments", "v1", "http")


def compact_vector(*elements: tuple[dict, str]) -> bytes:
    result = [{"metric": metric, "value": [1.5, value]} for metric, value in elements]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()


def test_compact_edge_label_becomes_the_sample_identity():
    # given two series of one edge, its identity joined into meshui_edge as the reader asks
    edge = EDGE_SEPARATOR.join(IDENTITY)
    body = compact_vector(
        ({EDGE_LABEL: edge, "reporter": "destination", "le": "10"}, "2.5"),
        ({EDGE_LABEL: edge, "reporter": "destination", "le": "+Inf"}, "4"),
    )
    # when parsing the answer
    samples = parse_vector(body)
    # then each sample carries the identity tuple (one shared object) and the other labels only
    assert [(s.labels, s.value, s.identity) for s in samples] == [
        ({"reporter": "destination", "le": "10"}, 2.5, IDENTITY),
        ({"reporter": "destination", "le": "+Inf"}, 4.0, IDENTITY),
    ]
    assert samples[0].identity is samples[1].identity
    assert samples[0].label("destination_workload") == "payments-v1"
    assert samples[0].label("le") == "10"


def test_edge_value_holding_the_separator_is_ambiguous():
    # given a cluster name that itself holds the separator: 15 parts instead of 14
    edge = EDGE_SEPARATOR.join(("ea" + EDGE_SEPARATOR + "st", *IDENTITY[1:]))
    # when / then parsing refuses to guess
    with pytest.raises(AmbiguousEdge) as caught:
        parse_vector(compact_vector(({EDGE_LABEL: edge, "reporter": "source"}, "1")))
    assert caught.value.error_type == "ambiguous_edge"
    assert caught.value.edge == edge


def test_typed_and_plain_paths_read_the_same_samples():
    # given one answer as bytes (typed msgspec path) and as a decoded dict (plain path)
    edge = EDGE_SEPARATOR.join(IDENTITY)
    body = compact_vector(
        ({EDGE_LABEL: edge, "reporter": "destination", "response_code": "200"}, "1e3"),
        ({"instance": "é:9090"}, "NaN"),
        ({}, "-Inf"),
    )
    # when parsing both
    typed = parse_vector(body)
    plain = parse_vector(json.loads(body))
    # then the samples are equal (NaN compared by its text)
    assert [(s.labels, repr(s.value), s.identity) for s in typed] == [
        (s.labels, repr(s.value), s.identity) for s in plain
    ]
    assert [repr(s.value) for s in typed] == ["1000.0", "nan", "-inf"]


def test_vector_envelope_is_decoded_in_one_typed_pass_and_a_matrix_left_raw():
    # given a vector answer and a matrix answer, as bytes
    vector = parse_envelope(compact_vector(({"a": "b"}, "1")))
    matrix = parse_envelope(b'{"status":"success","data":{"resultType":"matrix","result":[]}}')
    # then the vector's elements are decoded already, the matrix's result waits raw
    assert vector.data["resultType"] == "vector"
    assert not isinstance(vector.data["result"], msgspec.Raw)
    assert [type(e).__name__ for e in vector.data["result"]] == ["_VectorElement"]
    assert isinstance(matrix.data["result"], msgspec.Raw)


def test_bad_value_after_compact_series_is_named_with_labels_intact():
    # given a compact series, then a value the typed path cannot take
    edge = EDGE_SEPARATOR.join(IDENTITY)
    body = compact_vector(({EDGE_LABEL: edge, "reporter": "source"}, "1"), ({}, "0x10"))
    envelope = parse_envelope(body)
    # when reading the samples
    with pytest.raises(PrometheusQueryError) as caught:
        vector_samples(envelope.data)
    # then the plain path names the value, and the first element still has its edge label
    assert caught.value.error == "malformed Prometheus response: sample value '0x10' is not a number"
    assert envelope.data["result"][0].metric == {EDGE_LABEL: edge, "reporter": "source"}


def test_missing_result_is_bad_response_on_the_typed_path_too():
    with pytest.raises(PrometheusQueryError) as caught:
        parse_vector(b'{"status":"success","data":{"resultType":"vector"}}')
    assert caught.value.error == "malformed Prometheus response: result is not a list"
