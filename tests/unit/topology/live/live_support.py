"""Helpers of the live-graph tests: a telemetry source whose traffic changes on every read,
and websocket helpers around ``channels.testing.WebsocketCommunicator``."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from topology.graph.telemetry import MeshTelemetry, Sample
from topology.hub import get_hub, reset_hub
from topology.routing import websocket_application

ORIGIN = b"http://127.0.0.1:8000"
VIEW = {"namespaces": ["shop"], "graph_type": "workload", "window": "5m"}


def edge_labels(reporter: str, src: str, dst: str) -> dict[str, str]:
    return {
        "reporter": reporter,
        "source_cluster": "unknown",
        "source_workload_namespace": "shop",
        "source_workload": f"{src}-v1",
        "source_canonical_service": src,
        "source_canonical_revision": "v1",
        "destination_cluster": "unknown",
        "destination_service_namespace": "shop",
        "destination_service": f"{dst}.shop.svc.cluster.local",
        "destination_service_name": dst,
        "destination_workload_namespace": "shop",
        "destination_workload": f"{dst}-v1",
        "destination_canonical_service": dst,
        "destination_canonical_revision": "v1",
        "request_protocol": "http",
        "grpc_response_status": "",
        "response_flags": "-",
    }


def request_samples(src: str, dst: str, code: str, rate: float) -> list[Sample]:
    """The source and destination reports of ``rate`` requests/s answered ``code``."""
    return [
        Sample({**edge_labels(reporter, src, dst), "response_code": code,
                "connection_security_policy": "mutual_tls" if reporter == "destination" else "unknown"}, rate)
        for reporter in ("source", "destination")
    ]


class ChangingSource:
    """A ``TelemetrySource`` whose traffic changes on every read, counting its reads.

    Read n: web→cart carries n requests/s; on even reads cart→db also carries 1 request/s of
    which half fail with 503. ``failure``, when set, is raised by every read (counted too).
    Thread-safe: the ticker reads in a worker thread.
    """

    def __init__(self) -> None:
        self.reads: list[dict[str, Any]] = []
        self.failure: BaseException | None = None
        self._lock = threading.Lock()

    def read(self, *, query_time: float, window_s: int, namespaces: frozenset[str] | None) -> MeshTelemetry:
        with self._lock:
            self.reads.append({"query_time": query_time, "window_s": window_s, "namespaces": namespaces})
            number = len(self.reads)
            failure = self.failure
        if failure is not None:
            raise failure
        samples = request_samples("web", "cart", "200", float(number))
        if number % 2 == 0:
            samples += request_samples("cart", "db", "200", 0.5) + request_samples("cart", "db", "503", 0.5)
        return MeshTelemetry(query_time=query_time, window_s=window_s, requests=samples)


def run(scenario: Callable[[], Awaitable[None]], timeout_s: float = 60.0) -> None:
    """Run ``scenario`` on a fresh event loop with a fresh hub; always stop the hub, its ticker
    and the channel layer's connections afterwards."""

    async def cleanup() -> None:
        hub = get_hub()
        await hub.close()
        stop = getattr(hub.backend, "stop", None)
        if stop is not None:
            await stop()
        layer = get_channel_layer()
        if hasattr(layer, "close_pools"):
            await layer.flush()
            await layer.close_pools()

    async def main() -> None:
        reset_hub()
        try:
            await asyncio.wait_for(scenario(), timeout_s)
        finally:
            try:
                # Bounded too: a cleanup that hangs would otherwise hold the run until pytest-timeout.
                await asyncio.wait_for(cleanup(), 20)
            finally:
                reset_hub()

    asyncio.run(main())


class GatedSend:
    """ASGI wrapper whose outgoing websocket frames wait for ``gate``: a client that reads slowly."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.gate = asyncio.Event()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        async def slow_send(message: dict) -> None:
            if message["type"] == "websocket.send":
                await self.gate.wait()
            await send(message)

        await self.app(scope, receive, slow_send)


async def open_socket(
    headers: list[tuple[bytes, bytes]] | None = None, origin: bytes = ORIGIN, app: Any = None
) -> tuple[WebsocketCommunicator, bool, Any]:
    """A communicator on ``/ws/graph/`` through the real websocket stack (origin check, auth)."""
    communicator = WebsocketCommunicator(
        app or websocket_application(), "/ws/graph/", headers=[(b"origin", origin), *(headers or [])]
    )
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


async def receive(communicator: WebsocketCommunicator, timeout_s: float = 10.0) -> dict[str, Any]:
    """The next text frame as JSON."""
    return json.loads(await communicator.receive_from(timeout=timeout_s))


async def subscribe(communicator: WebsocketCommunicator, view: dict[str, Any] | None = None) -> dict[str, Any]:
    """Subscribe to ``view`` (default ``VIEW``) and return the first frame answered."""
    await communicator.send_json_to({"type": "subscribe", "view": view or VIEW})
    return await receive(communicator)
