"""A real Celery worker of the meshui app whose telemetry source counts its reads in Redis.

Run by test_live_celery.py as ``python live_worker.py <redis-url> <reads-key> <queue>``: it
sets ``sources.telemetry_source`` to a ``ChangingSource`` that also INCRs
``<reads-key>`` on every read, then runs ``celery worker --pool=solo`` on ``<queue>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO))


def main() -> None:
    import django

    django.setup()
    import redis

    import sources
    from meshui.celery import app
    from tests.unit.topology.live.live_support import ChangingSource

    redis_url, reads_key, queue = sys.argv[1:4]
    counter = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)

    class CountingSource(ChangingSource):
        def read(self, *, query_time, window_s, namespaces):  # type: ignore[override]
            counter.incr(reads_key)
            return super().read(query_time=query_time, window_s=window_s, namespaces=namespaces)

    source = CountingSource()
    sources.telemetry_source = lambda: source
    app.worker_main(["worker", "--pool=solo", "-Q", queue, "--without-gossip", "--without-mingle",
                     "--without-heartbeat", "--loglevel=INFO"])


if __name__ == "__main__":
    main()
