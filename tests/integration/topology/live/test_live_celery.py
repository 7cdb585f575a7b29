"""The Redis deployment of the live graph: two web processes (two hubs, each with its own Redis
channel-layer connection) watch one view; the tick task runs in a real Celery worker subprocess
on the Redis broker. One computation per tick serves both."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from channels_redis.core import RedisChannelLayer

from tests.support.redis_db import redis_database
from topology.hub import Hub, RedisBackend
from topology.snapshot import RedisLiveStore, parse_view

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
REDIS_URL = "redis://127.0.0.1:6379/13"
WORKER = Path(__file__).resolve().parent / "live_worker.py"
REFRESH_S = 2
WAIT_S = 60


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    """Redis db 13, used by this test only; its keys are deleted afterwards."""
    with redis_database(REDIS_URL, ("asgi*", "meshui:live:*", "meshui-test-live*", "_kombu*", "unacked*")) as client:
        yield client


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_S} s waiting for {what}")
        await asyncio.sleep(0.05)


def test_one_celery_tick_serves_two_web_processes(tmp_path, redis_db):
    # given two hubs ("web processes") with their own channel-layer connections, registering the
    # view in Redis and enqueueing ticks on a queue of this test
    queue = f"meshui-test-live-{secrets.token_hex(4)}"
    reads_key = f"meshui-test-live:reads:{secrets.token_hex(4)}"
    sender = Celery(broker=REDIS_URL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="meshui.settings", MESHUI_DATA_DIR=str(tmp_path / "data"),
               MESHUI_REDIS_URL=REDIS_URL, MESHUI_REFRESH_S=str(REFRESH_S))
    view = parse_view({"namespaces": ["shop"]})
    log_path = tmp_path / "worker.log"

    def enqueue() -> None:
        sender.send_task("topology.live_tick", queue=queue)

    async def scenario() -> tuple[list[list[str]], list[int], int, int]:
        layers = [RedisChannelLayer(hosts=[REDIS_URL]) for _ in range(2)]
        hubs = [
            Hub(layer, RedisBackend(RedisLiveStore(redis.Redis.from_url(REDIS_URL)), enqueue_tick=enqueue),
                interval_s=REFRESH_S)
            for layer in layers
        ]
        received: list[list[str]] = [[], []]
        watchers = []
        for index, hub in enumerate(hubs):
            async def send(text: str, frames: list[str] = received[index]) -> None:
                frames.append(text)

            watcher = hub.watcher(send)
            watchers.append(asyncio.create_task(watcher.run()))
            await hub.subscribe(view, watcher)
        queued_first_ticks = redis_db.llen(queue)
        log = log_path.open("w")
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), REDIS_URL, reads_key, queue],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            # when the worker runs the two queued first ticks, then one tick a refresh later
            await wait_for(lambda: all(received), "the first snapshot on both hubs")
            await wait_for(lambda: redis_db.llen(queue) == 0, "the worker to take both first ticks")
            await asyncio.sleep(REFRESH_S)
            enqueue()
            await wait_for(lambda: all(len(frames) >= 2 for frames in received), "the delta on both hubs")
            await asyncio.sleep(0.5)
        finally:
            stop(worker)
            log.close()
            for task in watchers:
                task.cancel()
            for hub in hubs:
                await hub.close()
            for layer in layers:
                await layer.close_pools()
        reads = int(redis_db.get(reads_key) or 0)
        return received, [hub.frames_received for hub in hubs], queued_first_ticks, reads

    try:
        received, hub_frames, queued_first_ticks, reads = asyncio.run(scenario())
    finally:
        sender.close()
        redis_db.delete(reads_key, queue)
    # then both first watchers enqueued a tick, the upstream was read once per tick (2 reads for
    # 3 task runs), each hub received each frame once and each socket got snapshot 1 then delta 2
    assert queued_first_ticks == 2
    assert reads == 2, log_path.read_text()[-3000:]
    assert hub_frames == [2, 2]
    for frames in received:
        assert [(json.loads(text)["type"], json.loads(text)["seq"]) for text in frames] == [
            ("snapshot", 1), ("delta", 2)
        ]
