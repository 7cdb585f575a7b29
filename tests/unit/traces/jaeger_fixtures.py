"""The real Jaeger fixtures of ``../shared/fixtures/jaeger`` (read-only), loaded for tests."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.support.fixtures import SHARED_FIXTURES

JAEGER = SHARED_FIXTURES / "jaeger"

# Single trace objects (elements of data[]) and the API responses that hold one.
TRACE_FILES = (
    "traces/genai_57spans_10services_generated.json",
    "traces/petclinic_17spans_2services.json",
    "traces/petclinic_5spans_2services.json",
    "traces/tracegraph_11spans_2services.json",
    "api_v1/trace_object_ui_01.json",
    "api_v1/traces_response_jaeger-query_2spans.json",
    "api_v1/transform_response_otlp2jaeger-out.json",
)


def load(relative: str) -> Any:
    """A fixture file as JSON."""
    return json.loads((JAEGER / relative).read_text())


def trace_object(relative: str) -> dict[str, Any]:
    """The trace object of a fixture (the first of an API response, or the file itself), a deep copy."""
    document = load(relative)
    return copy.deepcopy(document["data"][0] if "data" in document else document)


def wrap(traces: list[dict[str, Any]]) -> dict[str, Any]:
    """Trace objects in Jaeger's API envelope, as the README says to serve them."""
    return {"data": traces, "total": 0, "limit": 0, "offset": 0, "errors": None}


def contract_case(go_test: str, request_prefix: str = "") -> dict[str, Any]:
    """The case of ``contract_cases.json`` named ``go_test`` (and whose request starts so)."""
    cases = load("api_v1/contract_cases.json")["cases"]
    return next(c for c in cases if c["goTest"] == go_test and c["request"].startswith(request_prefix))
