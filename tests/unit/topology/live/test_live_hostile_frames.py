"""Hostile frames on ``/ws/graph/``: each gets an error frame or a close, never a crash, and the
socket always leaves its view and the ``meshui_websocket_clients`` gauge."""

from __future__ import annotations

import asyncio
import logging

import pytest

from meshui import observability
from tests.unit.topology.live.live_support import open_socket, receive, run, subscribe
from topology import consumers
from topology.hub import get_hub

pytestmark = pytest.mark.django_db(transaction=True)


def connected_clients() -> float:
    return observability.WEBSOCKET_CLIENTS._value.get()


async def close_code(socket) -> int:
    message = await socket.receive_output(timeout=10)
    assert message["type"] == "websocket.close"
    return message["code"]


def test_a_subscribe_of_1000_nested_arrays_is_an_error_frame_and_the_socket_stays_open(layer, source):
    async def scenario():
        # given a connected socket
        socket, _, _ = await open_socket()
        # when it sends a 2 KB subscribe message whose view is 1,000 nested arrays
        await socket.send_to(text_data='{"type": "subscribe", "view": ' + "[" * 1000 + "]" * 1000 + "}")
        error = await receive(socket)
        # then it is told why, and can still subscribe
        assert error == {"type": "error", "code": "invalid_message", "field": None,
                         "message": "The message is JSON nested deeper than 16 levels."}  # fmt: skip
        assert (await subscribe(socket))["type"] == "snapshot"
        await socket.disconnect()

    run(scenario)


def test_a_failure_while_handling_a_message_is_an_error_frame(layer, source, monkeypatch, caplog):
    # given a view parser that fails unexpectedly
    def broken_parse_view(data):
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(consumers, "parse_view", broken_parse_view)

    async def scenario():
        socket, _, _ = await open_socket()
        # when the socket subscribes
        with caplog.at_level(logging.ERROR, logger="topology.consumers"):
            error = await subscribe(socket)
        # then it gets an error frame revealing nothing, the failure is logged, the socket stays open
        assert error == {"type": "error", "code": "internal_error", "field": None,
                         "message": "The message could not be handled; it has been logged."}  # fmt: skip
        assert caplog.records[-1].exc_info[0] is RuntimeError
        await socket.send_json_to({"type": "resync"})
        assert (await receive(socket))["code"] == "not_subscribed"
        await socket.disconnect()

    run(scenario)


def test_a_10_mib_frame_closes_the_socket_with_1009_and_leaves_its_view(layer, source):
    async def scenario():
        # given a socket watching a view
        clients_before = connected_clients()
        socket, _, _ = await open_socket()
        await subscribe(socket)
        # when it sends a 10 MiB frame
        await socket.send_to(text_data="x" * (10 * 1024 * 1024))
        # then the socket is closed as too big, uncounted, and the view is no longer watched
        assert await close_code(socket) == 1009
        assert connected_clients() == clients_before
        assert get_hub().watched() == []
        await socket.disconnect()

    run(scenario)


def test_a_consumer_that_is_cancelled_leaves_its_view_and_the_gauge(layer, source):
    async def scenario():
        # given a socket watching a view
        clients_before = connected_clients()
        socket, _, _ = await open_socket()
        await subscribe(socket)
        watched_while_open = get_hub().watched()
        # when the server cancels its consumer (as daphne does with one that outlives its client)
        socket.future.cancel()
        await asyncio.gather(socket.future, return_exceptions=True)
        # then it no longer counts and no longer watches
        assert len(watched_while_open) == 1
        assert connected_clients() == clients_before
        assert get_hub().watched() == []

    run(scenario)


def test_a_consumer_that_raises_leaves_its_view_and_the_gauge(layer, source, monkeypatch):
    # given an error frame that cannot even be written (the socket's send fails)
    async def failing_send(self, text):
        if '"type": "error"' in text or '"type":"error"' in text:
            raise ConnectionResetError("peer gone")
        await self.send(text_data=text)

    monkeypatch.setattr(consumers.GraphConsumer, "send_text", failing_send)

    async def scenario():
        clients_before = connected_clients()
        socket, _, _ = await open_socket()
        await subscribe(socket)
        # when a message that needs an error frame arrives
        await socket.send_json_to({"type": "nonsense"})
        outcome = await asyncio.gather(socket.future, return_exceptions=True)
        # then the consumer ended with that failure, uncounted and no longer watching
        assert [type(error) for error in outcome] == [ConnectionResetError]
        assert connected_clients() == clients_before
        assert get_hub().watched() == []

    run(scenario)
