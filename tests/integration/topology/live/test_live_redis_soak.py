"""The live hub on the production Redis channel layer, left running for a minute.

A socket that waits between frames longer than Redis' client timeouts must neither log an error
nor lose a frame (redis-py 8's 5 s socket timeout once equalled channels_redis' 5 s BRPOP and the
hub logged a TimeoutError every few seconds). Bounded: 60 s, 12 frames, 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest
import redis
from channels_redis.core import RedisChannelLayer

from meshui.settings import redis_channel_layer
from tests.support.redis_db import redis_database
from topology.hub import Hub, RedisBackend
from topology.snapshot import FRAME_MESSAGE_TYPE, RedisLiveStore, parse_view

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/12"
SOAK_S = 60
FRAMES = 12  # one every 5 s: each gap is as long as a BRPOP and a default socket timeout


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    with redis_database(REDIS_URL, ("asgi*", "meshui:live:*")) as client:
        yield client


def test_a_redis_mode_socket_runs_a_minute_without_errors_or_lost_frames(redis_db, caplog):
    # given a hub on the channel layer the production settings configure, one socket watching
    config = redis_channel_layer(REDIS_URL)["CONFIG"]
    view = parse_view({"namespaces": ["shop"]})

    async def scenario() -> list[str]:
        hub_layer = RedisChannelLayer(**config)
        ticker_layer = RedisChannelLayer(**config)
        # the test plays the ticker: the first watcher's tick request goes nowhere
        store = RedisLiveStore(redis.Redis.from_url(REDIS_URL))
        hub = Hub(hub_layer, RedisBackend(store, enqueue_tick=lambda: None), interval_s=5)
        received: list[str] = []

        async def send(text: str) -> None:
            received.append(text)

        watcher = hub.watcher(send)
        task = asyncio.create_task(watcher.run())
        try:
            await hub.subscribe(view, watcher)
            # when the ticker sends a status frame every 5 s for a minute
            started = time.monotonic()
            for index in range(FRAMES):
                await asyncio.sleep(max(0.0, started + (index + 1) * SOAK_S / FRAMES - time.monotonic()))
                message = {"type": FRAME_MESSAGE_TYPE, "view_key": view.key, "kind": "status", "seq": None,
                           "text": f'{{"type":"status","n":{index}}}'}  # fmt: skip
                await ticker_layer.group_send(view.group, message)
            deadline = time.monotonic() + 10
            while len(received) < FRAMES and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await hub.close()
            for layer in (hub_layer, ticker_layer):
                await layer.close_pools()
        return received

    with caplog.at_level(logging.WARNING):
        received = asyncio.run(scenario())
    # then every frame arrived once, in order, and nothing was logged at warning or above
    assert [text for text in received if '"n":' in text] == [f'{{"type":"status","n":{i}}}' for i in range(FRAMES)]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
