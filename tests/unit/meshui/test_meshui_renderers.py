"""ORJSONRenderer writes what DRF's JSONRenderer writes, for the graph document and API data."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections import OrderedDict

import pytest
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict

from meshui.renderers import ORJSONRenderer
from topology.graph.types import Health, NodeKind


def both(data, media_type=None):
    return ORJSONRenderer().render(data, media_type), JSONRenderer().render(data, media_type)


def test_graph_shaped_document_is_byte_for_byte_the_same():
    # given a graph-like document with non-ASCII names, enums, nulls, nested rates and floats
    document = {
        "graph_type": "workload",
        "query_time": 1_795_310_940,
        "nodes": [{"id": "a1", "name": "café-v1 ünïcode 日本", "kind": NodeKind.SERVICE, "parent": None}],
        "edges": [
            {
                "id": "e1",
                "request_rate": 1234.0,
                "error_rate": 0.1235,
                "responses": {"200": 12.5, "503": 0.25},
                "latency_ms": {"p50": 25.0, "p95": 95.0, "p99": None, "avg": 30.0},
                "mtls_ratio": 1.0,
                "health": Health.DEGRADED,
                "health_reason": "5xx 12.0% ≥ 10%",
                "is_gateway": False,
            }
        ],
        "warnings": ['quote " backslash \\ tab \t control \x1f'],
    }
    # when both renderers write it
    fast, reference = both(document)
    # then the bytes are identical
    assert fast == reference


def test_line_and_paragraph_separators_are_escaped_like_drf():
    fast, reference = both({"name": "a\u2028b\u2029c"})
    assert fast == reference == b'{"name":"a\\u2028b\\u2029c"}'


def test_types_orjson_would_spell_differently_go_through_drfs_encoder():
    # given values DRF's encoder writes its own way, inside DRF's dict subclass
    data = ReturnDict(
        OrderedDict(
            at=datetime.datetime(2026, 11, 22, 2, 26, 14, 123456, tzinfo=datetime.UTC),
            day=datetime.date(2026, 11, 22),
            amount=decimal.Decimal("1.50"),
            key=uuid.UUID("12345678-1234-5678-1234-567812345678"),
            ints={1: "one"},
        ),
        serializer=None,
    )
    # when both write it
    fast, reference = both(data)
    # then the bytes are identical
    assert fast == reference
    assert json.loads(fast)["at"] == "2026-11-22T02:26:14.123456Z"  # orjson alone writes +00:00


def test_small_and_huge_numbers_are_the_same_values():
    data = {"tiny": 1.234e-05, "huge": 2.5e22, "plain": 0.1}
    fast, reference = both(data)
    assert json.loads(fast) == json.loads(reference) == data


def test_indented_output_is_delegated_to_drf():
    fast, reference = both({"a": [1, 2]}, "application/json; indent=2")
    assert fast == reference == b'{\n  "a": [\n    1,\n    2\n  ]\n}'


def test_none_renders_as_empty_body():
    assert ORJSONRenderer().render(None) == b""


def test_unserialisable_data_raises_type_error():
    with pytest.raises(TypeError):
        ORJSONRenderer().render({"x": object()})
