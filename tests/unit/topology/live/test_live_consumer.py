"""``/ws/graph/`` end to end through the real websocket stack (origin check, auth, consumer, hub,
embedded ticker), on the in-memory channel layer and on the real Redis one."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.roles import set_role
from accounts.tokens import issue_token
from meshui import observability
from metrics.errors import PrometheusUnavailable
from tests.unit.topology.live.live_support import VIEW, GatedSend, open_socket, receive, run, subscribe
from topology.graph.diff import apply_delta
from topology.hub import get_hub
from topology.routing import websocket_application
from topology.snapshot import parse_view

pytestmark = pytest.mark.django_db(transaction=True)


async def tick_and_receive(*sockets) -> list[dict]:
    """Force a tick and return the next frame of each socket."""
    get_hub().backend.tick_now()
    return [await receive(socket) for socket in sockets]


async def close_code(socket) -> int:
    message = await socket.receive_output(timeout=10)
    assert message["type"] == "websocket.close"
    return message["code"]


def test_anonymous_socket_is_closed_4401_when_anonymous_read_is_off(layer, source, settings):
    # given anonymous reading turned off
    settings.ANONYMOUS_READ = False

    async def scenario():
        # when an anonymous client connects
        socket, connected, _ = await open_socket()
        # then the socket is accepted and closed with 4401, and nothing was read
        assert connected
        assert await close_code(socket) == 4401
        assert source.reads == []

    run(scenario)


def test_socket_from_a_foreign_origin_is_refused_at_the_handshake(layer, source):
    async def scenario():
        # given anonymous reading on
        # when a page on another site opens the socket
        _, connected, _ = await open_socket(origin=b"https://evil.example")
        # then the handshake is refused
        assert not connected

    run(scenario)


def test_bearer_token_of_a_viewer_may_subscribe(layer, source, settings):
    # given anonymous reading off and a viewer's API token
    settings.ANONYMOUS_READ = False
    user = User.objects.create_user("script", password="a long password")
    set_role(user, "viewer")
    _, token = issue_token(user, name="live")

    async def scenario():
        # when a script connects with the token and subscribes
        socket, connected, _ = await open_socket([(b"authorization", f"Bearer {token}".encode())])
        frame = await subscribe(socket)
        # then it gets the snapshot
        assert connected
        assert (frame["type"], frame["seq"]) == ("snapshot", 1)
        await socket.disconnect()

    run(scenario)


def test_unknown_bearer_token_is_closed_4401_even_with_anonymous_read(layer, source):
    async def scenario():
        # given anonymous reading on
        # when a client presents a token that does not exist
        socket, _, _ = await open_socket([(b"authorization", b"Bearer mui_" + b"x" * 43)])
        # then the socket is closed 4401 rather than downgraded to anonymous
        assert await close_code(socket) == 4401

    run(scenario)


def test_session_user_without_a_role_is_closed_4403(layer, source, settings):
    # given a logged-in user with no meshui role
    settings.ANONYMOUS_READ = False
    user = User.objects.create_user("norole", password="a long password")
    browser = Client()
    browser.force_login(user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()

    async def scenario():
        # when the browser opens the socket with its session cookie
        socket, connected, _ = await open_socket([(b"cookie", cookie)])
        # then it is closed 4403
        assert connected
        assert await close_code(socket) == 4403

    run(scenario)


def test_session_viewer_may_subscribe(layer, source, settings):
    # given a logged-in viewer
    settings.ANONYMOUS_READ = False
    user = User.objects.create_user("viewer", password="a long password")
    set_role(user, "viewer")
    browser = Client()
    browser.force_login(user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()

    async def scenario():
        # when the browser subscribes
        socket, _, _ = await open_socket([(b"cookie", cookie)])
        frame = await subscribe(socket)
        # then it gets the snapshot of its view
        assert (frame["type"], frame["view_key"]) == ("snapshot", parse_view(VIEW).key)
        await socket.disconnect()

    run(scenario)


def test_subscribe_sends_the_snapshot_then_a_tick_sends_the_next_delta(layer, source):
    async def scenario():
        # given a subscribed socket with its snapshot
        first, _, _ = await open_socket()
        snapshot = await subscribe(first)
        # when the ticker ticks
        [delta] = await tick_and_receive(first)
        # then the delta has seq + 1 and applying it gives the snapshot a new subscriber gets
        second, _, _ = await open_socket()
        latest = await subscribe(second)
        assert (snapshot["type"], snapshot["seq"], snapshot["refresh_s"]) == ("snapshot", 1, 3600)
        assert [e["request_rate"] for e in snapshot["graph"]["edges"]] == [1.0]
        assert (delta["type"], delta["seq"], delta["view_key"]) == ("delta", 2, snapshot["view_key"])
        assert (latest["type"], latest["seq"]) == ("snapshot", 2)
        assert apply_delta(snapshot["graph"], delta) == latest["graph"]
        await first.disconnect()
        await second.disconnect()

    run(scenario)


def test_two_viewers_of_one_view_cost_one_read_per_tick(layer, source):
    async def scenario():
        # given two sockets subscribed to the same view
        one, _, _ = await open_socket()
        two, _, _ = await open_socket()
        first = [await subscribe(one), await subscribe(two)]
        reads_after_subscribe = len(source.reads)
        # when the ticker ticks twice
        second = await tick_and_receive(one, two)
        third = await tick_and_receive(one, two)
        # then both saw every update and the upstream was read once per tick
        assert [f["seq"] for f in first + second + third] == [1, 1, 2, 2, 3, 3]
        assert reads_after_subscribe == 1
        assert len(source.reads) == 3
        await one.disconnect()
        await two.disconnect()

    run(scenario)


def test_slow_socket_gets_a_fresh_snapshot_instead_of_a_backlog_and_others_are_unaffected(layer, source):
    async def scenario():
        # given a fast socket and a socket whose frames wait at a gate (a client not reading)
        slow_app = GatedSend(websocket_application())
        fast, _, _ = await open_socket()
        slow, _, _ = await open_socket(app=slow_app)
        await fast.send_json_to({"type": "subscribe", "view": VIEW})
        await slow.send_json_to({"type": "subscribe", "view": VIEW})
        fast_frames = [await receive(fast)]
        # when 12 ticks happen while the slow socket is stuck (its outbox holds 8)
        for _ in range(12):
            fast_frames += await tick_and_receive(fast)
        slow_app.gate.set()
        slow_frames = [await receive(slow), await receive(slow)]
        # then the fast socket got every delta in order, the slow one its first snapshot then the
        # latest snapshot and nothing queued in between
        deltas = [("delta", n) for n in range(2, 14)]
        assert [(f["type"], f["seq"]) for f in fast_frames] == [("snapshot", 1), *deltas]
        assert [(f["type"], f["seq"]) for f in slow_frames] == [("snapshot", 1), ("snapshot", 13)]
        fast_graph = fast_frames[0]["graph"]
        for delta in fast_frames[1:]:
            fast_graph = apply_delta(fast_graph, delta)
        assert slow_frames[1]["graph"] == fast_graph
        assert await slow.receive_nothing(timeout=0.3)
        await fast.disconnect()
        await slow.disconnect()

    run(scenario)


def test_upstream_down_sends_a_stale_status_and_recovery_sends_live(layer, source):
    async def scenario():
        # given a subscribed socket with its snapshot
        socket, _, _ = await open_socket()
        snapshot = await subscribe(socket)
        # when Prometheus stops answering for one tick, then answers again
        source.failure = PrometheusUnavailable(
            "Prometheus at prometheus:9090 did not answer within 10 s", reason="timeout", host="prometheus:9090"
        )
        [down] = await tick_and_receive(socket)
        late, _, _ = await open_socket()
        late_frames = [await subscribe(late), await receive(late)]
        source.failure = None
        recovered = await tick_and_receive(socket)
        recovered.append(await receive(socket))
        # then a stale status (the last graph stays), which a late subscriber also gets after the
        # last good snapshot, then the next delta and a live status
        assert (down["type"], down["state"], down["code"]) == ("status", "stale", "prometheus_unavailable")
        assert down["message"] == "Prometheus at prometheus:9090 did not answer within 10 s"
        assert down["age_s"] == 0
        assert [(f["type"], f.get("seq"), f.get("state")) for f in late_frames] == [
            ("snapshot", 1, None), ("status", None, "stale")
        ]
        assert late_frames[0]["graph"] == snapshot["graph"]
        assert [(f["type"], f.get("seq"), f.get("state")) for f in recovered] == [
            ("delta", 2, None), ("status", None, "live")
        ]
        await socket.disconnect()
        await late.disconnect()

    run(scenario)


def test_invalid_view_gets_an_error_naming_the_field_and_the_socket_stays_open(layer, source):
    async def scenario():
        # given a connected socket
        socket, _, _ = await open_socket()
        # when it subscribes to a view with a bad window, then to a good one
        error = await subscribe(socket, {"window": "5x"})
        snapshot = await subscribe(socket)
        # then the error names the field with the REST API's message and the socket still works
        assert error == {"type": "error", "code": "invalid_parameter", "field": "window",
                         "message": "'5x' is not a duration such as 30s, 5m, 1h or 7d"}
        assert snapshot["type"] == "snapshot"
        await socket.disconnect()

    run(scenario)


def test_resync_sends_the_latest_snapshot(layer, source):
    async def scenario():
        # given a socket that has its snapshot and one delta
        socket, _, _ = await open_socket()
        await subscribe(socket)
        await tick_and_receive(socket)
        # when it asks to resync
        await socket.send_json_to({"type": "resync"})
        frame = await receive(socket)
        # then it gets the snapshot at the latest sequence number
        assert (frame["type"], frame["seq"]) == ("snapshot", 2)
        await socket.disconnect()

    run(scenario)


def test_ticker_runs_only_while_someone_watches_and_sockets_are_counted(layer, source):
    async def scenario():
        # given no socket
        clients_before = observability.WEBSOCKET_CLIENTS._value.get()
        # when one socket subscribes, then leaves
        socket, _, _ = await open_socket()
        await subscribe(socket)
        ticker = get_hub().backend
        running_while_watched = ticker.running
        clients_while_watched = observability.WEBSOCKET_CLIENTS._value.get()
        await socket.disconnect()
        for _ in range(100):
            if not ticker.running:
                break
            await asyncio.sleep(0.01)
        # then the ticker ran only while watched and the gauge counted the socket
        assert running_while_watched
        assert not ticker.running
        assert clients_while_watched == clients_before + 1
        assert observability.WEBSOCKET_CLIENTS._value.get() == clients_before

    run(scenario)
