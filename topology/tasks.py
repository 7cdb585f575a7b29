"""Celery tasks of the topology app: the live-graph tick (with Redis; see topology.snapshot)."""

from __future__ import annotations

from celery import shared_task
from channels.layers import get_channel_layer

from topology.snapshot import RedisLiveStore, refresh_s, run_redis_tick


@shared_task(name="topology.live_tick", ignore_result=True)
def live_tick() -> int:
    """One deployment-wide live-graph tick; returns the number of views computed.

    Run by Celery beat every ``MESHUI_REFRESH_S`` and enqueued by a view's first watcher. The
    Redis lock makes concurrent runs wait for one another, and views computed within half an
    interval are skipped, so an extra run costs no upstream read. Raises ``ValueError`` without
    ``MESHUI_REDIS_URL``; Redis and telemetry errors other than the upstream's named errors
    (which become status frames) propagate.
    """
    store = RedisLiveStore.from_settings()
    try:
        return run_redis_tick(store, get_channel_layer(), interval_s=refresh_s())
    finally:
        store.client.close()
