"""Pieces shared by meshui's doors to its upstreams (Prometheus, Jaeger, Kubernetes).

Each upstream keeps its own client module with its own named errors; what is the same for all
of them — naming a host without leaking credentials, finding why a request failed, the socket
under a streamed response — lives here once.
"""

from __future__ import annotations

import socket
from importlib import metadata
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
