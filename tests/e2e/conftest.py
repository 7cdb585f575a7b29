"""End-to-end fixtures: the real meshui server (daphne) and Debian's Chromium via Playwright.

``meshui_server`` is one production-shaped server for the session (MESHUI_DEBUG=false,
plain http on 127.0.0.1, a temporary data directory, migrated, static files collected);
``start_meshui_server`` starts another with extra environment (e.g. a Prometheus URL).
Pages may only reach 127.0.0.1: any other request is aborted and fails the test.
Screenshots go to ``test-results/e2e/``. Pages run under meshui's Content-Security-Policy (no
``'unsafe-eval'``): give ``wait_for_function`` a function (``"() => ..."``), since Playwright evals
an expression anew at every poll, which the policy refuses.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-results" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COMMAND_TIMEOUT_S = 180
SERVER_READY_TIMEOUT_S = 60
VIEWER = ("vera", "vera-viewer-password-1")

CREATE_USER = """
import sys
from django.contrib.auth.models import User
from accounts.roles import set_role
username, password, role = sys.argv[1:4]
user = User.objects.create_user(username, password=password)
if role != "none":
    set_role(user, role)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MeshuiServer:
    """A running daphne serving meshui; ``manage()`` runs a management command on its database."""

    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path
    users: dict[str, str] = field(default_factory=dict)

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``manage.py <args>`` with the server's environment; raises on failure."""
        return _manage(self.env, *args)

    def create_user(self, username: str, password: str, role: str | None) -> None:
        """A user who signs in with ``password`` and has ``role`` (None: no role)."""
        self.manage(
            "shell", "-c", CREATE_USER.replace("sys.argv[1:4]", repr([username, password, role or "none"]))
        )
        self.users[username] = password

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; safe to call twice."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr[-3000:]}")
    return result


def _wait_ready(server: MeshuiServer) -> None:
    deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"meshui did not start: {server.log_path.read_text()[-3000:]}")


def start_meshui_server(tmp_dir: Path, **extra_env: str) -> MeshuiServer:
    """Migrate a fresh data directory, collect static files and start daphne on a free port.

    ``extra_env`` adds MESHUI_* settings (e.g. ``MESHUI_PROMETHEUS_URL``). The caller stops
    the server with ``stop()``. Raises RuntimeError (with the log tail) when it does not start.
    """
    data_dir = tmp_dir / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHUI_") and k != "DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="meshui.settings",
        MESHUI_DATA_DIR=str(data_dir),
        MESHUI_DEBUG="false",
        MESHUI_LOG_LEVEL="WARNING",
        **extra_env,
    )
    port = _free_port()
    log_path = tmp_dir / "daphne.log"
    _manage(env, "migrate", "--noinput")
    _manage(env, "collectstatic", "--noinput")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "meshui.asgi:application"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = MeshuiServer(f"http://127.0.0.1:{port}", data_dir, env, process, log_path)
    _wait_ready(server)
    return server


@pytest.fixture(scope="session")
def meshui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshuiServer]:
    """The session's meshui server, with the viewer ``VIEWER`` able to sign in."""
    server = start_meshui_server(tmp_path_factory.mktemp("meshui-e2e"))
    try:
        server.create_user(*VIEWER, role="viewer")
        yield server
    finally:
        server.stop()


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the main
# thread while it is open, which would break asyncio.run() in any test that runs after.
@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Debian's Chromium (never a downloaded Playwright browser)."""
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context whose requests may only go to 127.0.0.1.

    Any other request is aborted, and the test fails after its body naming the URLs.
    """
    blocked: list[str] = []
    page = loopback_page(browser, blocked, viewport={"width": 1280, "height": 800})
    yield page
    page.context.close()
    assert blocked == [], f"the page tried to reach outside 127.0.0.1: {blocked}"


def loopback_page(browser: Browser, blocked: list[str], **context_options: object) -> Page:
    """A page in a new context (``context_options``) whose requests off 127.0.0.1 are aborted
    and their URLs appended to ``blocked``, for the caller to fail on."""
    context = browser.new_context(**context_options)

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``test-results/e2e/<name>.png``; returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, server: MeshuiServer, user: tuple[str, str], role: str) -> None:
    """Sign in through the login page as ``user`` (username, password); waits for the header to show ``role``."""
    page.goto(f"{server.url}/login/")
    page.get_by_label("Username").fill(user[0])
    page.get_by_label("Password").fill(user[1])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-role")).to_have_text(role)


def session_api(page: Page, server: MeshuiServer, path: str, method: str = "GET", body: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict]:  # fmt: skip
    """``(status, JSON body)`` of an API call with the page's session cookie and its CSRF token."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    all_headers = {"X-CSRFToken": cookies.get("csrftoken", ""), "Content-Type": "application/json", **(headers or {})}
    response = page.request.fetch(
        f"{server.url}{path}", method=method, headers=all_headers, data=json.dumps(body) if body is not None else None
    )
    return response.status, response.json()
