"""The Redis registry of watched views and the tick lock, on the real Redis (db 13, own prefix)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_db import redis_database
from topology.snapshot import RedisLiveStore, parse_view

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/13"
PREFIX = "meshui-test-live-store:"


@pytest.fixture
def store() -> Iterator[RedisLiveStore]:
    with redis_database(REDIS_URL, (PREFIX + "*",)) as client:
        yield RedisLiveStore(client, prefix=PREFIX, watch_ttl_s=30, state_ttl_s=60)


def test_registry_lists_views_until_their_heartbeat_expires(store):
    # given two views heartbeaten at t=1000 and one of them again at t=1020
    shop = parse_view({"namespaces": ["shop"]})
    mesh = parse_view({})
    store.heartbeat([shop, mesh], now=1000.0)
    store.heartbeat([shop], now=1020.0)
    # when the registry is read at t=1010 and at t=1040 (TTL 30 s)
    early = store.watched(now=1010.0)
    late = store.watched(now=1040.0)
    # then both are watched at first, only the renewed one later, and the expired one is gone
    assert sorted(view.key for view in early) == sorted([shop.key, mesh.key])
    assert late == [shop]
    assert store.client.hget(PREFIX + "views", mesh.key) is None


def test_tick_lock_is_held_by_one_tick_at_a_time(store):
    # given a tick holding the lock
    token = store.acquire_lock(ttl_s=30, wait_s=0)
    # when another tick tries without waiting, and again after the first released it
    refused = store.acquire_lock(ttl_s=30, wait_s=0)
    store.release_lock(token)
    second = store.acquire_lock(ttl_s=30, wait_s=0)
    # then the second attempt is refused and the third succeeds
    assert token is not None
    assert refused is None
    assert second is not None
    assert second != token


def test_release_by_a_stale_token_keeps_the_new_holder(store):
    # given a lock taken by a tick whose token is no longer the holder's
    first = store.acquire_lock(ttl_s=30, wait_s=0)
    store.client.delete(PREFIX + "lock")
    second = store.acquire_lock(ttl_s=30, wait_s=0)
    # when the first tick releases late
    store.release_lock(first)
    # then the second tick still holds the lock
    assert store.client.get(PREFIX + "lock").decode() == second


def test_state_round_trips_and_expires(store):
    # given a stored state
    state = {"seq": 3, "graph": {"nodes": [], "edges": []}, "good_at": 1.0, "error": None, "computed_at": 1.0}
    store.save("abc", state)
    # when loaded
    # then it is the same and carries the TTL
    assert store.load("abc") == state
    assert 0 < store.client.ttl(PREFIX + "state:abc") <= 60
    assert store.load("missing") is None
