"""Diagnostic Celery task: proves a worker consumes the broker (used by the integration tests).

Task results are ignored by settings, so ``ping`` answers by writing a Redis key.
"""

from __future__ import annotations

import redis
from celery import shared_task
from django.conf import settings

PING_TTL_S = 60


@shared_task(name="meshui.ping")
def ping(key: str) -> None:
    """Set Redis ``key`` to ``"pong"`` (expiring after PING_TTL_S) on ``MESHUI_REDIS_URL``.

    Raises ValueError without Redis configured; redis errors propagate.
    """
    if not settings.REDIS_URL:
        raise ValueError("meshui.ping needs MESHUI_REDIS_URL")
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.set(key, "pong", ex=PING_TTL_S)
    finally:
        client.close()
