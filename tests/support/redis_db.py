"""The real Redis on 127.0.0.1:6379 for integration tests: one numbered database, cleaned after."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest
import redis


@contextmanager
def redis_database(url: str, cleanup_patterns: Iterable[str]) -> Iterator[redis.Redis]:
    """A client of the Redis at ``url`` (the test fails at once when it is down); afterwards the
    keys matching ``cleanup_patterns`` are deleted and the client closed."""
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is not reachable at 127.0.0.1:6379 (start it with make): {error}")
    try:
        yield client
    finally:
        for pattern in cleanup_patterns:
            keys = list(client.scan_iter(pattern))
            if keys:
                client.delete(*keys)
        client.close()
