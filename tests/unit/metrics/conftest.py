"""A loopback HTTP server that misbehaves on demand, for the client's failure modes only.

Correct answers are tested against the real Prometheus (tests/integration/metrics); this
server only plays what a real one cannot be made to do on cue: hang, trickle, break a
connection mid-answer, answer as a proxy, send garbage. It records every request so tests can
check what the client sent.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

# Upper bound of any stalling behaviour, so the server thread always ends by itself.
STALL_LIMIT_S = 5.0


@dataclass
class Reply:
    """What the server answers: status, body, content type, or a stalling behaviour."""

    status: int = 200
    body: bytes = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
    content_type: str = "application/json"
    behaviour: str = "answer"  # answer | hang | trickle | break_first | break_always


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class FakePrometheus:
    url: str
    reply: Reply = field(default_factory=Reply)
    requests: list[Recorded] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def answer_json(self, status: int, payload: dict) -> None:
        self.reply = Reply(status=status, body=json.dumps(payload).encode())


@pytest.fixture
def fake_prometheus() -> Iterator[FakePrometheus]:
    state: FakePrometheus

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            state.requests.append(Recorded(self.path, dict(self.headers.items()), form))
            reply = state.reply
            if reply.behaviour == "hang":
                state.release.wait(STALL_LIMIT_S)
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.behaviour == "break_always" or (reply.behaviour == "break_first" and len(state.requests) == 1):
                # half the body, then the connection dies (a keep-alive the server dropped)
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.behaviour == "trickle":
                for byte in reply.body:
                    if state.release.wait(0.2):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                return
            self.wfile.write(reply.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    state = FakePrometheus(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-prometheus", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=STALL_LIMIT_S)
