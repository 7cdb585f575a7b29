"""meshui as real processes on loopback, for the integration tests and the benchmarks.

``meshui_servers`` migrates a database, makes an operator's API token and starts daphne
processes serving ``meshui.asgi:application`` on free 127.0.0.1 ports, all with the same
settings (so they share the database and the mesh backend), and stops each by PID afterwards.
``api_request`` is one bearer-token JSON request as a script would send it;
``temporary_postgres_database`` a throwaway database on the local PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT_S = 30
REQUEST_TIMEOUT_S = 60
COMMAND_TIMEOUT_S = 120


@dataclass(frozen=True)
class MeshuiServers:
    """The running servers' base URLs (``http://127.0.0.1:<port>``), the operator's token and, when
    asked for, a viewer's."""

    urls: list[str]
    token: str
    viewer_token: str | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_request(method: str, url: str, token: str, body: dict | None = None, **headers: str) -> tuple[int, dict]:
    """``(status, JSON body)`` of one request with ``Authorization: Bearer <token>``; never raises on 4xx/5xx."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stderr[-800:]}")
    return done.stdout


def _wait_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"daphne did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S}s")


@contextlib.contextmanager
def meshui_servers(
    workdir: Path, count: int, *, username: str, viewer: str | None = None, **settings: str
) -> Iterator[MeshuiServers]:
    """``count`` daphne processes with ``settings`` (``DATABASE_URL``, ``MESHUI_*``) over a data
    directory in ``workdir``, a migrated database and an API token of the operator ``username``
    (and of the viewer ``viewer`` when given).

    The environment is this one without its ``MESHUI_*`` and ``DATABASE_URL``: only ``settings``
    choose. Raises ``RuntimeError`` when set-up fails or a server does not listen in time.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="meshui.settings", MESHUI_DATA_DIR=str(workdir / "data"),
               MESHUI_SECRET_KEY=secrets.token_hex(24), PYTHONPATH=str(REPO), **settings)  # fmt: skip
    _manage(env, "migrate", "--noinput")
    token = _manage(env, "create_api_token", username, "--role", "operator", "--name", "servers").split()[-1]
    viewer_token = None
    if viewer is not None:
        viewer_token = _manage(env, "create_api_token", viewer, "--role", "viewer", "--name", "servers").split()[-1]
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                          "meshui.asgi:application"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for port in ports
    ]  # fmt: skip
    try:
        for port, process in zip(ports, processes, strict=True):
            _wait_listening(port, process)
        yield MeshuiServers([f"http://127.0.0.1:{port}" for port in ports], token, viewer_token)
    finally:
        for process in processes:
            stop(process)


@contextlib.contextmanager
def temporary_postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new database on 127.0.0.1:5432, dropped afterwards; raises
    ``psycopg.OperationalError`` when PostgreSQL cannot be reached."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgres://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
