"""``traces.parse`` and ``traces.model`` on the real Jaeger fixtures."""

from __future__ import annotations

import json

import pytest

from tests.unit.traces.jaeger_fixtures import TRACE_FILES, contract_case, load, trace_object, wrap
from traces.errors import JaegerBadResponse
from traces.parse import is_error, parse_envelope, parse_trace, parse_traces, string_list


def test_a_real_search_response_parses_into_one_trace_of_two_spans():
    # given GET /api/traces's real answer (one trace, 2 spans of jaeger-query)
    body = json.dumps(load("api_v1/traces_response_jaeger-query_2spans.json")).encode()
    # when it is parsed
    envelope = parse_envelope(body)
    traces = parse_traces(envelope.data)
    # then the trace, its spans, parent link, service and duration are Jaeger's
    assert envelope.errors == []
    assert len(traces) == 1
    trace = traces[0]
    assert trace.trace_id == "2db17286b3e6b148"
    assert [(s.span_id, s.parent_span_id, s.service) for s in trace.spans] == [
        ("2db17286b3e6b148", None, "jaeger-query"),
        ("ec2b4e0bcea566d", "2db17286b3e6b148", "jaeger-query"),
    ]
    assert trace.start_time_us == 1571326774777373
    assert trace.duration_us == 4199
    assert trace.spans[0].tags["http.status_code"] == 200
    assert trace.spans[0].tags["sampler.param"] == 1
    assert trace.has_error is False
    assert trace.edges() == []


def test_a_multi_service_trace_has_its_services_root_and_edges():
    # given the 57-span trace across 10 services
    trace = parse_trace(trace_object("traces/genai_57spans_10services_generated.json"))
    # then every span is there, ordered by start, with its process' service
    assert len(trace.spans) == 57
    assert [s.start_time_us for s in trace.spans] == sorted(s.start_time_us for s in trace.spans)
    assert set(trace.services) == {
        "api-edge", "graphql-gateway", "coding-agent", "mcp-gateway", "auth-service",
        "metrics-backend", "trace-store", "k8s-api", "vector-store", "summarizer-agent",
    }  # fmt: skip
    assert trace.root is not None
    assert (trace.root.span_id, trace.root.service, trace.root.operation) == (
        "0000000000000001", "api-edge", "POST /api/graphql"
    )
    # and edges count each span whose parent span is of another service
    raw = trace_object("traces/genai_57spans_10services_generated.json")
    service_of = {s["spanID"]: raw["processes"][s["processID"]]["serviceName"] for s in raw["spans"]}
    expected: dict[tuple[str, str], int] = {}
    for span in raw["spans"]:
        for ref in span["references"]:
            parent, child = service_of[ref["spanID"]], service_of[span["spanID"]]
            if parent != child:
                expected[(parent, child)] = expected.get((parent, child), 0) + 1
    assert {(e.source, e.target): e.calls for e in trace.edges()} == expected
    assert trace.edges()[0].source <= trace.edges()[-1].source


def test_duration_spans_first_start_to_last_end():
    # given a trace whose longest span is not the first
    raw = trace_object("traces/petclinic_17spans_2services.json")
    trace = parse_trace(raw)
    # then its duration runs from the earliest start to the latest end
    start = min(s["startTime"] for s in raw["spans"])
    end = max(s["startTime"] + s["duration"] for s in raw["spans"])
    assert trace.start_time_us == start
    assert trace.duration_us == end - start
    assert trace.services == ["api-gateway", "customers-service"]
    assert [(e.source, e.target) for e in trace.edges()] == [("api-gateway", "customers-service")]


def test_follows_from_links_a_span_to_its_parent_when_there_is_no_child_of():
    # given the tracegraph fixture, where some spans only have a FOLLOWS_FROM reference
    raw = trace_object("traces/tracegraph_11spans_2services.json")
    follows = [
        s for s in raw["spans"]
        if s["references"] and all(r["refType"] == "FOLLOWS_FROM" for r in s["references"])
    ]  # fmt: skip
    assert follows, "the fixture has FOLLOWS_FROM-only spans"
    # when parsed
    spans = {s.span_id: s for s in parse_trace(raw).spans}
    # then their parent is the span they follow from, and the reference type is kept
    for span in follows:
        assert spans[span["spanID"]].parent_span_id == span["references"][0]["spanID"]
        assert spans[span["spanID"]].references[0].ref_type == "FOLLOWS_FROM"


def test_child_of_wins_over_follows_from():
    # given ui_01's span with both kinds of references
    raw = trace_object("api_v1/trace_object_ui_01.json")
    both = [s for s in raw["spans"] if {r["refType"] for r in s["references"]} == {"CHILD_OF", "FOLLOWS_FROM"}]
    assert both, "the fixture has a span with both reference kinds"
    # when parsed
    parsed = parse_trace(raw)
    # then its parent is the CHILD_OF reference
    child_of = next(r["spanID"] for r in both[0]["references"] if r["refType"] == "CHILD_OF")
    match = [s for s in parsed.spans if s.span_id == both[0]["spanID"] and s.start_time_us == both[0]["startTime"]]
    assert match[0].parent_span_id == child_of


def test_error_tag_true_marks_the_span_even_as_text():
    # given the tracegraph fixture, whose error tag is the text "true" typed bool
    trace = parse_trace(trace_object("traces/tracegraph_11spans_2services.json"))
    # then exactly that span is an error, with the tag as a boolean
    errors = [s for s in trace.spans if s.has_error]
    assert [s.span_id for s in errors] == ["span-2"]
    assert errors[0].tags["error"] is True
    assert trace.has_error is True


def test_http_status_500_alone_marks_an_error():
    # given the genai trace's failing span with its error tag removed (status 500 stays)
    raw = trace_object("traces/genai_57spans_10services_generated.json")
    span = next(s for s in raw["spans"] if s["spanID"] == "0000000000000011")
    span["tags"] = [t for t in span["tags"] if t["key"] != "error"]
    # when parsed
    parsed = {s.span_id: s for s in parse_trace(raw).spans}
    # then the span is still an error, and spans answering 200 are not
    assert parsed["0000000000000011"].tags["http.response.status_code"] == 500
    assert parsed["0000000000000011"].has_error is True
    assert [s.span_id for s in parsed.values() if s.has_error] == ["0000000000000011"]


def test_otel_status_code_error_marks_an_error():
    # given the petclinic trace (no errors) with one span tagged otel.status_code=ERROR
    raw = trace_object("traces/petclinic_5spans_2services.json")
    assert not parse_trace(raw).has_error
    raw["spans"][2]["tags"].append({"key": "otel.status_code", "type": "string", "value": "ERROR"})
    # when parsed
    trace = parse_trace(raw)
    # then that span, and only it, is an error
    assert [s.span_id for s in trace.spans if s.has_error] == [raw["spans"][2]["spanID"]]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"error": True}, True),
        ({"error": False}, False),
        ({"otel.status_code": "OK"}, False),
        ({"http.status_code": 499}, False),
        ({"http.status_code": 503}, True),
        ({"http.status_code": "502"}, True),
        ({"http.response.status_code": 404}, False),
    ],
)
def test_error_rules(tags, expected):
    assert is_error(tags) is expected


def test_every_fixture_trace_parses():
    # given every trace object among the fixtures
    for relative in TRACE_FILES:
        raw = trace_object(relative)
        # when parsed, then each span is kept and named by its process' service
        trace = parse_trace(raw)
        assert len(trace.spans) == len(raw["spans"]), relative
        assert set(trace.services) <= {p["serviceName"] for p in raw["processes"].values()}, relative


def test_the_not_found_body_is_an_envelope_with_its_error():
    # given Jaeger's exact 404 body
    body = json.dumps(contract_case("TestGetTraceNotFound")["expectedBody"]).encode()
    # when decoded
    envelope = parse_envelope(body)
    # then the data is null and the error is kept
    assert envelope.data is None
    assert envelope.errors == [(404, "trace not found")]
    assert parse_traces(envelope.data) == []


def test_the_services_list_is_a_list_of_names():
    body = json.dumps(contract_case("TestGetServicesSuccess")["expectedBody"]).encode()
    assert string_list(parse_envelope(body).data) == ["trifle", "bling"]


@pytest.mark.parametrize(
    "body",
    [b"<html>gateway</html>", b'{"status":"success"}', b"[1,2]", b'{"data":[{"spans":[]}]}', b'{"data":"x"}'],
)
def test_what_is_not_jaeger_json_raises_bad_response(body):
    with pytest.raises(JaegerBadResponse):
        parse_traces(parse_envelope(body).data)


def test_a_span_without_times_raises_bad_response():
    raw = trace_object("traces/petclinic_5spans_2services.json")
    del raw["spans"][0]["startTime"]
    with pytest.raises(JaegerBadResponse, match="startTime"):
        parse_traces(wrap([raw])["data"])
