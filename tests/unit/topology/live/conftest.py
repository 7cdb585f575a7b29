"""Fixtures of the live-graph tests: the changing telemetry source and the channel layer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

import sources
from tests.unit.topology.live.live_support import ChangingSource

REDIS_LAYER_URL = "redis://127.0.0.1:6379/12"
REDIS_LAYER_PREFIX = "meshui-test-live"


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> ChangingSource:
    changing = ChangingSource()
    monkeypatch.setattr(sources, "telemetry_source", lambda: changing)
    return changing


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def layer(request: pytest.FixtureRequest, settings) -> Iterator[str]:
    """Each consumer test runs on the in-memory layer and on the real Redis layer (db 12, own
    prefix; the layer's keys are flushed after each test). Embedded ticker in both cases, with
    an interval long enough that only the ticks a test asks for happen."""
    settings.LIVE_REFRESH_S = 3600
    settings.ANONYMOUS_READ = True
    if request.param == "memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        yield "memory"
        return
    client = redis.Redis.from_url(REDIS_LAYER_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is not running at 127.0.0.1:6379: {error}")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_LAYER_URL], "prefix": REDIS_LAYER_PREFIX},
        }
    }
    try:
        yield "redis"
    finally:
        leftovers = list(client.scan_iter(f"{REDIS_LAYER_PREFIX}*"))
        if leftovers:
            client.delete(*leftovers)
        client.close()
