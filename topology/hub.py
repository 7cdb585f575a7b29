"""The per-process fan-out hub of the live graph.

One ``Hub`` per web process joins the channel-layer group ``graph.<view_key>`` once per view
watched by at least one local socket, receives each frame once, keeps the view's latest graph
(applying each delta) and writes the frame's text to every local ``Watcher``. Each watcher has a
small bounded outbox and its own writer task, so a slow socket never delays the others: when
its outbox is full its queued deltas are dropped and, once it drains, it is sent the latest
snapshot (it skips ahead, nothing is lost). See docs/decisions/0005 and 0006.

The hub talks to a *backend* — ``snapshot.EmbeddedTicker`` without Redis, ``RedisBackend``
with it — through four coroutines: ``watch(view)``, ``unwatch(view)``, ``load(view_key)`` and
``heartbeat(views)``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from topology.graph.diff import apply_delta
from topology.snapshot import (
    FRAME_MESSAGE_TYPE,
    EmbeddedTicker,
    RedisLiveStore,
    State,
    View,
    dumps,
    refresh_s,
    snapshot_frame,
    status_frame,
)

logger = logging.getLogger(__name__)

OUTBOX_SIZE = 8
HEARTBEAT_S = 10.0


class Backend(Protocol):
    """Where the hub registers watched views and reads stored states."""

    async def watch(self, view: View) -> None: ...

    async def unwatch(self, view: View) -> None: ...

    async def load(self, view_key: str) -> State | None: ...

    async def heartbeat(self, views: list[View]) -> None: ...


class RedisBackend:
    """The hub's backend with Redis: registry heartbeats and states in Redis, ticks by Celery.

    ``enqueue_tick`` asks for an immediate tick (default: send the ``topology.live_tick`` task
    through the project's Celery app). Blocking Redis and broker calls run in a thread.
    """

    def __init__(self, store: RedisLiveStore, enqueue_tick: Callable[[], None] | None = None) -> None:
        self.store = store
        self.enqueue_tick = enqueue_tick or _send_tick_task

    async def watch(self, view: View) -> None:
        """Register ``view`` as watched and ask for an immediate tick.

        A broker that refuses the tick is logged, not raised: the next beat tick computes the
        view, and the socket stays open meanwhile. Redis errors of the registry propagate.
        """
        await asyncio.to_thread(self.store.heartbeat, [view])
        try:
            await asyncio.to_thread(self.enqueue_tick)
        except Exception:
            logger.exception("could not enqueue an immediate live-graph tick; the next beat tick will do")

    async def unwatch(self, view: View) -> None:
        """Nothing: other processes may still watch; the registry entry expires without heartbeats."""

    async def load(self, view_key: str) -> State | None:
        """The state stored in Redis."""
        return await asyncio.to_thread(self.store.load, view_key)

    async def heartbeat(self, views: list[View]) -> None:
        """Renew the registry entries of ``views``."""
        await asyncio.to_thread(self.store.heartbeat, views)


def _send_tick_task() -> None:
    from topology.tasks import live_tick

    live_tick.delay()


class Watcher:
    """One socket's side of the hub: a bounded outbox and the writer that drains it.

    ``send`` writes one text frame to the socket (it may block while the client is slow).
    Run ``run()`` as a task for the life of the socket. The watcher remembers the last sequence
    number it sent: deltas it already has are skipped, a gap makes it send a snapshot.
    """

    def __init__(self, send: Callable[[str], Awaitable[None]], outbox_size: int = OUTBOX_SIZE) -> None:
        self._send = send
        self._outbox: deque[tuple[str, int | None, str]] = deque()
        self._outbox_size = outbox_size
        self._wake = asyncio.Event()
        self._resync = False
        self.fanout: _Fanout | None = None
        self.seq = 0
        self.dropped = 0
        self.snapshots_sent = 0

    def push(self, kind: str, seq: int | None, text: str) -> None:
        """Queue a frame without ever blocking; a full outbox is dropped for a later snapshot."""
        if self._resync and kind != "status":
            self._wake.set()
            return
        if len(self._outbox) >= self._outbox_size:
            self.dropped += len(self._outbox)
            self._outbox.clear()
            self._resync = True
        else:
            self._outbox.append((kind, seq, text))
        self._wake.set()

    def resync(self) -> None:
        """Send the view's latest snapshot (and status) next, instead of anything queued."""
        self._resync = True
        self._wake.set()

    def detach(self) -> None:
        """Forget the view (after unsubscribe): nothing queued is sent."""
        self.fanout = None
        self._outbox.clear()
        self._resync = False
        self.seq = 0

    async def send_now(self, text: str) -> None:
        """Send a frame that is not part of the view's stream (an error answer)."""
        await self._send(text)

    async def run(self) -> None:
        """Drain the outbox until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                fanout = self.fanout
                if fanout is None:
                    self._outbox.clear()
                    self._resync = False
                    break
                if self._resync:
                    self._resync = False
                    self._outbox.clear()
                    snapshot = fanout.snapshot_text()
                    if snapshot is not None:
                        self.seq = fanout.seq
                        self.snapshots_sent += 1
                        await self._send(snapshot)
                    if fanout.status_text is not None:
                        await self._send(fanout.status_text)
                    continue
                if not self._outbox:
                    break
                kind, seq, text = self._outbox.popleft()
                if kind == "delta":
                    if seq is None or seq <= self.seq:
                        continue
                    if seq != self.seq + 1:
                        self._resync = True
                        continue
                await self._send(text)
                if seq is not None:
                    self.seq = seq
                    if kind == "snapshot":
                        self.snapshots_sent += 1


class _Fanout:
    """The hub's state of one view: its watchers and its latest graph, sequence and status.

    ``status_text`` is the last status frame (``live`` included): a socket that resyncs after
    missing frames is sent it with the snapshot, so it never misses a recovery.
    """

    def __init__(self, view: View, interval_s: float) -> None:
        self.view = view
        self.key = view.key
        self.interval_s = interval_s
        self.watchers: set[Watcher] = set()
        self.seq = 0
        self.graph: dict[str, Any] | None = None
        self.status_text: str | None = None
        self._snapshot_text: str | None = None
        self.loading: asyncio.Task | None = None

    def set_state(self, state: State) -> None:
        self.seq = state["seq"]
        self.graph = state.get("graph")
        self._snapshot_text = None
        self.status_text = dumps(status_frame(self.key, state, time.time())) if state.get("error") else None

    def snapshot_text(self) -> str | None:
        # Serialised once per sequence number, however many sockets need it.
        if self.graph is None:
            return None
        if self._snapshot_text is None:
            frame = snapshot_frame(self.key, {"seq": self.seq, "graph": self.graph}, self.interval_s)
            self._snapshot_text = dumps(frame) if frame is not None else None
        return self._snapshot_text


class Hub:
    """Per-process fan-out of live-graph frames to local sockets (see the module docstring).

    ``layer`` is the channel layer; ``backend`` registers views and reads stored states.
    All methods run on the event loop of the process; none blocks it.
    """

    def __init__(
        self,
        layer: Any,
        backend: Backend,
        *,
        interval_s: float,
        outbox_size: int = OUTBOX_SIZE,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.layer = layer
        self.backend = backend
        self.interval_s = interval_s
        self.outbox_size = outbox_size
        self.heartbeat_s = heartbeat_s
        self._views: dict[str, _Fanout] = {}
        self._lock = asyncio.Lock()
        self._channel: str | None = None
        self._receiver: asyncio.Task | None = None
        self._heartbeat: asyncio.Task | None = None
        self.frames_received = 0

    def watcher(self, send: Callable[[str], Awaitable[None]]) -> Watcher:
        """A new watcher writing through ``send`` with this hub's outbox size."""
        return Watcher(send, self.outbox_size)

    def watched(self) -> list[View]:
        """The views with at least one local watcher."""
        return [fanout.view for fanout in self._views.values()]

    async def subscribe(self, view: View, watcher: Watcher) -> None:
        """Attach ``watcher`` to ``view``: it is sent the latest snapshot and status at once when
        the view has them, else the first snapshot (or status) when the tick computes it.

        The first local watcher of a view makes the hub join its group and the backend watch it.
        """
        async with self._lock:
            await self._ensure_started()
            fanout = self._views.get(view.key)
            if fanout is None:
                fanout = _Fanout(view, self.interval_s)
                self._views[view.key] = fanout
                await self.layer.group_add(view.group, self._channel)
                await self.backend.watch(view)
                state = await self.backend.load(view.key)
                if state is not None and state["seq"] >= fanout.seq:
                    fanout.set_state(state)
            fanout.watchers.add(watcher)
            watcher.fanout = fanout
            watcher.seq = 0
            if fanout.graph is not None or fanout.status_text is not None:
                watcher.resync()

    async def unsubscribe(self, watcher: Watcher) -> None:
        """Detach ``watcher`` from its view; the last local watcher makes the hub leave the view."""
        async with self._lock:
            fanout = watcher.fanout
            watcher.detach()
            if fanout is None:
                return
            fanout.watchers.discard(watcher)
            if fanout.watchers or self._views.get(fanout.key) is not fanout:
                return
            del self._views[fanout.key]
            if fanout.loading is not None:
                fanout.loading.cancel()
            await self.layer.group_discard(fanout.view.group, self._channel)
            await self.backend.unwatch(fanout.view)

    async def close(self) -> None:
        """Stop the hub's tasks (tests, shutdown)."""
        for task in (self._receiver, self._heartbeat):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._receiver = self._heartbeat = None

    async def _ensure_started(self) -> None:
        if self._channel is None:
            self._channel = await self.layer.new_channel("meshui-hub.")
        if self._receiver is None or self._receiver.done():
            self._receiver = asyncio.create_task(self._receive_loop(), name="meshui-live-hub")
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="meshui-live-heartbeat")

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A channel-layer hiccup (Redis restart) must not end the hub; retry shortly.
                logger.exception("live hub could not read the channel layer")
                await asyncio.sleep(1.0)
                continue
            if message.get("type") == FRAME_MESSAGE_TYPE:
                self.frames_received += 1
                self.dispatch(message)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            views = self.watched()
            if not views:
                continue
            try:
                await self.backend.heartbeat(views)
            except Exception:
                logger.exception("live hub heartbeat failed")

    def dispatch(self, message: dict[str, Any]) -> None:
        """Handle one frame message from the ticker: update the view and queue the text locally."""
        fanout = self._views.get(message["view_key"])
        if fanout is None:
            return
        kind, seq, text = message["kind"], message["seq"], message["text"]
        if kind == "snapshot":
            frame = json.loads(text)
            fanout.seq, fanout.graph = seq, frame["graph"]
            fanout._snapshot_text = text
        elif kind == "delta":
            if fanout.graph is None or seq != fanout.seq + 1:
                if seq > fanout.seq:
                    self._reload(fanout)
                return
            fanout.graph = apply_delta(fanout.graph, json.loads(text))
            fanout.seq = seq
            fanout._snapshot_text = None
        elif kind == "status":
            fanout.status_text = text
        for watcher in fanout.watchers:
            watcher.push(kind, seq, text)

    def _reload(self, fanout: _Fanout) -> None:
        # This process missed a frame: take the stored state and send every local socket a snapshot.
        if fanout.loading is not None and not fanout.loading.done():
            return

        async def reload() -> None:
            state = await self.backend.load(fanout.key)
            if state is None or state["seq"] <= fanout.seq:
                return
            fanout.set_state(state)
            for watcher in fanout.watchers:
                watcher.resync()

        fanout.loading = asyncio.create_task(reload())


_hub: Hub | None = None
_hub_loop: asyncio.AbstractEventLoop | None = None


def get_hub() -> Hub:
    """This process's hub, created on first use on the running event loop.

    Embedded mode (no ``MESHUI_REDIS_URL``): an ``EmbeddedTicker`` in this process; with Redis:
    ``RedisBackend`` (views registered in Redis, ticks by Celery beat and the tick task).
    """
    global _hub, _hub_loop
    loop = asyncio.get_running_loop()
    if _hub is None or _hub_loop is not loop:
        layer = get_channel_layer()
        interval = refresh_s()
        if settings.REDIS_URL:
            backend: Backend = RedisBackend(RedisLiveStore.from_settings())
        else:
            backend = EmbeddedTicker(layer, refresh_s=interval)
        _hub, _hub_loop = Hub(layer, backend, interval_s=interval), loop
    return _hub


def reset_hub() -> None:
    """Forget this process's hub (tests start each event loop with a fresh one)."""
    global _hub, _hub_loop
    _hub = _hub_loop = None


__all__ = ["Backend", "Hub", "RedisBackend", "Watcher", "get_hub", "reset_hub"]
