"""Over-long request and header lines get an HTTP answer from a real daphne, not a dropped connection."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.support.meshui_servers import meshui_servers

pytestmark = pytest.mark.integration


def raw_exchange(base_url: str, request: bytes) -> bytes:
    """Send ``request`` as it is and read until the server closes (bounded by a 10 s timeout)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and b"Connection: close" not in received:
                break
        return received


def status_and_body(answer: bytes) -> tuple[str, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), json.loads(body or b"{}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    with meshui_servers(tmp_path_factory.mktemp("limits"), 1, username="probe") as servers:
        yield servers.urls[0]


def test_a_request_line_over_16_kib_is_414_in_the_envelope(server):
    # when a client sends a 17 KiB query string
    answer = raw_exchange(server, b"GET /api/v1/graph?q=" + b"a" * 17_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    # then it is answered 414 with meshui's error envelope before the connection closes
    status, body = status_and_body(answer)
    assert status == "HTTP/1.1 414 URI Too Long", answer[:200]
    assert body["error"]["code"] == "uri_too_long"


def test_a_header_line_over_16_kib_is_431(server):
    answer = raw_exchange(
        server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"b" * 17_000 + b"\r\n\r\n"
    )
    status, body = status_and_body(answer)
    assert status == "HTTP/1.1 431 Request Header Fields Too Large", answer[:200]
    assert body["error"]["code"] == "request_header_too_large"


def test_a_long_line_within_the_limit_still_reaches_meshui(server):
    # a 12 KiB request line is meshui's to answer
    answer = raw_exchange(server, b"GET /healthz?q=" + b"c" * 12_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Connection: close\r\n\r\n")  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
