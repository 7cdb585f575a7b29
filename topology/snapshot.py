"""The live-graph ticker: one graph per watched view per refresh interval, diffed and broadcast once.

docs/decisions/0005-live-graph-protocol.md fixes the protocol, docs/decisions/0006-live-path.md
explains this implementation. The pieces:

* ``View`` / ``parse_view``: what a subscriber watches, validated like ``GET /api/v1/graph``.
* ``compute_tick``: the blocking part of a tick (telemetry read, graph build, diff). Views that
  share a window share one telemetry read, of the union of their namespaces.
* ``MemoryStore`` / ``RedisLiveStore``: the last state of each view (sequence number, last good
  graph, upstream error); the Redis one also keeps the registry of watched views (TTL
  heartbeats) and the deployment-wide tick lock.
* ``EmbeddedTicker``: without Redis, an asyncio task in the web process that runs while someone
  watches; ``run_redis_tick``: with Redis, what the Celery tick task runs.

Frames leave the ticker as JSON text, serialised once per view per tick, inside a channel-layer
message ``{"type": "graph.frame", "view_key", "kind", "seq", "text"}`` sent to the group
``graph.<view_key>``; each web process's hub (``topology.hub``) writes the text to its sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from rest_framework.exceptions import ValidationError

from meshui import observability
from meshui.errors import first_validation_error, mapping_of
from topology import service
from topology.api.params import format_duration, parse_graph_request
from topology.graph.diff import diff_graphs
from topology.graph.errors import UpstreamError
from topology.graph.telemetry import MeshTelemetry
from topology.graph.types import GraphOptions, GraphType

logger = logging.getLogger(__name__)

GROUP_PREFIX = "graph."
FRAME_MESSAGE_TYPE = "graph.frame"
# A view is recomputed when its last computation is older than this share of the interval: a
# tick enqueued twice (beat + a first watcher) computes once, a late beat still computes.
DUE_FRACTION = 0.5
_VIEW_FIELDS = ("namespaces", "graph_type", "window", "include_idle", "inject_service_nodes")

State = dict[str, Any]
Frame = tuple[str, str, int | None, str]  # (view_key, kind, seq, text)


class InvalidView(ValueError):
    """A subscribe message's view is invalid; ``field`` names the bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class View:
    """What a subscriber watches: the parameters of ``GET /api/v1/graph`` at "now"."""

    namespaces: tuple[str, ...] | None
    graph_type: GraphType
    window_s: int
    include_idle: bool
    inject_service_nodes: bool

    @property
    def key(self) -> str:
        """A short stable hash of the view (16 hex digits): the same on every process and restart."""
        raw = json.dumps(
            [
                list(self.namespaces) if self.namespaces is not None else None,
                self.graph_type.value,
                self.window_s,
                self.include_idle,
                self.inject_service_nodes,
            ]
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    @property
    def group(self) -> str:
        """The channel-layer group its frames are sent to."""
        return GROUP_PREFIX + self.key

    def to_json(self) -> dict[str, Any]:
        """The view as a subscribe message writes it (``parse_view(v.to_json()) == v``)."""
        return {
            "namespaces": list(self.namespaces) if self.namespaces is not None else None,
            "graph_type": self.graph_type.value,
            "window": format_duration(self.window_s),
            "include_idle": self.include_idle,
            "inject_service_nodes": self.inject_service_nodes,
        }

    def options(self) -> GraphOptions:
        """The graph core's options for this view."""
        return GraphOptions(
            graph_type=self.graph_type,
            namespaces=frozenset(self.namespaces) if self.namespaces is not None else None,
            include_idle=self.include_idle,
            inject_service_nodes=self.inject_service_nodes,
        )


def parse_view(data: object) -> View:
    """The ``View`` of a subscribe message's ``view`` object.

    Same fields, defaults, validation and messages as the query parameters of
    ``GET /api/v1/graph``, except that ``namespaces`` may also be a JSON list (or null) and
    ``query_time`` is refused (a live view is always "now"). Raises ``InvalidView`` naming the
    field.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidView("view", "must be an object")
    if "query_time" in data:
        raise InvalidView("query_time", "is not a parameter of a live view: it always shows now")
    for name in data:
        if name not in _VIEW_FIELDS:
            raise InvalidView(str(name)[:80], "is not a parameter of a live view")
    query = dict(data)
    namespaces = query.get("namespaces")
    if namespaces is None:
        query.pop("namespaces", None)
    elif isinstance(namespaces, list):
        if not all(isinstance(name, str) for name in namespaces):
            raise InvalidView("namespaces", "must be a list of namespace names")
        query["namespaces"] = ",".join(namespaces)
    elif not isinstance(namespaces, str):
        raise InvalidView("namespaces", "must be a list of namespace names")
    try:
        request = parse_graph_request(query)
    except ValidationError as exc:
        field, message = first_validation_error(exc.detail)
        raise InvalidView(field or "view", message) from None
    return View(
        namespaces=tuple(sorted(request.namespaces)) if request.namespaces else None,
        graph_type=request.graph_type,
        window_s=request.window_s,
        include_idle=request.include_idle,
        inject_service_nodes=request.inject_service_nodes,
    )


def graph_of(view: View, telemetry: MeshTelemetry) -> dict[str, Any]:
    """The API document of ``view`` built from ``telemetry`` (what ``GET /api/v1/graph`` answers)."""
    return service.graph_document(telemetry, view.options())


def _error_code(exc: UpstreamError) -> str:
    # The same codes as the REST API's error envelope: one mapping, in meshui.errors.
    mapping = mapping_of(exc)
    return mapping.code if mapping else "prometheus_error"


def dumps(frame: dict[str, Any]) -> str:
    """A frame as compact JSON text."""
    return json.dumps(frame, separators=(",", ":"))


def snapshot_frame(view_key: str, state: State, refresh_s: float) -> dict[str, Any] | None:
    """The ``snapshot`` frame of a stored state, or ``None`` when it has no good graph yet."""
    if state.get("graph") is None:
        return None
    return {"type": "snapshot", "view_key": view_key, "seq": state["seq"], "refresh_s": refresh_s,
            "graph": state["graph"]}


def status_frame(view_key: str, state: State, now: float) -> dict[str, Any]:
    """The ``status`` frame of a stored state: ``live``, ``stale`` (a last good graph exists,
    ``age_s`` old) or ``upstream_down`` (no good graph yet)."""
    error = state.get("error")
    good_at = state.get("good_at")
    age_s = None if good_at is None else max(0, int(now - good_at))
    if error is None:
        return {"type": "status", "view_key": view_key, "state": "live", "code": None, "message": None,
                "age_s": age_s}
    return {
        "type": "status",
        "view_key": view_key,
        "state": "stale" if state.get("graph") is not None else "upstream_down",
        "code": error["code"],
        "message": error["message"],
        "age_s": age_s,
    }


def is_due(state: State | None, now: float, refresh_s: float) -> bool:
    """True when a view with this stored state should be computed on a tick at ``now``."""
    return state is None or state.get("computed_at", 0.0) <= now - refresh_s * DUE_FRACTION


def compute_tick(
    views: Iterable[View],
    load: Callable[[str], State | None],
    save: Callable[[str, State], None],
    *,
    refresh_s: float,
    clock: Callable[[], float] = time.time,
) -> list[Frame]:
    """Compute one tick for ``views`` (blocking: run it in a thread) and return the frames to send.

    Per distinct window one telemetry read (``topology.service.read_telemetry`` at the current
    whole second, never its short cache, for the union of the views' namespaces — all of them
    when a view has none); per view one graph, a diff against ``load(view_key)`` and
    ``save(view_key, state)`` with the next sequence number. Frames per view, in sending order:
    a ``snapshot`` (first good graph) or a ``delta``, then a ``live`` status when the upstream
    recovered; or, when the read raised an ``UpstreamError`` (the port's), a ``stale``/``upstream_down``
    status keeping the last good graph. Other exceptions propagate.
    """
    by_window: dict[int, list[View]] = {}
    for view in views:
        by_window.setdefault(view.window_s, []).append(view)
    frames: list[Frame] = []
    for window_s, group in sorted(by_window.items()):
        namespaces: frozenset[str] | None = frozenset()
        for view in group:
            if view.namespaces is None:
                namespaces = None
                break
            namespaces = namespaces | frozenset(view.namespaces)  # type: ignore[operator]
        now = clock()
        try:
            telemetry = service.read_telemetry(
                window_s=window_s, query_time=float(int(now)), namespaces=namespaces
            )
        except UpstreamError as exc:
            error = {"code": _error_code(exc), "message": str(exc)}
            for view in group:
                key = view.key
                previous = load(key) or {"seq": 0, "graph": None, "good_at": None}
                state = {**previous, "error": error, "computed_at": now, "view": view.to_json()}
                save(key, state)
                frames.append((key, "status", None, dumps(status_frame(key, state, now))))
            continue
        for view in group:
            key = view.key
            graph = graph_of(view, telemetry)
            previous = load(key)
            seq = (previous["seq"] if previous else 0) + 1
            state = {"seq": seq, "graph": graph, "good_at": now, "error": None, "computed_at": now,
                     "view": view.to_json()}
            save(key, state)
            if previous is None or previous.get("graph") is None:
                frames.append((key, "snapshot", seq, dumps(snapshot_frame(key, state, refresh_s))))
            else:
                delta = {"type": "delta", "view_key": key, "seq": seq}
                delta.update(diff_graphs(previous["graph"], graph))
                frames.append((key, "delta", seq, dumps(delta)))
            if previous is not None and previous.get("error") is not None:
                frames.append((key, "status", None, dumps(status_frame(key, state, now))))
    return frames


def frame_message(frame: Frame) -> dict[str, Any]:
    """The channel-layer message that carries ``frame`` to the hubs."""
    view_key, kind, seq, text = frame
    return {"type": FRAME_MESSAGE_TYPE, "view_key": view_key, "kind": kind, "seq": seq, "text": text}


async def broadcast(layer: Any, frames: list[Frame]) -> None:
    """Send each frame once to its view's group on ``layer``."""
    for frame in frames:
        await layer.group_send(GROUP_PREFIX + frame[0], frame_message(frame))


def refresh_s() -> float:
    """The refresh interval in seconds (``MESHUI_REFRESH_S``)."""
    return settings.LIVE_REFRESH_S


class MemoryStore:
    """View states in a dict (embedded mode: the ticker and the hubs share one process)."""

    def __init__(self) -> None:
        self._states: dict[str, State] = {}

    def load(self, view_key: str) -> State | None:
        """The stored state of ``view_key`` or ``None``."""
        return self._states.get(view_key)

    def save(self, view_key: str, state: State) -> None:
        """Keep ``state`` as the state of ``view_key``."""
        self._states[view_key] = state

    def delete(self, view_key: str) -> None:
        """Forget ``view_key``."""
        self._states.pop(view_key, None)


class EmbeddedTicker:
    """The ticker of embedded mode: an asyncio task that runs while at least one view is watched.

    ``watch``/``unwatch`` count watchers per view (one count per hub). A view's first watch
    wakes the task for an immediate tick; the task then ticks every ``refresh_s`` and ends when
    the last view is unwatched (whose state is then forgotten). The blocking computation runs in
    a thread (``asyncio.to_thread``), never on the event loop.
    """

    def __init__(self, layer: Any, *, refresh_s: float, store: MemoryStore | None = None) -> None:
        self.layer = layer
        self.refresh_s = refresh_s
        self.store = store or MemoryStore()
        self._views: dict[str, View] = {}
        self._counts: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._force = False
        self._task: asyncio.Task | None = None
        self.ticks = 0

    @property
    def running(self) -> bool:
        """True while the tick task runs."""
        return self._task is not None and not self._task.done()

    async def watch(self, view: View) -> None:
        """Count one more watcher of ``view``; start ticking it at once if it is new."""
        key = view.key
        self._counts[key] = self._counts.get(key, 0) + 1
        self._views[key] = view
        self._wake.set()
        if not self.running:
            self._task = asyncio.create_task(self._run(), name="meshui-live-ticker")

    async def unwatch(self, view: View) -> None:
        """Count one watcher of ``view`` fewer; forget the view when none is left."""
        key = view.key
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
            return
        self._counts.pop(key, None)
        self._views.pop(key, None)
        self.store.delete(key)
        self._wake.set()

    async def load(self, view_key: str) -> State | None:
        """The stored state of ``view_key``."""
        return self.store.load(view_key)

    async def heartbeat(self, views: list[View]) -> None:
        """Nothing to do in embedded mode (the ticker sees its watchers directly)."""

    def tick_now(self) -> None:
        """Compute every watched view now, due or not (tests and the fan-out bench)."""
        self._force = True
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the tick task (tests, shutdown)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _save(self, view_key: str, state: State) -> None:
        # A view unwatched while its tick was computing must not come back.
        if view_key in self._views:
            self.store.save(view_key, state)

    async def _run(self) -> None:
        next_tick = 0.0
        while self._views:
            self._wake.clear()
            force, self._force = self._force, False
            now = time.time()
            periodic = force or now >= next_tick
            if periodic:
                next_tick = now + self.refresh_s
            due = []
            for key, view in self._views.items():
                state = self.store.load(key)
                if state is None or force or (periodic and is_due(state, now, self.refresh_s)):
                    due.append(view)
            if due:
                started = time.perf_counter()
                try:
                    frames = await asyncio.to_thread(
                        compute_tick, due, self.store.load, self._save, refresh_s=self.refresh_s
                    )
                    await broadcast(self.layer, [frame for frame in frames if frame[0] in self._views])
                except Exception:
                    # A bug in one tick must not end live updates for everyone; the next tick retries.
                    logger.exception("live graph tick failed")
                self.ticks += 1
                observability.observe_ticker(time.perf_counter() - started)
            if not self._views:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, next_tick - time.time()))


class RedisLiveStore:
    """View states, the watched-view registry and the tick lock in Redis (sync client).

    Keys (all under ``prefix``): ``state:<view_key>`` (JSON, expires after ``state_ttl_s``),
    ``watched`` (sorted set: view_key → heartbeat deadline), ``views`` (hash: view_key → view
    JSON), ``lock`` (the tick lock). Redis errors propagate (``redis.RedisError``).
    """

    def __init__(
        self, client: Any, *, prefix: str = "meshui:live:", watch_ttl_s: int = 30, state_ttl_s: int = 120
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.watch_ttl_s = watch_ttl_s
        self.state_ttl_s = state_ttl_s

    @classmethod
    def from_settings(cls) -> RedisLiveStore:
        """The store on ``MESHUI_REDIS_URL``; raises ``ValueError`` when it is unset."""
        import redis

        if not settings.REDIS_URL:
            raise ValueError("the Redis live store needs MESHUI_REDIS_URL")
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
        interval = refresh_s()
        return cls(client, watch_ttl_s=max(30, int(2 * interval)), state_ttl_s=max(120, int(4 * interval)))

    def load(self, view_key: str) -> State | None:
        """The stored state of ``view_key`` or ``None``."""
        raw = self.client.get(self.prefix + "state:" + view_key)
        return None if raw is None else json.loads(raw)

    def save(self, view_key: str, state: State) -> None:
        """Store ``state`` for ``view_key`` (expiring after ``state_ttl_s``)."""
        self.client.set(self.prefix + "state:" + view_key, json.dumps(state), ex=self.state_ttl_s)

    def heartbeat(self, views: list[View], now: float | None = None) -> None:
        """Mark ``views`` watched for another ``watch_ttl_s`` seconds."""
        if not views:
            return
        deadline = (now or time.time()) + self.watch_ttl_s
        pipe = self.client.pipeline()
        pipe.zadd(self.prefix + "watched", {view.key: deadline for view in views})
        pipe.hset(self.prefix + "views", mapping={view.key: json.dumps(view.to_json()) for view in views})
        pipe.execute()

    def watched(self, now: float | None = None) -> list[View]:
        """The views whose heartbeat has not expired (expired ones are removed)."""
        current = now or time.time()
        expired = self.client.zrangebyscore(self.prefix + "watched", "-inf", current)
        if expired:
            pipe = self.client.pipeline()
            pipe.zrem(self.prefix + "watched", *expired)
            pipe.hdel(self.prefix + "views", *expired)
            pipe.execute()
        keys = self.client.zrangebyscore(self.prefix + "watched", current, "+inf")
        if not keys:
            return []
        views = []
        for raw in self.client.hmget(self.prefix + "views", keys):
            if raw is not None:
                views.append(parse_view(json.loads(raw)))
        return views

    def acquire_lock(self, ttl_s: int, wait_s: float) -> str | None:
        """A token when the tick lock was taken within ``wait_s`` seconds, else ``None``."""
        token = secrets.token_hex(16)
        deadline = time.monotonic() + wait_s
        while True:
            if self.client.set(self.prefix + "lock", token, nx=True, ex=ttl_s):
                return token
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def release_lock(self, token: str) -> None:
        """Release the tick lock if ``token`` still holds it."""
        self.client.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
            1,
            self.prefix + "lock",
            token,
        )


def run_redis_tick(store: RedisLiveStore, layer: Any, *, interval_s: float, lock_wait_s: float = 10.0) -> int:
    """One deployment-wide tick (blocking; what the Celery task runs). Returns the views computed.

    Takes the tick lock (waiting up to ``lock_wait_s``; gives up and returns 0 when another
    tick holds it longer), computes the watched views that are due (``is_due``: a tick
    enqueued twice computes once), broadcasts their frames on ``layer`` and releases the lock.
    """
    token = store.acquire_lock(ttl_s=max(30, int(interval_s * 2)), wait_s=lock_wait_s)
    if token is None:
        return 0
    started = time.perf_counter()
    try:
        now = time.time()
        due = [view for view in store.watched(now) if is_due(store.load(view.key), now, interval_s)]
        if not due:
            return 0
        frames = compute_tick(due, store.load, store.save, refresh_s=interval_s)
        async_to_sync(broadcast)(layer, frames)
        return len(due)
    finally:
        store.release_lock(token)
        observability.observe_ticker(time.perf_counter() - started)
