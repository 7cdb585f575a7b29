"""Database connections of a production daphne under a burst, counted in PostgreSQL itself.

Under ASGI every request runs in a thread of its own, so per-thread persistent connections
pile up (decision 0015). One daphne on a throwaway database takes 200 token-authenticated
reads, 50 at a time; ``pg_stat_activity`` then shows how many connections it holds.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.support.meshui_servers import (
    POSTGRES_ADMIN_URL,
    REQUEST_TIMEOUT_S,
    api_request,
    meshui_servers,
    temporary_postgres_database,
)

pytestmark = pytest.mark.integration

REQUESTS = 200
CONCURRENCY = 50
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 8
POOL_MAX_IDLE_S = 1
# The pool closes at most one idle connection per max-idle period: 6 to close, with margin.
IDLE_WAIT_S = 30


@pytest.fixture
def postgres_url() -> Iterator[str]:
    try:
        with temporary_postgres_database("meshui_pool") as url:
            yield url
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432: {error}")


def _status_of_get(url: str, token: str) -> int:
    """The HTTP status of one GET, or 0 when the connection ended without an answer."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code
    except (urllib.error.URLError, ConnectionError):
        return 0


def _connections_to(database: str, admin: psycopg.Connection) -> int:
    return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)).fetchone()[0]


def _sample_peak(database: str, admin: psycopg.Connection, stop: threading.Event, peaks: list[int]) -> None:
    """Counts the connections to ``database`` every 0.1 s until ``stop`` is set; appends the highest."""
    peak = 0
    while not stop.is_set():
        peak = max(peak, _connections_to(database, admin))
        stop.wait(0.1)
    peaks.append(peak)


def test_a_burst_of_reads_never_holds_more_connections_than_the_pool(tmp_path, postgres_url):
    # given one production-configured daphne on PostgreSQL with a pool of 2 to 8 connections
    database = postgres_url.rsplit("/", 1)[1]
    settings = {
        "DATABASE_URL": postgres_url,
        "MESHUI_DB_POOL_MIN_SIZE": str(POOL_MIN_SIZE),
        "MESHUI_DB_POOL_MAX_SIZE": str(POOL_MAX_SIZE),
        "MESHUI_DB_POOL_MAX_IDLE_S": str(POOL_MAX_IDLE_S),
    }
    # (the counting connections are opened first: a server exhausting PostgreSQL fails the asserts)
    with (
        psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin,
        psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as sampler_admin,
        meshui_servers(tmp_path, 1, username="burst", **settings) as servers,
    ):
        url = f"{servers.urls[0]}/api/v1/changes?limit=1"
        stop_sampling, peaks = threading.Event(), []
        sampler = threading.Thread(target=_sample_peak, args=(database, sampler_admin, stop_sampling, peaks))
        sampler.start()
        # when 200 reads arrive, 50 at a time
        try:
            with ThreadPoolExecutor(max_workers=CONCURRENCY) as clients:
                statuses = list(clients.map(lambda _: _status_of_get(url, servers.token), range(REQUESTS)))
            after_burst = _connections_to(database, admin)
        finally:
            stop_sampling.set()
            sampler.join()
        # and the server then stays idle until its pool is back to its minimum (bounded wait)
        deadline = time.monotonic() + IDLE_WAIT_S
        after_idle = after_burst
        while after_idle != POOL_MIN_SIZE and time.monotonic() < deadline:
            time.sleep(0.5)
            after_idle = _connections_to(database, admin)
    # then every read was answered, none with a 5xx
    assert {status: statuses.count(status) for status in set(statuses)} == {200: REQUESTS}
    # and the server never held more than the pool's maximum, and holds its minimum once idle
    assert peaks[0] <= POOL_MAX_SIZE
    assert after_burst <= POOL_MAX_SIZE
    assert after_idle == POOL_MIN_SIZE


def _wait_for_a_blocked_query(database: str, admin: psycopg.Connection) -> None:
    """Returns once a connection to ``database`` waits on a lock (bounded: fails after 30 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (database,)
        ).fetchone()[0]
        if waiting:
            return
        time.sleep(0.1)
    raise AssertionError("no request reached the database within 30 s")


def test_a_request_that_gets_no_connection_in_time_is_503_database_unavailable(tmp_path, postgres_url):
    # given a daphne whose pool has one connection, and a request holding it (its token lookup
    # waits on a lock an administrator holds)
    database = postgres_url.rsplit("/", 1)[1]
    settings = {"DATABASE_URL": postgres_url, "MESHUI_DB_POOL_MIN_SIZE": "1", "MESHUI_DB_POOL_MAX_SIZE": "1",
                "MESHUI_DB_POOL_TIMEOUT_S": "0.5"}  # fmt: skip
    database_url = postgres_url.replace("postgres://", "postgresql://", 1)
    with (
        meshui_servers(tmp_path, 1, username="waiter", **settings) as servers,
        psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin,
        psycopg.connect(database_url, connect_timeout=5) as locker,
        ThreadPoolExecutor(max_workers=1) as clients,
    ):
        url = f"{servers.urls[0]}/api/v1/changes?limit=1"
        locker.execute("LOCK TABLE accounts_apitoken IN ACCESS EXCLUSIVE MODE")
        holder = clients.submit(api_request, "GET", url, servers.token)
        _wait_for_a_blocked_query(database, admin)
        # when another request arrives
        status, body = api_request("GET", url, servers.token)
        locker.rollback()
        # then it is told the database is busy once the pool timeout has passed; the holder is answered
        assert status == 503
        assert body == {"error": {"code": "database_unavailable",
                                  "message": "The database is busy: couldn't get a connection after 0.50 sec; "
                                             "retry shortly.",
                                  "field": None, "details": {"reason": "pool_timeout"}}}  # fmt: skip
        assert holder.result()[0] == 200
