"""An HTTP answer for request lines and header lines too long for daphne's parser.

daphne parses HTTP/1.1 with Twisted's ``HTTPChannel``, a ``LineReceiver`` whose ``MAX_LENGTH``
(16 KiB) bounds each line. Past it, ``LineReceiver.lineLengthExceeded`` — Twisted's documented
hook, "override if it needs to be dealt with in some special way" — only drops the connection,
so a client sees a reset instead of an answer. ``install`` overrides that hook on
``HTTPChannel`` to answer first: 414 ``uri_too_long`` for the request line, 431
``request_header_too_large`` for a header line, in meshui's JSON error envelope, then close.

Installed by ``meshui.asgi`` (the module daphne loads); a no-op where Twisted is not there.
"""

from __future__ import annotations

import json
from typing import Any

from meshui.errors import envelope


def _answer(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps(envelope(code, message)).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")  # fmt: skip
    return head.encode("ascii") + body


def answer_for_long_line(first_line: bool, limit: int) -> bytes:
    """The whole HTTP response to a line over ``limit`` bytes: 414 when it is the request line,
    431 when it is a header line."""
    if first_line:
        return _answer(414, "URI Too Long", "uri_too_long",
                       f"The request line (method, path and query) is longer than {limit} bytes.")  # fmt: skip
    return _answer(431, "Request Header Fields Too Large", "request_header_too_large",
                   f"A header line is longer than {limit} bytes.")  # fmt: skip


def install() -> None:
    """Answer over-long lines on every ``twisted.web.http.HTTPChannel`` of this process."""
    try:
        from twisted.web import http
    except ImportError:  # not served by daphne
        return

    def line_length_exceeded(channel: Any, line: bytes) -> None:
        # Bytes of this request's lines so far: none yet means the request line is the long one.
        first_line = getattr(channel, "_receivedHeaderSize", 0) == 0
        channel.transport.write(answer_for_long_line(first_line, channel.MAX_LENGTH))
        channel.loseConnection()

    http.HTTPChannel.lineLengthExceeded = line_length_exceeded
