"""A loopback Jaeger query service that replays the real fixtures of ``../shared/fixtures/jaeger``.

It answers Jaeger's v1 HTTP API the way the query service does (the envelope, 404 body and
search semantics of ``contract_cases.json``) from the fixture traces, and can misbehave on
cue (hang, malformed JSON, storage error) for the failure modes. Every request is recorded.
The server thread is stopped in teardown; a hang lasts at most ``STALL_LIMIT_S``.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.unit.traces.jaeger_fixtures import TRACE_FILES, bookinfo_trace, contract_case, trace_object, wrap

STALL_LIMIT_S = 5.0
# One fixture trace renamed the way Istio names services (<app>.<namespace>), under its own id.
ISTIO_TRACE_ID = "00000000000000000000000000c0ffee"


def istio_named_trace() -> dict[str, Any]:
    """The petclinic 5-span trace with its services renamed ``<app>.petclinic`` (and its own id)."""
    raw = trace_object("traces/petclinic_5spans_2services.json")
    raw["traceID"] = ISTIO_TRACE_ID
    for span in raw["spans"]:
        span["traceID"] = ISTIO_TRACE_ID
    for process in raw["processes"].values():
        process["serviceName"] = f"{process['serviceName']}.petclinic"
    return raw


def replayed_traces() -> list[dict[str, Any]]:
    """Every fixture trace object, plus the Istio-named one and the real Istio Bookinfo trace."""
    return [trace_object(name) for name in TRACE_FILES] + [istio_named_trace(), bookinfo_trace()]


def services_of(trace: dict[str, Any]) -> set[str]:
    return {trace["processes"][s["processID"]]["serviceName"] for s in trace["spans"]}


@dataclass
class ReplayJaeger:
    """The running server: ``url``, the ``mode`` it plays, and the requests it received."""

    url: str
    traces: list[dict[str, Any]]
    mode: str = "replay"  # replay | hang | malformed | storage_error
    requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def search(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """Jaeger's search over the fixtures: a span of ``service`` starting within the range."""
        service = query["service"][0]
        start = int(query.get("start", ["0"])[0])
        end = int(query.get("end", [str(2**62)])[0])
        limit = int(query.get("limit", ["20"])[0])
        min_us = int(query["minDuration"][0].removesuffix("us")) if "minDuration" in query else 0
        found = []
        for trace in self.traces:
            names = {p: proc["serviceName"] for p, proc in trace["processes"].items()}
            if any(
                names[s["processID"]] == service and start <= s["startTime"] <= end and s["duration"] >= min_us
                for s in trace["spans"]
            ):
                found.append(trace)
        return found[:limit]


def _handler(state: ReplayJaeger) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, document: Any) -> None:
            body = document if isinstance(document, bytes) else json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            state.requests.append((parts.path, query, dict(self.headers.items())))
            if state.mode == "hang":
                state.stop.wait(STALL_LIMIT_S)
                return
            if state.mode == "malformed":
                self._send(200, b'{"data": [{"traceID": "ab", "spans": [')
                return
            if state.mode == "storage_error":
                self._send(500, contract_case("TestSearchDBFailure")["expectedBody"])
                return
            path = parts.path
            if path == "/api/services":
                names = sorted(set().union(*(services_of(t) for t in state.traces)))
                self._send(200, {"data": names, "total": len(names), "limit": 0, "offset": 0, "errors": None})
            elif path.startswith("/api/services/") and path.endswith("/operations"):
                service = unquote(path[len("/api/services/") : -len("/operations")])
                ops = sorted(
                    {
                        s["operationName"]
                        for t in state.traces
                        for s in t["spans"]
                        if t["processes"][s["processID"]]["serviceName"] == service
                    }
                )
                self._send(200, {"data": ops, "total": len(ops), "limit": 0, "offset": 0, "errors": None})
            elif path == "/api/traces":
                if "service" not in query:
                    self._send(400, contract_case("TestSearchFailures")["expectedBody"])
                    return
                self._send(200, wrap(state.search(query)))
            elif path.startswith("/api/traces/"):
                trace_id = path[len("/api/traces/") :]
                found = [t for t in state.traces if t["traceID"].lstrip("0") == trace_id.lstrip("0")]
                if found:
                    self._send(200, wrap(found))
                else:
                    self._send(404, contract_case("TestGetTraceNotFound")["expectedBody"])
            else:
                self.send_error(404)

    return Handler


@pytest.fixture
def jaeger() -> Iterator[ReplayJaeger]:
    """A replaying Jaeger on a free 127.0.0.1 port, stopped after the test."""
    state = ReplayJaeger(url="", traces=copy.deepcopy(replayed_traces()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
