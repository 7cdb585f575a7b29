"""The production settings against the real PostgreSQL and Redis on 127.0.0.1.

The Makefile starts both; a service that is down fails the test with a message (nothing
is skipped). Every database, Redis key and process a test creates is removed by the test.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from celery import Celery

from tests.support.redis_db import redis_database

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/9"
COMMAND_TIMEOUT_S = 120
WORKER_WAIT_S = 60


def meshui_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production-shaped meshui process (no inherited MESHUI_* values)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="meshui.settings", MESHUI_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A throwaway database ``meshui_test_<random>``; its URL. Dropped afterwards."""
    name = f"meshui_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432 (start it with make): {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgres://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    with redis_database(REDIS_URL, ()) as client:
        yield client


def test_migrate_and_create_api_token_on_postgresql(tmp_path, postgres_database):
    # given an empty PostgreSQL database
    env = meshui_env(tmp_path, DATABASE_URL=postgres_database)
    # when meshui is migrated and a token created, each in its own process
    migrate = run([sys.executable, "manage.py", "migrate", "--noinput"], env)
    create = run(
        [sys.executable, "manage.py", "create_api_token", "ci-bot", "--role", "viewer", "--name", "ci"], env
    )
    # then the token row is in PostgreSQL under its digest, for a viewer
    assert migrate.returncode == 0, migrate.stderr
    assert create.returncode == 0, create.stderr
    token = create.stdout.strip().splitlines()[-1]
    with psycopg.connect(
        postgres_database.replace("postgres://", "postgresql://", 1), connect_timeout=5
    ) as conn:
        row = conn.execute(
            "SELECT u.username, t.prefix, t.name, g.name FROM accounts_apitoken t "
            "JOIN auth_user u ON u.id = t.user_id "
            "JOIN auth_user_groups ug ON ug.user_id = u.id JOIN auth_group g ON g.id = ug.group_id "
            "WHERE t.digest = %s",
            (hashlib.sha256(token.encode()).hexdigest(),),
        ).fetchall()
    assert row == [("ci-bot", token[:8], "ci", "viewer")]


CHANNEL_LAYER_SCRIPT = """
import asyncio, django
django.setup()
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("meshui-test", channel)
    await layer.group_send("meshui-test", {"type": "graph.update", "text": "hello"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=10)
    await layer.group_discard("meshui-test", channel)
    print(type(layer).__name__, message["type"], message["text"])

asyncio.run(main())
"""


def test_channels_redis_layer_round_trip(tmp_path, redis_client):
    # given the production settings with MESHUI_REDIS_URL
    env = meshui_env(tmp_path, MESHUI_REDIS_URL=REDIS_URL)
    # when a message is sent to a group a channel joined
    result = run([sys.executable, "-c", CHANNEL_LAYER_SCRIPT], env)
    # then that channel receives it through Redis
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "RedisChannelLayer graph.update hello"


IDLE_RECEIVE_SCRIPT = """
import asyncio, django
django.setup()
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    waiter = asyncio.ensure_future(layer.receive(channel))
    # idle for longer than redis-py's default 5 s socket timeout and channels_redis' 5 s brpop
    await asyncio.sleep(12)
    assert not waiter.done(), waiter.exception() if waiter.done() else None
    await layer.send(channel, {"type": "graph.update", "text": "after idle"})
    message = await asyncio.wait_for(waiter, timeout=10)
    print(message["text"])

asyncio.run(main())
"""


def test_a_redis_channel_idle_past_the_socket_timeout_still_receives(tmp_path, redis_client):
    # given the production settings with MESHUI_REDIS_URL and a receiver waiting on an idle channel
    env = meshui_env(tmp_path, MESHUI_REDIS_URL=REDIS_URL)
    # when nothing arrives for 12 s, then a message does
    result = run([sys.executable, "-c", IDLE_RECEIVE_SCRIPT], env)
    # then the wait never failed (no redis TimeoutError: the live hub would log one every few
    # seconds) and the message is received
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "after idle"


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_celery_worker_runs_a_task_from_the_redis_broker(tmp_path, redis_client):
    # given a real worker of the meshui app consuming a queue of its own
    queue = f"meshui-test-{secrets.token_hex(4)}"
    key = f"meshui-test:ping:{secrets.token_hex(8)}"
    env = meshui_env(tmp_path, MESHUI_REDIS_URL=REDIS_URL)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "meshui", "worker", "--pool=solo", "-Q", queue,
         "--include", "meshui.tasks", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--loglevel=INFO"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    sender = Celery(broker=REDIS_URL)
    try:
        # when the ping task is sent to that queue
        sender.send_task("meshui.ping", args=[key], queue=queue)
        # then the worker writes the key in Redis (polled, bounded)
        deadline = time.monotonic() + WORKER_WAIT_S
        while redis_client.get(key) is None and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        value = redis_client.get(key)
    finally:
        stop(worker)
        log.close()
        sender.close()
        redis_client.delete(key, queue)
    assert value == b"pong", (tmp_path / "worker.log").read_text()[-3000:]
