"""The OpenAPI schema tells the truth: every status an operation answers, every parameter's
pattern, bounds and values, each the validation's own (the live run is in
tests/integration/meshui/test_meshui_schemathesis.py)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from topology.api.params import DURATION_PATTERN, NAMESPACE_LIST_PATTERN, parse_graph_request
from traffic.api.serializers import IF_MATCH_PATTERN, parse_if_match

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(settings) -> dict:
    settings.ANONYMOUS_READ = True
    response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def viewer(db, settings) -> APIClient:
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    settings.JAEGER = {**settings.JAEGER, "URL": ""}
    user = User.objects.create_user("vera", password="not-used-here-123")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    client = APIClient()
    client.force_authenticate(user)
    return client


def _operations(schema: dict) -> dict[str, dict]:
    return {op["operationId"]: op for methods in schema["paths"].values() for op in methods.values()}


def _parameter(operation: dict, name: str) -> dict:
    return next(p for p in operation["parameters"] if p["name"] == name)


def _ecma(pattern: str) -> re.Pattern[str]:
    """The pattern as a JSON Schema validator reads it: ``$`` only at the very end, ASCII digits."""
    return re.compile(pattern.removesuffix("$") + r"\Z", re.ASCII)


def test_the_kinds_pattern_refuses_servicesxyz(schema):
    # given every operation with a {kinds} path parameter
    kinds = [
        _parameter(op, "kinds")["schema"]
        for op in _operations(schema).values()
        if any(p["name"] == "kinds" for p in op.get("parameters", []))
    ]
    # then each names exactly the three values, and no pattern lets a longer word through
    assert len(kinds) == 3
    for declared in kinds:
        assert declared["enum"] == ["apps", "services", "workloads"]
        if "pattern" in declared:
            assert _ecma(declared["pattern"]).search("servicesXYZ") is None


def test_a_kinds_path_outside_the_three_is_no_endpoint(viewer):
    # when
    response = viewer.get("/api/v1/namespaces/bookinfo/servicesXYZ")
    # then
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_every_operation_documents_its_refusals_with_the_error_envelope(schema):
    error = {"$ref": "#/components/schemas/Error"}
    for operation_id, operation in _operations(schema).items():
        statuses = set(operation["responses"])
        assert {"200", "400", "401", "403", "503"} <= statuses, operation_id
        for status in statuses - {"200"}:
            assert operation["responses"][status]["content"]["application/json"]["schema"] == error, (
                operation_id, status)  # fmt: skip


@pytest.mark.parametrize(
    ("operation_id", "statuses"),
    [
        ("metrics_entity_detail", {"404", "502"}),
        ("metrics_entity_list", {"404", "502"}),
        ("trace_read", {"404", "502"}),
        ("service_traces", {"404", "502"}),
        ("change_revert", {"400", "404", "409"}),
        ("traffic_read", {"404"}),
    ],
)
def test_operations_document_their_own_statuses(schema, operation_id, statuses):
    assert statuses <= set(_operations(schema)[operation_id]["responses"])


@pytest.mark.parametrize("operation_id", ["metrics_overview", "metrics_health", "metrics_entity_detail"])
def test_window_and_query_time_are_declared_where_they_are_read(schema, operation_id):
    operation = _operations(schema)[operation_id]
    assert _parameter(operation, "window")["schema"]["pattern"] == DURATION_PATTERN
    assert _parameter(operation, "query_time")["schema"]["minimum"] == 946684800


def test_health_declares_its_kind_and_namespaces(schema):
    operation = _operations(schema)["metrics_health"]
    assert _parameter(operation, "kind")["schema"]["enum"] == ["app", "service", "workload"]
    assert _parameter(operation, "namespaces")["schema"]["pattern"] == NAMESPACE_LIST_PATTERN


@pytest.mark.parametrize(
    ("operation_id", "name", "bounds"),
    [
        ("changes_list", "limit", (1, 500)),
        ("service_traces", "limit", (1, 200)),
        ("edge_traces", "limit", (1, 200)),
        ("edge_traces", "min_duration_ms", (0, 604_800_000)),
    ],
)
def test_numbers_carry_the_bounds_their_parser_enforces(schema, operation_id, name, bounds):
    declared = _parameter(_operations(schema)[operation_id], name)["schema"]
    assert (declared["minimum"], declared["maximum"]) == bounds


@pytest.mark.parametrize(
    ("operation_id", "name"),
    [
        ("changes_list", "namespace"),
        ("changes_list", "service"),
        ("service_traces", "namespace"),
        ("service_traces", "service"),
        ("traffic_read", "namespace"),
        ("metrics_entity_list", "namespace"),
    ],
)
def test_names_carry_the_dns_label_pattern(schema, operation_id, name):
    pattern = _ecma(_parameter(_operations(schema)[operation_id], name)["schema"]["pattern"])
    assert pattern.match("bookinfo")
    assert not pattern.match("bookinfo\n")
    assert not pattern.match("Bookinfo")
    assert not pattern.match("a" * 64)


@pytest.mark.parametrize(
    "text",
    ["", "bookinfo", "bookinfo,shop", " bookinfo , shop ", "a,,b", ",", "a\tb", "\tbookinfo", "a b", "A", "a,-b",
     ",".join(["a"] * 200), ",".join(["a"] * 201), "bookinfo\n"],
)  # fmt: skip
def test_the_namespaces_pattern_is_what_the_parser_accepts(text):
    # given what the documented pattern says of the text
    documented = _ecma(NAMESPACE_LIST_PATTERN).match(text) is not None
    # when the graph's parser reads it
    try:
        parse_graph_request({"namespaces": text})
        accepted = True
    except ValidationError:
        accepted = False
    # then both agree
    assert accepted == documented


@pytest.mark.parametrize("text", ["5m", "1h30m", "٣m", "5 m", "5", "m", "1500ms", "5m\n"])
def test_the_duration_pattern_is_the_parsers_grammar(text):
    documented = _ecma(DURATION_PATTERN).match(text) is not None
    try:
        parse_graph_request({"window": text})
        accepted = True
    except ValidationError as error:
        accepted = "duration" not in str(error.detail)  # in the grammar, refused for its range only
    assert accepted == documented


@pytest.mark.parametrize("header", ['"1"', 'W/"1"', " * ", "", '"a,b"', "garbage", '""', '"1", "2"', '\x1f"1"'])
def test_the_if_match_pattern_is_what_the_parser_accepts(header):
    documented = _ecma(IF_MATCH_PATTERN).match(header) is not None
    try:
        parse_if_match(header)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == documented


@pytest.mark.parametrize(
    ("query", "field"),
    [({"window": ""}, "window"), ({"limit": ""}, "limit"), ({"min_duration_ms": "1e308"}, "min_duration_ms")],
)
def test_trace_searches_refuse_blank_and_huge_values_naming_them(viewer, query, field):
    # when
    response = viewer.get("/api/v1/namespaces/bookinfo/services/reviews/traces", query)
    # then a 400 naming the field, never a 500 or a silent default
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
