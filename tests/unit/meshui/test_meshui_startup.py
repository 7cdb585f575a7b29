"""Start-up with the real settings in a subprocess: bad values stop it, absent upstreams do not."""

from __future__ import annotations

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
