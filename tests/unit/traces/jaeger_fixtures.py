"""The real Jaeger fixtures of ``../shared/fixtures/jaeger`` (read-only), loaded for tests."""

from __future__ import annotations

import base64
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


# The one real Istio Bookinfo trace of the fixtures (Tempo's OTLP JSON): ingress → productpage-v1
# → details-v1, and → reviews-v2 → ratings-v1, every span with Istio's node_id and revision tags.
BOOKINFO_OTLP = SHARED_FIXTURES / "tempo" / "trace_otlp_bookinfo.json"
_OTLP_KINDS = {"SPAN_KIND_SERVER": "server", "SPAN_KIND_CLIENT": "client", "SPAN_KIND_INTERNAL": "internal",
               "SPAN_KIND_PRODUCER": "producer", "SPAN_KIND_CONSUMER": "consumer"}  # fmt: skip


def _hex(base64_id: str) -> str:
    return base64.b64decode(base64_id).hex()


def _jaeger_tag(attribute: dict[str, Any]) -> dict[str, Any]:
    (kind, value), = attribute["value"].items()
    types = {"stringValue": "string", "boolValue": "bool", "intValue": "int64", "doubleValue": "float64"}
    return {"key": attribute["key"], "type": types.get(kind, "string"),
            "value": int(value) if kind == "intValue" else value}  # fmt: skip


def bookinfo_trace() -> dict[str, Any]:
    """The Bookinfo trace as a Jaeger v1 trace object, converted the way Jaeger's own OTLP → v1
    translation does (``api_v1/transform_*``): ids in hex, µs times, attributes as tags,
    ``span.kind`` as a tag, the parent as a CHILD_OF reference, one process per service."""
    document = json.loads(BOOKINFO_OTLP.read_text())
    spans: list[dict[str, Any]] = []
    processes: dict[str, dict[str, Any]] = {}
    trace_id = ""
    for batch in document["batches"]:
        resource = {a["key"]: next(iter(a["value"].values())) for a in batch["resource"]["attributes"]}
        service = resource["service.name"]
        pid = next((p for p, proc in processes.items() if proc["serviceName"] == service), f"p{len(processes) + 1}")
        processes[pid] = {"serviceName": service, "tags": []}
        for scope in batch["scopeSpans"]:
            for span in scope["spans"]:
                trace_id = _hex(span["traceId"])
                start_us = int(span["startTimeUnixNano"]) // 1000
                parent = span.get("parentSpanId")
                references = [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": _hex(parent)}] if parent else []
                spans.append({
                    "traceID": trace_id,
                    "spanID": _hex(span["spanId"]),
                    "operationName": span["name"],
                    "references": references,
                    "startTime": start_us,
                    "duration": int(span["endTimeUnixNano"]) // 1000 - start_us,
                    "tags": [*map(_jaeger_tag, span["attributes"]),
                             {"key": "span.kind", "type": "string", "value": _OTLP_KINDS[span["kind"]]}],
                    "logs": [],
                    "processID": pid,
                    "warnings": None,
                })  # fmt: skip
    return {"traceID": trace_id, "spans": spans, "processes": processes, "warnings": None}
