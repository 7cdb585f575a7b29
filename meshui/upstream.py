"""Pieces shared by meshui's doors to its upstreams (Prometheus, Jaeger, Kubernetes).

Each upstream keeps its own client module with its own named errors; what is the same for all
of them — naming a host without leaking credentials, finding why a request failed, the socket
under a streamed response — lives here once.
"""

from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions


def _version() -> str:
    try:
        return metadata.version("meshui")
    except metadata.PackageNotFoundError:
        return "dev"


USER_AGENT = f"meshui/{_version()}"


def host_of(url: str) -> str:
    """``host:port`` of ``url`` — never its user info, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def root_cause(error: BaseException) -> BaseException:
    """The innermost cause, following requests' and urllib3's wrapping (``reason``/``__context__``)."""
    seen: set[int] = set()
    current: BaseException = error
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            inner = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        if not isinstance(inner, BaseException):
            inner = current.__cause__ or current.__context__
        if inner is None:
            return current
        current = inner
    return current


def is_timeout(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is a timeout of any layer."""
    timeouts = (TimeoutError, requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)
    return isinstance(error, timeouts) or isinstance(root_cause(error), timeouts)


def socket_of(response: requests.Response) -> socket.socket | None:
    """The socket under a streamed response, when urllib3 exposes it (it does in 2.x)."""
    connection = getattr(response.raw, "connection", None) or getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


_CHUNK_BYTES = 64 * 1024
_CONNECT_TIMEOUT_S = 3.0


class Unreachable(Exception):
    """The upstream could not be asked or did not answer in time.

    ``reason`` is one of ``timeout``, ``dns``, ``connection_refused``, ``connection_failed``,
    ``tls``; the message names the upstream and its host, never credentials. Each door turns
    this into its own named error (``PrometheusUnavailable``, ``JaegerUnavailable``).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole HTTP answer: status, content type and body."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Upstream:
    """Who is asked, for messages: ``name`` ("Prometheus") and ``host`` (``host:port``)."""

    name: str
    host: str
    timeout_s: float

    def timed_out(self) -> Unreachable:
        return Unreachable(f"{self.name} at {self.host} did not answer within {self.timeout_s:g}s", reason="timeout")


def bounded_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    upstream: Upstream,
    deadline: float,
    headers: dict[str, str],
    verify: bool | str,
    params: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
    idempotent: bool = False,
) -> Answer:
    """Send one request and read its whole answer before ``deadline`` (``time.monotonic()``).

    The connection gets at most 3 s of the budget; the body is read as it arrives with the
    socket timeout shrunk to what is left, so a server that trickles bytes cannot stretch the
    wait past the deadline. Redirects are not followed. Raises ``Unreachable``.

    ``idempotent`` requests (reads) whose connection broke — typically a pooled keep-alive
    connection the server had just closed — are sent once more on a fresh connection, within
    the same deadline; timeouts, refusals and DNS or TLS failures are never retried.
    """
    # What every attempt sends alike; each attempt times itself against the same deadline.
    sent = {"params": params, "data": data, "headers": headers, "verify": verify}
    try:
        return _request_once(session, method, url, upstream, deadline, sent)
    except Unreachable as error:
        if not idempotent or error.reason != "connection_failed" or deadline - time.monotonic() <= 0:
            raise
    return _request_once(session, method, url, upstream, deadline, sent)


def _request_once(
    session: requests.Session, method: str, url: str, upstream: Upstream, deadline: float, sent: dict[str, Any]
) -> Answer:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise upstream.timed_out()
    try:
        response = session.request(
            method,
            url,
            **sent,
            timeout=(min(_CONNECT_TIMEOUT_S, remaining), remaining),
            stream=True,
            allow_redirects=False,
        )
    except requests.exceptions.SSLError as error:
        raise Unreachable(
            f"TLS handshake with {upstream.name} at {upstream.host} failed: {root_cause(error)}", reason="tls"
        ) from None
    except requests.exceptions.Timeout:
        raise upstream.timed_out() from None
    except requests.exceptions.ConnectionError as error:
        raise _connection_failed(upstream, error) from None
    except requests.exceptions.RequestException as error:
        raise Unreachable(
            f"request to {upstream.name} at {upstream.host} failed: {type(error).__name__}", reason="connection_failed"
        ) from None
    with response:
        body = _read_body(response, upstream, deadline)
    return Answer(response.status_code, response.headers.get("Content-Type", ""), body)


def _read_body(response: requests.Response, upstream: Upstream, deadline: float) -> bytes:
    chunks: list[bytes] = []
    sock = socket_of(response)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise upstream.timed_out()
            if sock is not None:
                sock.settimeout(remaining)
            chunk = response.raw.read1(_CHUNK_BYTES, decode_content=True)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
        if is_timeout(error):
            raise upstream.timed_out() from None
        raise Unreachable(
            f"connection to {upstream.name} at {upstream.host} broke while reading the answer"
            f" ({type(root_cause(error)).__name__})",
            reason="connection_failed",
        ) from None


def _connection_failed(upstream: Upstream, error: requests.exceptions.ConnectionError) -> Unreachable:
    cause = root_cause(error)
    if isinstance(cause, socket.gaierror) or "NameResolution" in type(cause).__name__:
        return Unreachable(f"the {upstream.name} host {upstream.host} could not be resolved (DNS)", reason="dns")
    if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
        return Unreachable(f"{upstream.name} at {upstream.host} refused the connection", reason="connection_refused")
    if is_timeout(error):
        return upstream.timed_out()
    return Unreachable(
        f"could not connect to {upstream.name} at {upstream.host} ({type(cause).__name__})", reason="connection_failed"
    )
