"""Bounded JSON: the depth and size limits of what clients send, through a real DRF view."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from meshui.parsers import DEFAULT_MAX_BODY_BYTES, MAX_JSON_DEPTH, JSONTooDeep, loads_bounded


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_to_the_limit_is_parsed():
    value = loads_bounded(nested_arrays(MAX_JSON_DEPTH))
    for _ in range(MAX_JSON_DEPTH - 1):
        value = value[0]
    assert value == []


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_json_nested_past_the_limit_is_refused_without_recursion_error(depth):
    with pytest.raises(JSONTooDeep, match=r"^JSON nested deeper than 64 levels$"):
        loads_bounded(nested_arrays(depth))


def test_objects_count_towards_the_depth_as_arrays_do():
    with pytest.raises(JSONTooDeep):
        loads_bounded('{"a": ' * 40 + "[" * 25 + "]" * 25 + "}" * 40)


def test_nan_and_infinity_are_not_json():
    with pytest.raises(ValueError, match="NaN is not valid JSON"):
        loads_bounded('{"a": NaN}')
    assert loads_bounded("[Infinity]", strict=False) == [float("inf")]


class EchoView(APIView):
    """Answers the parsed body: the API's default parsers, whatever the test sends."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def post(self, request):
        return Response({"echo": request.data})


def post_raw(body: bytes) -> tuple[int, dict]:
    request = APIRequestFactory().generic("POST", "/api/v1/echo", body, content_type="application/json")
    request.user = AnonymousUser()
    response = EchoView.as_view()(request)
    response.render()
    return response.status_code, json.loads(response.content)


def test_a_json_body_is_parsed_by_the_default_parser():
    assert post_raw(b'{"weights": {"v1": 100}}') == (200, {"echo": {"weights": {"v1": 100}}})


def test_a_deeply_nested_body_is_400_parse_error():
    assert post_raw(nested_arrays(1000).encode()) == (
        400,
        {"error": {"code": "parse_error", "message": "JSON parse error - JSON nested deeper than 64 levels",
                   "field": None}},
    )  # fmt: skip


@pytest.mark.parametrize("size", [DEFAULT_MAX_BODY_BYTES + 1, 3_000_000, 10 * 1024 * 1024])
def test_a_body_past_the_limit_is_413_naming_the_body(size):
    assert post_raw(b"[" + b" " * (size - 2) + b"]") == (
        413,
        {"error": {"code": "request_body_too_large", "message": "the body is larger than 1048576 bytes",
                   "field": "body"}},
    )  # fmt: skip


def test_a_body_at_the_limit_is_parsed():
    assert post_raw(b"[" + b" " * (DEFAULT_MAX_BODY_BYTES - 2) + b"]") == (200, {"echo": []})


def test_a_body_that_is_not_utf8_is_400_parse_error():
    status, body = post_raw(b'["\xff"]')
    assert (status, body["error"]["code"]) == (400, "parse_error")
