"""Sign-in limits on the real Redis cache: what one web process counts, every other one sees."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache.backends.redis import RedisCache

from accounts import signin
from tests.support.redis_db import redis_database

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

REDIS_URL = "redis://127.0.0.1:6379/14"
PASSWORD = "correct horse battery"


@pytest.fixture
def shared_cache(settings):
    """Django's default cache on the real Redis (as with MESHUI_REDIS_URL), emptied after."""
    with redis_database(REDIS_URL, ("*meshui:signin:*",)) as client:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
        yield client


def attempt(client, password: str, address: str):
    return client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR=address)


def test_a_lockout_begun_in_one_process_refuses_sign_in_in_another(shared_cache, client, monkeypatch):
    # given a user with four failures counted by this process
    User.objects.create_user("alice", password=PASSWORD)
    for _ in range(4):
        assert attempt(client, "wrong", "198.51.100.7").status_code == 200
    # when another web process (its own Redis client) counts the fifth
    with monkeypatch.context() as other_process:
        other_process.setattr(signin, "cache", RedisCache(REDIS_URL, {}))
        lockout = signin.record_failure("alice", "203.0.113.9")
    assert lockout == signin.Lockout("account", 900)
    # then this process refuses the right password, with the time left
    response = attempt(client, PASSWORD, "192.0.2.1")
    assert response.status_code == 429
    assert 899 <= int(response["Retry-After"]) <= 900
    # and the lockout is a Redis key that expires by itself
    (lockout_key,) = shared_cache.scan_iter("*meshui:signin:lockout:account:*")
    assert 0 < shared_cache.ttl(lockout_key) <= 900
