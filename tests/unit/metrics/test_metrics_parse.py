"""Parsing Prometheus answers, including the special values and malformed bodies."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from metrics.errors import PrometheusQueryError
from metrics.parse import parse_envelope, parse_matrix, parse_vector

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "prometheus"


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
