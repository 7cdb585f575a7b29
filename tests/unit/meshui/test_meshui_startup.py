"""Start-up with the real settings in a subprocess: bad values stop it, absent upstreams do not."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COMMAND_TIMEOUT_S = 120


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py <args>`` with a fresh data directory and only the given MESHUI_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    base.update({"MESHUI_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=base,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MESHUI_PROMETHEUS_TIMEOUT_S", "abc"),
        ("MESHUI_DEBUG", "maybe"),
        ("MESHUI_PROMETHEUS_URL", "ftp://x"),
        ("MESHUI_PROMETHEUS_HEADERS", "notjson"),
        ("MESHUI_PROMETHEUS_SCOPE", "garbage"),
        ("MESHUI_REDIS_URL", "http://127.0.0.1:6379"),
        ("MESHUI_API_TOKEN_DAYS", "0"),
        ("MESHUI_SECRET_KEY", "short"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(tmp_path, variable, value):
    result = run_manage(tmp_path, "check", **{variable: value})
    assert result.returncode != 0
    assert variable in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_start_up_with_upstreams_on_closed_ports_succeeds(tmp_path):
    # given Prometheus, Jaeger and Redis configured where nothing listens
    env = {
        "MESHUI_PROMETHEUS_URL": f"http://127.0.0.1:{closed_port()}",
        "MESHUI_JAEGER_URL": f"http://127.0.0.1:{closed_port()}",
    }
    # when the database is migrated and the project checked
    migrate = run_manage(tmp_path, "migrate", "--noinput", **env)
    check = run_manage(tmp_path, "check", **env)
    # then both succeed: nothing contacts an upstream at start-up
    assert migrate.returncode == 0, migrate.stderr
    assert check.returncode == 0, check.stderr
    assert "System check identified no issues" in check.stdout


GET_SCRIPT = """
import sys, django, json
django.setup()
from django.test import Client
response = Client().get(sys.argv[1], HTTP_HOST="127.0.0.1")
print(response.status_code, json.dumps(response.json()))
"""


def get_in_subprocess(tmp_path: Path, path: str, **env: str) -> tuple[str, str]:
    """GET ``path`` through the full stack in a fresh process configured by ``env``: (status, JSON body)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    full_env.update(DJANGO_SETTINGS_MODULE="meshui.settings", MESHUI_DATA_DIR=str(tmp_path / "data"), **env)
    result = subprocess.run(
        [sys.executable, "-c", GET_SCRIPT, path],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    return status, body


def test_debug_off_over_plain_http_is_not_redirected(tmp_path):
    status, body = get_in_subprocess(tmp_path, "/healthz", MESHUI_DEBUG="false")
    assert (status, body) == ("200", '{"status": "ok"}')


def test_readyz_is_503_when_the_database_does_not_answer(tmp_path):
    # given a PostgreSQL URL on a port where nothing listens, when /readyz is asked
    status, body = get_in_subprocess(
        tmp_path, "/readyz", DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/meshui"
    )
    # then it answers 503 not_ready with the database error
    assert status == "503"
    assert '"status": "not_ready"' in body
    assert '"ok": false' in body


DATABASE_SCRIPT = """
import json, django
django.setup()
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps({"conn_max_age": database["CONN_MAX_AGE"], "pool": database.get("OPTIONS", {}).get("pool")}))
"""


def database_settings(tmp_path: Path, **env: str) -> dict:
    """``CONN_MAX_AGE`` and the pool options of the default database, as a fresh process reads them."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    full_env.update(DJANGO_SETTINGS_MODULE="meshui.settings", MESHUI_DATA_DIR=str(tmp_path / "data"), **env)
    result = subprocess.run([sys.executable, "-c", DATABASE_SCRIPT], cwd=REPO, env=full_env, capture_output=True,
                            text=True, timeout=COMMAND_TIMEOUT_S, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


POSTGRES_URL = "postgres://meshui@127.0.0.1:5432/meshui"


def test_postgresql_connections_come_from_a_bounded_pool_by_default(tmp_path):
    assert database_settings(tmp_path, DATABASE_URL=POSTGRES_URL) == {
        "conn_max_age": 0,
        "pool": {"min_size": 2, "max_size": 10, "timeout": 10.0, "max_idle": 600.0, "name": "meshui"},
    }


def test_the_pool_is_sized_by_its_variables(tmp_path):
    pool = database_settings(tmp_path, DATABASE_URL=POSTGRES_URL, MESHUI_DB_POOL_MIN_SIZE="1",
                             MESHUI_DB_POOL_MAX_SIZE="4", MESHUI_DB_POOL_TIMEOUT_S="2.5",
                             MESHUI_DB_POOL_MAX_IDLE_S="30")["pool"]  # fmt: skip
    assert pool == {"min_size": 1, "max_size": 4, "timeout": 2.5, "max_idle": 30.0, "name": "meshui"}


def test_a_pool_of_size_zero_opens_one_connection_per_request(tmp_path):
    assert database_settings(tmp_path, DATABASE_URL=POSTGRES_URL, MESHUI_DB_POOL_MAX_SIZE="0") == {
        "conn_max_age": 0,
        "pool": None,
    }


def test_sqlite_keeps_its_persistent_connections_and_no_pool(tmp_path):
    assert database_settings(tmp_path) == {"conn_max_age": 60, "pool": None}
    assert database_settings(tmp_path, MESHUI_DB_CONN_MAX_AGE_S="5") == {"conn_max_age": 5, "pool": None}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MESHUI_DB_CONN_MAX_AGE_S", "60"),
        ("MESHUI_DB_POOL_MAX_SIZE", "-1"),
        ("MESHUI_DB_POOL_MIN_SIZE", "11"),
        ("MESHUI_DB_POOL_TIMEOUT_S", "0"),
        ("MESHUI_DB_POOL_MAX_IDLE_S", "abc"),
    ],
)
def test_a_bad_pool_setting_with_postgresql_stops_start_up_naming_the_variable(tmp_path, variable, value):
    result = run_manage(tmp_path, "check", DATABASE_URL=POSTGRES_URL, **{variable: value})
    assert result.returncode != 0
    assert variable in result.stderr
    assert "ImproperlyConfigured" in result.stderr
